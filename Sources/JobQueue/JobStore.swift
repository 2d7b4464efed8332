import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// What the engine needs from storage. `PostgresJobStore` is the implementation; the engine
/// never sees SQL.
///
/// Every method that moves a job out of `running` takes the `owner` that claimed it and changes
/// nothing unless the job is still running under that owner, so a late finisher can never
/// overwrite a job that was rescued and claimed again (River issue #1302).
public protocol JobStore: Sendable {
    /// Inserts validated jobs for one org in a single statement. A job whose idempotency key
    /// already exists in the org comes back as the existing job, marked duplicate.
    func enqueue(_ jobs: [NewJob], orgId: Int64) throws -> [EnqueuedJob]
    /// One job of the org, or nil (another org's job is nil too).
    func job(id: Int64, orgId: Int64) throws -> Job?
    /// A page of the org's jobs, newest first.
    func jobs(orgId: Int64, filter: JobFilter) throws -> JobPage
    /// Returns running jobs whose lease expired to `available`, or to `dead` when their attempts
    /// are spent. Only in `queues` (nil: all). Bounded by `limit`; safe to run from many
    /// invocations at once.
    func rescueExpired(queues: [String]?, limit: Int) throws -> RescueSummary
    /// Claims up to `limit` due jobs for `owner` in one statement: shared among orgs, then each
    /// org's queues, then each queue's flow keys; none from paused queues, and within every
    /// limit. Jobs a limit holds back are not touched and spend no attempt. Jobs whose attempt
    /// may take longer than `maxTimeoutMs` are left for an invocation with time for them.
    func claim(queues: [String]?, limit: Int, leaseSeconds: Double, owner: UUID, maxTimeoutMs: Int) throws -> [ClaimedJob]
    /// Records outcomes in one statement; returns the ids whose outcome was applied.
    func record(_ outcomes: [JobOutcome], owner: UUID) throws -> Set<Int64>
    /// Hands claimed jobs that never started back to `available`, without spending an attempt.
    func release(_ ids: [Int64], owner: UUID) throws -> Int
    /// What process-batch does in one round trip: record, release, then rescue and claim, each
    /// committed on its own. `wait` is attended to while the server works.
    func exchange(_ request: StoreExchange, owner: UUID, wait: StoreWait?) throws -> StoreReply
    /// Stores a running job's progress and extends its lease by `leaseSeconds`, but never past
    /// `capSeconds` from now; false when `owner` lost the job.
    func reportProgress(jobId: Int64, owner: UUID, percent: Int, message: String?, leaseSeconds: Double, capSeconds: Double) throws -> Bool
    /// Due jobs waiting only because their queue is at a limit, up to `cap` per queue.
    func heldBack(queues: [String]?, cap: Int) throws -> Int
    /// The retry policies queues set for kinds that declare none, by queue name.
    func queueRetryPolicies() throws -> [String: RetryPolicy]
    /// Due jobs whose attempt limit is longer than `maxTimeoutMs`, up to `cap`.
    func tooLong(queues: [String]?, maxTimeoutMs: Int, cap: Int) throws -> Int

    /// Starts hearing about enqueues, for an invocation that waits for work (`waitSeconds`).
    func listenForWork() throws
    /// Waits up to `timeout` seconds for an enqueue into `queues` (nil: any), or until `wakeFD`
    /// is readable; says what was heard.
    func waitForWork(queues: [String]?, timeout: Double, wakeFD: Int32) throws -> WorkHeard
    /// Stops hearing about enqueues.
    func stopListening() throws
    /// When the next scheduled job of `queues` (nil: any) comes due, or nil when none waits.
    func nextScheduled(queues: [String]?) throws -> Date?
}

extension JobStore {
    /// Stores without flow control hold nothing back.
    public func heldBack(queues: [String]?, cap: Int) throws -> Int { 0 }
    /// Stores without queue settings have no queue defaults.
    public func queueRetryPolicies() throws -> [String: RetryPolicy] { [:] }
    /// Due jobs whose attempt limit is longer than `maxTimeoutMs`, up to `cap`.
    public func tooLong(queues: [String]?, maxTimeoutMs: Int, cap: Int) throws -> Int { 0 }
    /// Stores without notifications hear nothing: a waiting invocation polls by claiming.
    public func listenForWork() throws {}
    public func waitForWork(queues: [String]?, timeout: Double, wakeFD: Int32) throws -> WorkHeard {
        var descriptor = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(max(0, min(timeout, 1)) * 1000))
        return WorkHeard()
    }
    public func stopListening() throws {}
    public func nextScheduled(queues: [String]?) throws -> Date? { nil }

    /// The exchange as separate calls, for stores without pipelining.
    public func exchange(_ request: StoreExchange, owner: UUID, wait: StoreWait?) throws -> StoreReply {
        var reply = StoreReply()
        if !request.outcomes.isEmpty { reply.applied = try record(request.outcomes, owner: owner) }
        if !request.release.isEmpty { reply.released = try release(request.release, owner: owner) }
        if let rescue = request.rescue { reply.rescued = try rescueExpired(queues: rescue.queues, limit: rescue.limit) }
        if let claim = request.claim {
            reply.claimed = try self.claim(queues: claim.queues, limit: claim.limit, leaseSeconds: claim.leaseSeconds,
                                           owner: owner, maxTimeoutMs: claim.maxTimeoutMs)
        }
        return reply
    }
}

