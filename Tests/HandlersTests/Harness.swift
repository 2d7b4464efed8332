import Foundation
import Handlers
import JobQueue
import Logging
import Postgres
import Testing

/// Calls functions through the router, as the hosts do, against the test cluster.
/// Each harness has its own org and queue, so tests run in parallel.
final class Harness {
    static let processorKey = "test-processor-key-\(UUID().uuidString)"
    static let adminKey = "test-admin-key-\(UUID().uuidString)"
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func manifest() throws -> FunctionManifest {
        try FunctionManifest.load(path: repoRoot.appendingPathComponent("functions.json").path)
    }

    /// The manifest with the given kinds' jobs in `queue`: kinds keep their jobs in their own
    /// queue, so a test that runs them on the shared cluster gives them a queue of its own.
    static func manifest(pinning kinds: [String], to queue: String) throws -> FunctionManifest {
        var manifest = try manifest()
        for i in manifest.functions.indices where kinds.contains(manifest.functions[i].name) {
            manifest.functions[i].job?.queue = queue
        }
        return manifest
    }

    static func environment(databaseURL: String? = ProcessInfo.processInfo.environment["DATABASE_URL"]) -> [String: String] {
        // The shared cluster holds every suite's queues: /metrics must not fold a test's own.
        var env = ["CONVEYOR_PROCESSOR_KEY": processorKey, "CONVEYOR_ADMIN_KEY": adminKey, "CONVEYOR_METRICS_MAX_QUEUES": "1000000"]
        env["DATABASE_URL"] = databaseURL
        return env
    }

    let router: Router
    let context: FunctionContext
    let db: Connection
    let orgId: Int64
    let key: String
    let queue: String

    /// A queue name of a test's own.
    static func newQueue() -> String { "h-\(UUID().uuidString.prefix(12).lowercased())" }

    /// The repository's functions.json with `entries` (JSON objects) added, read with
    /// `environment` for the targets' secrets.
    static func manifest(adding entries: [String], environment: [String: String]) throws -> FunctionManifest {
        let text = try String(contentsOf: repoRoot.appendingPathComponent("functions.json"), encoding: .utf8)
        guard case .object(var top) = try JSONValue.parse(text), case .array(var functions)? = top["functions"] else {
            throw ConfigurationError("functions.json has no functions")
        }
        functions += try entries.map { try JSONValue.parse($0) }
        top["functions"] = .array(functions)
        return try FunctionManifest.decode(Data(JSONValue.object(top).jsonText.utf8), environment: environment)
    }

    init(manifest: FunctionManifest? = nil, queue: String = Harness.newQueue(), capture: LogSecrecyTests.Capture? = nil,
         environment extra: [String: String] = [:]) throws {
        self.queue = queue
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through scripts/test")
            throw ConfigurationError("DATABASE_URL is not set")
        }
        db = try Connection(url: url, applicationName: "conveyor-handler-tests")
        try ConveyorSchema.migrate(db)
        let manifest = try manifest ?? Self.manifest()
        router = try Router(manifest: manifest)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        if let capture { logger = Logger(label: "capture") { _ in LogSecrecyTests.CaptureHandler(capture: capture) } }
        context = FunctionContext(configuration: Configuration(environment: Self.environment().merging(extra) { $1 }), manifest: manifest, logger: logger)
        let org = try Organizations.create(name: "test org \(queue)", connection: db)
        orgId = org.id
        key = org.key
    }

    /// Sends a request through the router.
    func call(_ method: String, _ path: String, body: String? = nil, key: String?? = nil, query: [String: String] = [:],
              headers: [String: String] = ["content-type": "application/json"]) -> Answer {
        var h = headers
        if let k = key ?? self.key { h["x-api-key"] = k }
        let response = router.handle(HTTPRequest(method: method, path: path, query: query, headers: h, body: Data((body ?? "").utf8)), context: context)
        return Answer(response: response)
    }

    func enqueue(_ body: String) -> Answer { call("POST", "/v1/jobs", body: body) }

    func process(maxJobs: Int = 100, maxSeconds: Double = 50) -> Answer {
        call("POST", "/v1/process-batch", body: #"{"queues":["\#(queue)"],"maxJobs":\#(maxJobs),"maxSeconds":\#(maxSeconds)}"#, key: Self.processorKey)
    }

    func status(_ id: Int64) -> Answer { call("GET", "/v1/jobs/\(id)") }

    /// Rows this org has in the jobs table: bad input must leave it unchanged.
    func jobCount() throws -> Int {
        try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE org_id = \(orgId)")[0].decode("n")
    }
}

/// A response with its JSON parsed.
struct Answer {
    let response: HTTPResponse
    var status: Int { response.status }
    var json: JSONValue { (try? JSONValue.parse(response.body)) ?? .null }
    var errorCode: String? { json["error"]?["code"]?.stringValue }
    var id: Int64? { json["id"]?.intValue }
}
