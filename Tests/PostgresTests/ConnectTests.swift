import Foundation
import Postgres
import Testing

/// DATABASE_URL may be a URI or a key=value conninfo string, as libpq takes either.
struct ConnectTests {
    @Test func conninfoWorksLikeAURI() throws {
        let uri = try #require(URLComponents(string: try TestDatabase.url()))
        let conninfo = "host=\(uri.host ?? "127.0.0.1") port=\(uri.port ?? 5432) user=\(uri.user ?? "postgres") dbname=postgres"
        let db = try Connection(url: conninfo, applicationName: "conninfo-test")
        #expect(try db.query("SELECT current_setting('application_name') AS a")[0].decode("a", as: String.self) == "conninfo-test")
        // Sessions always run in UTC with ISO dates, whatever the server's defaults.
        #expect(try db.query("SELECT current_setting('TimeZone') AS tz")[0].decode("tz", as: String.self) == "UTC")
    }

    @Test(arguments: ["host=127.0.0.1 port=1 connect_timeout=2", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "not a conninfo"])
    func unreachableOrMalformedIsAConnectionError(url: String) {
        do {
            _ = try Connection(url: url)
            Issue.record("connected to \(url)")
        } catch let error as PostgresError {
            #expect(error.code == .connection)
            #expect(error.isConnectionFailure)
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
