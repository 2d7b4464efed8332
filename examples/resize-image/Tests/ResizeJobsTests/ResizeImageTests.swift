import Foundation
import Handlers
import JobQueue
import Logging
import Postgres
import ResizeJobs
import Testing

/// The team's kind runs through Conveyor's own process-batch: in process through the library's
/// router, and through the team's own local-host binary. Needs DATABASE_URL (scripts/test).
struct ResizeImageTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let processorKey = "example-processor-key-\(UUID().uuidString)"

    static func databaseURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run through scripts/test")
            throw ConfigurationError("DATABASE_URL is not set")
        }
        return url
    }

    static func call(_ router: Router, _ context: FunctionContext, _ method: String, _ path: String, key: String, body: String = "") -> (Int, JSONValue) {
        let response = router.handle(HTTPRequest(method: method, path: path, headers: ["x-api-key": key, "content-type": "application/json"],
                                                 body: Data(body.utf8)), context: context)
        return (response.status, (try? JSONValue.parse(response.body)) ?? .null)
    }

    @Test func theRegisteredKindRunsThroughProcessBatch() throws {
        let url = try Self.databaseURL()
        FunctionRegistry.register(ResizeImage())
        let manifest = try FunctionManifest.load(path: Self.directory.appendingPathComponent("functions.json").path, environment: [:])
        let router = try Router(manifest: manifest)
        var logger = Logger(label: "example")
        logger.logLevel = .critical
        let context = FunctionContext(configuration: Configuration(environment: ["DATABASE_URL": url, "CONVEYOR_PROCESSOR_KEY": Self.processorKey]),
                                      manifest: manifest, logger: logger)
        let db = try Connection(url: url)
        try ConveyorSchema.migrate(db)
        let key = try Organizations.create(name: "example \(UUID().uuidString)", connection: db).key

        let (status, enqueued) = Self.call(router, context, "POST", "/v1/jobs", key: key,
                                           body: #"{"kind": "resize-image", "payload": {"url": "https://img.example/cat.png", "width": 4000, "height": 3000, "maxSide": 400}}"#)
        #expect(status == 201, "\(enqueued)")
        let id = try #require(enqueued["id"]?.intValue)
        let bad = try #require(Self.call(router, context, "POST", "/v1/jobs", key: key,
                                         body: #"{"kind": "resize-image", "payload": {"url": "x", "width": 0, "height": 1, "maxSide": 1}}"#).1["id"]?.intValue)

        let (batchStatus, summary) = Self.call(router, context, "POST", "/v1/process-batch", key: Self.processorKey,
                                               body: #"{"queues": ["images"], "maxSeconds": 10}"#)
        #expect(batchStatus == 200, "\(summary)")
        let (_, job) = Self.call(router, context, "GET", "/v1/jobs/\(id)", key: key)
        #expect(job["state"]?.stringValue == "completed", "\(job)")
        #expect(job["result"] == (try JSONValue.parse(#"{"url": "https://img.example/cat.png?thumb=400", "width": 400, "height": 300}"#)))
        let (_, badJob) = Self.call(router, context, "GET", "/v1/jobs/\(bad)", key: key)
        #expect(badJob["state"]?.stringValue == "dead", "a JobFailure that is not retryable dead-letters at once")
    }

    /// The team's own local-host binary, built from this package, knows the kind.
    @Test func theTeamsLocalHostServesTheKind() throws {
        let url = try Self.databaseURL()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("resize-local-host")
        func run(_ arguments: [String], key: String? = nil) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            process.environment = ["DATABASE_URL": url, "CONVEYOR_PROCESSOR_KEY": Self.processorKey,
                                   "CONVEYOR_MANIFEST": Self.directory.appendingPathComponent("functions.json").path,
                                   "RESIZE_TENANT_KEY": key ?? ""]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let (created, key) = try run(["create-org", "example binary", "--quiet"])
        #expect(created == 0)
        // Keys never go on the command line: the tenant's key comes from the environment.
        let (enqueued, answer) = try run(["invoke", "enqueue", "--key-from-env", "RESIZE_TENANT_KEY", "--body",
                                          #"{"kind": "resize-image", "payload": {"url": "u", "width": 10, "height": 20, "maxSide": 5}}"#],
                                         key: key.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(enqueued == 0, "\(answer)")
        #expect(answer.contains("resize-image"))
    }
}
