import Dispatch
import FoundationEssentials
import Synchronization

/// What a running job's code can know and tell: the job, the time it has left, whether it has
/// been asked to stop, and progress (which also proves it is alive).
public final class JobContext: Sendable {
    public let job: ClaimedJob
    /// The invocation that holds the job: with the attempt, what a progress report must name.
    public let owner: UUID
    private let deadlineNs: Atomic<UInt64>
    private let cancelled: Atomic<Bool>
    private let progress: @Sendable (Int, String?, Double) throws -> Bool

    init(job: ClaimedJob, owner: UUID, deadlineNs: UInt64, progress: @escaping @Sendable (Int, String?, Double) throws -> Bool) {
        self.job = job
        self.owner = owner
        self.deadlineNs = Atomic(deadlineNs)
        self.cancelled = Atomic(false)
        self.progress = progress
    }

    /// A context for code run outside a batch (tests, tools): `seconds` to run, no progress store.
    public static func standalone(_ job: ClaimedJob, seconds: Double) -> JobContext {
        JobContext(job: job, owner: UUID(), deadlineNs: Monotonic.nanoseconds(after: seconds), progress: { _, _, _ in true })
    }

    /// Seconds left before the attempt's deadline (0 once it has passed). Blocking I/O should
    /// use this as its timeout: at the deadline the attempt counts as timed out.
    public var remainingSeconds: Double {
        let now = DispatchTime.now().uptimeNanoseconds, deadline = deadlineNs.load(ordering: .relaxed)
        return deadline > now ? Double(deadline - now) / 1e9 : 0
    }

    /// True once the attempt was asked to stop: its deadline passed, or the host is stopping.
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Stores progress (0–100) and a short message for job-status, and extends the job's lease,
    /// never past the attempt's deadline. Returns false when this invocation no longer owns
    /// the job.
    @discardableResult
    public func reportProgress(_ percent: Int, message: String? = nil) throws -> Bool {
        let clamped = min(max(percent, 0), 100)
        return try progress(clamped, message.map { String($0.prefix(500)) }, remainingSeconds)
    }

    func markCancelled(deadlineNs: UInt64?) {
        if let deadlineNs { self.deadlineNs.store(min(deadlineNs, self.deadlineNs.load(ordering: .relaxed)), ordering: .relaxed) }
        cancelled.store(true, ordering: .relaxed)
    }

    var deadline: UInt64 { deadlineNs.load(ordering: .relaxed) }
}

/// One attempt between the processor and the executor: started once, cancelled at most once,
/// finished exactly once.
public final class RunningAttempt: Sendable {
    public let context: JobContext
    private let completions: CompletionQueue
    private struct State {
        var finished = false
        var cancelled = false
        var onCancel: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    init(context: JobContext, completions: CompletionQueue) {
        self.context = context
        self.completions = completions
    }

    public var job: ClaimedJob { context.job }
    public var isCancelled: Bool { context.isCancelled }

    /// Reports the attempt's end: its result as JSON text, or the error it failed with, and for
    /// a target how it answered (`2xx`, `5xx`, `timeout`, `exit 0`, …), which the per-target
    /// metrics count. Only the first call counts.
    public func finish(_ result: Result<String, any Error>, answer: String? = nil) {
        let first = state.withLock { s -> Bool in
            guard !s.finished else { return false }
            s.finished = true
            s.onCancel = nil
            return true
        }
        if first { completions.post(Completion(jobId: context.job.id, endedNs: DispatchTime.now().uptimeNanoseconds, result: result, answer: answer)) }
    }

    /// What stops the attempt's work when it is cancelled; runs at once if it already was.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.finished { return false }
            if s.cancelled { return true }
            s.onCancel = handler
            return false
        }
        if now { handler() }
    }

    /// Asks the work to stop; `deadlineNs` shortens the time blocking I/O is given.
    func cancel(deadlineNs: UInt64? = nil) {
        context.markCancelled(deadlineNs: deadlineNs)
        let handler = state.withLock { s -> (@Sendable () -> Void)? in
            guard !s.finished, !s.cancelled else { return nil }
            s.cancelled = true
            defer { s.onCancel = nil }
            return s.onCancel
        }
        handler?()
    }
}

/// One attempt's end, as the executor reported it.
struct Completion: @unchecked Sendable {
    var jobId: Int64
    var endedNs: UInt64
    var result: Result<String, any Error>
    var answer: String? = nil
}
