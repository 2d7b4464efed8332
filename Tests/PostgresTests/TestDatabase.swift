import Foundation
import Postgres
import Synchronization
import Testing

/// Access to the cluster started by `scripts/with-postgres`.
enum TestDatabase {
    /// DATABASE_URL, or a test failure that says how to provide it: tests must never pass
    /// silently without a database.
    static func url() throws -> String {
        let url = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
        try #require(
            !url.isEmpty,
            "DATABASE_URL is not set. Run the tests against a throwaway cluster: scripts/with-postgres swift test")
        return url
    }

    /// A connection whose schema (`conveyor`, the search path of every connection) exists, so
    /// the tables tests create have somewhere to go without a migration.
    static func connect(_ name: String = "conveyor-tests") throws -> Connection {
        let connection = try Connection(url: url(), applicationName: name)
        try ensureSchema(on: connection)
        return connection
    }

    /// CREATE SCHEMA IF NOT EXISTS for the connection's schema; two tests racing to create it
    /// may see a unique violation, which means it exists.
    static func ensureSchema(on connection: Connection) throws {
        do {
            try connection.unsafeExecuteScript("CREATE SCHEMA IF NOT EXISTS \(connection.schema.name)")
        } catch let error as PostgresError where error.sqlState == "23505" || error.sqlState == "42P06" {
        }
    }

    /// A name no other test (or earlier run) uses, safe as an unquoted identifier.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
    }

    /// A brand-new database, dropped after `body`. For tests that touch cluster-wide
    /// state in the default database, such as the conveyor_migrations table.
    static func withFreshDatabase<T>(_ body: (String) throws -> T) throws -> T {
        let admin = try connect()
        let name = uniqueName("conveyor_test")
        try admin.execute("CREATE DATABASE \(unsafe: name)")
        defer { _ = try? admin.execute("DROP DATABASE IF EXISTS \(unsafe: name) WITH (FORCE)") }
        var components = try #require(URLComponents(string: try url()))
        components.path = "/\(name)"
        let fresh = try #require(components.string)
        try ensureSchema(on: Connection(url: fresh))
        return try body(fresh)
    }

    /// Terminates `pid` from `other` and waits until the backend is gone.
    static func terminate(_ pid: Int32, via other: Connection) throws {
        let result = try other.query("SELECT pg_terminate_backend(\(pid)) AS ok")
        #expect(try result[0].decode("ok", as: Bool.self))
        for _ in 0..<200 {
            let alive = try other.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = \(pid)")
            if try alive[0].decode("n", as: Int.self) == 0 { return }
            Thread.sleep(forTimeInterval: 0.025)
        }
        Issue.record("backend \(pid) did not exit")
    }
}

/// Runs `body` on its own thread (blocking work must stay off the cooperative pool);
/// `join()` waits and returns its result or rethrows its error.
final class BackgroundThread<T: Sendable>: Sendable {
    private let outcome = Mutex<Result<T, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            let result = Result { try body() }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.start()
    }

    func join() throws -> T {
        done.wait()
        done.signal()  // let later joins through too
        return try outcome.withLock { $0! }.get()
    }
}