/// One round trip of process-batch: outcomes to record and claimed jobs to hand back, then,
/// when asked, a rescue pass and a claim.
public struct StoreExchange: Sendable {
    public var outcomes: [JobOutcome] = []
    public var release: [Int64] = []
    public var rescue: RescueRequest?
    public var claim: ClaimRequest?

    public init() {}

    public var isEmpty: Bool { outcomes.isEmpty && release.isEmpty && rescue == nil && claim == nil }
}

/// The rescue pass an invocation starts with; it also counts the invocation for /metrics.
public struct RescueRequest: Sendable {
    public var queues: [String]?
    public var limit: Int
}

/// A claim: how many jobs at most, for how long, and how long their attempts may be.
public struct ClaimRequest: Sendable {
    public var queues: [String]?
    public var limit: Int
    public var leaseSeconds: Double
    public var maxTimeoutMs: Int
}

/// What a round trip brought back. Each part was committed on its own; a part is nil when it
/// was not asked for or failed (then `failure` says why), and what did commit stands.
public struct StoreReply: @unchecked Sendable {
    /// The outcomes that were applied: the others' jobs had been rescued from this invocation.
    public var applied: Set<Int64>?
    public var released: Int?
    public var rescued: RescueSummary?
    public var claimed: [ClaimedJob]?
    /// The first part's failure.
    public var failure: (any Error)?

    public init() {}
}

/// A descriptor to watch while the store waits for the database, and what to do when it becomes
/// readable; the handler must not use the store.
public struct StoreWait {
    public var fd: Int32
    public var onReadable: () -> Void

    public init(fd: Int32, onReadable: @escaping () -> Void) {
        self.fd = fd
        self.onReadable = onReadable
    }
}

/// The answer for one enqueued job.
public struct EnqueuedJob: Sendable, Equatable {
    public var id: Int64
    public var queue: String
    public var kind: String
    public var state: JobState
    public var runAt: Date
    public var idempotencyKey: String?
    /// True when the idempotency key matched an existing job, which this is.
    public var duplicate: Bool
}

/// Filters for listing jobs; `before` is the keyset cursor (an id).
public struct JobFilter: Sendable, Equatable {
    public var state: JobState?
    public var queue: String?
    public var kind: String?
    public var limit: Int
    public var before: Int64?

    public init(state: JobState? = nil, queue: String? = nil, kind: String? = nil, limit: Int = 50, before: Int64? = nil) {
        self.state = state
        self.queue = queue
        self.kind = kind
        self.limit = limit
        self.before = before
    }
}

/// A page of jobs and the cursor for the next one (nil on the last page).
public struct JobPage: Sendable, Equatable {
    public var jobs: [Job]
    public var nextCursor: Int64?
}

/// How many expired leases one rescue pass handled.
public struct RescueSummary: Sendable, Equatable {
    public var available: Int
    public var dead: Int

    public init(available: Int, dead: Int) {
        self.available = available
        self.dead = dead
    }

    public var total: Int { available + dead }
}

/// What became of one attempt.
public struct JobOutcome: Sendable, Equatable {
    public enum Result: Sendable, Equatable {
        /// Finished; the result as JSON text.
        case completed(resultJSON: String)
        /// Failed; run again after `delaySeconds`.
        case retry(error: String, delaySeconds: Double)
        /// Failed for good: the dead-letter queue.
        case dead(error: String)
    }

    public var jobId: Int64
    public var attempt: Int
    public var durationMs: Int
    public var result: Result
    /// Milliseconds the job waited between becoming due and its claim, for the wait-time rollups.
    public var waitMs: Int
    /// How a target answered (`2xx`, `4xx`, `timeout`, `exit 75`, …), for the per-target
    /// counts; nil for the build's own functions.
    public var answer: String?

    public init(jobId: Int64, attempt: Int, durationMs: Int, result: Result, waitMs: Int = 0, answer: String? = nil) {
        self.jobId = jobId
        self.attempt = attempt
        self.durationMs = durationMs
        self.result = result
        self.waitMs = waitMs
        self.answer = answer
    }
}

/// What a wait for work heard: jobs due now, or jobs scheduled for later (whose time may come
/// before the waiter's next look).
public struct WorkHeard: Sendable, Equatable {
    public var due = false
    public var scheduled = false
    public init(due: Bool = false, scheduled: Bool = false) {
        self.due = due
        self.scheduled = scheduled
    }
}
