/// Where a job is in its life. See docs/state-machine.md for the allowed transitions.
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its `runAt`: delayed when enqueued, or backing off after a failure. A claim
    /// makes it available once that time has come.
    case scheduled
    /// Due and waiting to be claimed.
    case available
    /// Claimed by one process-batch invocation, which holds the lease until `locked_until`.
    case running
    /// Finished successfully; `result` holds the output.
    case completed
    /// Failed its last attempt, or failed permanently: the dead-letter queue.
    case dead
    /// Cancelled by an operator before it ran.
    case cancelled

    /// True for states a job never leaves on its own.
    public var isFinished: Bool {
        switch self {
        case .completed, .dead, .cancelled: return true
        case .scheduled, .available, .running: return false
        }
    }

    /// True while the job waits to start: due or not.
    public var isWaiting: Bool { self == .scheduled || self == .available }
}
