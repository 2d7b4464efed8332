import FoundationEssentials
import Postgres

/// A tenant's own target as the API shows it: never its secrets.
public struct TenantTarget: Sendable, Equatable {
    public var name: String
    public var url: String
    public var timeoutMs: Int
    /// Until when the previous secret still signs, during a rotation.
    public var previousSecretUntil: Date?
    public var createdAt: Date
    public var updatedAt: Date
}

/// What a delivery to a tenant's target needs: where, and the secrets to sign with.
public struct TenantTargetSigning: Sendable {
    public var url: String
    public var secrets: [String]
}

/// The tenants' targets on PostgreSQL. Every statement is scoped by org: an org can neither
/// see nor deliver to another org's target.
public struct TenantTargetStore {
    public let connection: Connection

    /// How long a rotated-out secret keeps signing, so receivers can switch over.
    public static let rotationOverlapSeconds = 24.0 * 3600

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Creates or updates `name`. A new target gets a secret, returned here and nowhere else;
    /// an update keeps its secrets and returns nil. Refuses a new one past `maxPerOrg`.
    public func put(orgId: Int64, name: String, url: String, timeoutMs: Int, maxPerOrg: Int) throws -> (TenantTarget, secret: String?) {
        let secret = WebhookSecret.generate()
        let rows = try connection.query("""
            WITH existing AS (
                UPDATE conveyor_targets SET url = \(url), timeout_ms = \(timeoutMs)::integer, updated_at = now()
                WHERE org_id = \(orgId) AND name = \(name)
                RETURNING *, false AS created
            ), created AS (
                INSERT INTO conveyor_targets (org_id, name, url, timeout_ms, secret)
                SELECT \(orgId), \(name), \(url), \(timeoutMs)::integer, \(secret)
                WHERE NOT EXISTS (SELECT 1 FROM existing)
                  AND (SELECT count(*) FROM conveyor_targets WHERE org_id = \(orgId)) < \(maxPerOrg)
                ON CONFLICT (org_id, name) DO NOTHING
                RETURNING *, true AS created
            )
            SELECT name, url, timeout_ms, previous_until, created_at, updated_at, created FROM existing
            UNION ALL
            SELECT name, url, timeout_ms, previous_until, created_at, updated_at, created FROM created
            """)
        guard let row = rows.first else { throw TenantTargetError.tooMany(maxPerOrg) }
        let created: Bool = try row.decode("created")
        return (try Self.target(row), created ? secret : nil)
    }

    /// The org's targets by name.
    public func list(orgId: Int64) throws -> [TenantTarget] {
        try connection.query("""
            SELECT name, url, timeout_ms, previous_until, created_at, updated_at FROM conveyor_targets
            WHERE org_id = \(orgId) ORDER BY name
            """).map { try Self.target($0) }
    }

    public func get(orgId: Int64, name: String) throws -> TenantTarget? {
        try connection.query("""
            SELECT name, url, timeout_ms, previous_until, created_at, updated_at FROM conveyor_targets
            WHERE org_id = \(orgId) AND name = \(name)
            """).first.map { try Self.target($0) }
    }

    /// A new secret, returned once. The old one keeps signing for `rotationOverlapSeconds`,
    /// or not at all with `keepPrevious` false. Nil when there is no such target.
    public func rotate(orgId: Int64, name: String, keepPrevious: Bool) throws -> String? {
        let secret = WebhookSecret.generate()
        let overlap = keepPrevious ? Self.rotationOverlapSeconds : 0
        let rows = try connection.query("""
            UPDATE conveyor_targets SET
                previous_secret = CASE WHEN \(keepPrevious) THEN secret END,
                previous_until = CASE WHEN \(keepPrevious) THEN now() + make_interval(secs => \(overlap)::float8) END,
                secret = \(secret), updated_at = now()
            WHERE org_id = \(orgId) AND name = \(name)
            RETURNING name
            """)
        return rows.isEmpty ? nil : secret
    }

    /// True when the target existed.
    public func delete(orgId: Int64, name: String) throws -> Bool {
        !(try connection.query("DELETE FROM conveyor_targets WHERE org_id = \(orgId) AND name = \(name) RETURNING name")).isEmpty
    }

    /// Where to deliver and what to sign with, for the org's own target only.
    public func signing(orgId: Int64, name: String) throws -> TenantTargetSigning? {
        guard let row = try connection.query("""
            SELECT url, secret, CASE WHEN previous_until > now() THEN previous_secret END AS previous
            FROM conveyor_targets WHERE org_id = \(orgId) AND name = \(name)
            """).first else { return nil }
        let previous: String? = try row.decodeIfPresent("previous")
        return TenantTargetSigning(url: try row.decode("url"), secrets: [try row.decode("secret")] + (previous.map { [$0] } ?? []))
    }

    /// The time limit of each of `names` that the org has, by name.
    public func timeouts(orgId: Int64, names: [String]) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try connection.query("SELECT name, timeout_ms FROM conveyor_targets WHERE org_id = \(orgId) AND name = ANY (\(names)::text[])") {
            out[try row.decode("name")] = try row.decode("timeout_ms")
        }
        return out
    }

    static func target(_ row: Row) throws -> TenantTarget {
        TenantTarget(name: try row.decode("name"), url: try row.decode("url"), timeoutMs: try row.decode("timeout_ms"),
                     previousSecretUntil: try row.decodeIfPresent("previous_until"),
                     createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}

/// Refusals of the target store.
public enum TenantTargetError: Error, Sendable, Equatable {
    case tooMany(Int)
}
