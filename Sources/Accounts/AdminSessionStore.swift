import Digest
import FoundationEssentials
import Postgres

/// Dashboard sessions and the login throttle on PostgreSQL.
///
/// A session is a random token in an HttpOnly cookie; the table keeps only its SHA-256, the
/// expiry, and a digest of the admin key it was issued under. So logout ends a session on every
/// worker, a copied cookie dies with it, and a new admin key ends them all.
public struct AdminSessionStore {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// What a session stands on: the admin key, digested under its own label so the digest is
    /// useful for nothing else.
    static func keyDigest(_ adminKey: String) -> Data { Data(SHA256.hash("conveyor-admin-session:" + adminKey)) }

    static func tokenDigest(_ token: String) -> Data { Data(SHA256.hash(token)) }

    /// A new session under `adminKey` for `lifetimeSeconds`; answers its token. Expired sessions
    /// and those of older admin keys are pruned on the way, a bounded number at a time.
    public func create(adminKey: String, lifetimeSeconds: Int) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let token = SHA256.hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
        let keyDigest = Self.keyDigest(adminKey)
        try connection.execute("""
            DELETE FROM conveyor_admin_sessions WHERE token_hash IN (
                SELECT token_hash FROM conveyor_admin_sessions
                WHERE expires_at <= now() OR key_hash <> \(keyDigest)::bytea LIMIT 100)
            """)
        try connection.execute("""
            INSERT INTO conveyor_admin_sessions (token_hash, key_hash, expires_at)
            VALUES (\(Self.tokenDigest(token))::bytea, \(keyDigest)::bytea, now() + make_interval(secs => \(lifetimeSeconds)))
            """)
        return token
    }

    /// True when `token` names a live session issued under `adminKey`.
    public func isValid(token: String, adminKey: String) throws -> Bool {
        guard token.utf8.count == 64, token.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return false }
        let rows = try connection.query("""
            SELECT key_hash FROM conveyor_admin_sessions
            WHERE token_hash = \(Self.tokenDigest(token))::bytea AND expires_at > now()
            """)
        guard let row = rows.first else { return false }
        let stored: Data = try row.decode("key_hash")
        return ConstantTime.equals(Array(stored), Array(Self.keyDigest(adminKey)))
    }

    /// Ends one session (logout).
    @discardableResult
    public func end(token: String) throws -> Bool {
        try connection.execute("DELETE FROM conveyor_admin_sessions WHERE token_hash = \(Self.tokenDigest(token))::bytea") == 1
    }

    /// Ends every session (an operator's "log everyone out", or after a key leak).
    @discardableResult
    public func endAll() throws -> Int {
        try connection.execute("DELETE FROM conveyor_admin_sessions")
    }

    /// Refused logins from `address` within the last `windowSeconds`, and when the oldest of
    /// them leaves the window (seconds from now).
    public func recentFailures(address: String, windowSeconds: Int) throws -> (count: Int, oldestLeavesIn: Double) {
        let row = try connection.query("""
            SELECT count(*)::int AS n,
                   coalesce(extract(epoch FROM min(at) + make_interval(secs => \(windowSeconds)) - now()), 0)::float8 AS wait
            FROM conveyor_login_failures
            WHERE address = \(String(address.prefix(100))) AND at > now() - make_interval(secs => \(windowSeconds))
            """)[0]
        return (try row.decode("n"), try row.decode("wait"))
    }

    /// Notes a refused login from `address`, pruning a bounded number of day-old notes.
    public func noteFailure(address: String) throws {
        try connection.execute("""
            DELETE FROM conveyor_login_failures WHERE ctid IN (
                SELECT ctid FROM conveyor_login_failures WHERE at < now() - interval '1 day' LIMIT 100)
            """)
        try connection.execute("INSERT INTO conveyor_login_failures (address) VALUES (\(String(address.prefix(100))))")
    }

    /// Forgets `address`'s refused logins after a good one.
    public func clearFailures(address: String) throws {
        try connection.execute("DELETE FROM conveyor_login_failures WHERE address = \(String(address.prefix(100)))")
    }
}
