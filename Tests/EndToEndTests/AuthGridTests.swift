import Foundation
import Handlers
import JobQueue
import Testing

/// Every function that is not public, called through nginx without a key, with a wrong key, with
/// a key of the wrong level and with another tenant's key, gets its documented status; then no
/// log the deployment wrote holds any key the test used.
@Suite(.serialized)
struct AuthGridTests {
    struct Row {
        var function: String
        var how: String
        var status: Int
        var code: String?
        var got: Web.Answer
    }

    @Test func everyProtectedFunctionRefusesMissingWrongAndForeignKeysAndNoLogHoldsAKey() throws {
        let stack = try Stack(Stack.Options(workers: 2))
        let owner = try Tenant(databaseURL: stack.databaseURL)
        // cron-driver too, so its log is read as well; on this tenant's queue only, since a
        // watcher on every queue would take other tests' jobs from the shared cluster.
        let watcher = try stack.launch(Stack.binDir.appendingPathComponent("cron-driver").path,
                                       ["watch", "--queues", owner.queue, "--max-seconds", "2", "--verbose"], log: "cron-driver.log")
        defer { if watcher.isRunning { watcher.terminate(); watcher.waitUntilExit() } }
        let stranger = try Tenant(databaseURL: stack.databaseURL)
        let routes = try ManifestRoutes()
        let web = try Web(stack.baseURL)
        let wrongTenantKey = "cvk_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let wrongKey = "not-a-key-\(UUID().uuidString)"

        // Resources of the owner, for the functions that name one by id.
        let marker = "grid-\(UUID().uuidString.prefix(8))"
        let job = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(owner.queue)","payload":{"m":"\#(marker)"}}"#, key: owner.key)
        let jobId = try #require(job.json["id"]?.intValue, "\(job.text)")
        let intake = try web.call("POST", "/v1/intake/route", body: #"{"title":"\#(marker)","source":"API","defer":true}"#, key: owner.key)
        let intakeId = try #require(intake.json["requestId"]?.intValue, "\(intake.text)")
        func ownedPath(_ entry: FunctionManifest.Entry) -> String {
            let path = entry.path!
            if path.hasPrefix("/v1/jobs/") { return ManifestRoutes.concretePath(entry, id: String(jobId)) }
            if path.hasPrefix("/v1/intake/") { return ManifestRoutes.concretePath(entry, id: String(intakeId)) }
            return ManifestRoutes.concretePath(entry, name: owner.queue)
        }
        // A body of the right shape where one is read, so a refusal can only come from the key.
        let shapedBodies = ["assign-intake": #"{"pipelineId":1}"#]
        func body(_ entry: FunctionManifest.Entry) -> String? {
            guard ["POST", "PUT", "PATCH"].contains(entry.method!.uppercased()), entry.bodyLimitBytes > 0 else { return nil }
            return shapedBodies[entry.name] ?? "{}"
        }

        var rows: [Row] = []
        for entry in routes.routed where entry.auth != .none {
            let method = entry.method!, path = ownedPath(entry)
            func call(_ how: String, key: String?, bearer: Bool = false, status: Int, code: String?) throws {
                let answer = bearer
                    ? try web.call(method, path, body: body(entry), headers: [("content-type", "application/json"), ("authorization", "Bearer \(key!)")])
                    : try web.call(method, path, body: body(entry), key: key)
                rows.append(Row(function: entry.name, how: how, status: status, code: code, got: answer))
            }
            try call("no key", key: nil, status: 401, code: "unauthorized")
            try call("wrong key", key: wrongKey, status: 401, code: "unauthorized")
            try call("wrong tenant-shaped key", key: wrongTenantKey, status: 401, code: "unauthorized")
            try call("wrong bearer", key: wrongTenantKey, bearer: true, status: 401, code: "unauthorized")
            switch entry.auth {
            case .tenant:
                try call("processor key", key: Stack.processorKey, status: 403, code: "forbidden")
                try call("admin key", key: Stack.adminKey, status: 403, code: "forbidden")
                if entry.name == "put-target" || entry.name == "put-schedule" {
                    // An upsert: a stranger's PUT makes a target (a schedule) of its own, never
                    // touches the owner's (TenantTargetTests, ScheduleFunctionTests); here the key
                    // and the refusals above suffice.
                } else if entry.path!.contains("{") {
                    // Another org's resource does not exist for this caller.
                    try call("another tenant's key", key: stranger.key, status: 404, code: "not_found")
                    try call("another tenant's bearer", key: stranger.key, bearer: true, status: 404, code: "not_found")
                } else if method == "GET" {
                    // A list answers with the caller's own rows only.
                    let answer = try web.call(method, path, key: stranger.key)
                    rows.append(Row(function: entry.name, how: "another tenant's key", status: 200, code: nil, got: answer))
                    #expect(!answer.text.contains(marker), "\(entry.name) showed another org's data to a stranger")
                }
            case .processor:
                try call("another tenant's key", key: stranger.key, status: 403, code: "forbidden")
                try call("owner's tenant key", key: owner.key, bearer: true, status: 403, code: "forbidden")
            case .admin, .metrics:
                try call("another tenant's key", key: stranger.key, status: 403, code: "forbidden")
                try call("processor key", key: Stack.processorKey, status: 403, code: "forbidden")
            case .none:
                break
            }
        }
        // The owner's own key reaches the resources the strangers were refused.
        #expect(try web.call("GET", "/v1/jobs/\(jobId)", key: owner.key).status == 200)
        #expect(try web.call("GET", "/v1/intake/\(intakeId)", key: owner.key).status == 200)

        let wrong = rows.filter { $0.got.status != $0.status || ($0.code != nil && $0.got.errorCode != $0.code) }
        let wrongCount = wrong.count
        let report = wrong.map {
            "\($0.function) with \($0.how): \($0.got.status) \($0.got.errorCode ?? "-"), wanted \($0.status) \($0.code ?? "")"
        }.joined(separator: "\n")
        #expect(wrongCount == 0, "\(wrongCount) of \(rows.count):\n\(report)")
        print("auth grid: \(rows.count) calls over \(Set(rows.map(\.function)).count) functions")

        // Let the watcher pick up the jobs and the host log its work, then read every log.
        usleep(500_000)
        let keys = [owner.key, stranger.key, wrongKey, wrongTenantKey, Stack.processorKey, Stack.adminKey]
        var logs = (try FileManager.default.contentsOfDirectory(atPath: stack.dir.path))
            .filter { $0.hasSuffix(".log") }.map { stack.dir.appendingPathComponent($0).path }
        if let pgRoot = ProcessInfo.processInfo.environment["CONVEYOR_PG_ROOT"] { logs.append(pgRoot + "/server.log") }
        #expect(logs.count >= 4, "\(logs)")
        for log in logs {
            let text = (try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data()
            for key in keys where text.range(of: Data(key.utf8)) != nil {
                Issue.record("\(log) holds a key the test used (\(key.prefix(4))…)")
            }
        }
    }
}
