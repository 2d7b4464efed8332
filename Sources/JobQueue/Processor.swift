import Dispatch
import FoundationEssentials
import Logging

/// The limits of one process-batch invocation.
public struct BatchOptions: Sendable, Equatable {
    /// Only these queues; nil means all.
    public var queues: [String]?
    /// Stop after claiming this many jobs.
    public var maxJobs: Int
    /// Stop starting jobs when this budget is spent.
    public var maxSeconds: Double
    /// How long a claim is held before rescue may take it back; defaults to the budget plus 30 s.
    public var leaseSeconds: Double

    public init(queues: [String]? = nil, maxJobs: Int = 100, maxSeconds: Double = 50, leaseSeconds: Double? = nil) {
        self.queues = queues
        self.maxJobs = maxJobs
        self.maxSeconds = maxSeconds
        self.leaseSeconds = leaseSeconds ?? (maxSeconds + 30)
    }
}

/// What one process-batch invocation did.
public struct BatchSummary: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var kind: String
        /// completed, retried, dead, or lost (rescued by another invocation before this one finished).
        public var outcome: String
        public var ms: Int
    }

    public var claimed = 0
    public var completed = 0
    public var retried = 0
    public var dead = 0
    /// Expired leases taken back at the start.
    public var rescued = 0
    /// Claimed but not started before the budget ran out; returned without spending an attempt.
    public var released = 0
    /// Finished here after another invocation had already rescued them; their outcome was dropped.
    public var lost = 0
    /// Due jobs left waiting when the batch ended because their queue was at its concurrency or
    /// rate limit (up to 1,000 per queue). They were never claimed and spent no attempt.
    public var limited = 0
    public var durationMs = 0
    public var jobs: [Entry] = []
}

/// The engine's process-batch: rescue, claim, run, record — bounded by jobs and time.
public struct Processor {
    /// Bounds one rescue pass so that a backlog of expired leases cannot stall a batch.
    public static let rescueLimit = 1000
    /// The most rows one claim statement takes.
    public static let claimLimit = 1000
    /// The first claim of an invocation is small until the jobs' pace is known, so slow kinds
    /// are not hoarded by one invocation while others sit idle.
    static let firstClaim = 100
    /// Outcomes are written at least this often, and at the end of every claimed chunk.
    static let flushEvery = 500
    static let flushInterval = 0.5

    let store: JobStore
    let executor: JobExecutor
    let kinds: JobKinds
    let logger: Logger

    public init(store: JobStore, executor: JobExecutor, kinds: JobKinds, logger: Logger = Logger(label: "conveyor.processor")) {
        self.store = store
        self.executor = executor
        self.kinds = kinds
        self.logger = logger
    }

