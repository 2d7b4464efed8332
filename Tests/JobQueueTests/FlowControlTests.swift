import Foundation
import JobQueue
import Postgres
import Testing

/// Concurrency and rate limits under 8 concurrent process-batch invocations, each on its own
/// thread with its own connection and Processor, against the real database.
struct FlowControlTests {
    /// What the invocations saw, for the assertions.
    final class Observed: @unchecked Sendable {
        private let lock = NSLock()
        private var _failures: [String] = []
        private var _limitedReports = 0
        private var _slowEmptyRuns = 0
        func fail(_ message: String) { lock.withLock { _failures.append(message) } }
        func sawLimited() { lock.withLock { _limitedReports += 1 } }
        func sawSlowEmptyRun() { lock.withLock { _slowEmptyRuns += 1 } }
        var failures: [String] { lock.withLock { _failures } }
        var limitedReports: Int { lock.withLock { _limitedReports } }
        var slowEmptyRuns: Int { lock.withLock { _slowEmptyRuns } }
    }

    /// Enqueues `total` jobs in a fresh queue with `settings`, then drains it with `invocations`
    /// concurrent invocations whose jobs sleep `sleepMs` and log their execution interval.
    /// Returns the queue and the name of the interval table (dropped by the caller).
    static func drain(settings: JSONValue, total: Int, sleepMs: Int, invocations: Int = 8, maxJobs: Int = 5,
                      observed: Observed) throws -> (queue: String, log: String, db: Connection) {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("flow")
        let org = TestDatabase.uniqueOrg()
        let log = "runs_\(UUID().uuidString.prefix(8).lowercased())"
        try db.execute("CREATE TABLE \(unsafe: log) (job_id bigint PRIMARY KEY, began timestamptz NOT NULL, ended timestamptz)")
        let store = PostgresJobStore(connection: db)
        try store.updateQueue(named: queue, replacing: true, with: settings)
        _ = try store.enqueue((0..<total).map { newJob(queue, payload: #"{"i":\#($0)}"#) }, orgId: org)

        let deadline = Date(timeIntervalSinceNow: 90)
        let group = DispatchGroup()
        for invocation in 0..<invocations {
            let connection = try TestDatabase.connect()
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let executor = ClosureExecutor { job, _ in
                    try connection.execute("INSERT INTO \(unsafe: log) VALUES (\(job.id), clock_timestamp())")
                    usleep(UInt32(sleepMs * 1000))
                    try connection.execute("UPDATE \(unsafe: log) SET ended = clock_timestamp() WHERE job_id = \(job.id)")
                    return "{}"
                }
                let processor = Processor(store: PostgresJobStore(connection: connection), executor: executor, kinds: .test)
                do {
                    while Date() < deadline {
                        let left = try connection.query("""
                            SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(queue) AND state <> 'completed'
                            """)[0].decode("n", as: Int.self)
                        if left == 0 { return }
                        let summary = try processor.run(BatchOptions(queues: [queue], maxJobs: maxJobs, maxSeconds: 10))
                        if summary.limited > 0 { observed.sawLimited() }
                        if summary.claimed == 0 {
                            // Held back by a limit: the batch must come back at once, not spin
                            // through its 10 s budget.
                            if summary.durationMs > 5000 { observed.sawSlowEmptyRun() }
                            usleep(10_000)
                        }
                    }
                    observed.fail("invocation \(invocation) gave up with jobs left")
                } catch {
                    observed.fail("invocation \(invocation): \(error)")
                }
            }
        }
        group.wait()
        return (queue, log, db)
    }

    /// The most executions that overlapped at any instant.
    static func maxOverlap(_ log: String, on db: Connection) throws -> Int {
        try db.query("""
            SELECT coalesce(max(c), 0)::int AS n FROM (
                SELECT (SELECT count(*) FROM \(unsafe: log) b WHERE b.began <= a.began AND b.ended > a.began) AS c
                FROM \(unsafe: log) a) AS s
            """)[0].decode("n")
    }

    /// The most claims (starts) recorded within any window of `period` seconds.
    static func maxStartsInWindow(_ queue: String, period: Double, on db: Connection) throws -> Int {
        try db.query("""
            SELECT coalesce(max(c), 0)::int AS n FROM (
                SELECT (SELECT count(*) FROM conveyor_jobs b WHERE b.queue = a.queue
                        AND b.started_at >= a.started_at AND b.started_at < a.started_at + make_interval(secs => \(period))) AS c
                FROM conveyor_jobs a WHERE a.queue = \(queue)) AS s
            """)[0].decode("n")
    }

    static func expectAllCompletedOnFirstAttempt(_ queue: String, total: Int, on db: Connection) throws {
        let row = try db.query("""
            SELECT count(*) FILTER (WHERE state = 'completed')::int AS done, max(attempt)::int AS attempts
            FROM conveyor_jobs WHERE queue = \(queue)
            """)[0]
        #expect(try row.decode("done", as: Int.self) == total)
        // Held back by the limit, never claimed and handed back: no attempt was spent waiting.
        #expect(try row.decode("attempts", as: Int.self) == 1)
    }

    @Test func concurrencyLimitHoldsAcrossEightInvocations() throws {
        let observed = Observed()
        let (queue, log, db) = try Self.drain(settings: json(#"{"concurrency":2}"#), total: 24, sleepMs: 60, maxJobs: 3, observed: observed)
        defer { _ = try? db.execute("DROP TABLE \(unsafe: log)") }
        #expect(observed.failures.isEmpty, "\(observed.failures)")
        let overlap = try Self.maxOverlap(log, on: db)
        #expect(overlap >= 1 && overlap <= 2, "at most 2 jobs may run at once; saw \(overlap)")
        try Self.expectAllCompletedOnFirstAttempt(queue, total: 24, on: db)
        #expect(observed.limitedReports > 0, "invocations held back by the limit report it as limited")
        #expect(observed.slowEmptyRuns == 0)
    }

    @Test func rateLimitHoldsInEveryWindow() throws {
        let observed = Observed()
        let period = 1.5
        let (queue, log, db) = try Self.drain(settings: json(#"{"rateLimit":{"limit":4,"periodSeconds":\#(period)}}"#),
                                              total: 14, sleepMs: 5, observed: observed)
        defer { _ = try? db.execute("DROP TABLE \(unsafe: log)") }
        #expect(observed.failures.isEmpty, "\(observed.failures)")
        let most = try Self.maxStartsInWindow(queue, period: period, on: db)
        #expect(most >= 1 && most <= 4, "at most 4 starts in any \(period) s window; saw \(most)")
        try Self.expectAllCompletedOnFirstAttempt(queue, total: 14, on: db)
        #expect(observed.limitedReports > 0)
        #expect(observed.slowEmptyRuns == 0)
        // 14 starts at 4 per 1.5 s need at least three full windows.
        let span = try db.query("""
            SELECT extract(epoch FROM max(started_at) - min(started_at))::float8 AS s FROM conveyor_jobs WHERE queue = \(queue)
            """)[0].decode("s", as: Double.self)
        #expect(span >= 3 * period)
    }

    @Test func bothLimitsTogether() throws {
        let observed = Observed()
        let (queue, log, db) = try Self.drain(settings: json(#"{"concurrency":3,"rateLimit":{"limit":6,"periodSeconds":1}}"#),
                                              total: 15, sleepMs: 40, observed: observed)
        defer { _ = try? db.execute("DROP TABLE \(unsafe: log)") }
        #expect(observed.failures.isEmpty, "\(observed.failures)")
        #expect(try Self.maxOverlap(log, on: db) <= 3)
        #expect(try Self.maxStartsInWindow(queue, period: 1, on: db) <= 6)
        try Self.expectAllCompletedOnFirstAttempt(queue, total: 15, on: db)
    }
}
