import FoundationEssentials

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

    /// Takes the advisory lock, creates the connection's schema and `conveyor_migrations` in it
    /// if missing, moves an installation that predates schemas in (see `adoptLegacy`), applies
    /// each missing migration (by version) in its own transaction, and unlocks. Returns the
    /// versions this call applied. Throws `PostgresError(.configuration)` if versions are duplicated.
    @discardableResult
    public static func migrate(_ migrations: [Migration], on connection: Connection) throws -> [Int] {
        var seen = Set<Int>()
        for migration in migrations where !seen.insert(migration.version).inserted {
            throw PostgresError(.configuration, message: "duplicate migration version \(migration.version)")
        }

        if connection.pooler != .none {
            // The lock is a session's, which a transaction pooler does not keep: migrate over the
            // direct URL, in the database the pooled connection reaches.
            guard let direct = ProcessInfo.processInfo.environment["CONVEYOR_LISTEN_DATABASE_URL"], !direct.isEmpty else {
                throw PostgresError(.configuration, message:
                    "migrations hold a session lock, which a transaction pooler does not keep: set CONVEYOR_LISTEN_DATABASE_URL to a direct connection")
            }
            let database = try connection.query("SELECT current_database() AS d")[0].decode("d", as: String.self)
            return try migrate(migrations, on: Connection(url: direct, applicationName: "conveyor-migrate", schema: connection.schema,
                                                          pooler: DatabasePooler.none, database: database))
        }
        // Lock first: concurrent CREATE TABLE IF NOT EXISTS can still collide on the catalog.
        try connection.query("SELECT pg_advisory_lock(\(lockKey))")
        defer {
            // If the connection died the session lock died with it; nothing to undo.
            _ = try? connection.query("SELECT pg_advisory_unlock(\(lockKey))")
        }
        // The name is validated to need no quoting (DatabaseSchema).
        try connection.unsafeExecuteScript("CREATE SCHEMA IF NOT EXISTS \(connection.schema.name)")
        try adoptLegacy(migrations, on: connection)
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

    /// Moves an installation made before Conveyor had a schema of its own, whose tables sit in
    /// `public`, into the connection's schema: every table, type and function the migrations
    /// create (found by name in their scripts) and `conveyor_migrations`, in one transaction.
    /// `ALTER … SET SCHEMA` changes only the catalog: rows, indexes, sequences and ids stay as
    /// they were, so no job is lost or renumbered. Runs only when the schema has no
    /// installation yet and `public` has one, only into the standard schema, and never when the
    /// schema is `public` itself.
    static func adoptLegacy(_ migrations: [Migration], on connection: Connection) throws {
        let target = connection.schema
        guard target != .legacy else { return }
        let found = try connection.query("""
            SELECT to_regclass(\(target.name + ".conveyor_migrations")) IS NULL
               AND to_regclass('public.conveyor_migrations') IS NOT NULL AS adopt
            """)
        guard try found.first?.decode("adopt", as: Bool.self) == true else { return }
        // The marker a move leaves (below): public holds no installation any more.
        let moved = try connection.query("SELECT EXISTS (SELECT FROM public.conveyor_migrations WHERE version = \(Self.movedMarker)) AS moved")
        guard try moved.first?.decode("moved", as: Bool.self) == false else { return }
        // Only into the standard schema: an installation that predates schemas is the one a
        // deployment upgrades, never a second installation set up beside it.
        guard target == .standard else {
            throw PostgresError(.configuration, message:
                "an installation that predates schemas is in public: migrate it first with CONVEYOR_SCHEMA unset (it moves into conveyor), then set up \(target.name)")
        }
        // Only what the installation in public made: a name a later migration creates may be
        // one of the application's own tables there.
        let made = Set(try connection.query("SELECT version FROM public.conveyor_migrations").map { try $0.decode("version", as: Int.self) })
        let names = createdNames(migrations.filter { made.contains($0.version) })
        try connection.transaction { connection in
            let objects = try connection.query("""
                SELECT 'TABLE' AS what, format('public.%I', c.relname) AS name
                FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v')
                  AND c.relname = ANY(\(names.tables + ["conveyor_migrations"])::text[])
                UNION ALL
                SELECT 'TYPE', format('public.%I', t.typname)
                FROM pg_type t
                WHERE t.typnamespace = 'public'::regnamespace AND t.typname = ANY(\(names.types)::text[])
                UNION ALL
                SELECT 'FUNCTION', p.oid::regprocedure::text
                FROM pg_proc p
                WHERE p.pronamespace = 'public'::regnamespace AND p.proname = ANY(\(names.functions)::text[])
                """)
            var script = ""
            for row in objects {
                // Names come from the catalog, quoted by format() and regprocedure's output.
                script += "ALTER \(try row.decode("what", as: String.self)) \(try row.decode("name", as: String.self)) SET SCHEMA \(target.name);\n"
            }
            // A record left in public, so a 0.9 process that migrates finds every version applied
            // and recreates nothing there: its statements then fail loudly instead of storing jobs
            // that no worker of this installation would ever run.
            script += """
                CREATE TABLE public.conveyor_migrations (version int PRIMARY KEY, name text NOT NULL,
                                                         applied_at timestamptz NOT NULL DEFAULT now());
                INSERT INTO public.conveyor_migrations (version, name) SELECT version, name FROM \(target.name).conveyor_migrations;
                INSERT INTO public.conveyor_migrations (version, name) VALUES (\(Self.movedMarker), 'moved to schema \(target.name)');
                """
            try connection.unsafeExecuteScript(script)
        }
    }

    /// The version of the row that marks `public.conveyor_migrations` as a record of a move.
    static let movedMarker = -1

    /// The tables, types and functions the scripts create, by name.
    static func createdNames(_ migrations: [Migration]) -> (tables: [String], types: [String], functions: [String]) {
        var tables = Set<String>(), types = Set<String>(), functions = Set<String>()
        for migration in migrations {
            let words = migration.sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "(" || $0 == "\t" }).map(String.init)
            for (i, word) in words.enumerated() where word.uppercased() == "CREATE" {
                var j = i + 1
                while j < words.count, ["OR", "REPLACE", "UNIQUE", "UNLOGGED", "MATERIALIZED"].contains(words[j].uppercased()) { j += 1 }
                guard j + 1 < words.count else { continue }
                var k = j + 1
                if words[k].uppercased() == "IF", k + 3 < words.count { k += 3 }  // IF NOT EXISTS
                let name = String(words[k].filter { $0 != "\"" && $0 != ";" && $0 != "," })
                switch words[j].uppercased() {
                case "TABLE", "VIEW": tables.insert(name)
                case "TYPE": types.insert(name)
                case "FUNCTION", "PROCEDURE": functions.insert(name)
                default: break
                }
            }
        }
        return (tables.sorted(), types.sorted(), functions.sorted())
    }

    /// Makes the connection's schema the search path of its role in its database, for sessions
    /// that cannot set it themselves: behind a transaction pooler each transaction may land on
    /// a server connection that never saw our SET, but every one starts with the role's default.
    /// Use a role of Conveyor's own: an application sharing it would find its tables gone.
    public static func setRoleSearchPath(on connection: Connection) throws {
        try connection.unsafeExecuteScript("""
            DO $$ BEGIN
                EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', current_user, current_database(), '\(connection.schema.name)');
            END $$
            """)
    }

    /// Versions already applied, ascending; empty if the table does not exist yet.
    public static func appliedVersions(on connection: Connection) throws -> [Int] {
        let exists = try connection.query("SELECT to_regclass('conveyor_migrations') IS NOT NULL AS present")
        guard try exists.first?.decode("present", as: Bool.self) == true else { return [] }
        return try connection.query("SELECT version FROM conveyor_migrations ORDER BY version")
            .map { try $0.decode("version", as: Int.self) }
    }
}
