import FoundationEssentials
import JobQueue
import Synchronization

/// A job kind whose work is a local program, run the CGI way: no shell, the payload on standard
/// input, the job in the environment, standard output as the result.
///
/// Exit status 0 completes the job; 75 (EX_TEMPFAIL) retries it; any other status, or a
/// program that cannot start, dead-letters it with the tail of standard error; a program killed
/// by a signal it did not get from us is retried. At the deadline the program's whole process
/// group is killed. The environment holds only `PATH`, `LANG`, the job's `CONVEYOR_*` variables
/// and its `TRACEPARENT`: nothing of Conveyor's own configuration or secrets.
public struct ExecTarget: JobTarget {
    public let path: String
    public let arguments: [String]
    public let maxResultBytes: Int
    /// Issues each run's `CONVEYOR_PROGRESS_TOKEN`; nil gives none.
    public let progress: ProgressTokens?
    let pool: BlockingPool

    /// The exit status that asks for a retry (sysexits.h EX_TEMPFAIL).
    public static let retryStatus: Int32 = 75

    public init(path: String, arguments: [String] = [], maxResultBytes: Int = HTTPTarget.defaultMaxResultBytes,
                progress: ProgressTokens? = nil, pool: BlockingPool = .shared) {
        self.path = path
        self.progress = progress
        self.arguments = arguments
        self.maxResultBytes = maxResultBytes
        self.pool = pool
    }

    /// Runs the program on a thread of `pool`; `attempt.cancel` kills its process group.
    public func start(_ attempt: RunningAttempt) {
        pool.submit {
            guard !attempt.isCancelled else {
                attempt.finish(.failure(AttemptNotStarted()))
                return
            }
            let (result, answer) = run(attempt.context) { child in attempt.onCancel { child.stop() } }
            attempt.finish(result, answer: answer)
        }
    }

    public func run(_ context: JobContext) async throws -> String {
        let stop = StopBox()
        return try await withTaskCancellationHandler {
            try await pool.run { try run(context) { stop.set($0) }.result.get() }
        } onCancel: {
            stop.stop()
        }
    }

    /// Runs the program to its end and reads its outcome.
    func run(_ context: JobContext, started: (ChildProcess) -> Void) -> (result: Result<String, any Error>, answer: String) {
        let job = context.job
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(
                path: path, arguments: arguments, environment: environment(for: context),
                input: Data(job.payload.text.utf8), maxOutputBytes: maxResultBytes,
                deadline: { context.remainingSeconds }, started: started)
        } catch {
            return (.failure(JobFailure("the job's program could not start: \(error)", retryable: false)), "not started")
        }
        switch outcome.ending {
        case .exited(0):
            return (.success(ResultText.of(outcome.output, truncated: outcome.outputTruncated, limit: maxResultBytes, status: nil)), "exit 0")
        case .exited(Self.retryStatus):
            return (.failure(JobFailure("the job's program asked for a retry (exit 75)\(Self.tail(outcome.errorTail))")), "exit 75")
        case .exited(let status):
            return (.failure(JobFailure("the job's program exited with status \(status)\(Self.tail(outcome.errorTail))", retryable: false)),
                    "exit other")
        case .signalled(let signal):
            return (.failure(JobFailure("the job's program was killed by signal \(signal)\(Self.tail(outcome.errorTail))")), "signal")
        case .stopped:
            return (.failure(CancellationError()), "cancelled")
        }
    }

    func environment(for context: JobContext) -> [String: String] {
        let job = context.job, timeout = context.remainingSeconds
        var environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "CONVEYOR_JOB_ID": String(job.id),
            "CONVEYOR_ATTEMPT": String(job.attempt),
            "CONVEYOR_MAX_ATTEMPTS": String(job.maxAttempts),
            "CONVEYOR_ORG": String(job.orgId),
            "CONVEYOR_KIND": job.kind,
            "CONVEYOR_QUEUE": job.queue,
            "CONVEYOR_TIMEOUT_MS": String(Int(timeout * 1000)),
        ]
        environment["CONVEYOR_IDEMPOTENCY_KEY"] = job.idempotencyKey
        // OpenTelemetry's name for a trace context carried in the environment.
        environment["TRACEPARENT"] = job.traceparent
        if let progress {
            environment["CONVEYOR_PROGRESS_TOKEN"] = progress.token(for: context)
            environment["CONVEYOR_PROGRESS_PATH"] = "/v1/jobs/\(job.id)/progress"
        }
        return environment
    }

    /// ": <last line(s) of standard error>" for a message, or "".
    static func tail(_ bytes: Data) -> String {
        let text = DeliveryOutcome.quote(bytes.suffix(DeliveryOutcome.quotedBytes))
        let trimmed = text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()
        return trimmed.isEmpty ? "" : ": " + String(trimmed)
    }
}

/// The child of an awaited run, for the task's cancellation handler.
private final class StopBox: @unchecked Sendable {
    private struct State {
        var child: ChildProcess?
        var stopped = false
    }
    private let lock = Mutex(State())

    func set(_ child: ChildProcess) {
        let stopNow = lock.withLock { state -> Bool in
            state.child = child
            return state.stopped
        }
        if stopNow { child.stop() }
    }

    func stop() {
        let child = lock.withLock { state -> ChildProcess? in
            state.stopped = true
            return state.child
        }
        child?.stop()
    }
}
