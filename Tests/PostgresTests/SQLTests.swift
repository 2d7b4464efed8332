import Foundation
import Postgres
import Testing

@Suite struct SQLTests {
    @Test func interpolationBecomesBindParameters() {
        let name = "O'Brien; DROP TABLE x"
        let sql: SQL = "SELECT * FROM t WHERE name = \(name) AND age > \(42)"
        #expect(sql.text == "SELECT * FROM t WHERE name = $1 AND age > $2")
        #expect(sql.binds == [name, "42"])
    }

    @Test func optionalsBindNullOrValue() {
        let missing: Int? = nil
        let present: Int? = 7
        let sql: SQL = "VALUES (\(missing), \(present))"
        #expect(sql.text == "VALUES ($1, $2)")
        #expect(sql.binds == [nil, "7"])
    }

    @Test func fragmentsAreRenumbered() {
        let filter: SQL = "status = \("queued") AND priority > \(5)"
        let sql: SQL = "SELECT id FROM jobs WHERE queue = \("default") AND \(filter) LIMIT \(10)"
        #expect(sql.text == "SELECT id FROM jobs WHERE queue = $1 AND status = $2 AND priority > $3 LIMIT $4")
        #expect(sql.binds == ["default", "queued", "5", "10"])
    }

    @Test func concatenationRenumbers() {
        var sql: SQL = "SELECT \(1) AS a"
        sql = sql + ", \(2) AS b"
        sql += SQL(", \("x") AS c")
        #expect(sql.text == "SELECT $1 AS a, $2 AS b, $3 AS c")
        #expect(sql.binds == ["1", "2", "x"])
    }

    @Test func dollarSignsInLiteralTextAreLeftAlone() {
        let inner: SQL = "SELECT '$1' || \("a")"
        let outer: SQL = "SELECT \(1), (\(inner))"
        #expect(outer.text == "SELECT $1, (SELECT '$1' || $2)")
    }

    @Test func unsafeTextIsRaw() {
        let table = "my_table"
        let sql: SQL = "SELECT * FROM \(unsafe: table) WHERE id = \(3)"
        #expect(sql.text == "SELECT * FROM my_table WHERE id = $1")
        #expect(SQL.unsafe("SELECT 1").binds.isEmpty)
    }

    @Test func composedStatementsRunOnTheServer() throws {
        let db = try TestDatabase.connect()
        let where1: SQL = "x > \(1)"
        let where2: SQL = "x < \(4)"
        let sql: SQL = "SELECT array_agg(x ORDER BY x) AS xs FROM generate_series(\(0)::int, \(10)::int) AS x WHERE \(where1) AND \(where2)"
        let result = try db.query(sql)
        #expect(try result[0].decode("xs", as: [Int].self) == [2, 3])

        let raw = try db.query(.unsafe("SELECT 'it''s' AS v"))
        #expect(try raw[0].decode("v", as: String.self) == "it's")
    }

    @Test func injectionAttemptsStayData() throws {
        let db = try TestDatabase.connect()
        let evil = "'); DROP TABLE pg_class; --"
        let result = try db.query("SELECT \(evil)::text AS v")
        #expect(try result[0].decode("v", as: String.self) == evil)
    }

    @Test func nulBytesAreRejected() throws {
        let db = try TestDatabase.connect()
        #expect(throws: PostgresError.self) { try db.query("SELECT \("a\u{0}b")::text") }
        // The connection is still usable afterwards.
        #expect(try db.query("SELECT 1 AS one")[0].decode("one", as: Int.self) == 1)
    }
}
