import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// The operator's actions and retention, through the router: keys, states, bounds and rows.
struct JobAdminTests {
    func state(_ h: Harness, _ id: Int64) throws -> String {
        try h.db.query("SELECT state::text AS s FROM conveyor_jobs WHERE id = \(id)").first?.decode("s") ?? "gone"
    }

    func deadJob(_ h: Harness, message: String = "broken") throws -> Int64 {
        let id = try #require(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","payload":{"permanent":true,"message":"\#(message)"}}"#).id)
        _ = h.process()
        #expect(try state(h, id) == "dead")
        return id
    }

    @Test func retryOneDeadJobRunsItAgainWithItsHistory() throws {
        let h = try Harness()
        let id = try deadJob(h)
        #expect(h.call("POST", "/v1/admin/jobs/\(id)/retry", key: Harness.processorKey).status == 403)
        let retried = h.call("POST", "/v1/admin/jobs/\(id)/retry", key: Harness.adminKey)
        #expect(retried.status == 200)
        #expect(retried.json["state"] == "available" && retried.json["attempt"] == 0)
        guard case .array(let errors)? = retried.json["errors"] else { Issue.record("no errors"); return }
        #expect(errors.count == 1, "the history stays")
        #expect(h.call("POST", "/v1/admin/jobs/\(id)/retry", key: Harness.adminKey).errorCode == "conflict")
        #expect(h.call("POST", "/v1/admin/jobs/999999999999/retry", key: Harness.adminKey).status == 404)
        // Dead again (it fails permanently), on a fresh first attempt.
        _ = h.process()
        #expect(try state(h, id) == "dead")
        #expect(try h.db.query("SELECT jsonb_array_length(errors) AS n FROM conveyor_jobs WHERE id = \(id)")[0].decode("n", as: Int.self) == 2)
    }

