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
    /// The jobs are dealt round-robin over `orgs` orgs and, within each, over `flowKeys`.
    static func drain(settings: JSONValue, total: Int, sleepMs: Int, invocations: Int = 8, maxJobs: Int = 5,
                      orgs: Int = 1, flowKeys: [String] = [""],
                      observed: Observed) throws -> (queue: String, log: String, db: Connection) {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("flow")
        let orgIds = (0..<orgs).map { _ in TestDatabase.uniqueOrg() }
        let log = "runs_\(UUID().uuidString.prefix(8).lowercased())"
        try db.execute("CREATE TABLE \(unsafe: log) (job_id bigint PRIMARY KEY, began timestamptz NOT NULL, ended timestamptz)")
        let store = PostgresJobStore(connection: db)
        try store.updateQueue(named: queue, replacing: true, with: settings)
        for i in 0..<total {
            _ = try store.enqueue([newJob(queue, payload: #"{"i":\#(i)}"#, flowKey: flowKeys[(i / orgs) % flowKeys.count])],
                                  orgId: orgIds[i % orgs])
        }

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

    /// What two jobs must share to count together: nothing (the whole queue), their org, or
    /// their org and flow key.
    enum Scope: String {
        case queue = "true"
        case org = "ja.org_id = jb.org_id"
        case flowKey = "ja.org_id = jb.org_id AND ja.flow_key = jb.flow_key"
    }

    /// The most executions that overlapped at any instant within one scope.
    static func maxOverlap(_ log: String, scope: Scope = .queue, on db: Connection) throws -> Int {
        try db.query("""
            SELECT coalesce(max(c), 0)::int AS n FROM (
                SELECT (SELECT count(*) FROM \(unsafe: log) b JOIN conveyor_jobs jb ON jb.id = b.job_id
                        WHERE b.began <= a.began AND b.ended > a.began AND \(unsafe: scope.rawValue)) AS c
                FROM \(unsafe: log) a JOIN conveyor_jobs ja ON ja.id = a.job_id) AS s
            """)[0].decode("n")
    }

    /// The most claims (starts) recorded within any window of `period` seconds, within one scope.
    static func maxStartsInWindow(_ queue: String, period: Double, scope: Scope = .queue, on db: Connection) throws -> Int {
        try db.query("""
            SELECT coalesce(max(c), 0)::int AS n FROM (
                SELECT (SELECT count(*) FROM conveyor_jobs jb WHERE jb.queue = ja.queue AND \(unsafe: scope.rawValue)
                        AND jb.started_at >= ja.started_at AND jb.started_at < ja.started_at + make_interval(secs => \(period))) AS c
                FROM conveyor_jobs ja WHERE ja.queue = \(queue)) AS s
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

    @Test func eachOrgKeepsToItsConcurrency() throws {
        let observed = Observed()
        let (queue, log, db) = try Self.drain(settings: json(#"{"perOrg":{"concurrency":2}}"#), total: 36, sleepMs: 60,
                                              maxJobs: 6, orgs: 3, observed: observed)
        defer { _ = try? db.execute("DROP TABLE \(unsafe: log)") }
        #expect(observed.failures.isEmpty, "\(observed.failures)")
        let perOrg = try Self.maxOverlap(log, scope: .org, on: db)
        #expect(perOrg >= 1 && perOrg <= 2, "at most 2 jobs of one org at once; saw \(perOrg)")
        // The limit is each org's, not the queue's: orgs ran side by side.
        #expect(try Self.maxOverlap(log, on: db) > 2)
        try Self.expectAllCompletedOnFirstAttempt(queue, total: 36, on: db)
    }

    @Test func eachFlowKeyKeepsToItsConcurrency() throws {
        let observed = Observed()
        let (queue, log, db) = try Self.drain(settings: json(#"{"perFlowKey":{"concurrency":1}}"#), total: 24, sleepMs: 50,
                                              maxJobs: 6, flowKeys: ["endpoint-a", "endpoint-b", "endpoint-c"], observed: observed)
        defer { _ = try? db.execute("DROP TABLE \(unsafe: log)") }
        #expect(observed.failures.isEmpty, "\(observed.failures)")
        let perKey = try Self.maxOverlap(log, scope: .flowKey, on: db)
        #expect(perKey == 1, "one job per flow key at once; saw \(perKey)")
        #expect(try Self.maxOverlap(log, on: db) > 1, "different keys ran side by side")
        try Self.expectAllCompletedOnFirstAttempt(queue, total: 24, on: db)
    }

    @Test func eachOrgAndEachFlowKeyKeepToTheirRates() throws {
        let observed = Observed()
        let period = 1.0
        let settings = json(#"{"perOrg":{"rateLimit":{"limit":5,"periodSeconds":1}},"perFlowKey":{"rateLimit":{"limit":2,"periodSeconds":1}}}"#)
        let (queue, log, db) = try Self.drain(settings: settings, total: 24, sleepMs: 5, orgs: 2, flowKeys: ["k1", "k2", "k3"], observed: observed)
        defer { _ = try? db.execute("DROP TABLE \(unsafe: log)") }
        #expect(observed.failures.isEmpty, "\(observed.failures)")
        let perOrg = try Self.maxStartsInWindow(queue, period: period, scope: .org, on: db)
        let perKey = try Self.maxStartsInWindow(queue, period: period, scope: .flowKey, on: db)
        #expect(perOrg >= 1 && perOrg <= 5, "at most 5 starts of one org in any second; saw \(perOrg)")
        #expect(perKey >= 1 && perKey <= 2, "at most 2 starts of one flow key in any second; saw \(perKey)")
        try Self.expectAllCompletedOnFirstAttempt(queue, total: 24, on: db)
    }
}
