import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// queue-metrics, job-stats, the admin actions and retention, through the router against the
/// test cluster. Each test owns its queue (and kinds' rows are filtered by it), so they run in
/// parallel with everything else.
struct OperationsTests {
    func metrics(_ h: Harness) throws -> JSONValue {
        let answer = h.call("GET", "/v1/metrics/queues", key: Harness.adminKey)
        #expect(answer.status == 200)
        guard case .array(let queues)? = answer.json["queues"] else { throw ConfigurationError("no queues array") }
        return try #require(queues.first { $0["queue"] == .string(h.queue) })
    }

    /// The job counts of the harness's queue, straight from the table.
    func databaseCounts(_ h: Harness) throws -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for row in try h.db.query("""
            SELECT CASE WHEN state = 'available' OR (state = 'scheduled' AND run_at <= now()) THEN 'waiting' WHEN state = 'scheduled' THEN 'delayed'
                        WHEN state = 'running' THEN 'active' ELSE state::text END AS s, count(*)::bigint AS n
            FROM conveyor_jobs WHERE queue = \(h.queue) GROUP BY 1
            """) {
            counts[try row.decode("s")] = try row.decode("n")
        }
        return counts
    }

    @Test func queueMetricsMatchTheTable() throws {
        let h = try Harness()
        for _ in 0..<3 { #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201) }
        #expect(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","payload":{"permanent":true,"message":"boom"}}"#).status == 201)
        let retrying = try #require(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","payload":{"times":9,"message":"again"}}"#).id)
        let batch = h.process()
        #expect(batch.json["completed"] == 3 && batch.json["dead"] == 1 && batch.json["retried"] == 1)
        #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","delaySeconds":3600}"#).status == 201)
        #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201)
        try h.db.execute("UPDATE conveyor_jobs SET run_at = now() - interval '90 seconds' WHERE id = \(retrying)")

        let m = try metrics(h)
        let db = try databaseCounts(h)
        for state in ["waiting", "delayed", "active", "completed", "dead", "cancelled"] {
            #expect(m["counts"]?[state]?.intValue == db[state] ?? 0, "\(state)")
        }
        #expect(m["counts"]?["waiting"] == 2 && m["counts"]?["completed"] == 3 && m["counts"]?["dead"] == 1 && m["counts"]?["delayed"] == 1)
        let oldest = try #require(m["oldestWaitingSeconds"].flatMap { if case .double(let d) = $0 { d } else { $0.intValue.map(Double.init) } })
        #expect(oldest >= 89 && oldest < 3600)
        let hour = try #require(m["lastHour"])
        #expect(hour["completed"] == 3 && hour["failed"] == 2)
        guard case .array(let minutes)? = hour["perMinute"] else { Issue.record("no perMinute"); return }
        #expect(minutes.count == 60)
        #expect(minutes.reduce(0) { $0 + ($1["completed"]?.intValue ?? 0) } == 3)
        #expect(hour["runTimeMs"]?["count"] == 5, "every attempt that ran has a run time")
        #expect(hour["waitTimeMs"]?["count"] == 5)
        #expect(hour["runTimeMs"]?["p50"] != .null && hour["runTimeMs"]?["p95"] != .null)
        #expect(m["paused"] == false)
    }

    @Test func everyProcessBatchCallIsCounted() throws {
        let h = try Harness()
        let counter = { try h.db.query("SELECT coalesce(max(value), 0)::bigint AS n FROM conveyor_counters WHERE name = 'process_batch_invocations'")[0].decode("n", as: Int64.self) }
        let before = try counter()
        #expect(h.process().status == 200)
        #expect(h.process().status == 200)
        // Other tests may call process-batch at the same time: at least ours were counted.
        #expect(try counter() >= before + 2)
    }

    @Test func jobStatsCountOutcomesErrorsAndSlowJobs() throws {
        let h = try Harness()
        // A kind of this test's own, so other tests' jobs do not mix in: the diagnostic kinds
        // are shared, so count through this queue's rows instead.
        for i in 0..<3 {
            #expect(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","payload":{"permanent":true,"message":"stats-\#(h.queue)-\#(i % 2)"}}"#).status == 201)
        }
        _ = h.process()
        try h.db.execute("UPDATE conveyor_jobs SET duration_ms = 123456 WHERE queue = \(h.queue) AND state = 'dead' AND id = (SELECT max(id) FROM conveyor_jobs WHERE queue = \(h.queue))")
        let answer = h.call("GET", "/v1/metrics/kinds", key: Harness.adminKey, query: ["kind": "fail", "top": "100"])
        #expect(answer.status == 200)
        guard case .array(let kinds)? = answer.json["kinds"], let fail = kinds.first else { Issue.record("no kinds"); return }
        #expect(fail["kind"] == "fail")
        let dead: Int64 = try h.db.query("SELECT jobs FROM conveyor_job_totals WHERE kind = 'fail' AND state = 'dead'").reduce(0) { $0 + (try $1.decode("jobs", as: Int64.self)) }
        #expect((fail["states"]?["dead"]?.intValue ?? 0) >= 3 && (fail["states"]?["dead"]?.intValue ?? 0) <= dead)
        guard case .array(let errors)? = fail["topErrors"] else { Issue.record("no topErrors"); return }
        #expect(errors.contains { $0["message"] == .string("stats-\(h.queue)-0") && $0["count"] == 2 })
        #expect(errors.contains { $0["message"] == .string("stats-\(h.queue)-1") && $0["count"] == 1 })
        guard case .array(let slowest)? = fail["slowest"] else { Issue.record("no slowest"); return }
        #expect(slowest.first?["durationMs"] == 123456 || slowest.contains { $0["durationMs"] == 123456 })
        #expect(h.call("GET", "/v1/metrics/kinds", key: Harness.adminKey, query: ["top": "0"]).status == 422)
        #expect(h.call("GET", "/v1/metrics/kinds").status == 403)
    }
}
