import Foundation
import Postgres
import Testing

/// What a connection does differently when a transaction pooler stands before the server.
/// (The whole end-to-end suite also runs through a real PgBouncer: scripts/with-pgbouncer.)
@Suite struct PoolerTests {
    @Test(arguments: [
        ([:], DatabasePooler.none), (["CONVEYOR_DATABASE_POOLER": ""], .none), (["CONVEYOR_DATABASE_POOLER": "none"], .none),
        (["CONVEYOR_DATABASE_POOLER": "transaction"], .transaction),
    ] as [([String: String], DatabasePooler)])
    func thePoolerComesFromTheEnvironment(environment: [String: String], expected: DatabasePooler) throws {
        #expect(try DatabasePooler.fromEnvironment(environment) == expected)
    }

    @Test func anUnknownPoolerIsAConfigurationError() {
        let error = #expect(throws: PostgresError.self) { try DatabasePooler.fromEnvironment(["CONVEYOR_DATABASE_POOLER": "statement"]) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("none or transaction") == true)
    }

    /// Nothing is left in the session: statements (pipelined ones too) are unnamed, no time
    /// bound is SET, and LISTEN is refused with the way out.
    @Test func aPooledConnectionKeepsNothingInItsSession() throws {
        let db = try Connection(url: TestDatabase.url(), pooler: .transaction)
        try TestDatabase.ensureSchema(on: db)
        db.bound(TimeBounds(statementMs: 1234, lockMs: 567))
        for n in 0..<3 {
            #expect(try db.query("SELECT \(n)::int + 1 AS n")[0].decode("n", as: Int.self) == n + 1)
        }
        let outcomes = try db.pipelined(["SELECT 1 AS one", "SELECT 1/0 AS boom", "SELECT 3 AS three"])
        #expect(try outcomes[0].get()[0].decode("one", as: Int.self) == 1)
        #expect({ if case .failure(let e) = outcomes[1] { e.sqlState == "22012" } else { false } }())
        #expect(try outcomes[2].get()[0].decode("three", as: Int.self) == 3)
        #expect(try db.query("SELECT count(*)::int AS n FROM pg_prepared_statements")[0].decode("n", as: Int.self) == 0)
        #expect(try db.query("SELECT current_setting('statement_timeout') AS t")[0].decode("t", as: String.self) != "1234ms")
        let error = #expect(throws: PostgresError.self) { try db.listen("conveyor_jobs") }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("CONVEYOR_LISTEN_DATABASE_URL") == true)

        // The same on a direct connection: prepared once, bounded as asked.
        let direct = try Connection(url: TestDatabase.url(), pooler: DatabasePooler.none)
        direct.bound(TimeBounds(statementMs: 1234, lockMs: 567))
        _ = try direct.query("SELECT 1 AS one")
        #expect(try direct.query("SELECT count(*)::int AS n FROM pg_prepared_statements")[0].decode("n", as: Int.self) >= 1)
        #expect(try direct.query("SELECT current_setting('statement_timeout') AS t")[0].decode("t", as: String.self) == "1234ms")
    }
}
