import Dispatch
import FoundationEssentials
import Logging

/// The engine's process-batch: rescue, claim, hand out, record — bounded by jobs and time.
///
/// Jobs run concurrently on the executor, up to the batch's parallelism. Every attempt has a
/// deadline: its kind's limit (or the job's shorter one), never past the budget, and never past
/// what its lease covers, so an attempt never outlives its lease and a job runs twice only when
/// a process died mid-attempt. Claims, outcomes and hand-backs travel together in one round
/// trip, overlapped with the jobs' work.
public final class Processor {
    /// Bounds one rescue pass so that a backlog of expired leases cannot stall a batch.
    public static let rescueLimit = 1000
    /// The most rows one claim statement takes.
    public static let claimLimit = 1000
    /// An attempt that has not stopped this long after its deadline is abandoned (see
    /// `BatchSummary.abandoned`).
    public static let abandonAfter = 1.0
    /// An invocation answers within `maxSeconds` plus this: an abandoned attempt's second and the
    /// last outcomes' round trip.
    public static let answerMargin = 2.0
    /// A job starts only if its deadline leaves this much of its lease to record the outcome.
    public static let recordMargin = 5.0
    /// Claims run this far ahead of the jobs at the pace seen so far, so fast jobs never wait for
    /// a round trip while slow ones are not hoarded.
    static let claimHorizon = 0.25
    /// Outcomes are written at least this often, and whenever a claim goes out.
    static let flushEvery = 500
    static let flushInterval = 0.2
    /// While jobs run after a claim came back short, free slots are offered to new work this often.
    static let refillInterval = 0.1
    /// How often an invocation waiting for work (`waitSeconds`) claims without having heard of
    /// any: work can come back without a notification (a retry's backoff ending, a lease rescued).
    static let idleRecheck = 1.0

    let store: any JobStore
    let executor: any JobExecutor
    let kinds: JobKinds
    let logger: Logger
    /// Asked between steps; true stops claiming at once, hands back every job not started, and
    /// gives running jobs `stopGraceSeconds` before they are cancelled.
    public var shouldStop: (() -> Bool)?
    public var stopGraceSeconds = 5.0

    public init(store: any JobStore, executor: any JobExecutor, kinds: JobKinds,
                logger: Logger = Logger(label: "conveyor.processor")) {
        self.store = store
        self.executor = executor
        self.kinds = kinds
        self.logger = logger
    }

    /// Runs one batch. Throws only when storage fails for good; job failures are outcomes.
    public func run(_ options: BatchOptions, owner: UUID = UUID()) throws -> BatchSummary {
        let batch = try BatchRun(processor: self, options: options, owner: owner)
        let summary = try batch.run()
        if summary.claimed > 0 || summary.rescued > 0 {
            logger.info("batch done", metadata: [
                "claimed": "\(summary.claimed)", "completed": "\(summary.completed)", "retried": "\(summary.retried)",
                "dead": "\(summary.dead)", "timedOut": "\(summary.timedOut)", "rescued": "\(summary.rescued)",
                "released": "\(summary.released)", "lost": "\(summary.lost)", "abandoned": "\(summary.abandoned)",
                "limited": "\(summary.limited)", "maxRunning": "\(summary.maxRunning)", "ms": "\(summary.durationMs)",
            ])
        }
        return summary
    }

    /// Retry with backoff while attempts remain; otherwise dead-letter. A server's own
    /// Retry-After wins when it asks for longer than the backoff (capped at a day, so a hostile
    /// header cannot park a job for ever).
    func decide(_ job: ClaimedJob, message: String, retryable: Bool, retryAfter: Double? = nil, policy: RetryPolicy? = nil) -> JobOutcome.Result {
        let message = String(message.prefix(2000))
        guard retryable, !job.isLastAttempt else { return .dead(error: message) }
        var delay = (policy ?? kinds.retryPolicy(for: job.kind)).delay(afterAttempt: job.attempt)
        if let retryAfter, retryAfter.isFinite { delay = max(delay, min(retryAfter, 86_400)) }
        return .retry(error: message, delaySeconds: delay)
    }

    /// The order to start a claim in: each lane's (org and queue's) jobs by priority then age,
    /// the lanes interleaved one job at a time, so that jobs cut short by the budget or waiting
    /// for a free slot are spread over every lane (the claim's round-robin, carried through).
    static func runOrder(_ claimed: [ClaimedJob]) -> [ClaimedJob] {
        struct Lane: Hashable { var org: Int64; var queue: String }
        let before: (ClaimedJob, ClaimedJob) -> Bool = { ($0.priority, $1.runAt, $1.id) > ($1.priority, $0.runAt, $0.id) }
        guard let first = claimed.first, claimed.contains(where: { $0.orgId != first.orgId || $0.queue != first.queue }) else {
            return claimed.sorted(by: before)
        }
        var byLane: [Lane: [ClaimedJob]] = [:]
        for job in claimed { byLane[Lane(org: job.orgId, queue: job.queue), default: []].append(job) }
        let lanes = byLane.values.map { $0.sorted(by: before) }.sorted { before($0[0], $1[0]) }
        var order: [ClaimedJob] = []
        order.reserveCapacity(claimed.count)
        var depth = 0
        while order.count < claimed.count {
            for lane in lanes where depth < lane.count { order.append(lane[depth]) }
            depth += 1
        }
        return order
    }

    /// The attempt limit of a claimed job: what it was enqueued with, never more than its kind
    /// allows now.
    func timeoutSeconds(_ job: ClaimedJob) -> Double {
        min(Double(job.timeoutMs) / 1000, kinds.timeoutSeconds(for: job.kind))
    }
}

/// Seconds on a clock that never jumps, for budgets and durations.
enum Monotonic {
    static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    static func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The monotonic time `seconds` from now, in nanoseconds.
    static func nanoseconds(after seconds: Double) -> UInt64 {
        nanoseconds() &+ UInt64(max(0, min(seconds, 1e9)) * 1e9)
    }
}
