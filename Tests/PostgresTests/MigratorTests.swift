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
}
