import Digest
import FoundationEssentials
import Postgres

/// An organization: the tenant every job and request belongs to.
public struct Organization: Sendable, Equatable {
    public var id: Int64
    public var name: String
}

/// Organizations and tenant API keys on PostgreSQL.
public struct OrganizationStore {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Creates an organization and its first key. The key is returned here and nowhere else.
    public func create(name: String) throws -> (Organization, key: String) {
        let trimmed = String(name.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard (1...200).contains(trimmed.count) else {
            throw PostgresError(.encoding, message: "organization name must be 1 to 200 characters")
        }
        return try connection.transaction { tx in
            let row = try tx.query("INSERT INTO conveyor_organizations (name) VALUES (\(trimmed)) RETURNING id")[0]
            let org = Organization(id: try row.decode("id"), name: trimmed)
            let key = try issueKey(orgId: org.id, label: "initial", on: tx)
            return (org, key)
        }
    }

    /// Adds another key to an organization (rotation: issue a new one, then revoke the old).
    public func issueKey(orgId: Int64, label: String? = nil) throws -> String {
        try issueKey(orgId: orgId, label: label, on: connection)
    }

    private func issueKey(orgId: Int64, label: String?, on conn: Connection) throws -> String {
        let key = APIKey.generate()
        try conn.execute("""
            INSERT INTO conveyor_api_keys (org_id, key_hash, label) VALUES (\(orgId), \(Data(APIKey.digest(key)))::bytea, \(label))
            """)
        return key
    }

    /// Resolves a presented key to its org, or nil for an unknown or revoked key.
    public func organization(forKey key: String) throws -> Int64? {
        try organization(forDigest: APIKey.digest(key))
    }

    /// Resolves a key already hashed with `APIKey.digest`, or nil.
    public func organization(forDigest digest: [UInt8]) throws -> Int64? {
        try resolve(digest: digest)?.orgId
    }

    /// The org of a live key and, for a key in its grace period after a rotation, when it stops
    /// working; nil for an unknown key or one that has stopped.
    public func resolve(digest: [UInt8]) throws -> (orgId: Int64, endsAt: Date?)? {
        let rows = try connection.query("""
            SELECT org_id, key_hash, revoked_at FROM conveyor_api_keys
            WHERE key_hash = \(Data(digest))::bytea AND (revoked_at IS NULL OR revoked_at > now())
            """)
        guard let row = rows.first else { return nil }
        // The index found the row by digest; compare again in constant time as the single place
        // where a match is decided.
        let stored: Data = try row.decode("key_hash")
        guard ConstantTime.equals(Array(stored), digest) else { return nil }
        return (try row.decode("org_id"), try row.decodeIfPresent("revoked_at"))
    }

    /// Revokes every key of the org that matches `key`.
    public func revoke(key: String) throws -> Bool {
        try connection.execute("""
            UPDATE conveyor_api_keys SET revoked_at = now() WHERE key_hash = \(Data(APIKey.digest(key)))::bytea AND revoked_at IS NULL
            """) == 1
    }

    /// A new key for the org; every key that works now keeps working for `graceSeconds` more
    /// (0 ends them at once), so clients can move over. The new key is returned here and
    /// nowhere else. Nil when there is no such org.
    public func rotateKey(orgId: Int64, graceSeconds: Double) throws -> (key: String, previousEndAt: Date?, previousKeys: Int)? {
        try connection.transaction { tx in
            guard try !tx.query("SELECT id FROM conveyor_organizations WHERE id = \(orgId) FOR UPDATE").isEmpty else { return nil }
            let ended = try tx.query("""
                UPDATE conveyor_api_keys
                SET revoked_at = least(coalesce(revoked_at, 'infinity'), now() + make_interval(secs => \(max(0, graceSeconds))::float8))
                WHERE org_id = \(orgId) AND (revoked_at IS NULL OR revoked_at > now())
                RETURNING revoked_at
                """)
            let key = try issueKey(orgId: orgId, label: "rotated", on: tx)
            let ends: [Date] = try ended.map { try $0.decode("revoked_at") }
            return (key, ends.max(), ends.count)
        }
    }

    /// Stops every key of the org at once, graced ones included. Nil when there is no such org.
    public func revokeKeys(orgId: Int64) throws -> Int? {
        try connection.transaction { tx in
            guard try !tx.query("SELECT id FROM conveyor_organizations WHERE id = \(orgId) FOR UPDATE").isEmpty else { return nil }
            return try tx.execute("""
                UPDATE conveyor_api_keys SET revoked_at = now()
                WHERE org_id = \(orgId) AND (revoked_at IS NULL OR revoked_at > now())
                """)
        }
    }

    /// Organizations by id, with how many keys work and when the last graced one ends; keyset
    /// paged (`after` the last id seen), at most `limit` (1 to 500).
    public func organizations(after: Int64 = 0, limit: Int = 200) throws -> [OrganizationSummary] {
        try connection.query("""
            SELECT o.id, o.name, o.created_at,
                   count(k.id) FILTER (WHERE k.revoked_at IS NULL)::int AS active,
                   count(k.id) FILTER (WHERE k.revoked_at > now())::int AS ending,
                   max(k.revoked_at) FILTER (WHERE k.revoked_at > now()) AS last_ends
            FROM conveyor_organizations o LEFT JOIN conveyor_api_keys k ON k.org_id = o.id
            WHERE o.id > \(after)
            GROUP BY o.id ORDER BY o.id LIMIT \(min(max(limit, 1), 500))
            """).map { row in
            OrganizationSummary(id: try row.decode("id"), name: try row.decode("name"), createdAt: try row.decode("created_at"),
                                activeKeys: try row.decode("active"), endingKeys: try row.decode("ending"),
                                lastKeyEndsAt: try row.decodeIfPresent("last_ends"))
        }
    }

    /// The id of the org named by `reference`: its id in digits, or its exact name when only
    /// one org has it. Nil when none matches; an error naming the ids when several do.
    public func find(_ reference: String) throws -> Int64? {
        if let id = Int64(reference) {
            return try connection.query("SELECT id FROM conveyor_organizations WHERE id = \(id)").first?.decode("id")
        }
        let ids: [Int64] = try connection.query("SELECT id FROM conveyor_organizations WHERE name = \(reference) ORDER BY id LIMIT 5").map { try $0.decode("id") }
        guard ids.count <= 1 else {
            throw PostgresError(.encoding, message: "several organizations are named \(reference) (ids \(ids.map(String.init).joined(separator: ", "))); use an id")
        }
        return ids.first
    }
}

/// An organization as operators list them.
public struct OrganizationSummary: Sendable, Equatable, Codable {
    public var id: Int64
    public var name: String
    public var createdAt: Date
    /// Keys that work with no end set.
    public var activeKeys: Int
    /// Keys in their grace period after a rotation.
    public var endingKeys: Int
    /// When the last graced key stops, if any.
    public var lastKeyEndsAt: Date?
}
