/// One forward-only schema change.
public struct Migration: Sendable {
    /// Unique, ordering key; migrations apply in ascending version order.
    public let version: Int
    /// Human-readable label stored alongside the version.
    public let name: String
    /// The script (may hold several statements); runs inside a transaction.
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Numbered, forward-only migrations applied under pg_advisory_lock so two processes
/// migrating at once are safe.
public enum Migrator {
    /// Advisory-lock key for migrations: "Conveyor" in ASCII. Fixed so every process agrees.
    static let lockKey: Int64 = 0x436F_6E76_6579_6F72

    /// Creates `conveyor_migrations` if missing, takes the advisory lock, applies each missing
    /// migration (by version) in its own transaction, and unlocks. Returns the versions this
    /// call applied. Throws `PostgresError(.configuration)` if versions are duplicated.
    @discardableResult
    public static func migrate(_ migrations: [Migration], on connection: Connection) throws -> [Int] {
        var seen = Set<Int>()
        for migration in migrations where !seen.insert(migration.version).inserted {
            throw PostgresError(.configuration, message: "duplicate migration version \(migration.version)")
        }

        // Lock first: concurrent CREATE TABLE IF NOT EXISTS can still collide on the catalog.
        try connection.query("SELECT pg_advisory_lock(\(lockKey))")
        defer {
            // If the connection died the session lock died with it; nothing to undo.
            _ = try? connection.query("SELECT pg_advisory_unlock(\(lockKey))")
        }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS conveyor_migrations (
                version int PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)

        let applied = Set(try appliedVersions(on: connection))
        var newlyApplied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            do {
                try connection.transaction { connection in
                    try connection.unsafeExecuteScript(migration.sql)
                    try connection.execute(
                        "INSERT INTO conveyor_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                }
            } catch let error as PostgresError {
                throw PostgresError(
                    error.code, message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)",
                    sqlState: error.sqlState, detail: error.detail, constraint: error.constraint)
            }
            newlyApplied.append(migration.version)
        }
        return newlyApplied
    }

    /// Versions already applied, ascending; empty if the table does not exist yet.
    public static func appliedVersions(on connection: Connection) throws -> [Int] {
        let exists = try connection.query("SELECT to_regclass('conveyor_migrations') IS NOT NULL AS present")
        guard try exists.first?.decode("present", as: Bool.self) == true else { return [] }
        return try connection.query("SELECT version FROM conveyor_migrations ORDER BY version")
            .map { try $0.decode("version", as: Int.self) }
    }
}
