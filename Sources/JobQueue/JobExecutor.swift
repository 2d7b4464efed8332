import FoundationEssentials

/// Runs one claimed job. The hosts implement it by calling the function the job's kind names.
public protocol JobExecutor {
    /// Does the job's work and returns its result as JSON text. Throw `JobFailure` to control
    /// retrying; any other error is retried with its description as the message.
    func execute(_ job: ClaimedJob, context: JobContext) throws -> String
}

/// A failed attempt, as a job handler reports it.
public struct JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// False dead-letters the job at once, whatever attempts remain (e.g. a permanent SMTP 5xx).
    public var retryable: Bool
    /// The earliest the next attempt may run, in seconds from now, when the failure says so
    /// (an HTTP 429's Retry-After). The retry waits for the later of this and the backoff.
    public var retryAfterSeconds: Double?

    public init(_ message: String, retryable: Bool = true, retryAfterSeconds: Double? = nil) {
        self.message = message
        self.retryable = retryable
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { message }
}

/// What a running job can tell the engine while it works.
public final class JobContext {
    public let job: ClaimedJob
    private let store: JobStore
    private let owner: UUID
    private let leaseSeconds: Double

    init(job: ClaimedJob, store: JobStore, owner: UUID, leaseSeconds: Double) {
        self.job = job
        self.store = store
        self.owner = owner
        self.leaseSeconds = leaseSeconds
    }

    /// Stores progress (0–100) and a short message for job-status, and extends the lease, so a
    /// long job that reports progress is not rescued from under itself. Returns false when this
    /// invocation no longer owns the job (its lease expired and it was rescued).
    @discardableResult
    public func reportProgress(_ percent: Int, message: String? = nil) throws -> Bool {
        let clamped = min(max(percent, 0), 100)
        let short = message.map { String($0.prefix(500)) }
        return try store.reportProgress(jobId: job.id, owner: owner, percent: clamped, message: short, leaseSeconds: leaseSeconds)
    }
}
