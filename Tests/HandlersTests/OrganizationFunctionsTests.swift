import Foundation
@testable import Handlers
import JobQueue
import Postgres
import Testing

/// Operators manage tenants and their keys without SQL: create, list, rotate with a grace, revoke.
struct OrganizationFunctionsTests {
    /// A context that asks the database about every key (no worker cache), as a fresh worker would.
    static func uncached(_ h: Harness) -> FunctionContext {
        let c = FunctionContext(configuration: h.context.configuration, manifest: h.context.manifest, logger: h.context.logger)
        c.tenantKeyTTL = 0
        return c
    }

    static func status(_ h: Harness, key: String, context: FunctionContext) -> Int {
        h.router.handle(HTTPRequest(method: "GET", path: "/v1/jobs", headers: ["x-api-key": key]), context: context).status
    }

    @Test func createRotateWithAGraceAndRevoke() throws {
        let h = try Harness()
        let fresh = Self.uncached(h)
        let created = h.call("POST", "/v1/admin/orgs", body: #"{"name":"  Acme \#(h.queue)  "}"#, key: Harness.adminKey)
        #expect(created.status == 201, "\(created.json)")
        let id = try #require(created.json["id"]?.intValue)
        #expect(created.json["name"]?.stringValue == "Acme \(h.queue)")
        let first = try #require(created.json["key"]?.stringValue)
        #expect(Self.status(h, key: first, context: fresh) == 200)

        let rotated = h.call("POST", "/v1/admin/orgs/\(id)/rotate-key", body: #"{"graceSeconds":3600}"#, key: Harness.adminKey)
        #expect(rotated.status == 200)
        let second = try #require(rotated.json["key"]?.stringValue)
        #expect(rotated.json["previousKeys"] == .int(1))
        let ends = try #require(rotated.json["previousKeysEndAt"]?.stringValue.flatMap(Timestamp.parse))
        #expect(abs(ends.timeIntervalSinceNow - 3600) < 60)
        #expect(Self.status(h, key: first, context: fresh) == 200, "the old key works through the grace")
        #expect(Self.status(h, key: second, context: fresh) == 200)

        // The grace ends (moved into the past here, rather than waited for): the old key stops.
        _ = try h.db.execute("UPDATE conveyor_api_keys SET revoked_at = now() - interval '1 second' WHERE org_id = \(id) AND revoked_at IS NOT NULL")
        #expect(Self.status(h, key: first, context: fresh) == 401)
        #expect(Self.status(h, key: second, context: fresh) == 200)

        let listed = h.call("GET", "/v1/admin/orgs", key: Harness.adminKey, query: ["after": String(id - 1), "limit": "1"])
        guard case .array(let rows)? = listed.json["organizations"] else { Issue.record("\(listed.json)"); return }
        let row = try #require(rows.first)
        #expect(row["id"] == .int(id) && row["activeKeys"] == .int(1) && row["endingKeys"] == .int(0))
        #expect(listed.json["nextAfter"] == .int(id))
        #expect(!String(decoding: listed.response.body, as: UTF8.self).contains("cvk_"))

        let revoked = h.call("POST", "/v1/admin/orgs/\(id)/revoke-keys", key: Harness.adminKey)
        #expect(revoked.json["revokedKeys"] == .int(1))
        #expect(Self.status(h, key: second, context: fresh) == 401)
    }

    /// A worker's key cache never trusts a graced key past the end of its grace.
    @Test func theKeyCacheEndsWithTheGrace() throws {
        let h = try Harness()
        let org = try Organizations.create(name: "cache \(h.queue)", connection: h.db)
        _ = h.call("POST", "/v1/admin/orgs/\(org.id)/rotate-key", body: #"{"graceSeconds":0.4}"#, key: Harness.adminKey)
        let cached = Self.uncached(h)
        cached.tenantKeyTTL = 3600
        #expect(Self.status(h, key: org.key, context: cached) == 200)
        Thread.sleep(forTimeInterval: 0.6)
        #expect(Self.status(h, key: org.key, context: cached) == 401, "cached for at most what was left of the grace")
    }

    @Test(arguments: [
        ("/v1/admin/orgs", #"{"name":""}"#, 422, "name"),
        ("/v1/admin/orgs", #"{"name":"a\nb"}"#, 422, "name"),
        ("/v1/admin/orgs", #"{"label":"x"}"#, 422, "label"),
        ("/v1/admin/orgs/1/rotate-key", #"{"graceSeconds":-1}"#, 422, "graceSeconds"),
        ("/v1/admin/orgs/1/rotate-key", #"{"graceSeconds":1e9}"#, 422, "graceSeconds"),
        ("/v1/admin/orgs/999999999999/rotate-key", "{}", 404, nil),
        ("/v1/admin/orgs/abc/revoke-keys", "{}", 404, nil),
    ] as [(String, String, Int, String?)])
    func badInputIsNamed(path: String, body: String, status: Int, field: String?) throws {
        let h = try Harness()
        let answer = h.call("POST", path, body: body, key: Harness.adminKey)
        #expect(answer.status == status, "\(answer.json)")
        if let field { #expect(answer.json["error"]?["details"]?["field"] == .string(field)) }
    }

    @Test func onlyTheAdminKeyManagesOrganizations() throws {
        let h = try Harness()
        #expect(h.call("GET", "/v1/admin/orgs").status == 403)
        #expect(h.call("POST", "/v1/admin/orgs/\(h.orgId)/rotate-key", body: "{}", key: Harness.processorKey).status == 403)
        #expect(h.call("POST", "/v1/admin/orgs/\(h.orgId)/revoke-keys", body: "{}", key: .some(nil)).status == 401)
    }
}