    /// Runs one batch. Throws only when storage fails; job failures are outcomes.
    public func run(_ options: BatchOptions, owner: UUID = UUID()) throws -> BatchSummary {
        let start = Monotonic.now()
        let deadline = start + options.maxSeconds
        // Leave time to record outcomes before the caller's own timeout.
        let stopClaiming = deadline - min(1.0, options.maxSeconds * 0.1)
        var summary = BatchSummary()

        let rescue = try store.rescueExpired(queues: options.queues, limit: Self.rescueLimit)
        summary.rescued = rescue.total

        var pending: [(JobOutcome, String)] = []
        var lastFlush = Monotonic.now()
        var ranSeconds = 0.0
        var ranJobs = 0
        var ranDry = false
        // Queue defaults for kinds without a policy, read on the first retry that needs them.
        var queuePolicies: [String: RetryPolicy]?
        func policy(for job: ClaimedJob) throws -> RetryPolicy {
            if let declared = kinds.declaredRetryPolicy(for: job.kind) { return declared }
            if queuePolicies == nil { queuePolicies = try store.queueRetryPolicies() }
            return queuePolicies?[job.queue] ?? kinds.retryPolicy(for: job.kind)
        }

        func flush() throws {
            guard !pending.isEmpty else { return }
            let applied = try store.record(pending.map(\.0), owner: owner)
            for (outcome, kind) in pending {
                let label: String
                if !applied.contains(outcome.jobId) {
                    label = "lost"
                    summary.lost += 1
                } else {
                    switch outcome.result {
                    case .completed: label = "completed"; summary.completed += 1
                    case .retry: label = "retried"; summary.retried += 1
                    case .dead: label = "dead"; summary.dead += 1
                    }
                }
                summary.jobs.append(.init(id: outcome.jobId, kind: kind, outcome: label, ms: outcome.durationMs))
            }
            pending.removeAll(keepingCapacity: true)
            lastFlush = Monotonic.now()
        }

        claiming: while summary.claimed < options.maxJobs, Monotonic.now() < stopClaiming {
            let remaining = options.maxJobs - summary.claimed
            let want = nextClaimSize(remaining: remaining, ranJobs: ranJobs, ranSeconds: ranSeconds,
                                     secondsLeft: deadline - Monotonic.now())
            let claimedAt = Monotonic.now()
            let claimed = try store.claim(queues: options.queues, limit: want, leaseSeconds: options.leaseSeconds, owner: owner)
            // A claim shares its rows among queues, so a short one does not mean nothing is
            // due; an empty one does (or every due job waits on a limit): return at once.
            guard !claimed.isEmpty else {
                ranDry = true
                break
            }
            summary.claimed += claimed.count
            let batch = Self.runOrder(claimed)
            // A job may start only while its claim still holds and the budget leaves time to
            // record it: past the lease another invocation may already have rescued and claimed
            // it, and running it here too would run it twice.
            let leaseEnds = claimedAt + options.leaseSeconds - min(1.0, options.leaseSeconds * 0.1)
            let startBy = min(stopClaiming, leaseEnds)
            var index = 0
            do {
                while index < batch.count {
                    let job = batch[index]
                    if Monotonic.now() >= startBy {
                        let unstarted = batch[index...].map(\.id)
                        summary.released += try store.release(unstarted, owner: owner)
                        summary.claimed -= unstarted.count
                        index = batch.count
                        break claiming
                    }
                    let began = Monotonic.now()
                    let result = runOne(job, owner: owner, leaseSeconds: options.leaseSeconds, policy: { try policy(for: job) })
                    let took = Monotonic.now() - began
                    index += 1
                    ranSeconds += took
                    ranJobs += 1
                    pending.append((JobOutcome(jobId: job.id, attempt: job.attempt, durationMs: Int((took * 1000).rounded()), result: result), job.kind))
                    if pending.count >= Self.flushEvery || Monotonic.now() - lastFlush >= Self.flushInterval {
                        try flush()
                    }
                }
            } catch {
                // Storage failed mid-batch: hand back what never started so it does not sit in
                // `running` until its lease ends and lose an attempt to the rescue, then report.
                if index < batch.count {
                    _ = try? store.release(batch[index...].map(\.id), owner: owner)
                }
                throw error
            }
            try flush()
        }
        try flush()
        if ranDry { summary.limited = try store.heldBack(queues: options.queues, cap: 1000) }
        summary.durationMs = Int(((Monotonic.now() - start) * 1000).rounded())
        if summary.claimed > 0 || summary.rescued > 0 {
            logger.info("batch done", metadata: [
                "claimed": "\(summary.claimed)", "completed": "\(summary.completed)", "retried": "\(summary.retried)",
                "dead": "\(summary.dead)", "rescued": "\(summary.rescued)", "released": "\(summary.released)",
                "lost": "\(summary.lost)", "limited": "\(summary.limited)", "ms": "\(summary.durationMs)",
            ])
        }
        return summary
    }

    /// Sizes the next claim from the pace observed so far: enough to fill half the time left.
    func nextClaimSize(remaining: Int, ranJobs: Int, ranSeconds: Double, secondsLeft: Double) -> Int {
        let cap = min(remaining, Self.claimLimit)
        guard ranJobs > 0 else { return min(cap, Self.firstClaim) }
        let perJob = max(ranSeconds / Double(ranJobs), 1e-6)
        let fits = Int((max(secondsLeft, 0) * 0.5 / perJob).rounded(.down))
        return max(1, min(cap, fits))
    }

    func runOne(_ job: ClaimedJob, owner: UUID, leaseSeconds: Double, policy: () throws -> RetryPolicy) -> JobOutcome.Result {
        let context = JobContext(job: job, store: store, owner: owner, leaseSeconds: leaseSeconds)
        // Reading a queue's policy can fail only on storage; the kind's (or engine's) then serves.
        do {
            return .completed(resultJSON: try executor.execute(job, context: context))
        } catch let failure as JobFailure {
            return decide(job, message: failure.message, retryable: failure.retryable, retryAfter: failure.retryAfterSeconds,
                          policy: (try? policy()) ?? kinds.retryPolicy(for: job.kind))
        } catch {
            return decide(job, message: String(describing: error), retryable: true, policy: (try? policy()) ?? kinds.retryPolicy(for: job.kind))
        }
    }

    /// The order to run a claim in: each queue's jobs by priority then age, and the queues
    /// interleaved one job at a time, so that a batch cut short by its time budget has served
    /// every queue in it (the claim's round-robin, carried through to execution).
    static func runOrder(_ claimed: [ClaimedJob]) -> [ClaimedJob] {
        var byQueue: [String: [ClaimedJob]] = [:]
        for job in claimed { byQueue[job.queue, default: []].append(job) }
        let before: (ClaimedJob, ClaimedJob) -> Bool = { ($0.priority, $1.runAt, $1.id) > ($1.priority, $0.runAt, $0.id) }
        guard byQueue.count > 1 else { return claimed.sorted(by: before) }
        let lanes = byQueue.values.map { $0.sorted(by: before) }.sorted { before($0[0], $1[0]) }
        var order: [ClaimedJob] = []
        order.reserveCapacity(claimed.count)
        var depth = 0
        while order.count < claimed.count {
            for lane in lanes where depth < lane.count { order.append(lane[depth]) }
            depth += 1
        }
        return order
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
}

/// Seconds on a clock that never jumps, for budgets and durations.
enum Monotonic {
    static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}
