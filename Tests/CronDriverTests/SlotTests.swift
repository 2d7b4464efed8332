import Foundation
import Handlers
import JobQueue
import Logging
import Postgres
import Testing

/// Periodic jobs: two `cron-driver run` processes fire the same crontab entry for the same
/// minute. Each sends an enqueue whose idempotencyKey carries `{slot}`; replaying both
/// requests through the real router against the real database leaves exactly one job.
struct SlotTests {
    @Test func twoDriversFiringOneSlotCreateOneJob() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run through scripts/test")
        let db = try Connection(url: url)
        try ConveyorSchema.migrate(db)
        let tenant = try Organizations.create(name: "slot test", connection: db)
        let queue = "slot-\(UUID().uuidString.prefix(8).lowercased())"

        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/jobs=201:{"id":1}"#])
        defer { recorder.stop() }
        let crontab = dir.appendingPathComponent("crontab")
        try """
            CONVEYOR_URL=\(recorder.url)
            */5 * * * * cron-driver once enqueue '{"kind":"noop","queue":"\(queue)","idempotencyKey":"tick-{slot}"}'

            """.write(to: crontab, atomically: true, encoding: .utf8)
        let env = DriverHarness.environment(["CONVEYOR_PROCESSOR_KEY": "slot-processor-key", "CONVEYOR_TENANT_KEY": tenant.key])
        let drivers = try (0..<2).map { n in
            try Child(DriverHarness.binary, ["run", "--crontab", crontab.path, "--fire-minute", "2026-11-22T20:35Z"],
                      environment: env, directory: dir, label: "driver-\(n)")
        }
        defer { drivers.forEach { $0.stop() } }

        #expect(await DriverHarness.eventually(timeout: 30) { recorder.requests.count == 2 }, "\(drivers.map(\.stderr))")
        let requests = recorder.requests
        try #require(requests.count == 2)
        for request in requests {
            #expect(request.method == "POST" && request.path == "/v1/jobs")
            #expect(request.headers["x-api-key"] == tenant.key, "enqueue goes with the tenant key")
            #expect(request.body == #"{"kind":"noop","queue":"\#(queue)","idempotencyKey":"tick-2026-11-22T20:35Z"}"#)
        }
        for driver in drivers { #expect(!driver.stderr.contains(tenant.key)) }

        // Both firings through the real router: one job, the second answered as its duplicate.
        let manifest = try FunctionManifest.load(path: DriverHarness.repoRoot.appendingPathComponent("functions.json").path)
        let router = try Router(manifest: manifest)
        var logger = Logger(label: "slot-test")
        logger.logLevel = .critical
        let context = FunctionContext(configuration: Configuration(environment: ["DATABASE_URL": url]), manifest: manifest, logger: logger)
        let answers = requests.map { request in
            router.handle(HTTPRequest(method: request.method, path: request.path,
                                      headers: ["x-api-key": request.headers["x-api-key"] ?? "", "content-type": "application/json"],
                                      body: Data(request.body.utf8)), context: context)
        }
        #expect(answers.map(\.status) == [201, 200])
        let ids = answers.compactMap { try? JSONValue.parse($0.body)["id"]?.intValue }
        #expect(ids.count == 2 && ids[0] == ids[1])
        let stored = try db.query("SELECT count(*)::int AS n, min(idempotency_key) AS k FROM conveyor_jobs WHERE queue = \(queue)")[0]
        #expect(try stored.decode("n", as: Int.self) == 1)
        #expect(try stored.decode("k", as: String.self) == "tick-2026-11-22T20:35Z")
    }

    @Test func aTenantFunctionWithoutATenantKeyStopsTheDriver() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let crontab = dir.appendingPathComponent("crontab")
        try "CONVEYOR_URL=http://127.0.0.1:9\n* * * * * cron-driver once enqueue '{\"kind\":\"noop\"}'\n"
            .write(to: crontab, atomically: true, encoding: .utf8)
        let driver = try Child(DriverHarness.binary, ["run", "--crontab", crontab.path],
                               environment: DriverHarness.environment(["CONVEYOR_PROCESSOR_KEY": "k"]), directory: dir, label: "run")
        defer { driver.stop() }
        #expect(await driver.wait(timeout: 30) == 2)
        #expect(driver.stderr.contains("enqueue needs an organization's key: set CONVEYOR_TENANT_KEY"), "\(driver.stderr)")
    }
}
