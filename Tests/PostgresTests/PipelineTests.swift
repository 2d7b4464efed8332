import Foundation
import Postgres
import Testing

/// `Connection.pipelined`: separate transactions, in order, one round trip.
@Suite struct PipelineTests {
    @Test func eachStatementCommitsOnItsOwnAndAFailureStopsNothing() throws {
        let db = try TestDatabase.connect()
        let table = TestDatabase.uniqueName("pipe")
        try db.unsafeExecuteScript("CREATE TABLE \(table) (n int PRIMARY KEY)")
        defer { _ = try? db.unsafeExecuteScript("DROP TABLE \(table)") }

        let outcomes = try db.pipelined([
            "INSERT INTO \(unsafe: table) VALUES (\(1)) RETURNING n",
            "INSERT INTO \(unsafe: table) VALUES (\(1))",  // duplicate: fails alone
            "INSERT INTO \(unsafe: table) VALUES (\(2)), (\(3))",
            "SELECT count(*)::int AS c FROM \(unsafe: table)",
        ])
        #expect(outcomes.count == 4)
        #expect(try outcomes[0].get().first?.decode("n", as: Int.self) == 1)
        #expect(throws: PostgresError.self) { try outcomes[1].get() }
        if case .failure(let error) = outcomes[1] { #expect(error.sqlState == "23505") }
        #expect(try outcomes[2].get().affectedRows == 2)
        // Statements run in order: the count sees the rows committed before it.
        #expect(try outcomes[3].get().first?.decode("c", as: Int.self) == 3)

        // The connection is back in normal mode and usable, with prepared statements reused.
        #expect(try db.query("SELECT count(*)::int AS c FROM \(unsafe: table)").first?.decode("c", as: Int.self) == 3)
        let again = try db.pipelined(["INSERT INTO \(unsafe: table) VALUES (\(4)) RETURNING n"])
        #expect(try again[0].get().first?.decode("n", as: Int.self) == 4)
        #expect(db.isInTransaction == false)
    }

    @Test func aSettingLocalToOneStatementEndsWithIt() throws {
        let db = try TestDatabase.connect()
        let outcomes = try db.pipelined([
            "SELECT set_config('synchronous_commit', 'off', true) AS s",
            "SELECT current_setting('synchronous_commit') AS s",
        ])
        #expect(try outcomes[0].get().first?.decode("s", as: String.self) == "off")
        #expect(try outcomes[1].get().first?.decode("s", as: String.self) == "on")
    }

    @Test func refusedInsideATransaction() throws {
        let db = try TestDatabase.connect()
        try db.transaction { tx in
            #expect(tx.isInTransaction)
            #expect(throws: PostgresError.self) { try tx.pipelined(["SELECT \(1)"]) }
        }
        #expect(try db.query("SELECT \(7)::int AS n").first?.decode("n", as: Int.self) == 7)
    }
}
