import Foundation
import Handlers
import JobQueue
import Logging
import Postgres

// Queue benchmark: release build, real PostgreSQL (DATABASE_URL), everything compared in one run.
// Prints jobs/s for batch enqueue, a single drain, a 4-way drain, and pgbench's claim+complete
// ceiling on the same cluster, then a drain across 10 queues without and with limits set (so
// high they never bind: what is measured is the cost of checking them), and the ratios.
// Run it through bench/queue/run.

let env = ProcessInfo.processInfo.environment
guard let url = env["DATABASE_URL"] else {
    FileHandle.standardError.write(Data("queue-bench: DATABASE_URL is not set (use bench/queue/run)\n".utf8))
    exit(2)
}
let total = Int(env["BENCH_JOBS"] ?? "") ?? 50_000
let pgbin = env["PGBIN"] ?? "/usr/lib/postgresql/15/bin"
let processorKey = "bench-processor-key"
let manifest = try FunctionManifest.load(path: env["CONVEYOR_MANIFEST"] ?? "functions.json")
let router = try Router(manifest: manifest)
var quiet = Logger(label: "bench")
quiet.logLevel = .critical
let configuration = Configuration(environment: ["DATABASE_URL": url, "CONVEYOR_PROCESSOR_KEY": processorKey])

@Sendable func context() -> FunctionContext { FunctionContext(configuration: configuration, manifest: manifest, logger: quiet) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
@Sendable func call(_ ctx: FunctionContext, _ method: String, _ path: String, key: String, body: String) -> HTTPResponse {
    router.handle(HTTPRequest(method: method, path: path, headers: ["x-api-key": key, "content-type": "application/json"], body: Data(body.utf8)), context: ctx)
}
@Sendable func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("queue-bench: \(message)\n".utf8))
    exit(1)
}

let admin = try Connection(url: url)
try ConveyorSchema.migrate(admin)
let tenantKey = try Organizations.create(name: "bench", connection: admin).key

/// Every phase starts from the same table state: empty, vacuumed and analyzed.
func reset() throws {
    try admin.execute("DELETE FROM conveyor_jobs WHERE queue LIKE 'bench-%'")
    try admin.execute("VACUUM ANALYZE conveyor_jobs")
}

func remaining(_ queues: [String]) throws -> Int {
    try admin.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = ANY(\(queues)::text[]) AND state <> 'completed'")[0].decode("n")
}
func remaining(_ queue: String) throws -> Int { try remaining([queue]) }

/// Enqueues `total` noop jobs in batches of 1000 through the enqueue function, the batches
/// dealt round-robin across `queues`.
func enqueueAll(_ queues: [String]) -> Double {
    let ctx = context()
    let bodies = queues.map { queue -> String in
        let job = #"{"kind":"noop","queue":"\#(queue)","payload":{"to":"user@example.com","n":42}}"#
        return #"{"jobs":["# + Array(repeating: job, count: 1000).joined(separator: ",") + "]}"
    }
    let start = now()
    for n in 0..<(total / 1000) {
        let r = call(ctx, "POST", "/v1/jobs", key: tenantKey, body: bodies[n % bodies.count])
        if r.status != 201 { fail("enqueue answered \(r.status): \(String(decoding: r.body, as: UTF8.self))") }
    }
    return Double(total) / (now() - start)
}
func enqueueAll(_ queue: String) -> Double { enqueueAll([queue]) }

/// Sets (or clears) limits on `queues` that are far above what the drain can reach.
func setLimits(_ queues: [String], on: Bool) throws {
    let store = PostgresJobStore(connection: admin)
    let patch = try JSONValue.parse(on ? #"{"concurrency":1000,"rateLimit":{"limit":1000000,"periodSeconds":60}}"#
                                       : #"{"concurrency":null,"rateLimit":null}"#)
    for queue in queues { try store.updateQueue(named: queue, replacing: false, with: patch) }
}

/// Drains `queue` with `workers` concurrent process-batch invocations (maxJobs 1000), each on its own connection.
func drain(_ queue: String, workers: Int) throws -> Double { try drain([queue], workers: workers) }

/// Drains `queues` together: each process-batch call names them all and shares its claim among them.
func drain(_ queues: [String], workers: Int) throws -> Double {
    let list = queues.map { "\"\($0)\"" }.joined(separator: ",")
    let body = #"{"queues":[\#(list)],"maxJobs":1000,"maxSeconds":50}"#
    let group = DispatchGroup()
    let start = now()
    for _ in 0..<workers {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            let ctx = context()
            while true {
                let r = call(ctx, "POST", "/v1/process-batch", key: processorKey, body: body)
                if r.status != 200 { fail("process-batch answered \(r.status)") }
                guard let summary = try? JSONValue.parse(r.body), let claimed = summary["claimed"]?.intValue else { fail("bad summary") }
                if claimed == 0 { break }
            }
        }
    }
    group.wait()
    let rate = Double(total) / (now() - start)
    let left = try remaining(queues)
    if left != 0 { fail("\(left) jobs were not completed in \(queues.joined(separator: ", "))") }
    return rate
}

