/// The kinds of job this deployment can run, with each kind's retry policy and default queue.
///
/// The engine knows kinds only through this catalogue; the hosts build it from `functions.json`.
public struct JobKinds: Sendable {
    public struct Kind: Sendable, Equatable {
        public var name: String
        public var queue: String
        /// The kind's own policy, or the engine default when it declares none.
        public var retry: RetryPolicy
        /// False when the kind declares no policy: its queue's defaults then apply, when the
        /// queue has them (see `QueueSettings`).
        public var declaresRetry: Bool
        /// The longest an attempt may run, in seconds; a job may ask for less, never more.
        public var timeoutSeconds: Double
        /// True when a job may name another queue than the kind's (diagnostic kinds). A kind
        /// whose queue carries its limits (the email queue's rate) keeps its jobs there.
        public var queueOverride: Bool

        /// A kind; `retry` nil leaves attempts and backoff to the queue's defaults, then the engine's.
        public init(name: String, queue: String = "default", retry: RetryPolicy? = nil,
                    timeoutSeconds: Double? = nil, queueOverride: Bool = false) {
            self.name = name
            self.queue = queue
            self.retry = retry ?? .default
            self.declaresRetry = retry != nil
            self.timeoutSeconds = timeoutSeconds ?? JobKinds.defaultTimeoutSeconds
            self.queueOverride = queueOverride
        }
    }

    /// The attempt limit of a kind that declares none.
    public static let defaultTimeoutSeconds = 30.0
    public static let defaultTimeoutMs = 30_000
    /// The longest attempt limit a kind may declare: a day.
    public static let maxTimeoutSeconds = 86_400.0

    /// Seconds as the whole milliseconds the jobs table stores (at least 1).
    public static func milliseconds(_ seconds: Double) -> Int {
        max(1, min(Int((seconds * 1000).rounded(.up)), Int(maxTimeoutSeconds * 1000)))
    }

    /// Seconds for a message: whole seconds without a fraction.
    public static func format(_ seconds: Double) -> String {
        seconds.rounded() == seconds ? String(Int(seconds)) : String(seconds)
    }

    static func json(_ seconds: Double) -> JSONValue {
        seconds.rounded() == seconds ? .int(Int64(seconds)) : .double(seconds)
    }

    private var byName: [String: Kind]

    public init(_ kinds: [Kind]) {
        byName = Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The kind named `name`, or nil. A kind named `family:*` stands for every `family:NAME`
    /// (a tenant's own targets, `target:NAME`), with the family's policy.
    public subscript(name: String) -> Kind? {
        if let kind = byName[name] { return kind }
        guard let colon = name.firstIndex(of: ":"), name.index(after: colon) < name.endIndex,
              var family = byName[name[...colon] + "*"] else { return nil }
        family.name = name
        return family
    }

    /// Every known kind name, sorted.
    public var names: [String] { byName.keys.sorted() }

    /// The retry policy for `name`, or the engine default for an unknown kind.
    public func retryPolicy(for name: String) -> RetryPolicy {
        self[name]?.retry ?? .default
    }

    /// The attempt limit of `name` in seconds (the engine default for an unknown kind).
    public func timeoutSeconds(for name: String) -> Double {
        self[name]?.timeoutSeconds ?? Self.defaultTimeoutSeconds
    }

    /// True when some kind leaves its retry policy to its queue.
    public var hasUndeclaredRetry: Bool { byName.values.contains { !$0.declaresRetry } }

    /// The policy `name` declares itself, or nil when its queue's defaults should decide.
    public func declaredRetryPolicy(for name: String) -> RetryPolicy? {
        guard let kind = self[name], kind.declaresRetry else { return nil }
        return kind.retry
    }
}
