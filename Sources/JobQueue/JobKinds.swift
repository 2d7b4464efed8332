/// The kinds of job this deployment can run, with each kind's retry policy and default queue.
///
/// The engine knows kinds only through this catalogue; the hosts build it from `functions.json`.
public struct JobKinds: Sendable {
    public struct Kind: Sendable, Equatable {
        public var name: String
        public var queue: String
        public var retry: RetryPolicy

        public init(name: String, queue: String = "default", retry: RetryPolicy = .default) {
            self.name = name
            self.queue = queue
            self.retry = retry
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
}
