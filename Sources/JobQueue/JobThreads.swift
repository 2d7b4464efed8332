/// The threads job tasks run on: a task executor of Conveyor's own, so jobs never depend on
/// Swift's cooperative pool, which has two threads here and which a host, a test runner or a
/// library user may be blocking. Awaiting work (a timer, a transfer) holds none of them; work
/// that blocks goes to `BlockingPool` instead.
public final class JobThreads: TaskExecutor, @unchecked Sendable {
    /// The process's job threads.
    public static let shared = JobThreads(threads: 2)

    private let pool: BlockingPool

    public init(threads: Int) {
        pool = BlockingPool(maxThreads: threads)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        pool.submit { job.runSynchronously(on: executor) }
    }
}
