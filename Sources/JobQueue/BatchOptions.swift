import FoundationEssentials

/// The limits of one process-batch invocation.
public struct BatchOptions: Sendable, Equatable {
    /// Only these queues; nil means all.
    public var queues: [String]?
    /// Stop after claiming this many jobs.
    public var maxJobs: Int
    /// The budget: no attempt's deadline lies past it, and the invocation answers within it
    /// plus `Processor.answerMargin`.
    public var maxSeconds: Double
    /// How long a claim holds a job before rescue may take it back; at least the job's attempt
    /// limit plus 10 s, so a job's lease always covers its deadline. Defaults to the budget
    /// plus 30 s.
    public var leaseSeconds: Double
    /// The most jobs running at once in this invocation.
    public var parallelism: Int
    /// When no job is due, how long to wait for one before answering (a long poll, as
    /// `cron-driver watch` calls it): the invocation hears enqueues itself, claims the moment one
    /// comes, runs what it claimed and answers. While jobs run, it also hears of new ones and
    /// claims them into free slots. 0 answers as soon as nothing is due.
    public var waitSeconds: Double

    /// The default parallelism, and the most one invocation may ask for.
    public static let defaultParallelism = 32
    public static let maxParallelism = 1000

    public init(queues: [String]? = nil, maxJobs: Int = 100, maxSeconds: Double = 50, leaseSeconds: Double? = nil,
                parallelism: Int = BatchOptions.defaultParallelism, waitSeconds: Double = 0) {
        self.queues = queues
        self.maxJobs = maxJobs
        self.maxSeconds = maxSeconds
        self.leaseSeconds = leaseSeconds ?? (maxSeconds + 30)
        self.parallelism = min(max(parallelism, 1), Self.maxParallelism)
        self.waitSeconds = min(max(waitSeconds, 0), maxSeconds)
    }
}

/// What one process-batch invocation did.
public struct BatchSummary: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var kind: String
        /// completed, retried, dead, timedOut (retried or dead after its deadline), or lost
        /// (rescued by another invocation before this one recorded it).
        public var outcome: String
        public var ms: Int
    }

    public var claimed = 0
    public var completed = 0
    /// Attempts that failed and will be tried again (timed-out ones included).
    public var retried = 0
    public var dead = 0
    /// Attempts stopped at their deadline (they are also counted as retried or dead).
    public var timedOut = 0
    /// Expired leases taken back at the start.
    public var rescued = 0
    /// Claimed but not started (the budget, a lease or a stop came first); handed back without
    /// spending an attempt.
    public var released = 0
    /// Finished here after another invocation had already rescued them; their outcome was dropped.
    public var lost = 0
    /// Attempts that did not stop within a second of their deadline: left running under their
    /// lease (it covers the deadline), for the rescue, and the host should recycle the process.
    public var abandoned = 0
    /// Due jobs left waiting when the batch ended because their queue was at one of its limits
    /// (up to 1,000 per queue). They were never claimed and spent no attempt.
    public var limited = 0
    /// Due jobs whose attempt limit is longer than this invocation's budget (up to 1,000): only
    /// an invocation with a larger `maxSeconds` can run them.
    public var tooLong = 0
    /// The most jobs that ran at once.
    public var maxRunning = 0
    public var durationMs = 0
    /// What became of each job, in the order outcomes were recorded: the first
    /// `maxListedJobs`; `unlistedJobs` counts the rest.
    public var jobs: [Entry] = []
    public var unlistedJobs = 0

    /// The most entries `jobs` holds: a summary stays readable (and small) however large the batch.
    public static let maxListedJobs = 1000

    public init() {}
}
