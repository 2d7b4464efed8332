import Foundation
import Postgres
import Testing

/// Nothing waits on the database without a bound: connecting, a dead peer, a slow statement
/// and a held lock each end within the time they were given.
struct TimeBoundsTests {
    @Test func connectDefaultsApplyAndTheURLOverridesThem() throws {
        let url = try TestDatabase.url()
        let db = try Connection(url: url)
        #expect(db.option("connect_timeout") == "5")
        #expect(db.option("keepalives") == "1")
        #expect(db.option("keepalives_idle") == "30")
        #expect(db.option("tcp_user_timeout") == "60000")
        let separator = url.contains("?") ? "&" : "?"
        let own = try Connection(url: url + separator + "connect_timeout=9&keepalives_idle=7")
        #expect(own.option("connect_timeout") == "9")
        #expect(own.option("keepalives_idle") == "7")
    }

    @Test func aBoundCutsASlowStatementAndIsSetOnlyWhenItChanges() throws {
        let db = try Connection(url: try TestDatabase.url())
        db.bound(TimeBounds(statementMs: 300, lockMs: 100))
        #expect(try db.query("SHOW statement_timeout")[0].decode("statement_timeout", as: String.self) == "300ms")
        #expect(try db.query("SHOW lock_timeout")[0].decode("lock_timeout", as: String.self) == "100ms")
        let started = Date()
        do {
            try db.query("SELECT pg_sleep(3)")
            Issue.record("pg_sleep(3) ran to its end under a 300 ms bound")
        } catch let error as PostgresError {
            #expect(error.sqlState == "57014")
            #expect(TimeBounds.sqlStates.contains(error.sqlState ?? ""))
        }
        #expect(Date().timeIntervalSince(started) < 2.5)
        // The connection is still good, and a SET by hand stays until the bounds change.
        try db.execute("SET statement_timeout = 12345")
        #expect(try db.query("SHOW statement_timeout")[0].decode("statement_timeout", as: String.self) == "12345ms")
        db.bound(TimeBounds(statementSeconds: 5, lockSeconds: 9))
        #expect(try db.query("SHOW statement_timeout")[0].decode("statement_timeout", as: String.self) == "5s")
        // The lock wait never outlasts the statement.
        #expect(try db.query("SHOW lock_timeout")[0].decode("lock_timeout", as: String.self) == "5s")
    }

    @Test func aHeldLockFailsFastWithLockNotAvailable() throws {
        let url = try TestDatabase.url()
        let table = "bounds_\(UUID().uuidString.prefix(8).lowercased())"
        let holder = try Connection(url: url)
        try holder.unsafeExecuteScript("CREATE TABLE \(table) (id int)")
        defer { _ = try? holder.unsafeExecuteScript("DROP TABLE IF EXISTS \(table)") }
        let waiter = try Connection(url: url)
        waiter.bound(TimeBounds(statementMs: 10_000, lockMs: 200))
        try holder.transaction { _ in
            try holder.unsafeExecuteScript("LOCK \(table) IN ACCESS EXCLUSIVE MODE")
            let started = Date()
            #expect {
                try waiter.unsafeExecuteScript("SELECT * FROM \(table)")
            } throws: { ($0 as? PostgresError)?.sqlState == "55P03" }
            #expect(Date().timeIntervalSince(started) < 2)
        }
        // Free again once the lock is gone.
        #expect(try waiter.query(SQL.unsafe("SELECT count(*)::int AS n FROM \(table)"))[0].decode("n", as: Int.self) == 0)
    }

    /// A bound a few milliseconds off the one set (what a request waited for a worker) costs no
    /// SET; a second off, or a new lock bound, does.
    @Test func smallChangesKeepTheBoundAlreadySet() throws {
        let db = try Connection(url: try TestDatabase.url())
        db.bound(TimeBounds(statementMs: 15_000, lockMs: 3_000))
        #expect(try db.query("SHOW statement_timeout")[0].decode("statement_timeout", as: String.self) == "15s")
        db.bound(TimeBounds(statementMs: 14_990, lockMs: 3_000))
        #expect(try db.query("SHOW statement_timeout")[0].decode("statement_timeout", as: String.self) == "15s", "within the tolerance")
        db.bound(TimeBounds(statementMs: 5_000, lockMs: 3_000))
        #expect(try db.query("SHOW statement_timeout")[0].decode("statement_timeout", as: String.self) == "5s")
        db.bound(TimeBounds(statementMs: 5_000, lockMs: 1_000))
        #expect(try db.query("SHOW lock_timeout")[0].decode("lock_timeout", as: String.self) == "1s")
        #expect(TimeBounds(statementMs: 0, lockMs: 0).covers(TimeBounds(statementMs: 0, lockMs: 0)))
        #expect(!TimeBounds(statementMs: 0, lockMs: 0).covers(TimeBounds(statementMs: 500, lockMs: 0)))
    }
}
