import Accounts
import Foundation
@testable import Handlers
import JobQueue
import Postgres
import Testing

struct FunctionFlowTests {
    @Test func manifestAndCodeNameTheSameFunctions() throws {
        let manifest = try Harness.manifest()
        #expect(Set(manifest.functions.map(\.name)) == Set(FunctionRegistry.all.map(\.name)))
        #expect(Set(manifest.functions.map(\.name)).isSuperset(of: ["enqueue", "process-batch", "job-status"]))
        _ = try Router(manifest: manifest)
        let trimmed = FunctionManifest(functions: manifest.functions.filter { $0.name != "noop" })
        #expect(throws: ConfigurationError.self) { try Router(manifest: trimmed) }
    }

    /// A kind's queue carries its limits (the email queue's rate): the shipped kinds that do real
    /// work keep their jobs there, and the diagnostic ones may go anywhere. Every kind's attempt
    /// limit fits the default budget of process-batch (50 s) and of the crontab line.
    @Test func kindsKeepTheirQueuesAndFitTheDefaultBudget() throws {
        let kinds = try Harness.manifest().jobKinds
        for name in ["send-email", "route-intake"] {
            let kind = try #require(kinds[name])
            #expect(!kind.queueOverride, "\(name)")
            #expect(throws: JobQueueError.self) { try JobRequest(kind: name, queue: "default").validated(kinds: kinds) }
            #expect(try JobRequest(kind: name, queue: kind.queue).validated(kinds: kinds).queue == kind.queue)
        }
        for name in ["noop", "fail", "sleep"] { #expect(try #require(kinds[name]).queueOverride, "\(name)") }
        for name in kinds.names { #expect(kinds.timeoutSeconds(for: name) < 49, "\(name)") }
        // A job may ask for less time than its kind allows, never more.
        #expect(try JobRequest(kind: "sleep", timeoutSeconds: 0.25).validated(kinds: kinds).timeoutMs == 250)
        #expect(throws: JobQueueError.self) { try JobRequest(kind: "noop", timeoutSeconds: 0.6).validated(kinds: kinds) }
    }

    @Test func enqueueProcessThenStatusShowsCompleted() throws {
        let h = try Harness()
        let created = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","payload":{"hello":"wörld","n":[1,2.5,null]}}"#)
        #expect(created.status == 201)
        #expect(created.json["duplicate"] == .bool(false))
        #expect(created.json["state"] == .string("available"))
        let id = try #require(created.id)

        let batch = h.process()
        #expect(batch.status == 200)
        #expect(batch.json["claimed"] == .int(1))
        #expect(batch.json["completed"] == .int(1))
        if case .array(let jobs)? = batch.json["jobs"] {
            #expect(jobs.count == 1)
            #expect(jobs[0]["id"] == .int(id))
            #expect(jobs[0]["kind"] == .string("noop"))
            #expect(jobs[0]["outcome"] == .string("completed"))
        } else {
            Issue.record("process-batch answer has no jobs array")
        }

        let status = h.status(id)
        #expect(status.status == 200)
        #expect(status.json["state"] == .string("completed"))
        #expect(status.json["attempt"] == .int(1))
        #expect(status.json["result"] == .object(["hello": .string("wörld"), "n": .array([.int(1), .double(2.5), .null])]))
        #expect(status.json["createdAt"]?.stringValue != nil)
        #expect(status.json["startedAt"]?.stringValue != nil)
        #expect(status.json["finishedAt"]?.stringValue != nil)
    }

    @Test func failKindRetriesThenDeadLettersWithHistory() throws {
        let h = try Harness()
        let id = try #require(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","maxAttempts":2,"payload":{"times":5,"message":"nope"}}"#).id)
        #expect(h.process().json["retried"] == .int(1))
        try h.db.execute("UPDATE conveyor_jobs SET run_at = now() WHERE id = \(id)")
        #expect(h.process().json["dead"] == .int(1))
        let status = h.status(id).json
        #expect(status["state"] == .string("dead"))
        #expect(status["attempt"] == .int(2))
        if case .array(let errors)? = status["errors"] {
            #expect(errors.map { $0["message"] } == [.string("nope"), .string("nope")])
            #expect(errors.map { $0["attempt"] } == [.int(1), .int(2)])
            #expect(errors.allSatisfy { $0["at"]?.stringValue != nil })
        } else {
            Issue.record("no error history")
        }
    }

    @Test func failKindSucceedsAfterItsFailures() throws {
        let h = try Harness()
        let id = try #require(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","payload":{"times":1}}"#).id)
        _ = h.process()
        try h.db.execute("UPDATE conveyor_jobs SET run_at = now() WHERE id = \(id)")
        _ = h.process()
        let status = h.status(id).json
        #expect(status["state"] == .string("completed"))
        #expect(status["result"] == .object(["succeededOnAttempt": .int(2)]))
    }

    @Test func duplicateIdempotencyKeyAnswers200WithTheSameJob() throws {
        let h = try Harness()
        let body = #"{"kind":"noop","queue":"\#(h.queue)","idempotencyKey":"invoice-7"}"#
        let first = h.enqueue(body)
        let second = h.enqueue(body)
        #expect(first.status == 201)
        #expect(second.status == 200)
        #expect(second.json["duplicate"] == .bool(true))
        #expect(first.id == second.id)
        #expect(try h.jobCount() == 1)
    }

    @Test func batchEnqueue() throws {
        let h = try Harness()
        let jobs = (0..<50).map { #"{"kind":"noop","queue":"\#(h.queue)","priority":\#($0 % 10),"payload":{"i":\#($0)}}"# }
        let answer = h.enqueue(#"{"jobs":[\#(jobs.joined(separator: ","))]}"#)
        #expect(answer.status == 201)
        #expect(answer.json["inserted"] == .int(50))
        #expect(try h.jobCount() == 50)
        #expect(h.process(maxJobs: 1000).json["completed"] == .int(50))
    }

    @Test func listJobsPagesByCursor() throws {
        let h = try Harness()
        for _ in 0..<5 { _ = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#) }
        let page = h.call("GET", "/v1/jobs", query: ["queue": h.queue, "limit": "2"])
        #expect(page.status == 200)
        let cursor = try #require(page.json["nextCursor"]?.intValue)
        let next = h.call("GET", "/v1/jobs", query: ["queue": h.queue, "limit": "2", "before": String(cursor)])
        if case .array(let a)? = page.json["jobs"], case .array(let b)? = next.json["jobs"] {
            #expect(a.count == 2 && b.count == 2)
            #expect((b[0]["id"]?.intValue ?? 0) < cursor)
        } else {
            Issue.record("no jobs arrays")
        }
        #expect(h.call("GET", "/v1/jobs", query: ["state": "bogus"]).status == 422)
    }

    @Test func bearerTokensWorkLikeXAPIKey() throws {
        let h = try Harness()
        let answer = h.call("POST", "/v1/process-batch", body: #"{"queues":["\#(h.queue)"]}"#, key: .some(nil),
                            headers: ["authorization": "Bearer \(Harness.processorKey)", "content-type": "application/json"])
        #expect(answer.status == 200)
        let tenant = h.call("GET", "/v1/jobs", key: .some(nil), headers: ["Authorization": "bearer \(h.key)"])
        #expect(tenant.status == 200)
    }

    @Test func healthIsPublic() throws {
        let h = try Harness()
        let answer = h.call("GET", "/health", key: .some(nil))
        #expect(answer.status == 200)
        #expect(answer.json["migrations"] == .string("current"))
    }

    @Test func unreachableDatabaseIs503() throws {
        let manifest = try Harness.manifest()
        let context = FunctionContext(configuration: Configuration(environment: Harness.environment(databaseURL: "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")),
                                      manifest: manifest)
        let router = try Router(manifest: manifest)
        for request in [
            HTTPRequest(method: "POST", path: "/v1/jobs", headers: ["x-api-key": "cvk_whatever"], body: Data(#"{"kind":"noop"}"#.utf8)),
            HTTPRequest(method: "POST", path: "/v1/process-batch", headers: ["x-api-key": Harness.processorKey]),
            HTTPRequest(method: "GET", path: "/health"),
        ] {
            let answer = Answer(response: router.handle(request, context: context))
            #expect(answer.status == 503)
            #expect(answer.errorCode == "unavailable")
            #expect(!String(decoding: answer.response.body, as: UTF8.self).contains("postgresql://"))
        }
    }
}

struct PoolStatusTests {
    @Test func needsTheAdminKeyAndAHostWithAPool() throws {
        let h = try Harness()
        #expect(h.call("GET", "/v1/pool/status", key: .some(Harness.processorKey)).status == 403)
        #expect(h.call("GET", "/v1/pool/status").status == 403)
        #expect(h.call("GET", "/v1/pool/status", key: .some(Harness.adminKey)).status == 404)
        h.context.poolStatus = { .object(["workers": .int(3)]) }
        let answer = h.call("GET", "/v1/pool/status", key: .some(Harness.adminKey))
        #expect(answer.status == 200)
        #expect(answer.json["workers"] == .int(3))
    }
}

struct UnmigratedDatabaseTests {
    /// A database without the schema is an operator's problem: 503 naming the fix, not a 500.
    @Test func missingTablesAre503() throws {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set")
            return
        }
        let admin = try Postgres.Connection(url: url)
        let name = "empty_\(UUID().uuidString.prefix(8).lowercased())"
        try admin.unsafeExecuteScript("CREATE DATABASE \(name)")
        defer { try? admin.unsafeExecuteScript("DROP DATABASE \(name) WITH (FORCE)") }
        let emptyURL = String(url.prefix(upTo: url.lastIndex(of: "/")!)) + "/\(name)"
        let manifest = try Harness.manifest()
        let context = FunctionContext(configuration: Configuration(environment: Harness.environment(databaseURL: emptyURL)), manifest: manifest)
        let answer = Answer(response: try Router(manifest: manifest).handle(
            HTTPRequest(method: "POST", path: "/v1/jobs", headers: ["x-api-key": "cvk_x", "content-type": "application/json"], body: Data(#"{"kind":"noop"}"#.utf8)),
            context: context))
        #expect(answer.status == 503)
        #expect(answer.json["error"]?["message"]?.stringValue?.contains("migrate") == true)
    }
}

struct TenantKeyCacheTests {
    final class Clock: @unchecked Sendable {
        var ns: UInt64 = 1_000_000_000
    }

    /// A revoked key stops working once the worker's short cache expires, and a wrong key is
    /// never cached into working.
    @Test func revokedKeysStopWorkingWithinTheTTL() throws {
        let h = try Harness()
        // The cache's clock, moved by the test rather than slept through.
        let clock = Clock()
        h.context.tenantKeys.nowNs = { clock.ns }
        h.context.tenantKeyTTL = 5
        #expect(h.call("GET", "/v1/jobs").status == 200)
        #expect(try Accounts.OrganizationStore(connection: h.db).revoke(key: h.key))
        // Within the TTL the worker still trusts what it resolved a moment ago.
        clock.ns += 4_900_000_000
        #expect(h.call("GET", "/v1/jobs").status == 200)
        clock.ns += 200_000_000
        #expect(h.call("GET", "/v1/jobs").status == 401)
        #expect(h.call("GET", "/v1/jobs").status == 401)
    }

    @Test func withoutACacheRevocationIsImmediate() throws {
        let h = try Harness()
        h.context.tenantKeyTTL = 0
        #expect(h.call("GET", "/v1/jobs").status == 200)
        #expect(try Accounts.OrganizationStore(connection: h.db).revoke(key: h.key))
        #expect(h.call("GET", "/v1/jobs").status == 401)
    }
}
