import FoundationEssentials

/// One queue's flow control and defaults, as the `conveyor_queues` table, the admin functions
/// and `deploy/queues.json` know it. A queue without settings is unlimited and unpaused.
///
/// Limits hold across every host and invocation: the claim checks them in Postgres under the
/// queue's row lock (see `docs/state-machine.md`).
public struct QueueSettings: Sendable, Equatable {
    /// At most `limit` jobs start (are claimed) in any window of `periodSeconds`.
    public struct RateLimit: Sendable, Equatable {
        public var limit: Int
        public var periodSeconds: Double

        public init(limit: Int, periodSeconds: Double) {
            self.limit = limit
            self.periodSeconds = periodSeconds
        }
    }

    /// Limits that apply to a part of the queue: each org's jobs, or each flow key's.
    public struct Limits: Sendable, Equatable {
        /// Most jobs of one part running at once.
        public var concurrency: Int?
        /// Most starts of one part in any window of the period.
        public var rateLimit: RateLimit?

        public init(concurrency: Int? = nil, rateLimit: RateLimit? = nil) {
            self.concurrency = concurrency
            self.rateLimit = rateLimit
        }

        public var isEmpty: Bool { concurrency == nil && rateLimit == nil }
    }

    /// Backoff for kinds that declare no policy of their own.
    public struct Backoff: Sendable, Equatable {
        public var baseSeconds: Double
        public var capSeconds: Double

        public init(baseSeconds: Double, capSeconds: Double) {
            self.baseSeconds = baseSeconds
            self.capSeconds = capSeconds
        }
    }

    /// How long finished jobs are kept; nil means the engine default (24 h completed, 7 d dead).
    public struct Retention: Sendable, Equatable {
        public var completedSeconds: Int?
        public var deadSeconds: Int?

        public init(completedSeconds: Int? = nil, deadSeconds: Int? = nil) {
            self.completedSeconds = completedSeconds
            self.deadSeconds = deadSeconds
        }
    }

    public var name: String
    /// The most jobs running at once, across every invocation and host; nil is unlimited.
    public var concurrency: Int?
    /// Starts per period; nil is unlimited.
    public var rateLimit: RateLimit?
    /// The same limits for each org's jobs in the queue, so one tenant cannot take all of it.
    public var perOrg: Limits
    /// The same limits for each flow key (within its org): one customer's endpoint, say.
    public var perFlowKey: Limits
    /// A paused queue is skipped by every claim; its jobs wait, spending nothing.
    public var paused: Bool
    /// Attempts for jobs whose request and kind name none.
    public var maxAttempts: Int?
    public var backoff: Backoff?
    public var retention: Retention
    /// Set by the database on every change; nil before the first save.
    public var updatedAt: Date?

    /// A queue with no limits and no defaults of its own.
    public init(name: String, concurrency: Int? = nil, rateLimit: RateLimit? = nil, paused: Bool = false,
                maxAttempts: Int? = nil, backoff: Backoff? = nil, retention: Retention = Retention(),
                perOrg: Limits = Limits(), perFlowKey: Limits = Limits()) {
        self.name = name
        self.concurrency = concurrency
        self.rateLimit = rateLimit
        self.perOrg = perOrg
        self.perFlowKey = perFlowKey
        self.paused = paused
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.retention = retention
    }

    /// True when a claim must check limits for this queue (and take its row lock).
    public var isLimited: Bool { concurrency != nil || rateLimit != nil || !perOrg.isEmpty || !perFlowKey.isEmpty }

    /// The retry policy this queue gives kinds without their own, or nil when it sets none.
    public var retryPolicy: RetryPolicy? {
        guard maxAttempts != nil || backoff != nil else { return nil }
        let engine = RetryPolicy.default
        return RetryPolicy(maxAttempts: maxAttempts ?? engine.maxAttempts, baseSeconds: backoff?.baseSeconds ?? engine.baseSeconds,
                           capSeconds: backoff?.capSeconds ?? engine.capSeconds, jitter: engine.jitter)
    }

    /// The settings as the admin functions answer them: every field present, null when unset.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name),
            "concurrency": concurrency.map { .int(Int64($0)) } ?? .null,
            "rateLimit": rateLimit.map(Self.json) ?? .null,
            "perOrg": Self.json(perOrg),
            "perFlowKey": Self.json(perFlowKey),
            "paused": .bool(paused),
            "maxAttempts": maxAttempts.map { .int(Int64($0)) } ?? .null,
            "backoff": backoff.map { .object(["baseSeconds": Self.number($0.baseSeconds), "capSeconds": Self.number($0.capSeconds)]) } ?? .null,
            "retention": .object([
                "completedSeconds": retention.completedSeconds.map { .int(Int64($0)) } ?? .null,
                "deadSeconds": retention.deadSeconds.map { .int(Int64($0)) } ?? .null,
            ]),
        ]
        if let updatedAt { o["updatedAt"] = .string(Timestamp.format(updatedAt)) }
        return .object(o)
    }

    static func json(_ rate: RateLimit) -> JSONValue {
        .object(["limit": .int(Int64(rate.limit)), "periodSeconds": number(rate.periodSeconds)])
    }

    static func json(_ limits: Limits) -> JSONValue {
        .object(["concurrency": limits.concurrency.map { .int(Int64($0)) } ?? .null, "rateLimit": limits.rateLimit.map(json) ?? .null])
    }

    /// Whole seconds print as integers, so `60` round-trips as `60`, not `60.0`.
    static func number(_ d: Double) -> JSONValue {
        d.rounded() == d && abs(d) < 1e15 ? .int(Int64(d)) : .double(d)
    }
}
