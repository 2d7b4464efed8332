import Foundation
import Handlers
import JobQueue
import Postgres
import TestSupport
import Testing

/// The dashboard in headless Chromium, through nginx and fcgi-host: log in, read the numbers,
/// retry a dead job. Driven over the DevTools protocol by Tests/Fixtures/dashboard_browser.py;
/// the screenshot is kept in .build/artifacts/dashboard.png.
struct DashboardBrowserTests {
    /// The Python with Tests/requirements.txt installed (websocket-client).
    static let python = Result { try TestPython.path() }

    /// Runs the browser script; its stdout is one JSON object. Killed after `timeout` seconds.
    func browse(_ stack: Stack, queue: String, deadId: Int64, schedule: String, screenshot: URL, timeout: Double = 120) throws -> JSONValue {
        try Self.drive("dashboard_browser.py", ["--url", stack.baseURL, "--queue", queue, "--dead-id", String(deadId), "--schedule", schedule,
                                                "--screenshot", screenshot.path],
                       stack: stack, timeout: timeout)
    }

    /// Runs a browser script of Tests/Fixtures with the admin key in its environment.
    static func drive(_ script: String, _ arguments: [String], stack: Stack, timeout: Double = 120) throws -> JSONValue {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.python.get())
        process.arguments = [Stack.repoRoot.appendingPathComponent("Tests/Fixtures/\(script)").path] + arguments
        var env = ProcessInfo.processInfo.environment
        env["DASHBOARD_ADMIN_KEY"] = Stack.adminKey
        process.environment = env
        let out = stack.dir.appendingPathComponent("\(script).out"), err = stack.dir.appendingPathComponent("\(script).err")
        try #require(FileManager.default.createFile(atPath: out.path, contents: nil))
        try #require(FileManager.default.createFile(atPath: err.path, contents: nil))
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            // The script kills its own browser on the way out; SIGTERM lets it.
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        let said = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw ConfigurationError("the browser script failed (\(process.terminationStatus)): \(said)\n\(stack.log("fcgi-host.log"))")
        }
        return try JSONValue.parse(Data(contentsOf: out))
    }

    @Test func loginShowsTheDatabasesNumbersAndRetriesADeadJob() throws {
        // A database of its own: the page lists the newest 20 waiting jobs of every org, and on
        // the shared cluster other suites' newer jobs could push the retried one off the list.
        var options = Stack.Options()
        options.ownDatabase = true
        let stack = try Stack(options)
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        for _ in 0..<3 {
            #expect(try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key).status == 201)
        }
        let dead = try #require(try web.call("POST", "/v1/jobs", body: #"{"kind":"fail","queue":"\#(tenant.queue)","payload":{"permanent":true,"message":"smtp said no"}}"#,
                                              key: tenant.key).json["id"]?.intValue)
        #expect(try web.call("POST", "/v1/process-batch", body: #"{"queues":["\#(tenant.queue)"]}"#, key: Stack.processorKey).json["dead"] == 1)
        #expect(try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)","delaySeconds":3600}"#, key: tenant.key).status == 201)

        let artifacts = Stack.repoRoot.appendingPathComponent(".build/artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("dashboard.png")
        let plan = try web.call("PUT", "/v1/schedules/nightly", body: #"{"cron":"30 2 * * *","timeZone":"America/New_York","job":{"kind":"noop","queue":"\#(tenant.queue)"}}"#,
                                key: tenant.key)
        #expect(plan.status == 201)
        let orgId: Int64 = try Connection(url: stack.databaseURL).query("SELECT org_id FROM conveyor_schedules WHERE name = 'nightly'")[0].decode("org_id")
        let seen = try browse(stack, queue: tenant.queue, deadId: dead, schedule: "\(orgId)/nightly", screenshot: screenshot)

        let db = try Connection(url: stack.databaseURL)
        func count(_ condition: String) throws -> Int64 {
            try db.query("SELECT count(*)::bigint AS n FROM conveyor_jobs WHERE queue = \(tenant.queue) AND \(unsafe: condition)")[0].decode("n")
        }
        let expected: [String: Int64] = [
            "waiting": try count("(state = 'available' OR (state = 'scheduled' AND run_at <= now())) AND id <> \(dead)"),
            "delayed": try count("state = 'scheduled' AND run_at > now()"),
            "active": try count("state = 'running'"), "completed": try count("state = 'completed'"),
            "dead": 1, "cancelled": try count("state = 'cancelled'"),
        ]
        for (state, n) in expected {
            #expect(seen["counts"]?[state]?.intValue == n, "\(state): the page showed \(seen["counts"]?[state] ?? .null), the database has \(n)")
        }
        #expect(expected["completed"] == 3 && expected["delayed"] == 1)
        // The schedule's row shows its expression, zone and next run as the database has them.
        let nextAt: Date = try db.query("SELECT next_at FROM conveyor_schedules WHERE name = 'nightly'")[0].decode("next_at")
        #expect(seen["schedule"]?["next"]?.stringValue.flatMap(Timestamp.parse) == nextAt, "\(seen["schedule"] ?? .null)")
        guard case .array(let cells)? = seen["schedule"]?["cells"] else { Issue.record("no schedule row: \(seen)"); return }
        #expect(cells.compactMap(\.stringValue).prefix(4) == [String(orgId), "nightly", "30 2 * * *", "America/New_York"])
        // After Retry the page lists the job as waiting, and so does the database.
        #expect(seen["retriedShownAs"] == "available")
        #expect(seen["countsAfterRetry"]?["dead"] == 0 && seen["countsAfterRetry"]?["waiting"] == 1)
        #expect(try db.query("SELECT state::text AS s FROM conveyor_jobs WHERE id = \(dead)")[0].decode("s", as: String.self) == "available")
        // The session is an HttpOnly, SameSite=Strict cookie; the key is in no URL and no page script can read it.
        #expect(seen["cookie"]?["httpOnly"] == true && seen["cookie"]?["sameSite"] == "Strict" && seen["cookie"]?["holdsKey"] == false)
        #expect(seen["url"]?.stringValue?.contains(Stack.adminKey) == false)
        #expect(seen["documentCookie"] == "")
        #expect(seen["pageHoldsKey"] == false)
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000)
    }

    /// A page on another port of the same host is same-site, so the SameSite=Strict cookie goes
    /// with its requests: the cross-site POSTs must reach fcgi-host and be refused, and nothing
    /// may change. Counted from the database and from the host's own log lines.
    @Test func aPageOnAnotherPortCannotUseTheOperatorsSession() throws {
        var options = Stack.Options()
        options.ownDatabase = true
        options.environment = ["CONVEYOR_LOG_FORMAT": "json", "CONVEYOR_LOG_LEVEL": "debug"]
        let stack = try Stack(options)
        defer { stack.stop() }
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        let dead = try #require(try web.call("POST", "/v1/jobs", body: #"{"kind":"fail","queue":"\#(tenant.queue)","payload":{"permanent":true}}"#,
                                             key: tenant.key).json["id"]?.intValue)
        #expect(try web.call("POST", "/v1/process-batch", body: #"{"queues":["\#(tenant.queue)"]}"#, key: Stack.processorKey).json["dead"] == 1)
        let db = try Connection(url: stack.databaseURL)
        func snapshot() throws -> String {
            try db.query("SELECT string_agg(id || ':' || state || ':' || attempt, ',' ORDER BY id) AS s FROM conveyor_jobs")[0].decode("s")
        }
        let before = try snapshot()

        let seen = try Self.drive("csrf_browser.py", ["--url", stack.baseURL, "--attacker-port", String(try Stack.freePort())], stack: stack)
        #expect(seen["signedIn"] == .bool(true))
        #expect(seen["attackFinished"] == .bool(true))
        #expect(try snapshot() == before, "nothing changed")
        #expect(try db.query("SELECT state::text AS s FROM conveyor_jobs WHERE id = \(dead)")[0].decode("s", as: String.self) == "dead")

        let lines = stack.log("fcgi-host.log").split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
            .filter { $0["message"] == "request" }
        func statuses(_ function: String) -> [String] { lines.filter { $0["function"]?.stringValue == function }.compactMap { $0["status"]?.stringValue } }
        // The no-cors fetch and the form reached the host with the cookie and were refused.
        #expect(statuses("retry-dead").count >= 2, "\(statuses("retry-dead"))")
        #expect(statuses("retry-dead").allSatisfy { $0 == "403" }, "\(statuses("retry-dead"))")
        #expect(statuses("purge-jobs") == ["403"])
    }
}
