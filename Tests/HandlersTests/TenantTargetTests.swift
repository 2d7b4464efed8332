import Foundation
import Handlers
import JobQueue
import Targets
import TestSupport
import Testing

/// An org's own HTTP targets: registered through the API, enqueued as `target:NAME`, delivered
/// signed with the org's secret, and never to an address inside the host's networks unless the
/// operator opened it.
@Suite struct TenantTargetTests {
    static let loopbackAllowed = ["CONVEYOR_TARGETS_ALLOW_HTTP": "1", "CONVEYOR_TARGETS_ALLOW_CIDRS": "127.0.0.0/8"]

    /// Manifest with the target kind family in the harness's own queue, so the batch touches
    /// only this test's jobs.
    static func harness(environment: [String: String] = [:]) throws -> Harness {
        let queue = Harness.newQueue()
        let manifest = try Harness.manifest(pinning: ["target:*"], to: queue)
        return try Harness(manifest: manifest, queue: queue, environment: environment)
    }

    static func settle(_ h: Harness, _ id: Int64) throws -> JSONValue {
        try TargetKindTests.settle(h, id)
    }

    @Test func anOrgManagesItsTargetsAndSeesItsSecretOnce() throws {
        let h = try Self.harness()
        let created = h.call("PUT", "/v1/targets/billing-hook", body: #"{"url": "https://hooks.example.com/billing", "timeoutSeconds": 10}"#)
        #expect(created.status == 201, "\(created.json)")
        let secret = try #require(created.json["secret"]?.stringValue)
        #expect(secret.hasPrefix("whsec_"))
        _ = try WebhookSecret(secret)
        #expect(created.json["kind"] == .string("target:billing-hook"))
        #expect(created.json["timeoutSeconds"] == .int(10))

        let fetched = h.call("GET", "/v1/targets/billing-hook")
        #expect(fetched.status == 200)
        #expect(fetched.json["secret"] == nil, "a secret is shown once")
        #expect(!fetched.response.body.isEmpty && !String(decoding: fetched.response.body, as: UTF8.self).contains(String(secret.dropFirst(6))))

        let updated = h.call("PUT", "/v1/targets/billing-hook", body: #"{"url": "https://hooks.example.com/billing/v2"}"#)
        #expect(updated.status == 200)
        #expect(updated.json["secret"] == nil)
        #expect(updated.json["url"] == .string("https://hooks.example.com/billing/v2"))

        let rotated = h.call("POST", "/v1/targets/billing-hook/rotate", body: "{}")
        #expect(rotated.status == 200)
        let newSecret = try #require(rotated.json["secret"]?.stringValue)
        #expect(newSecret != secret)
        #expect(rotated.json["previousSecretValidUntil"] != nil, "the old secret keeps signing for a while")

        let listed = h.call("GET", "/v1/targets")
        #expect(listed.json["targets"]?.arrayCount == 1)

        let other = try Harness()
        #expect(other.call("GET", "/v1/targets/billing-hook").status == 404, "another org's target does not exist for it")
        #expect(other.call("DELETE", "/v1/targets/billing-hook").status == 404)
        #expect(other.enqueue(#"{"kind": "target:billing-hook", "payload": {}}"#).status == 422, "nor can it enqueue to it")

        #expect(h.call("DELETE", "/v1/targets/billing-hook").status == 200)
        #expect(h.call("DELETE", "/v1/targets/billing-hook").status == 404)
    }

    @Test(arguments: [
        (#"{"url": "http://hooks.example.com/x"}"#, "must be an https:// URL"),
        (#"{"url": "https://127.0.0.1/x"}"#, "127.0.0.1"),
        (#"{"url": "https://10.0.0.5/x"}"#, "10.0.0.5"),
        (#"{"url": "https://169.254.169.254/latest/meta-data/"}"#, "169.254.169.254"),
        (#"{"url": "https://[::1]:8443/x"}"#, "::1"),
        (#"{"url": "https://[::ffff:127.0.0.1]/x"}"#, "127.0.0.1"),
        (#"{"url": "https://user:pw@hooks.example.com/x"}"#, "credentials"),
        (#"{"url": "ftp://hooks.example.com/x"}"#, "http"),
        (#"{"url": "https://hooks.example.com/x", "timeoutSeconds": 99999}"#, "timeoutSeconds"),
        (#"{"url": "https://hooks.example.com/x", "secret": "whsec_mine"}"#, "secret"),
    ])
    func aHostileOrBadTargetIsRefused(body: String, words: String) throws {
        let h = try Self.harness()
        let answer = h.call("PUT", "/v1/targets/bad", body: body)
        #expect([400, 422].contains(answer.status), "\(answer.json)")
        #expect(answer.json.jsonText.contains(words), "\(answer.json)")
        #expect(h.call("GET", "/v1/targets/bad").status == 404, "nothing was stored")
    }

    @Test func anOrgHasAtMostItsCapOfTargets() throws {
        let h = try Self.harness(environment: ["CONVEYOR_TARGETS_PER_ORG": "2"])
        #expect(h.call("PUT", "/v1/targets/a", body: #"{"url": "https://a.example.com/"}"#).status == 201)
        #expect(h.call("PUT", "/v1/targets/b", body: #"{"url": "https://b.example.com/"}"#).status == 201)
        let third = h.call("PUT", "/v1/targets/c", body: #"{"url": "https://c.example.com/"}"#)
        #expect(third.status == 409, "\(third.json)")
        #expect(h.call("PUT", "/v1/targets/a", body: #"{"url": "https://a2.example.com/"}"#).status == 200, "updating one is not adding one")
    }

    /// With loopback opened by the operator, a delivery reaches the org's endpoint and verifies
    /// with the secret the org was shown; after a rotation it verifies with either secret.
    @Test func aDeliveryIsSignedWithTheOrgsSecretAndRotationOverlaps() throws {
        let h = try Self.harness(environment: Self.loopbackAllowed)
        let created = h.call("PUT", "/v1/targets/orders", body: #"{"url": "http://127.0.0.1:9/before-the-receiver-starts"}"#)
        let secret = try #require(created.json["secret"]?.stringValue)
        let receiver = try WebhookReceiver(secrets: [secret])
        #expect(h.call("PUT", "/v1/targets/orders", body: #"{"url": "\#(receiver.base)/ok"}"#).status == 200)

        let id = try #require(h.enqueue(#"{"kind": "target:orders", "payload": {"order": 7}}"#).id)
        let job = try Self.settle(h, id)
        #expect(job["state"]?.stringValue == "completed", "\(job)")
        #expect(job["result"] == (try JSONValue.parse(#"{"received": {"order": 7}}"#)))
        let delivery = try #require(try receiver.deliveries().first)
        #expect(delivery.verified == [true])
        #expect(delivery.headers["conveyor-kind"] == "target:orders")
        #expect(delivery.headers["conveyor-org"] == String(h.orgId))

        let newSecret = try #require(h.call("POST", "/v1/targets/orders/rotate", body: "{}").json["secret"]?.stringValue)
        let second = try WebhookReceiver(secrets: [newSecret, secret])
        #expect(h.call("PUT", "/v1/targets/orders", body: #"{"url": "\#(second.base)/ok"}"#).status == 200)
        // The batch caches a target for a few seconds; a new batch reads the new URL and secrets.
        let again = try #require(h.enqueue(#"{"kind": "target:orders", "payload": {"order": 8}}"#).id)
        #expect(try Self.settle(h, again)["state"]?.stringValue == "completed")
        #expect(try second.deliveries().first?.verified == [true, true], "signed with the new and the old secret")

        #expect(h.call("POST", "/v1/targets/orders/rotate", body: #"{"keepPrevious": false}"#).status == 200)
    }

    /// The check runs on the address connected to: a name that resolves to loopback, or a URL
    /// changed behind the API's back, is refused at delivery and nothing connects.
    @Test func aNameThatResolvesInsideIsRefusedAtDelivery() throws {
        let receiver = try WebhookReceiver(secrets: [WebhookSecret.generate()])
        let h = try Self.harness(environment: ["CONVEYOR_TARGETS_ALLOW_HTTP": "1"])
        #expect(h.call("PUT", "/v1/targets/sneaky", body: #"{"url": "http://localhost:\#(receiver.server.port)/ok"}"#).status == 201)
        #expect(h.call("PUT", "/v1/targets/metadata", body: #"{"url": "http://metadata.example.com/latest"}"#).status == 201)
        try h.db.execute("UPDATE conveyor_targets SET url = 'http://169.254.169.254/latest/meta-data/' WHERE org_id = \(h.orgId) AND name = 'metadata'")

        let sneaky = try #require(h.enqueue(#"{"kind": "target:sneaky", "payload": {}}"#).id)
        let metadata = try #require(h.enqueue(#"{"kind": "target:metadata", "payload": {}}"#).id)
        for id in [sneaky, metadata] {
            let job = try Self.settle(h, id)
            #expect(job["state"]?.stringValue == "dead", "\(job)")
            #expect(job["attempt"]?.intValue == 1, "refused, not retried")
            #expect(job.jsonText.contains("not allowed"), "\(job)")
        }
        #expect(try receiver.deliveries().isEmpty, "nothing reached the loopback endpoint")
    }

    /// A bad allowlist is the operator's to fix: PUT says the policy is misconfigured (503),
    /// and other jobs still run under the strictest policy.
    @Test func aBadAllowlistStopsNoOtherWork() throws {
        let h = try Self.harness(environment: ["CONVEYOR_TARGETS_ALLOW_CIDRS": "10.0.0.0/99"])
        let put = h.call("PUT", "/v1/targets/x", body: #"{"url": "https://hooks.example.com/x"}"#)
        #expect(put.status == 503, "\(put.json)")
        #expect(!put.json.jsonText.contains("10.0.0.0/99"), "the envelope names the problem, not the value")
        let id = try #require(h.enqueue(#"{"kind": "noop", "queue": "\#(h.queue)", "payload": {}}"#).id)
        #expect(try Self.settle(h, id)["state"]?.stringValue == "completed")
    }

    @Test func anHTTPTargetIsRefusedWhenTheOperatorAllowsOnlyHTTPS() throws {
        let h = try Self.harness()
        #expect(h.call("PUT", "/v1/targets/plain", body: #"{"url": "https://hooks.example.com/x"}"#).status == 201)
        try h.db.execute("UPDATE conveyor_targets SET url = 'http://hooks.example.com/x' WHERE org_id = \(h.orgId) AND name = 'plain'")
        let id = try #require(h.enqueue(#"{"kind": "target:plain", "payload": {}}"#).id)
        let job = try Self.settle(h, id)
        #expect(job["state"]?.stringValue == "dead")
        #expect(job.jsonText.contains("https only"))
    }
}
