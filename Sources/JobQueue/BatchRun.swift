import FoundationEssentials
import Logging

/// One process-batch invocation's state: jobs claimed and waiting to start, jobs running,
/// outcomes waiting to be recorded. Lives on the invocation's thread; the executor reaches it
/// only through the completion queue.
final class BatchRun {
    struct Held {
        var job: ClaimedJob
        var leaseEndNs: UInt64
    }

    enum Stop { case deadline, shutdown }

    struct Active {
        var attempt: RunningAttempt
        var startNs: UInt64
        var deadlineNs: UInt64
        var stoppedBy: Stop?
    }

    let processor: Processor
    let options: BatchOptions
    let owner: UUID
    let completions: CompletionQueue
    let startNs: UInt64
    let endNs: UInt64
    var summary = BatchSummary()

    var queued: [Held] = []
    var queuedHead = 0
    var active: [Int64: Active] = [:]
    var abandoned: [Int64: Active] = [:]
    var pending: [(outcome: JobOutcome, kind: String)] = []
    var releases: [Int64] = []
    var rescued = false
    var dryAtNs: UInt64?
    var lastClaimNs: UInt64 = 0
    var lastFlushNs: UInt64
    var stoppingAtNs: UInt64?
    var storageFailures = 0
    var storageRetryAtNs: UInt64 = 0
    var lastStorageError: (any Error)?
    /// Attempts finished and their summed run time: the pace claims are sized by.
    var paceJobs = 0
    var paceNs: UInt64 = 0
    var queuePolicies: [String: RetryPolicy] = [:]
    /// A long poll (`waitSeconds`): until `waitEndNs` an idle invocation waits for work rather
    /// than answering, hearing enqueues on its own connection.
    let waitEndNs: UInt64
    var listening = false
    /// When the next scheduled job of these queues comes due (nil: none, or not looked up), and
    /// whether to look it up before the next idle wait.
    var nextScheduledNs: UInt64?
    var scheduledStale = true

    init(processor: Processor, options: BatchOptions, owner: UUID) throws {
        self.processor = processor
        self.options = options
        self.owner = owner
        completions = try CompletionQueue()
        startNs = Monotonic.nanoseconds()
        endNs = startNs &+ UInt64(options.maxSeconds * 1e9)
        waitEndNs = startNs &+ UInt64(options.waitSeconds * 1e9)
        lastFlushNs = startNs
    }

    var queuedCount: Int { queued.count - queuedHead }

    func run() throws -> BatchSummary {
        if processor.kinds.hasUndeclaredRetry { queuePolicies = (try? processor.store.queueRetryPolicies()) ?? [:] }
        defer { handBackOnExit() }
        if options.waitSeconds > 0 {
            // Before the first claim, so an enqueue between that claim and the wait is heard.
            do {
                try processor.store.listenForWork()
                listening = true
            } catch {
                processor.logger.warning("cannot listen for enqueues; waiting by claiming every \(Processor.idleRecheck) s",
                                         metadata: ["error": "\(error)"])
            }
        }
        defer { stopListening() }
        while true {
            let now = Monotonic.nanoseconds()
            checkStop(now)
            absorb(completions.take())
            enforceDeadlines(Monotonic.nanoseconds())
            startQueued(Monotonic.nanoseconds())
            if let exchange = nextExchange(Monotonic.nanoseconds()) {
                try perform(exchange)
                continue
            }
            if isDone(Monotonic.nanoseconds()) { break }
            try pause(Monotonic.nanoseconds())
        }
        if dryAtNs != nil && stoppingAtNs == nil {
            summary.limited = (try? processor.store.heldBack(queues: options.queues, cap: 1000)) ?? 0
            summary.tooLong = (try? processor.store.tooLong(queues: options.queues, maxTimeoutMs: Int(options.maxSeconds * 1000), cap: 1000)) ?? 0
        }
        summary.durationMs = Int((Monotonic.nanoseconds() - startNs) / 1_000_000)
        return summary
    }

    // MARK: Stopping

    func checkStop(_ now: UInt64) {
        guard stoppingAtNs == nil, processor.shouldStop?() == true else { return }
        stoppingAtNs = now
        // Nothing not started will start: hand it all back, attempts unspent.
        releases += queued[queuedHead...].map(\.job.id)
        queued.removeAll()
        queuedHead = 0
        processor.logger.info("stop requested: no more claims; running jobs get \(processor.stopGraceSeconds) s",
                              metadata: ["running": "\(active.count)"])
    }

    /// When the running jobs must stop: their deadline, or the end of the stop's grace.
    func limitNs(_ a: Active) -> UInt64 {
        guard let stop = stoppingAtNs else { return a.deadlineNs }
        return min(a.deadlineNs, stop &+ UInt64(processor.stopGraceSeconds * 1e9))
    }

    func enforceDeadlines(_ now: UInt64) {
        for (id, a) in active {
            let limit = limitNs(a)
            if a.stoppedBy == nil, now >= limit {
                active[id]?.stoppedBy = limit < a.deadlineNs ? .shutdown : .deadline
                a.attempt.cancel(deadlineNs: limit)
            } else if a.stoppedBy != nil, now >= limit &+ UInt64(Processor.abandonAfter * 1e9) {
                // It ignores its deadline. Its lease covers the deadline and more, so nothing
                // else runs it meanwhile; the rescue takes it once the lease ends, and the host
                // should end this process so the stray work ends with it.
                active[id] = nil
                abandoned[id] = a
                summary.abandoned += 1
                processor.logger.warning("attempt did not stop at its deadline; left to its lease", metadata: [
                    "jobId": "\(id)", "kind": "\(a.attempt.job.kind)",
                ])
            }
        }
    }