/// pgbench with one statement claiming 100 jobs and one completing them, on the same table.
func pgbenchCeiling(_ queue: String, clients: Int) throws -> Double {
    let script = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-claim-\(clients).sql")
    try """
        WITH due AS (SELECT id FROM conveyor_jobs WHERE state = 'available' AND run_at <= now() AND queue = '\(queue)' ORDER BY priority DESC, run_at, id LIMIT 100 FOR UPDATE SKIP LOCKED) UPDATE conveyor_jobs j SET state = 'running', attempt = j.attempt + 1, locked_by = ('00000000-0000-0000-0000-' || lpad(:client_id::text, 12, '0'))::uuid, locked_until = now() + interval '80 seconds', started_at = now() FROM due WHERE j.id = due.id;
        UPDATE conveyor_jobs SET state = 'completed', result = payload, finished_at = now(), duration_ms = 0, locked_by = NULL, locked_until = NULL WHERE state = 'running' AND locked_by = ('00000000-0000-0000-0000-' || lpad(:client_id::text, 12, '0'))::uuid;

        """.write(to: script, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(pgbin)/pgbench")
    p.arguments = ["-n", "-f", script.path, "-c", String(clients), "-j", String(clients), "-t", String(total / 100 / clients), url]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0,
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
          let tps = Double(line.dropFirst(6).prefix { $0 != " " }) else { fail("pgbench failed: \(text)") }
    let left = try remaining(queue)
    if left != 0 { fail("pgbench left \(left) jobs in \(queue)") }
    return tps * 100
}

let sync = try admin.query("SHOW synchronous_commit")[0].decode(0, as: String.self)
print("queue-bench: \(total) noop jobs, synchronous_commit=\(sync), \(ProcessInfo.processInfo.activeProcessorCount) cores")

try reset()
let enqueueRate = enqueueAll("bench-1")
print(String(format: "enqueue (batches of 1000, in process)      %9.0f jobs/s", enqueueRate))
let drainRate = try drain("bench-1", workers: 1)
print(String(format: "drain, 1 invocation (maxJobs 1000)          %9.0f jobs/s", drainRate))
try reset()
_ = enqueueAll("bench-4")
let drain4Rate = try drain("bench-4", workers: 4)
print(String(format: "drain, 4 concurrent invocations             %9.0f jobs/s", drain4Rate))
try reset()
_ = enqueueAll("bench-pg1")
let ceiling1 = try pgbenchCeiling("bench-pg1", clients: 1)
print(String(format: "pgbench claim 100 + complete, 1 client      %9.0f jobs/s", ceiling1))
try reset()
_ = enqueueAll("bench-pg4")
let ceiling4 = try pgbenchCeiling("bench-pg4", clients: 4)
print(String(format: "pgbench claim 100 + complete, 4 clients     %9.0f jobs/s", ceiling4))
print(String(format: "ratio drain/pgbench (1 vs 1 client)         %9.2f", drainRate / ceiling1))
print(String(format: "ratio drain-4/pgbench (4 vs 4 clients)      %9.2f", drain4Rate / ceiling4))
print(String(format: "ratio drain-4/drain-1                       %9.2f", drain4Rate / drainRate))

// Flow control: the same 10 queues drained without limits, then with limits that never bind.
let ten = (0..<10).map { "bench-q\($0)" }
func tenQueueDrain(workers: Int, limited: Bool) throws -> Double {
    try reset()
    try setLimits(ten, on: limited)
    _ = enqueueAll(ten)
    return try drain(ten, workers: workers)
}
let free1 = try tenQueueDrain(workers: 1, limited: false)
print(String(format: "drain 10 queues, 1 invocation, no limits    %9.0f jobs/s", free1))
let limited1 = try tenQueueDrain(workers: 1, limited: true)
print(String(format: "drain 10 queues, 1 invocation, limits set   %9.0f jobs/s", limited1))
let free4 = try tenQueueDrain(workers: 4, limited: false)
print(String(format: "drain 10 queues, 4 invocations, no limits   %9.0f jobs/s", free4))
let limited4 = try tenQueueDrain(workers: 4, limited: true)
print(String(format: "drain 10 queues, 4 invocations, limits set  %9.0f jobs/s", limited4))
print(String(format: "ratio limited/unlimited, 10 queues, 1 inv.  %9.2f", limited1 / free1))
print(String(format: "ratio limited/unlimited, 10 queues, 4 inv.  %9.2f", limited4 / free4))
print(String(format: "ratio limited 10 queues/drain-1 (1 queue)   %9.2f", limited1 / drainRate))
print(String(format: "ratio limited 10 queues/drain-4 (1 queue)   %9.2f", limited4 / drain4Rate))
try setLimits(ten, on: false)
try reset()
