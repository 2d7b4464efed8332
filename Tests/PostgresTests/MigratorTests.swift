import Foundation
import Postgres
import Testing

/// Each test migrates its own fresh database: conveyor_migrations is shared state that other
/// test suites (and the real schema) also use in the default database.
@Suite struct MigratorTests {
    func migrations(_ table: String) -> [Migration] {
        [
            Migration(version: 2, name: "add column", sql: "ALTER TABLE \(table) ADD COLUMN note text;"),
            Migration(version: 1, name: "create", sql: """
                CREATE TABLE \(table) (id int PRIMARY KEY);
                INSERT INTO \(table) VALUES (1);
                """),
            Migration(version: 10, name: "index", sql: "CREATE INDEX ON \(table) (note);"),
        ]
    }

    @Test func appliesOnceInOrder() throws {
        try TestDatabase.withFreshDatabase { url in
            let db = try Connection(url: url)
            let table = TestDatabase.uniqueName("mig")
            #expect(try Migrator.appliedVersions(on: db) == [])
            #expect(try Migrator.migrate(migrations(table), on: db) == [1, 2, 10])
            #expect(try Migrator.appliedVersions(on: db) == [1, 2, 10])
            #expect(try Migrator.migrate(migrations(table), on: db) == [])

            let extra = migrations(table) + [Migration(version: 11, name: "more", sql: "INSERT INTO \(table) VALUES (2, 'x');")]
            #expect(try Migrator.migrate(extra, on: db) == [11])
            #expect(try db.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 2)
            let names = try db.query("SELECT name FROM conveyor_migrations ORDER BY version").map { try $0.decode("name", as: String.self) }
            #expect(names == ["create", "add column", "index", "more"])
        }
    }

    @Test func failedMigrationRollsBackAndStops() throws {
        try TestDatabase.withFreshDatabase { url in
            let db = try Connection(url: url)
            let table = TestDatabase.uniqueName("migfail")
            let list = [
                Migration(version: 1, name: "ok", sql: "CREATE TABLE \(table) (id int);"),
                Migration(version: 2, name: "bad", sql: "INSERT INTO \(table) VALUES (1); SELEC oops;"),
                Migration(version: 3, name: "never", sql: "INSERT INTO \(table) VALUES (3);"),
            ]
            let error = #expect(throws: PostgresError.self) { try Migrator.migrate(list, on: db) }
            #expect(error?.sqlState == "42601")
            #expect(error?.message.contains("migration 2") == true)
            #expect(try Migrator.appliedVersions(on: db) == [1])
            #expect(try db.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 0)
            // The lock was released: another connection can migrate right away.
            let other = try Connection(url: url)
            #expect(try Migrator.migrate(Array(list.prefix(1)), on: other) == [])
        }
    }

