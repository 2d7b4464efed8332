import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// An application enqueues through `conveyor.enqueue` in its own transactions, from psycopg,
/// as a member of `conveyor_enqueuer`, with `cron-driver watch` running through nginx.
struct SQLEnqueueEndToEndTests {
    @Test func aJobEnqueuedInTheApplicationsTransactionExistsExactlyWhenItCommits() throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let admin = try Connection(url: url, applicationName: "sql-enqueue-e2e")
        try ConveyorSchema.migrate(admin, kinds: try FunctionManifest.load(path: Stack.repoRoot.appendingPathComponent("functions.json").path).jobKinds)
        let org = try Organizations.create(name: "sql enqueue e2e", connection: admin)
        let queue = "sqlq-\(UUID().uuidString.prefix(10).lowercased())"

        // The application's roles and table: one enqueuer, one stranger with no grants at all.
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let app = "app_\(suffix)", stranger = "stranger_\(suffix)", orders = "orders_\(suffix)"
        try admin.unsafeExecuteScript("""
            CREATE ROLE \(app) LOGIN IN ROLE conveyor_enqueuer, conveyor_reader;
            CREATE ROLE \(stranger) LOGIN;
            CREATE TABLE public.\(orders) (id serial PRIMARY KEY, note text);
            GRANT USAGE ON SCHEMA public TO \(app);
            GRANT INSERT ON public.\(orders) TO \(app);
            GRANT USAGE ON SEQUENCE public.\(orders)_id_seq TO \(app);
            """)
        defer {
            try? admin.unsafeExecuteScript("""
                DROP TABLE public.\(orders); DROP OWNED BY \(app), \(stranger); DROP ROLE \(app); DROP ROLE \(stranger);
                """)
        }
        // The application's own connection: straight to PostgreSQL, even when Conveyor's goes
        // through a pooler (whose auth file knows only Conveyor's role).
        let direct = ProcessInfo.processInfo.environment["CONVEYOR_LISTEN_DATABASE_URL"] ?? url
        func dsn(_ user: String) throws -> String {
            var components = try #require(URLComponents(string: direct))
            components.user = user
            return try #require(components.string)
        }

        let stack = try Stack(Stack.Options(workers: 2, watch: true, watchQueues: [queue]))
        usleep(500_000)  // let the watcher connect and LISTEN
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sql-enqueue-\(suffix).json")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try ChildProcess.run(try ChildProcess.testPython(),
                                       [Stack.repoRoot.appendingPathComponent("Tests/Fixtures/sql_enqueue_app.py").path,
                                        try dsn(app), try dsn(stranger), String(org.id), queue, orders],
                                       environment: ProcessInfo.processInfo.environment, outputFile: output, standardErrorToOutput: false)
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        try #require(run.status == 0, "\(text)")
        let answer = try JSONValue.parse(text)

        // Rolled back: no job, and the order is gone with it.
        let rolledBack = try #require(answer["rolledBack"]?.intValue)
        #expect(try admin.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE id = \(rolledBack)")[0].decode("n", as: Int.self) == 0)
        #expect(try admin.query("SELECT count(*)::int AS n FROM public.\(unsafe: orders)")[0].decode("n", as: Int.self) == 1)

        // Committed: the watcher runs it, and not before the commit (the transaction stayed open
        // half a second after the enqueue; the sleep job's result says when its code started, on CLOCK_MONOTONIC).
        let committed = try #require(answer["committed"]?.intValue)
        var state = ""
        let until = Date().addingTimeInterval(20)
        while Date() < until && state != "completed" {
            state = try admin.query("SELECT state FROM job_results WHERE id = \(committed)")[0].decode("state")
            if state != "completed" { usleep(10_000) }
        }
        #expect(state == "completed", "\(stack.log("cron-driver.log"))")
        let result = try JSONValue.parse(try admin.query("SELECT result::text AS r FROM job_results WHERE id = \(committed)")[0].decode("r", as: String.self))
        let started = try #require(result["startedNs"]?.intValue)
        let beforeCommit = try #require(answer["beforeCommitNs"]?.intValue)
        #expect(started > beforeCommit, "the job started before its transaction committed")
        if let committedAt = answer["committedAtNs"]?.intValue {
            print("SQL enqueue → job start after commit: \(Double(started - committedAt) / 1e6) ms (bench/http measures this properly)")
        }

        #expect(answer["unknownKind"]?["sqlstate"] == .string("22023"))
        #expect(answer["unknownKind"]?["column"] == .string("kind"))
        #expect(answer["appReadsJobs"] == .string("42501"))
        #expect(answer["stranger"] == .string("42501"))
        #expect(answer["strangerBatch"] == .string("42501"))
        #expect(answer["strangerView"] == .string("42501"))
        // The batch variant stored both jobs, and the reader role sees them in the view.
        guard case .array(let batch)? = answer["batch"] else { Issue.record("no batch ids: \(answer)"); return }
        #expect(batch.count == 2)
        #expect(answer["viewState"] == .string("available"))
        #expect(try admin.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE org_id = \(org.id)")[0].decode("n", as: Int.self) == 3)
    }
}