    // MARK: Starting

    func startQueued(_ now: UInt64) {
        while active.count < options.parallelism, queuedHead < queued.count {
            let held = queued[queuedHead]
            queuedHead += 1
            if queuedHead == queued.count {
                queued.removeAll(keepingCapacity: true)
                queuedHead = 0
            }
            let deadline = now &+ UInt64(processor.timeoutSeconds(held.job) * 1e9)
            // The attempt must end within the budget and leave its lease time to be recorded;
            // otherwise it goes back, its attempt unspent.
            guard stoppingAtNs == nil, deadline <= endNs,
                  deadline &+ UInt64(Processor.recordMargin * 1e9) <= held.leaseEndNs else {
                releases.append(held.job.id)
                continue
            }
            start(held.job, now: now, deadlineNs: deadline)
        }
    }

    func start(_ job: ClaimedJob, now: UInt64, deadlineNs: UInt64) {
        let store = processor.store, owner = self.owner, lease = options.leaseSeconds, id = job.id
        let context = JobContext(job: job, owner: owner, deadlineNs: deadlineNs) { percent, message, remaining in
            try store.reportProgress(jobId: id, owner: owner, percent: percent, message: message,
                                     leaseSeconds: lease, capSeconds: remaining + Processor.recordMargin)
        }
        let attempt = RunningAttempt(context: context, completions: completions)
        active[id] = Active(attempt: attempt, startNs: now, deadlineNs: deadlineNs)
        summary.maxRunning = max(summary.maxRunning, active.count)
        processor.executor.start(attempt)
    }

    // MARK: Outcomes

    func absorb(_ ended: [Completion]) {
        for completion in ended {
            let a: Active
            if let found = active.removeValue(forKey: completion.jobId) {
                a = found
            } else if let late = abandoned.removeValue(forKey: completion.jobId) {
                // It stopped after all, while this invocation was still here: record it.
                summary.abandoned -= 1
                a = late
            } else {
                continue
            }
            if case .failure(let error) = completion.result, error is AttemptNotStarted {
                releases.append(completion.jobId)
                continue
            }
            let ran = completion.endedNs &- a.startNs
            let timedOut: Bool
            if case .failure = completion.result {
                timedOut = a.stoppedBy == .deadline || completion.endedNs &+ 5_000_000 >= a.deadlineNs
            } else {
                timedOut = false
            }
            if !timedOut {
                paceJobs += 1
                paceNs &+= ran
            }
            let job = a.attempt.job
            let result = classify(completion.result, job: job, timedOut: timedOut, stoppedBy: a.stoppedBy,
                                  seconds: Double(ran) / 1e9)
            if timedOut { summary.timedOut += 1 }
            // A target stopped at its deadline answered nothing: that is its time-out.
            let answer = completion.answer.map { timedOut ? "timeout" : $0 }
            pending.append((JobOutcome(jobId: job.id, attempt: job.attempt, durationMs: Int(ran / 1_000_000), result: result,
                                       waitMs: job.waitMs, answer: answer), job.kind))
        }
    }

    func classify(_ result: Result<String, any Error>, job: ClaimedJob, timedOut: Bool, stoppedBy: Stop?, seconds: Double) -> JobOutcome.Result {
        let policy = processor.kinds.declaredRetryPolicy(for: job.kind) ?? queuePolicies[job.queue]
        switch result {
        case .success(let json):
            if let problem = Self.resultProblem(json) {
                return .dead(error: "the job's result cannot be stored: \(problem)")
            }
            return .completed(resultJSON: json)
        case .failure where stoppedBy == .shutdown:
            // Cut short by the host stopping, not by the job: run again at once.
            return job.isLastAttempt ? .dead(error: "interrupted: the host stopped while this attempt ran")
                : .retry(error: "interrupted: the host stopped while this attempt ran", delaySeconds: 0)
        case .failure where timedOut:
            let limit = processor.timeoutSeconds(job)
            return processor.decide(job, message: "timed out after \(JobKinds.format((limit * 1000).rounded() / 1000)) s", retryable: true, policy: policy)
        case .failure(let failure as JobFailure):
            return processor.decide(job, message: failure.message, retryable: failure.retryable,
                                    retryAfter: failure.retryAfterSeconds, policy: policy)
        case .failure(let error):
            return processor.decide(job, message: String(describing: error), retryable: true, policy: policy)
        }
    }

    /// Why a result cannot go into jsonb, or nil. Checked here, so one bad result fails its own
    /// job rather than the statement that records a thousand.
    static func resultProblem(_ json: String) -> String? {
        if json.utf8.count > Self.maxResultBytes { return "it is \(json.utf8.count) bytes; the limit is \(maxResultBytes)" }
        return JSONSyntax.problem(json)
    }

    /// The largest result a job may store.
    static let maxResultBytes = 4 * 1024 * 1024
}
