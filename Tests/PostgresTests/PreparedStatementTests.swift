import Postgres
import Testing

/// Statements are prepared once per connection and reused; the cache survives what can
/// invalidate it.
struct PreparedStatementTests {
    static func preparedCount(_ db: Connection) throws -> Int {
        try db.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'conveyor_%'")[0].decode("n")
    }

    @Test func repeatedTextIsPreparedOnce() throws {
        let db = try TestDatabase.connect()
        for i in 0..<50 {
            #expect(try db.query("SELECT \(i)::int + 1 AS v")[0].decode("v", as: Int.self) == i + 1)
        }
        // The statement above and the count query itself.
        #expect(try Self.preparedCount(db) == 2)
    }

    @Test func discardAllIsSurvived() throws {
        let db = try TestDatabase.connect()
        #expect(try db.query("SELECT \(1)::int AS v")[0].decode("v", as: Int.self) == 1)
        try db.unsafeExecuteScript("DEALLOCATE ALL")
        #expect(try db.query("SELECT \(2)::int AS v")[0].decode("v", as: Int.self) == 2)
    }

    @Test func reconnectStartsAFreshCache() throws {
        let db = try TestDatabase.connect()
        _ = try db.query("SELECT \(1)::int AS v")
        try db.reconnect()
        #expect(try db.query("SELECT \(3)::int AS v")[0].decode("v", as: Int.self) == 3)
    }

    @Test func aFailedStatementDoesNotPoisonTheCache() throws {
        let db = try TestDatabase.connect()
        #expect(throws: PostgresError.self) { try db.query("SELECT 1 / \(0)::int AS v") }
        #expect(throws: PostgresError.self) { try db.query("SELEKT \(1)") }
        #expect(try db.query("SELECT 4 / \(2)::int AS v")[0].decode("v", as: Int.self) == 2)
    }
}
