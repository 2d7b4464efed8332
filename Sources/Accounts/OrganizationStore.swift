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
        let rows = try connection.query("""
            SELECT org_id, key_hash FROM conveyor_api_keys WHERE key_hash = \(Data(digest))::bytea AND revoked_at IS NULL
            """)
        guard let row = rows.first else { return nil }
        // The index found the row by digest; compare again in constant time as the single place
        // where a match is decided.
        let stored: Data = try row.decode("key_hash")
        return ConstantTime.equals(Array(stored), digest) ? try row.decode("org_id") : nil
    }

    /// Revokes every key of the org that matches `key`.
    public func revoke(key: String) throws -> Bool {
        try connection.execute("""
            UPDATE conveyor_api_keys SET revoked_at = now() WHERE key_hash = \(Data(APIKey.digest(key)))::bytea AND revoked_at IS NULL
            """) == 1
    }
}
