import Foundation
import Postgres
import Testing

/// Restarting the server would break tests running in parallel, so "the server went away"
/// is simulated by terminating this connection's backend from another connection.
@Suite struct ReconnectTests {
    @Test func reconnectsAfterBackendDiedWhileIdle() throws {
        let db = try TestDatabase.connect("conveyor-reconnect")
        let admin = try TestDatabase.connect()
        let oldPID = db.backendPID
        try TestDatabase.terminate(oldPID, via: admin)

        let row = try db.query("SELECT 1 AS one, current_setting('TimeZone') AS tz, current_setting('application_name') AS app")[0]
        #expect(try row.decode("one", as: Int.self) == 1)
        #expect(try row.decode("tz", as: String.self) == "UTC")  // session setup re-ran
        #expect(try row.decode("app", as: String.self) == "conveyor-reconnect")
        #expect(db.backendPID != oldPID)
        #expect(db.isConnected)
    }

    @Test func inFlightFailureThrowsThenNextCallReconnects() throws {
        let db = try TestDatabase.connect()
        let url = try TestDatabase.url()
        let pid = db.backendPID
        let killer = BackgroundThread {
            let admin = try Connection(url: url)
            // Wait until the victim is inside pg_sleep, then terminate it.
            for _ in 0..<200 {
                let waiting = try admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(pid) AND query LIKE 'SELECT pg_sleep%' AND state = 'active'")
                if try waiting[0].decode("n", as: Int.self) == 1 { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            try TestDatabase.terminate(pid, via: admin)
        }
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT pg_sleep(20)") }
        try killer.join()
        #expect(error?.isConnectionFailure == true)
        #expect(error?.code == .connection)
        #expect(!db.isConnected)

        #expect(try db.query("SELECT 2 AS two")[0].decode("two", as: Int.self) == 2)
        #expect(db.backendPID != pid)
    }

    @Test func noSilentReconnectInsideTransaction() throws {
        let db = try TestDatabase.connect()
        let admin = try TestDatabase.connect()
        let table = TestDatabase.uniqueName("rtx")
        try db.execute("CREATE TABLE \(unsafe: table) (v int)")
        defer { _ = try? admin.execute("DROP TABLE IF EXISTS \(unsafe: table)") }

        let error = #expect(throws: PostgresError.self) {
            try db.transaction { tx in
                try tx.execute("INSERT INTO \(unsafe: table) VALUES (\(1))")
                try TestDatabase.terminate(tx.backendPID, via: admin)
                try tx.execute("INSERT INTO \(unsafe: table) VALUES (\(2))")
            }
        }
        #expect(error?.isConnectionFailure == true)
        // Nothing was half-applied on a new session, and the connection is usable again.
        #expect(try db.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 0)
    }

    @Test func manualBeginIsNotSilentlyReconnectedEither() throws {
        let db = try TestDatabase.connect()
        let admin = try TestDatabase.connect()
        try db.execute("BEGIN")
        try TestDatabase.terminate(db.backendPID, via: admin)
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT 1") }
        #expect(error?.isConnectionFailure == true)
        #expect(try db.query("SELECT 1 AS one")[0].decode("one", as: Int.self) == 1)
    }

    @Test func listenIsRestoredAfterReconnect() throws {
        let listener = try TestDatabase.connect()
        let sender = try TestDatabase.connect()
        let channel = TestDatabase.uniqueName("relisten")
        try listener.listen(channel)
        try TestDatabase.terminate(listener.backendPID, via: sender)

        let channels = try listener.query("SELECT pg_listening_channels() AS c").map { try $0.decode("c", as: String.self) }
        #expect(channels == [channel])
        try sender.notify(channel, payload: "still here")
        #expect(try listener.waitForNotifications(timeout: 5).map(\.payload) == ["still here"])
    }

    @Test func waitReportsDropThenRecovers() throws {
        let listener = try TestDatabase.connect()
        let sender = try TestDatabase.connect()
        let channel = TestDatabase.uniqueName("dropwait")
        try listener.listen(channel)
        let pid = listener.backendPID
        let url = try TestDatabase.url()
        let killer = BackgroundThread {
            Thread.sleep(forTimeInterval: 0.3)
            try TestDatabase.terminate(pid, via: Connection(url: url))
        }
        let error = #expect(throws: PostgresError.self) { try listener.waitForNotifications(timeout: 20) }
        try killer.join()
        #expect(error?.isConnectionFailure == true)

        // The next wait reconnects and listens again.
        #expect(try listener.waitForNotifications(timeout: 0.05).isEmpty)
        #expect(listener.backendPID != pid)
        try sender.notify(channel, payload: "back")
        #expect(try listener.waitForNotifications(timeout: 5).map(\.payload) == ["back"])
    }

    @Test func explicitReconnect() throws {
        let db = try TestDatabase.connect()
        let pid = db.backendPID
        try db.reconnect()
        #expect(db.backendPID != pid)
        #expect(try db.query("SELECT current_setting('DateStyle') AS ds")[0].decode("ds", as: String.self).hasPrefix("ISO"))
        #expect(throws: PostgresError.self) { try db.transaction { tx in try tx.reconnect() } }
    }
}
