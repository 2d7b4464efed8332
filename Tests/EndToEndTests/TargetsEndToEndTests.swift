import Foundation
import Handlers
import JobQueue
import Postgres
import Targets
import TestSupport
import Testing

/// The user's own work through the deployment: nginx, fcgi-host with its batch pool, and a
/// manifest of the operator's that includes Conveyor's and adds an HTTP target and a program;
/// an org registers a target of its own. Every delivery is verified by the reference
/// Standard Webhooks package.
@Suite struct TargetsEndToEndTests {
    @Test func operatorAndTenantTargetsRunBehindNginx() throws {
        let operatorSecret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [operatorSecret])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-targets-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let jobs = Stack.repoRoot.appendingPathComponent("Tests/Fixtures/jobs").path
        let manifest = directory.appendingPathComponent("functions.json")
        try Data("""
            {"include": ["\(Stack.repoRoot.appendingPathComponent("functions.json").path)"],
             "functions": [
               {"name": "resize-image", "target": {"url": "\(receiver.base)/ok", "timeoutSeconds": 10},
                "job": {"queue": "images", "maxAttempts": 3, "backoffBaseSeconds": 1}},
               {"name": "thumbnail", "target": {"exec": "\(jobs)/echo-job", "timeoutSeconds": 10},
                "job": {"queue": "images", "maxAttempts": 3, "backoffBaseSeconds": 1}}
             ]}
            """.utf8).write(to: manifest)
        let stack = try Stack(Stack.Options(environment: [
            "CONVEYOR_MANIFEST": manifest.path, "CONVEYOR_WEBHOOK_SECRET": operatorSecret,
            "CONVEYOR_TARGETS_ALLOW_HTTP": "1", "CONVEYOR_TARGETS_ALLOW_CIDRS": "127.0.0.0/8",
        ], ownDatabase: true))
        let web = try Web(stack.baseURL)
        let tenant = try Tenant(databaseURL: stack.databaseURL)

        // The org's own target, pointed at a receiver that knows the secret shown once.
        let created = try web.call("PUT", "/v1/targets/crm-sync", body: #"{"url": "http://127.0.0.1:9/before-the-receiver-starts"}"#, key: tenant.key)
        #expect(created.status == 201, "\(created.text)")
        let tenantSecret = try #require(created.json["secret"]?.stringValue)
        let tenantReceiver = try WebhookReceiver(secrets: [tenantSecret, operatorSecret])
        #expect(try web.call("PUT", "/v1/targets/crm-sync", body: #"{"url": "\#(tenantReceiver.base)/ok", "timeoutSeconds": 10}"#, key: tenant.key).status == 200)

        let enqueued = try web.call("POST", "/v1/jobs", body: """
            {"jobs": [{"kind": "resize-image", "payload": {"image": "a.png"}}, {"kind": "thumbnail", "payload": {"w": 64}},
                      {"kind": "target:crm-sync", "payload": {"contact": 7}}]}
            """, key: tenant.key, headers: [("content-type", "application/json"), ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])
        #expect(enqueued.status == 201, "\(enqueued.text)")
        let batch = try web.call("POST", "/v1/process-batch", body: #"{"queues": ["images", "targets"], "maxSeconds": 20}"#, key: Stack.processorKey)
        #expect(batch.status == 200)
        #expect(batch.json["completed"] == 3, "\(batch.text)")

        let db = try Connection(url: stack.databaseURL)
        let results = try db.query("SELECT kind, state::text AS state, result::text AS result FROM conveyor_jobs WHERE kind IN ('resize-image', 'thumbnail', 'target:crm-sync') ORDER BY id")
        #expect(try results.map { try $0.decode("state", as: String.self) } == ["completed", "completed", "completed"])
        #expect(try results[0].decode("result", as: String.self).contains(#""image": "a.png""#))
        #expect(try results[1].decode("result", as: String.self).contains(#""otherVariables": 0"#), "the program saw none of the host's secrets")

        let operatorDelivery = try #require(try receiver.deliveries().first)
        #expect(operatorDelivery.verified == [true])
        #expect(operatorDelivery.headers["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let tenantDelivery = try #require(try tenantReceiver.deliveries().first)
        #expect(tenantDelivery.verified == [true, false], "signed with the org's secret, not the operator's")
        #expect(tenantDelivery.headers["conveyor-kind"] == "target:crm-sync")

        // The progress path goes through nginx without a key: the token is the credential, and
        // it is worth nothing once its attempt is over.
        let token = try #require(operatorDelivery.headers["conveyor-progress-token"])
        let path = try #require(operatorDelivery.headers["conveyor-progress-path"])
        #expect(try web.call("POST", path, body: #"{"token": "\#(token)", "percent": 50}"#).status == 409)
        #expect(try web.call("POST", path, body: #"{"token": "cvp1.1.1.x.1.forged", "percent": 50}"#).status == 403)

        let metrics = try web.call("GET", "/v1/metrics/queues", key: Stack.adminKey)
        #expect(metrics.text.contains(#""kind":"resize-image""#) && metrics.text.contains(#""2xx":1"#), "\(metrics.text.prefix(600))")
    }
}
