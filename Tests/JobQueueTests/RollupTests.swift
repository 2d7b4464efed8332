import Foundation
import JobQueue
import Postgres
import Testing

/// The rollups of migration 150 follow every transition: outcomes, releases, rescues, deletes.
struct RollupTests {
    let db: Connection
    let store: PostgresJobStore
    let queue = TestDatabase.uniqueQueue("rollup")
    let org = TestDatabase.uniqueOrg()

    init() throws {
        db = try TestDatabase.connect()
        store = PostgresJobStore(connection: db)
    }

    func rows(_ sql: String) throws -> [String] {
        try db.query("\(unsafe: sql)").map { row in try row.decode("r", as: String.self) }
    }

    var minutes: (completed: Int64, failed: Int64) {
        get throws {
            let row = try db.query("SELECT coalesce(sum(completed), 0)::bigint AS c, coalesce(sum(failed), 0)::bigint AS f FROM conveyor_job_minutes WHERE queue = \(queue)")[0]
            return (try row.decode("c"), try row.decode("f"))
        }
    }

    func runTimes() throws -> Int64 {
        try db.query("SELECT coalesce(sum(jobs), 0)::bigint AS n FROM conveyor_job_timings WHERE queue = \(queue) AND measure = 'r'")[0].decode("n")
    }

    func total(_ state: String) throws -> Int64 {
        try db.query("SELECT coalesce(sum(jobs), 0)::bigint AS n FROM conveyor_job_totals WHERE queue = \(queue) AND state = \(state)::conveyor_job_state")[0].decode("n")
    }

    @Test func outcomesReleasesAndRescuesAreCountedAsTheyHappened() throws {
        let ids = try store.enqueue((0..<4).map { _ in newJob(queue) }, orgId: org).map(\.id)
        let owner = UUID()
        _ = try store.claim(queues: [queue], limit: 10, leaseSeconds: 30, owner: owner)
        // One completes (run 7 ms), one fails for good, one is released unstarted, one is left to expire.
        _ = try store.record([JobOutcome(jobId: ids[0], attempt: 1, durationMs: 7, result: .completed(resultJSON: "{}")),
                              JobOutcome(jobId: ids[1], attempt: 1, durationMs: 30, result: .dead(error: "no"))], owner: owner)
        #expect(try store.release([ids[2]], owner: owner) == 1)
        try TestDatabase.expireLease(ids[3], on: db)
        _ = try store.rescueExpired(queues: [queue], limit: 10)

        let m = try minutes
        #expect(m.completed == 1 && m.failed == 2, "the release is no outcome; the rescue is a failure")
        #expect(try runTimes() == 2, "a rescued attempt has no run time of its own")
        #expect(try total("completed") == 1 && total("dead") == 1)
        #expect(try rows("SELECT outcome || '=' || sum(jobs) AS r FROM conveyor_job_processed WHERE queue = '\(queue)' GROUP BY outcome ORDER BY 1") == ["completed=1", "dead=1", "retried=1"])
        let bucket: Int = try db.query("SELECT bucket FROM conveyor_job_run_histogram WHERE queue = \(queue) AND jobs = 1 ORDER BY bucket LIMIT 1")[0].decode("bucket")
        #expect(bucket == 1, "7 ms lands in the ≤ 10 ms bucket")

        // Deleting finished jobs takes them off the totals, never off the monotonic counters.
        // The engine's own delete writes the delta (a raw DELETE would not: no trigger counts).
        #expect(try store.purgeFinished(olderThanSeconds: -60, states: [.completed, .dead], queue: queue).deleted == 2)
        #expect(try total("completed") == 0 && total("dead") == 0)
        #expect(try rows("SELECT outcome || '=' || sum(jobs) AS r FROM conveyor_job_processed WHERE queue = '\(queue)' GROUP BY outcome ORDER BY 1").count == 3)
    }

    @Test func compactionFoldsOldDeltasIntoOneRowPerKeyWithoutChangingSums() throws {
        for _ in 0..<3 {
            let id = try store.enqueue([newJob(queue)], orgId: org)[0].id
            let owner = UUID()
            _ = try store.claim(queues: [queue], limit: 1, leaseSeconds: 30, owner: owner)
            #expect(try store.record([JobOutcome(jobId: id, attempt: 1, durationMs: 3, result: .completed(resultJSON: "{}"))], owner: owner) == [id])
        }
        let tables = [("conveyor_job_totals", "kind, state", "at"), ("conveyor_job_processed", "kind, outcome", "at"),
                      ("conveyor_job_run_histogram", "kind, bucket", "at"), ("conveyor_job_minutes", "minute, kind", "minute"),
                      ("conveyor_job_timings", "minute, kind, measure, bucket", "minute")]
        func rowsPerKey(_ table: String, _ keys: String) throws -> (rows: Int, keys: Int) {
            let row = try db.query("SELECT count(*)::int AS r, count(DISTINCT (\(unsafe: keys)))::int AS k FROM \(unsafe: table) WHERE queue = \(queue)")[0]
            return (try row.decode("r"), try row.decode("k"))
        }
        #expect(try rowsPerKey("conveyor_job_totals", "kind, state") == (3, 1), "one append-only delta per statement")
        // Age the deltas past the compaction horizon.
        for (table, _, time) in tables {
            try db.execute("UPDATE \(unsafe: table) SET \(unsafe: time) = \(unsafe: time) - interval '10 minutes' WHERE queue = \(queue)")
        }
        _ = try store.compactRollups()
        for (table, keys, _) in tables {
            let n = try rowsPerKey(table, keys)
            #expect(n.rows == n.keys, "\(table): one row per key after compaction")
        }
        #expect(try total("completed") == 3)
        #expect(try minutes.completed == 3 && runTimes() == 3)
        #expect(try rows("SELECT outcome || '=' || sum(jobs) AS r FROM conveyor_job_processed WHERE queue = '\(queue)' GROUP BY outcome") == ["completed=3"])
    }

    @Test func metricsOfAQueueCountItsStates() throws {
        _ = try store.enqueue([newJob(queue), newJob(queue, delay: 600)], orgId: org)
        let m = try #require(try store.queueMetrics().first { $0.queue == queue })
        #expect(m.waiting == 1 && m.delayed == 1 && m.active == 0 && m.completed == 0)
        #expect(m.minutes.count == 60)
        #expect(m.oldestWaitingSeconds != nil)
    }
}
