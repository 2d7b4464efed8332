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

        /// A kind; `retry` nil leaves attempts and backoff to the queue's defaults, then the engine's.
        public init(name: String, queue: String = "default", retry: RetryPolicy? = nil) {
            self.name = name
            self.queue = queue
            self.retry = retry ?? .default
            self.declaresRetry = retry != nil
        }
    }

    private var byName: [String: Kind]

    public init(_ kinds: [Kind]) {
        byName = Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The kind named `name`, or nil.
    public subscript(name: String) -> Kind? { byName[name] }

    /// Every known kind name, sorted.
    public var names: [String] { byName.keys.sorted() }

    /// The retry policy for `name`, or the engine default for an unknown kind.
    public func retryPolicy(for name: String) -> RetryPolicy {
        byName[name]?.retry ?? .default
    }

    /// The policy `name` declares itself, or nil when its queue's defaults should decide.
    public func declaredRetryPolicy(for name: String) -> RetryPolicy? {
        guard let kind = byName[name], kind.declaresRetry else { return nil }
        return kind.retry
    }
}
