import FoundationEssentials

/// Runs claimed jobs, many at once. `Processor` claims, hands each attempt to the executor and
/// records what the executor reports; it runs nothing itself.
///
/// An executor starts an attempt at once and reports its end exactly once, through
/// `RunningAttempt.finish`, from any thread. It stops an attempt's work when asked
/// (`RunningAttempt.cancel`): at the attempt's deadline, or when the host stops.
public protocol JobExecutor: Sendable {
    func start(_ attempt: RunningAttempt)
}

/// The code of the jobs a deployment runs: given an attempt's context, its result as JSON text.
///
/// Throw `JobFailure` to control retrying; any other error is retried with its description as
/// the message. Work that waits should await (a timer, a transfer), so it holds no thread; work
/// that blocks belongs on a `BlockingPool`.
public protocol JobRunner: Sendable {
    func run(_ context: JobContext) async throws -> String
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

/// Thrown by work that never began: its attempt is handed back without spending an attempt.
public struct AttemptNotStarted: Error, Sendable, Equatable {
    public init() {}
}

/// An executor that runs each attempt in a task of its own on `JobThreads`. An attempt that
/// awaits (a timer, a transfer on the curl thread) holds no thread while it waits, so a hundred
/// slow jobs cost a hundred tasks, not a hundred threads. Cancelling an attempt cancels its
/// task: awaits throw `CancellationError`, and blocking work sees `JobContext.isCancelled` and
/// its shortened deadline.
public struct TaskJobExecutor: JobExecutor {
    public let runner: any JobRunner
    let threads: JobThreads

    public init(runner: any JobRunner, threads: JobThreads = .shared) {
        self.runner = runner
        self.threads = threads
    }

    public func start(_ attempt: RunningAttempt) {
        let runner = self.runner
        let task = Task(executorPreference: threads) {
            do {
                attempt.finish(.success(try await runner.run(attempt.context)))
            } catch {
                attempt.finish(.failure(error))
            }
        }
        attempt.onCancel { task.cancel() }
    }
}

/// An executor built from a closure that blocks: for tests and tools. Each attempt runs on a
/// thread of `pool`.
public struct BlockingExecutor: JobExecutor {
    let pool: BlockingPool
    let body: @Sendable (JobContext) throws -> String

    public init(pool: BlockingPool = .shared, _ body: @escaping @Sendable (JobContext) throws -> String) {
        self.pool = pool
        self.body = body
    }

    public func start(_ attempt: RunningAttempt) {
        let body = self.body
        pool.submit {
            guard !attempt.isCancelled else {
                attempt.finish(.failure(AttemptNotStarted()))
                return
            }
            do {
                attempt.finish(.success(try body(attempt.context)))
            } catch {
                attempt.finish(.failure(error))
            }
        }
    }
}
