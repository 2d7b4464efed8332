import Foundation
@testable import JobQueue
import Postgres
import Testing

/// An invocation with `waitSeconds` waits for work rather than answering: it hears enqueues
/// itself, finds scheduled jobs when they come due and work that arrives without a notification,
/// and leaves its connection hearing nothing.
struct LongPollTests {
    /// Runs one invocation on a thread of its own and records what the job code saw.
    final class Waiting: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        let starts = Starts()
        private(set) var summary: BatchSummary?
        private(set) var error: (any Error)?
        let connection: Connection

        init(queue: String, waitSeconds: Double, maxSeconds: Double = 10, stopAfter: Double? = nil) throws {
            connection = try TestDatabase.connect()
            let starts = self.starts
            let executor = ClosureExecutor { job, _ in
                starts.add(job.id)
                return "{}"
            }
            let options = BatchOptions(queues: [queue], maxJobs: 100, maxSeconds: maxSeconds, waitSeconds: waitSeconds)
            let stopAt = stopAfter.map { Date().addingTimeInterval($0) }
            Thread.detachNewThread { [self] in
                let processor = Processor(store: PostgresJobStore(connection: connection), executor: executor, kinds: .test)
                if let stopAt { processor.shouldStop = { Date() >= stopAt } }
                do { summary = try processor.run(options) } catch { self.error = error }
                done.signal()
            }
        }

        func finish() throws -> BatchSummary {
            done.wait()
            if let error { throw error }
            return try #require(summary)
        }
    }

    /// When the job code started, per job.
    final class Starts: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [(id: Int64, at: Date)] = []
        func add(_ id: Int64) { lock.withLock { list.append((id, Date())) } }
        var all: [(id: Int64, at: Date)] { lock.withLock { list } }
    }

    @Test func workEnqueuedWhileItWaitsRunsInTheSameInvocation() throws {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("longpoll")
        let waiting = try Waiting(queue: queue, waitSeconds: 2)
        Thread.sleep(forTimeInterval: 0.5)
        let enqueuedAt = Date()
        let id = try PostgresJobStore(connection: db).enqueue([newJob(queue)], orgId: TestDatabase.uniqueOrg())[0].id
        let summary = try waiting.finish()
        #expect(summary.claimed == 1)
        #expect(summary.completed == 1)
        let starts = waiting.starts.all
        #expect(starts.map(\.id) == [id])
        #expect(starts.allSatisfy { $0.at >= enqueuedAt })
        // It stayed for the whole wait, not just until the first job.
        #expect(summary.durationMs >= 2000)
        #expect(try db.query("SELECT state::text AS s FROM conveyor_jobs WHERE id = \(id)")[0].decode("s", as: String.self) == "completed")
    }

    @Test func aScheduledJobThatComesDueDuringTheWaitRuns() throws {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("longpoll-later")
        let id = try PostgresJobStore(connection: db).enqueue([newJob(queue, delay: 1)], orgId: TestDatabase.uniqueOrg())[0].id
        let runAt: Date = try db.query("SELECT run_at FROM conveyor_jobs WHERE id = \(id)")[0].decode("run_at")
        let waiting = try Waiting(queue: queue, waitSeconds: 3)
        let summary = try waiting.finish()
        #expect(summary.completed == 1)
        let starts = waiting.starts.all
        #expect(starts.map(\.id) == [id])
        // Not before its time (the database and this process read the same clock).
        #expect(starts.allSatisfy { $0.at >= runAt })
    }

    @Test func workThatArrivesWithoutANotificationIsFoundByTheRecheck() throws {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("longpoll-silent")
        let waiting = try Waiting(queue: queue, waitSeconds: 3)
        Thread.sleep(forTimeInterval: 0.3)
        // A plain insert sends no NOTIFY: a job released or rescued elsewhere arrives like this.
        let id: Int64 = try db.query("""
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, state, run_at, max_attempts, timeout_ms)
            VALUES (\(TestDatabase.uniqueOrg()), \(queue), 'noop', '{}', 'available', now(), 3, 2000) RETURNING id
            """)[0].decode("id")
        let summary = try waiting.finish()
        #expect(summary.completed == 1)
        #expect(waiting.starts.all.map(\.id) == [id])
    }

    @Test func afterTheWaitTheConnectionHearsNothing() throws {
        let queue = TestDatabase.uniqueQueue("longpoll-unlisten")
        let waiting = try Waiting(queue: queue, waitSeconds: 0.5)
        let summary = try waiting.finish()
        #expect(summary.claimed == 0)
        #expect(try waiting.connection.query("SELECT count(*)::int AS n FROM pg_listening_channels()")[0].decode("n", as: Int.self) == 0)
    }

    @Test func aStopRequestEndsTheWait() throws {
        let queue = TestDatabase.uniqueQueue("longpoll-stop")
        let waiting = try Waiting(queue: queue, waitSeconds: 30, maxSeconds: 40, stopAfter: 0.3)
        let summary = try waiting.finish()
        #expect(summary.claimed == 0)
        // Far short of the 30 s it would otherwise have waited.
        #expect(summary.durationMs < 10_000)
    }

    @Test func theWaitNeverOutlastsTheBudget() {
        #expect(BatchOptions(maxSeconds: 5, waitSeconds: 60).waitSeconds == 5)
        #expect(BatchOptions(maxSeconds: 5, waitSeconds: -1).waitSeconds == 0)
        #expect(BatchOptions(maxSeconds: 5).waitSeconds == 0)
    }
}
