import Accounts
import FoundationEssentials
import JobQueue

/// `list-orgs` (admin): organizations by id with their key counts, keyset-paged with `after`.
struct ListOrganizationsFunction: ConveyorFunction {
    let name = "list-orgs"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let q = invocation.request.query
        let after = try AdminInput.whole(q["after"], field: "after", in: 0...Int(Int64.max - 1)) ?? 0
        let limit = try AdminInput.whole(q["limit"], field: "limit", in: 1...500) ?? 200
        let orgs = try OrganizationStore(connection: context.database()).organizations(after: Int64(after), limit: limit)
        var w = JSONWriter(capacity: 64 + orgs.count * 160)
        w.beginObject()
        w.beginArray("organizations")
        for o in orgs { OrganizationFunctions.write(o, to: &w) }
        w.endArray()
        if orgs.count == limit, let last = orgs.last { w.field("nextAfter", last.id) }
        w.endObject()
        return .json(200, raw: w.data)
    }
}

/// `create-org` (admin): `{"name"}` makes an organization and answers its first key, shown
/// this once (only its SHA-256 is stored).
struct CreateOrganizationFunction: ConveyorFunction {
    let name = "create-org"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try AdminInput.object(invocation.request, allowed: ["name"])
        let name = try body["name"].map(AdminInput.string(field: "name")) ?? ""
        let trimmed = Authenticator.trimmed(name)
        guard (1...200).contains(trimmed.count), !trimmed.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw APIError(.invalidInput, "name: must be 1 to 200 characters with no control characters", details: ["field": "name"])
        }
        let (org, key) = try OrganizationStore(connection: context.database()).create(name: trimmed)
        context.logger.info("organization created", metadata: ["org": "\(org.id)"])
        var w = JSONWriter()
        w.beginObject()
        w.field("id", org.id)
        w.field("name", org.name)
        w.field("key", key)
        w.endObject()
        return HTTPResponse.json(201, raw: w.data).located("v1", "admin", "orgs")
    }
}

/// `rotate-org-key` (admin): `{"graceSeconds"}` (0 to 30 days, default 1 day) issues a new
/// key for the org; the keys that work now keep working for the grace, then stop.
struct RotateOrganizationKeyFunction: ConveyorFunction {
    let name = "rotate-org-key"
    static let maxGraceSeconds = 30.0 * 86_400

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try OrganizationFunctions.orgId(invocation)
        let body = try AdminInput.object(invocation.request, allowed: ["graceSeconds"])
        let grace: Double
        switch body["graceSeconds"] {
        case nil, .null?: grace = 86_400
        case let value?:
            guard let g = value.doubleValue, g.isFinite, (0...Self.maxGraceSeconds).contains(g) else {
                throw APIError(.invalidInput, "graceSeconds: must be a number of seconds from 0 to \(Int(Self.maxGraceSeconds))", details: ["field": "graceSeconds"])
            }
            grace = g
        }
        guard let rotated = try OrganizationStore(connection: context.database()).rotateKey(orgId: org, graceSeconds: grace) else {
            throw APIError(.notFound, "no such organization")
        }
        // A worker trusts a resolved key for a few seconds; the grace bounds that too.
        context.logger.notice("organization key rotated", metadata: ["org": "\(org)", "previousKeys": "\(rotated.previousKeys)", "graceSeconds": "\(grace)"])
        var w = JSONWriter()
        w.beginObject()
        w.field("id", org)
        w.field("key", rotated.key)
        w.field("previousKeys", rotated.previousKeys)
        if let end = rotated.previousEndAt { w.field("previousKeysEndAt", end) }
        w.endObject()
        return .json(200, raw: w.data)
    }
}

/// `revoke-org-keys` (admin): every key of the org stops at once (graced ones too). Workers
/// that resolved a key in the last few seconds (the key cache) stop accepting it within that time.
struct RevokeOrganizationKeysFunction: ConveyorFunction {
    let name = "revoke-org-keys"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try OrganizationFunctions.orgId(invocation)
        _ = try AdminInput.object(invocation.request, allowed: [])
        guard let revoked = try OrganizationStore(connection: context.database()).revokeKeys(orgId: org) else {
            throw APIError(.notFound, "no such organization")
        }
        context.logger.notice("organization keys revoked", metadata: ["org": "\(org)", "keys": "\(revoked)"])
        return .json(200, raw: Data(JSONValue.object(["id": .int(org), "revokedKeys": .int(Int64(revoked))]).jsonText.utf8))
    }
}

enum OrganizationFunctions {
    static func orgId(_ invocation: Invocation) throws -> Int64 {
        guard let text = invocation.pathParams["id"], let id = Int64(text), id > 0 else {
            throw APIError(.notFound, "no such organization")
        }
        return id
    }

    static func write(_ o: OrganizationSummary, to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", o.id)
        w.field("name", o.name)
        w.field("createdAt", o.createdAt)
        w.field("activeKeys", o.activeKeys)
        w.field("endingKeys", o.endingKeys)
        if let end = o.lastKeyEndsAt { w.field("lastKeyEndsAt", end) }
        w.endObject()
    }
}
