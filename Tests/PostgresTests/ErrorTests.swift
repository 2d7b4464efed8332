import Foundation
import Postgres
import Testing

@Suite struct ErrorTests {
    @Test func uniqueViolation() throws {
        let db = try TestDatabase.connect()
        let table = TestDatabase.uniqueName("uniq")
        try db.execute("CREATE TEMP TABLE \(unsafe: table) (id int CONSTRAINT \(unsafe: table)_pk PRIMARY KEY)")
        try db.execute("INSERT INTO \(unsafe: table) VALUES (\(1))")
        let error = #expect(throws: PostgresError.self) { try db.execute("INSERT INTO \(unsafe: table) VALUES (\(1))") }
        #expect(error?.code == .query)
        #expect(error?.sqlState == "23505")
        #expect(error?.isUniqueViolation == true)
        #expect(error?.isConnectionFailure == false)
        #expect(error?.constraint == "\(table)_pk")
        #expect(error?.message.hasPrefix("duplicate key value violates unique constraint") == true)
        #expect(error?.detail == "Key (id)=(1) already exists.")
        #expect(error?.description.contains("23505") == true)
        // The connection carries on normally.
        #expect(try db.query("SELECT count(*) AS n FROM \(unsafe: table)")[0].decode("n", as: Int.self) == 1)
    }

    @Test func syntaxError() throws {
        let db = try TestDatabase.connect()
        let error = #expect(throws: PostgresError.self) { try db.query("SELEC 1") }
        #expect(error?.sqlState == "42601")
        #expect(error?.message == "syntax error at or near \"SELEC\"")
        #expect(error?.isUniqueViolation == false)
    }

    @Test func divisionByZero() throws {
        let db = try TestDatabase.connect()
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT \(1) / \(0)::int AS v") }
        #expect(error?.sqlState == "22012")
        #expect(error?.message == "division by zero")
    }

    @Test func connectionFailureHasLibpqMessageWithoutPassword() throws {
        // Port 1 on localhost: refused at once, nothing listens there.
        let error = #expect(throws: PostgresError.self) {
            try Connection(url: "postgresql://user:s3cretpw@127.0.0.1:1/db?connect_timeout=2")
        }
        #expect(error?.code == .connection)
        #expect(error?.isConnectionFailure == true)
        #expect(error?.message.isEmpty == false)
        #expect(error?.description.contains("s3cretpw") == false)
    }

    @Test func fromEnvironmentWorks() throws {
        _ = try TestDatabase.url()
        let db = try Connection.fromEnvironment(applicationName: "conveyor-env-test")
        let row = try db.query("SELECT current_setting('application_name') AS app, current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds")[0]
        #expect(try row.decode("app", as: String.self) == "conveyor-env-test")
        #expect(try row.decode("tz", as: String.self) == "UTC")
        #expect(try row.decode("ds", as: String.self).hasPrefix("ISO"))
        #expect(db.isConnected)
        #expect(db.backendPID > 0)
    }

    @Test func classification() {
        #expect(PostgresError(.query, message: "x", sqlState: "08006").isConnectionFailure)
        #expect(PostgresError(.query, message: "x", sqlState: "57P01").isConnectionFailure)
        #expect(PostgresError(.query, message: "x", sqlState: "57P03").isConnectionFailure)
        #expect(!PostgresError(.query, message: "x", sqlState: "57014").isConnectionFailure)
        #expect(PostgresError(.connection, message: " lost \n").message == "lost")
    }
}
