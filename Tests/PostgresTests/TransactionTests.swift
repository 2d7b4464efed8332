import Foundation
import Postgres
import Testing

@Suite struct TransactionTests {
    struct Boom: Error {}

    func makeTable(_ db: Connection) throws -> String {
        let table = TestDatabase.uniqueName("tx")
        try db.execute("CREATE TEMP TABLE \(unsafe: table) (v text NOT NULL)")
        return table
    }

    func values(_ db: Connection, _ table: String) throws -> [String] {
        try db.query("SELECT v FROM \(unsafe: table) ORDER BY v").map { try $0.decode("v") }
    }

    @Test func commitReturnsValue() throws {
        let db = try TestDatabase.connect()
        let table = try makeTable(db)
        let count = try db.transaction { tx in
            try tx.execute("INSERT INTO \(unsafe: table) VALUES (\("a")), (\("b"))")
        }
        #expect(count == 2)
        #expect(try values(db, table) == ["a", "b"])
    }

    @Test func rollbackOnThrow() throws {
        let db = try TestDatabase.connect()
        let table = try makeTable(db)
        #expect(throws: Boom.self) {
            try db.transaction { tx in
                try tx.execute("INSERT INTO \(unsafe: table) VALUES (\("a"))")
                throw Boom()
            }
        }
        #expect(try values(db, table) == [])
        // Not stuck in a transaction afterwards.
        let first = try db.query("SELECT txid_current() AS id")[0].decode("id", as: Int64.self)
        let second = try db.query("SELECT txid_current() AS id")[0].decode("id", as: Int64.self)
        #expect(first != second)
    }

    @Test func visibilityFromAnotherConnection() throws {
        let db = try TestDatabase.connect()
        let other = try TestDatabase.connect()
        let table = TestDatabase.uniqueName("txvis")
        try db.execute("CREATE TABLE \(unsafe: table) (v int)")
        defer { _ = try? db.execute("DROP TABLE \(unsafe: table)") }
        try db.transaction { tx in
            try tx.execute("INSERT INTO \(unsafe: table) VALUES (\(1))")
            #expect(try other.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 0)
        }
        #expect(try other.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 1)
    }

    @Test func nestedSavepointRollback() throws {
        let db = try TestDatabase.connect()
        let table = try makeTable(db)
        try db.transaction { tx in
            try tx.execute("INSERT INTO \(unsafe: table) VALUES (\("outer"))")
            #expect(throws: Boom.self) {
                try tx.transaction { inner in
                    try inner.execute("INSERT INTO \(unsafe: table) VALUES (\("inner"))")
                    throw Boom()
                }
            }
            // A failed statement inside a savepoint is recoverable too.
            #expect(throws: PostgresError.self) {
                try tx.transaction { inner in try inner.query("SELECT 1 / 0") }
            }
            try tx.transaction { inner in
                try inner.execute("INSERT INTO \(unsafe: table) VALUES (\("kept"))")
            }
        }
        #expect(try values(db, table) == ["kept", "outer"])
    }

    @Test func outerRollbackUndoesReleasedSavepoints() throws {
        let db = try TestDatabase.connect()
        let table = try makeTable(db)
        #expect(throws: Boom.self) {
            try db.transaction { tx in
                try tx.transaction { inner in
                    try inner.transaction { innermost in
                        try innermost.execute("INSERT INTO \(unsafe: table) VALUES (\("deep"))")
                    }
                }
                throw Boom()
            }
        }
        #expect(try values(db, table) == [])
    }

    @Test func swallowedErrorMakesCommitThrow() throws {
        let db = try TestDatabase.connect()
        let table = try makeTable(db)
        let error = #expect(throws: PostgresError.self) {
            try db.transaction { tx in
                try tx.execute("INSERT INTO \(unsafe: table) VALUES (\("lost"))")
                _ = try? tx.query("SELECT 1 / 0")
            }
        }
        #expect(error?.message.contains("rolled back") == true)
        #expect(try values(db, table) == [])
        try db.transaction { tx in try tx.execute("INSERT INTO \(unsafe: table) VALUES (\("ok"))") }
        #expect(try values(db, table) == ["ok"])
    }

    @Test func scriptsRunSeveralStatements() throws {
        let db = try TestDatabase.connect()
        let table = TestDatabase.uniqueName("script")
        try db.unsafeExecuteScript("""
            CREATE TEMP TABLE \(table) (v int);
            INSERT INTO \(table) VALUES (1), (2);
            INSERT INTO \(table) VALUES (3);
            """)
        #expect(try db.query("SELECT sum(v) AS s FROM \(unsafe: table)")[0].decode("s", as: Int.self) == 6)
        let error = #expect(throws: PostgresError.self) {
            try db.unsafeExecuteScript("INSERT INTO \(table) VALUES (4); SELECT 1/0; INSERT INTO \(table) VALUES (5);")
        }
        #expect(error?.sqlState == "22012")
        // A script is one implicit transaction: the first INSERT is gone too.
        #expect(try db.query("SELECT sum(v) AS s FROM \(unsafe: table)")[0].decode("s", as: Int.self) == 6)
    }
}