    @Test func duplicateVersionsAreRejected() throws {
        let db = try TestDatabase.connect()
        let error = #expect(throws: PostgresError.self) {
            try Migrator.migrate([
                Migration(version: 1, name: "a", sql: "SELECT 1"),
                Migration(version: 1, name: "b", sql: "SELECT 2"),
            ], on: db)
        }
        #expect(error?.code == .configuration)
    }

    @Test func concurrentMigratorsApplyEachVersionOnce() throws {
        try TestDatabase.withFreshDatabase { url in
            let table = TestDatabase.uniqueName("migrace")
            // Slow first step so the two runs really overlap.
            let list = [
                Migration(version: 1, name: "create", sql: "SELECT pg_sleep(0.3); CREATE TABLE \(table) (id int);"),
                Migration(version: 2, name: "fill", sql: "INSERT INTO \(table) VALUES (2);"),
                Migration(version: 3, name: "fill more", sql: "INSERT INTO \(table) VALUES (3);"),
            ]
            let runs = (0..<2).map { _ in
                BackgroundThread { try Migrator.migrate(list, on: Connection(url: url)) }
            }
            let applied = try runs.map { try $0.join() }
            #expect((applied[0] + applied[1]).sorted() == [1, 2, 3])
            let db = try Connection(url: url)
            #expect(try Migrator.appliedVersions(on: db) == [1, 2, 3])
            #expect(try db.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 2)
        }
    }

    /// The objects of a small installation: a table with an identity, a type and a function
    /// that reads the table by its unqualified name, as the engine's do.
    func installation(_ table: String) -> [Migration] {
        [
            Migration(version: 1, name: "create", sql: """
                CREATE TYPE \(table)_state AS ENUM ('new', 'done');
                CREATE TABLE \(table) (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, state \(table)_state NOT NULL);
                CREATE OR REPLACE FUNCTION \(table)_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM \(table) $$;
                """),
            Migration(version: 2, name: "index", sql: "CREATE INDEX ON \(table) (state);"),
        ]
    }

    /// An installation made before schemas kept its objects in `public`; migrating with a schema
    /// moves every one of them, rows and ids included, and applies only what is new.
    @Test func anInstallationInPublicMovesIntoTheSchemaWithEveryRow() throws {
        try TestDatabase.withFreshDatabase { url in
            let table = TestDatabase.uniqueName("legacy")
            let old = try Connection(url: url, schema: .legacy)
            #expect(try Migrator.migrate(installation(table), on: old) == [1, 2])
            try old.execute("INSERT INTO \(unsafe: table) (state) SELECT 'new' FROM generate_series(1, 3)")

            // A second installation beside it may not take it.
            let other = try Connection(url: url, schema: DatabaseSchema("staging"))
            let refused = #expect(throws: PostgresError.self) { try Migrator.migrate(installation(table), on: other) }
            #expect(refused?.code == .configuration)
            let schema = DatabaseSchema.standard
            let db = try Connection(url: url, schema: schema)
            let more = installation(table) + [Migration(version: 3, name: "more", sql: "INSERT INTO \(table) (state) VALUES ('done');")]
            #expect(try Migrator.migrate(more, on: db) == [3])
            #expect(try Migrator.appliedVersions(on: db) == [1, 2, 3])
            let rows = try db.query("SELECT id, state::text AS state FROM \(unsafe: table) ORDER BY id")
            #expect(try rows.map { try $0.decode("id", as: Int.self) } == [1, 2, 3, 4])
            #expect(try rows.map { try $0.decode("state", as: String.self) } == ["new", "new", "new", "done"])
            #expect(try db.query("SELECT \(unsafe: table)_count() AS n")[0].decode("n", as: Int.self) == 4)

            let left = try db.query("""
                SELECT count(*) AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = \(table)
                """)
            #expect(try left[0].decode("n", as: Int.self) == 0)
            // What is left in public is the record of the move: an old build migrating there finds
            // every version applied and creates nothing.
            #expect(try Migrator.migrate(installation(table), on: old) == [])
            #expect(try db.query("SELECT to_regclass('public.\(unsafe: table)') IS NULL AS gone")[0].decode("gone", as: Bool.self))
            #expect(try old.query("SELECT name FROM conveyor_migrations WHERE version = -1")[0].decode("name", as: String.self) == "moved to schema conveyor")
            let where_ = try db.query("SELECT to_regclass(\(schema.name + "." + table)) IS NOT NULL AS moved, to_regtype(\(schema.name + "." + table + "_state")) IS NOT NULL AS typed")
            #expect(try where_[0].decode("moved", as: Bool.self))
            #expect(try where_[0].decode("typed", as: Bool.self))
            // Migrating again moves nothing and applies nothing.
            #expect(try Migrator.migrate(more, on: db) == [])
        }
    }

    /// Two installations in two schemas of one database: each has its own rows and its own
    /// record of migrations, and neither sees the other's.
    @Test func twoSchemasOfOneDatabaseDoNotSeeEachOther() throws {
        try TestDatabase.withFreshDatabase { url in
            let table = TestDatabase.uniqueName("pair")
            let a = try Connection(url: url, schema: DatabaseSchema("app_a"))
            let b = try Connection(url: url, schema: DatabaseSchema("app_b"))
            #expect(try Migrator.migrate(installation(table), on: a) == [1, 2])
            #expect(try Migrator.appliedVersions(on: b) == [])
            #expect(try Migrator.migrate(installation(table), on: b) == [1, 2])
            try a.execute("INSERT INTO \(unsafe: table) (state) VALUES ('new'), ('new')")
            try b.execute("INSERT INTO \(unsafe: table) (state) VALUES ('done')")
            #expect(try a.query("SELECT \(unsafe: table)_count() AS n")[0].decode("n", as: Int.self) == 2)
            #expect(try b.query("SELECT \(unsafe: table)_count() AS n")[0].decode("n", as: Int.self) == 1)
            #expect(try b.query("SELECT count(*) AS n FROM \(unsafe: table) WHERE state = 'new'")[0].decode("n", as: Int.self) == 0)
        }
    }

    @Test(arguments: [
        ("conveyor", true), ("app_2", true), ("_x", true), (String(repeating: "a", count: 63), true),
        ("", false), ("2app", false), ("App", false), ("a-b", false), ("a.b", false), ("a b", false),
        ("\"x\"", false), (String(repeating: "a", count: 64), false), ("é", false),
    ])
    func schemaNamesNeedNoQuoting(name: String, valid: Bool) {
        #expect(DatabaseSchema.isValid(name) == valid)
        #expect(((try? DatabaseSchema(name)) != nil) == valid)
    }

    @Test func anInvalidSchemaInTheEnvironmentIsAConfigurationError() throws {
        #expect(try DatabaseSchema.fromEnvironment([:]) == .standard)
        #expect(try DatabaseSchema.fromEnvironment(["CONVEYOR_SCHEMA": ""]) == .standard)
        #expect(try DatabaseSchema.fromEnvironment(["CONVEYOR_SCHEMA": "tenant_app"]).name == "tenant_app")
        let error = #expect(throws: PostgresError.self) { try DatabaseSchema.fromEnvironment(["CONVEYOR_SCHEMA": "Robert'); DROP"]) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("schema name") == true)
        let publicSchema = #expect(throws: PostgresError.self) { try DatabaseSchema.fromEnvironment(["CONVEYOR_SCHEMA": "public"]) }
        #expect(publicSchema?.message.contains("must not be public") == true)
    }
}