    @Test func retryDeadInBulkIsBounded() throws {
        let h = try Harness()
        for _ in 0..<5 { _ = try deadJob(h) }
        let first = h.call("POST", "/v1/admin/jobs/retry-dead", body: #"{"queue":"\#(h.queue)","limit":3}"#, key: Harness.adminKey)
        #expect(first.status == 200 && first.json["retried"] == 3 && first.json["more"] == true)
        let second = h.call("POST", "/v1/admin/jobs/retry-dead", body: #"{"queue":"\#(h.queue)","kind":"fail","limit":3}"#, key: Harness.adminKey)
        #expect(second.json["retried"] == 2 && second.json["more"] == false)
        #expect(try h.db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(h.queue) AND state = 'available'")[0].decode("n", as: Int.self) == 5)
        #expect(h.call("POST", "/v1/admin/jobs/retry-dead", body: #"{"queue":"\#(h.queue)","limit":0}"#, key: Harness.adminKey).status == 422)
        #expect(h.call("POST", "/v1/admin/jobs/retry-dead", body: #"{"qeue":"x"}"#, key: Harness.adminKey).status == 422)
        #expect(h.call("POST", "/v1/admin/jobs/retry-dead", body: #"{"queue":"#, key: Harness.adminKey).status == 400)
    }

    @Test func cancelOnlyAJobThatHasNotStarted() throws {
        let h = try Harness()
        let delayed = try #require(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","delaySeconds":600}"#).id)
        let cancelled = h.call("POST", "/v1/admin/jobs/\(delayed)/cancel", key: Harness.adminKey)
        #expect(cancelled.status == 200 && cancelled.json["state"] == "cancelled")
        #expect(h.call("POST", "/v1/admin/jobs/\(delayed)/cancel", key: Harness.adminKey).status == 409)
        let done = try #require(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).id)
        _ = h.process()
        #expect(h.call("POST", "/v1/admin/jobs/\(done)/cancel", key: Harness.adminKey).errorCode == "conflict")
        #expect(try state(h, done) == "completed")
    }

    @Test func pausedQueueIsSkippedUntilResumed() throws {
        let h = try Harness()
        let paused = h.call("POST", "/v1/queues/\(h.queue)/pause", key: Harness.adminKey)
        #expect(paused.status == 200 && paused.json["paused"] == true)
        let id = try #require(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).id)
        #expect(h.process().json["claimed"] == 0)
        #expect(try state(h, id) == "available")
        #expect(h.call("POST", "/v1/queues/\(h.queue)/resume", key: Harness.adminKey).json["paused"] == false)
        #expect(h.process().json["completed"] == 1)
        #expect(h.call("POST", "/v1/queues/Bad!/pause", key: Harness.adminKey).status == 422)
    }

    @Test func listAdminJobsShowsDeadJobsOfEveryOrgWithErrors() throws {
        let h = try Harness()
        let id = try deadJob(h, message: "see me")
        let page = h.call("GET", "/v1/admin/jobs", key: Harness.adminKey, query: ["state": "dead", "queue": h.queue])
        #expect(page.status == 200)
        guard case .array(let jobs)? = page.json["jobs"] else { Issue.record("no jobs"); return }
        #expect(jobs.map { $0["id"] } == [.int(id)])
        #expect(jobs.first?["errors"]?.jsonText.contains("see me") == true)
        #expect(h.call("GET", "/v1/admin/jobs", key: Harness.adminKey, query: ["state": "zombie"]).status == 422)
    }

    @Test func purgeDeletesOnlyOldFinishedJobsInBounds() throws {
        let h = try Harness()
        for _ in 0..<5 { #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201) }
        _ = h.process()
        let waiting = try #require(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","delaySeconds":600}"#).id)
        try h.db.execute("""
            UPDATE conveyor_jobs SET finished_at = now() - interval '2 hours'
            WHERE id IN (SELECT id FROM conveyor_jobs WHERE queue = \(h.queue) AND state = 'completed' ORDER BY id LIMIT 4)
            """)
        let first = h.call("POST", "/v1/admin/jobs/purge", body: #"{"olderThanSeconds":3600,"queue":"\#(h.queue)","limit":3}"#, key: Harness.adminKey)
        #expect(first.status == 200 && first.json["deleted"] == 3 && first.json["more"] == true)
        let second = h.call("POST", "/v1/admin/jobs/purge", body: #"{"olderThanSeconds":3600,"queue":"\#(h.queue)","states":["completed"]}"#, key: Harness.adminKey)
        #expect(second.json["deleted"] == 1 && second.json["more"] == false)
        #expect(try h.db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(h.queue)")[0].decode("n", as: Int.self) == 2)
        #expect(try state(h, waiting) == "scheduled")
        #expect(h.call("POST", "/v1/admin/jobs/purge", body: #"{"olderThanSeconds":1,"states":["running"]}"#, key: Harness.adminKey).status == 422)
        #expect(h.call("POST", "/v1/admin/jobs/purge", body: #"{}"#, key: Harness.adminKey).status == 422)
        // The running totals follow the deletes.
        let metricsCompleted = try h.db.query("SELECT coalesce(sum(jobs), 0)::bigint AS n FROM conveyor_job_totals WHERE queue = \(h.queue) AND state = 'completed'")[0].decode("n", as: Int64.self)
        #expect(metricsCompleted == 1)
    }

    @Test func pruneKeepsEachQueueItsRetention() throws {
        let h = try Harness()
        // This queue keeps completed jobs one hour and dead ones two hours.
        #expect(h.call("POST", "/v1/queues/\(h.queue)", body: #"{"retention":{"completedSeconds":3600,"deadSeconds":7200}}"#, key: Harness.adminKey).status == 201)
        for _ in 0..<3 { #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201) }
        _ = h.process()
        let dead = try deadJob(h)
        let ids: [Int64] = try h.db.query("SELECT id FROM conveyor_jobs WHERE queue = \(h.queue) AND state = 'completed' ORDER BY id").map { try $0.decode("id") }
        try h.db.execute("UPDATE conveyor_jobs SET finished_at = now() - interval '90 minutes' WHERE id = ANY(\(Array(ids.prefix(2)))::bigint[]) OR id = \(dead)")
        #expect(h.call("POST", "/v1/maintenance/prune", body: "{}").status == 403, "the tenant key cannot prune")
        let answer = h.call("POST", "/v1/maintenance/prune", body: #"{"batchSize":1000,"maxBatches":1000}"#, key: Harness.processorKey)
        #expect(answer.status == 200)
        let left: [Int64] = try h.db.query("SELECT id FROM conveyor_jobs WHERE queue = \(h.queue) ORDER BY id").map { try $0.decode("id") }
        #expect(left == [ids[2], dead], "completed past 1 h pruned; the dead job (90 min < 2 h) and the fresh one kept")
        #expect(h.call("POST", "/v1/maintenance/prune", body: #"{"batchSize":0}"#, key: Harness.processorKey).status == 422)
    }
}
