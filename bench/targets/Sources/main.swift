import Foundation
import Handlers
import JobQueue
import Logging
import Postgres
import Targets

// HTTP targets benchmark: release build, real PostgreSQL (DATABASE_URL), real endpoints on
// loopback started by bench/targets/run, everything compared in one run.
//
// 1. To an endpoint that takes 200 ms per request (BENCH_SLOW_URL): 1,000 jobs (one first,
//    alone, to warm up; then 999) by one invocation at parallelism 100, against the ideal
//    500 jobs/s. Run first, so the process holds no transfer handles from other phases.
// 2. Memory: this process's RSS after that one delivery and its peak while 100 deliveries
//    are in flight to the slow endpoint, and the bytes per in-flight delivery.
// 3. To nginx answering `return 200` (BENCH_FAST_URL): end-to-end deliveries, from the first
//    enqueue to the last outcome recorded, N jobs enqueued 1,000 per statement through the
//    enqueue function and drained by process-batch invocations in process; printed beside
//    wrk's raw POST rate to the same URL (the run script passes it in as BENCH_WRK_RATE) and the
//    peer's rate (BENCH_PEER_LINE: pgqueuer, an aiohttp worker at concurrency 100, same jobs).
// Every delivery is signed; failed or missing deliveries are counted and shown.

let env = ProcessInfo.processInfo.environment
@Sendable func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("targets-bench: \(message)\n".utf8))
    exit(1)
}
guard let url = env["DATABASE_URL"], let fastURL = env["BENCH_FAST_URL"], let slowURL = env["BENCH_SLOW_URL"] else {
    fail("DATABASE_URL, BENCH_FAST_URL and BENCH_SLOW_URL must be set (use bench/targets/run)")
}
let total = Int(env["BENCH_JOBS"] ?? "") ?? 50_000
let processorKey = "bench-processor-key"
let secret = WebhookSecret.generate()

/// functions.json with the two benchmark kinds added.
func benchManifest() throws -> FunctionManifest {
    let text = try String(contentsOfFile: env["CONVEYOR_MANIFEST"] ?? "functions.json", encoding: .utf8)
    guard case .object(var top) = try JSONValue.parse(text), case .array(var functions)? = top["functions"] else { fail("functions.json has no functions") }
    for (name, target, queue) in [("bench-fast", fastURL, "bench-fast"), ("bench-slow", slowURL, "bench-slow")] {
        functions.append(try JSONValue.parse(#"{"name": "\#(name)", "target": {"url": "\#(target)", "timeoutSeconds": 30}, "job": {"queue": "\#(queue)", "maxAttempts": 3, "backoffBaseSeconds": 1}}"#))
    }
    top["functions"] = .array(functions)
    return try FunctionManifest.decode(Data(JSONValue.object(top).jsonText.utf8), environment: ["CONVEYOR_WEBHOOK_SECRET": secret])
}

let manifest = try benchManifest()
let router = try Router(manifest: manifest)
var quiet = Logger(label: "bench")
quiet.logLevel = .critical
let configuration = Configuration(environment: ["DATABASE_URL": url, "CONVEYOR_PROCESSOR_KEY": processorKey])
@Sendable func context() -> FunctionContext { FunctionContext(configuration: configuration, manifest: manifest, logger: quiet) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
@Sendable func call(_ ctx: FunctionContext, _ path: String, key: String, body: String) -> HTTPResponse {
    router.handle(HTTPRequest(method: "POST", path: path, headers: ["x-api-key": key, "content-type": "application/json"], body: Data(body.utf8)), context: ctx)
}
func line(_ label: String, _ value: Double, _ unit: String = "jobs/s") {
    print(label.padding(toLength: 60, withPad: " ", startingAt: 0) + String(format: "%10.0f %@", value, unit))
}
func ratio(_ label: String, _ value: Double) {
    print(label.padding(toLength: 60, withPad: " ", startingAt: 0) + String(format: "%10.2f", value))
}
@Sendable func rssBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

let admin = try Connection(url: url)
try ConveyorSchema.migrate(admin)
let tenantKey = try Organizations.create(name: "targets bench", connection: admin).key

func reset() throws {
    try admin.execute("DELETE FROM conveyor_jobs WHERE queue LIKE 'bench-%'")
    try admin.execute("VACUUM ANALYZE conveyor_jobs")
}

/// Jobs of `queue` by state, for the counts every phase prints.
func states(_ queue: String) throws -> [String: Int] {
    var out: [String: Int] = [:]
    for row in try admin.query("SELECT state::text AS s, count(*)::int AS n FROM conveyor_jobs WHERE queue = \(queue) GROUP BY 1") {
        out[try row.decode("s")] = try row.decode("n")
    }
    return out
}

func enqueue(kind: String, count: Int) {
    let ctx = context()
    let body = #"{"jobs":["# + Array(repeating: #"{"kind":"\#(kind)","payload":{"image":"https://img.example/a.png","width":200}}"#, count: 1000).joined(separator: ",") + "]}"
    for _ in 0..<(count / 1000) {
        let r = call(ctx, "/v1/jobs", key: tenantKey, body: body)
        if r.status != 201 { fail("enqueue answered \(r.status): \(String(decoding: r.body, as: UTF8.self))") }
    }
}

/// Process-batch invocations on `workers` threads until none claims anything.
func drain(_ queue: String, workers: Int, parallelism: Int, maxJobs: Int = 10_000) {
    let body = #"{"queues":["\#(queue)"],"maxJobs":\#(maxJobs),"maxSeconds":50,"parallelism":\#(parallelism)}"#
    let group = DispatchGroup()
    for _ in 0..<workers {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            let ctx = context()
            while true {
                let r = call(ctx, "/v1/process-batch", key: processorKey, body: body)
                if r.status != 200 { fail("process-batch answered \(r.status): \(String(decoding: r.body, as: UTF8.self))") }
                guard let claimed = (try? JSONValue.parse(r.body))?["claimed"]?.intValue else { fail("bad summary") }
                if claimed == 0 { break }
            }
        }
    }
    group.wait()
}

func report(_ queue: String, expected: Int) throws {
    let counts = try states(queue)
    let seen = counts.values.reduce(0, +)
    let others = counts.filter { $0.key != "completed" }.map { "\($0.key) \($0.value)" }.sorted()
    var text = "    completed \(counts["completed"] ?? 0) of \(expected)"
    if !others.isEmpty { text += "; not completed: " + others.joined(separator: ", ") }
    if seen < expected { text += "; missing \(expected - seen)" }
    print(text)
}

let cores = ProcessInfo.processInfo.activeProcessorCount
print("targets-bench: \(total) signed deliveries per phase, \(cores) cores")
if let wrk = env["BENCH_WRK_RATE"] { print("  wrk POST to the same nginx endpoint: \(wrk) requests/s (\(env["BENCH_WRK_CONNECTIONS"] ?? "?") connections)") }
// "pgqueuer: N of M delivered (F failed) in S s: R jobs/s", from the run script.
let peerLine = env["BENCH_PEER_LINE"] ?? ""
let peerRate = peerLine.split(separator: " ").dropLast().last.flatMap { Double($0) }
print("  peer, same cluster and endpoint, \(total) jobs: " + (peerLine.isEmpty ? "did not run" : peerLine))

print("\n1. 1,000 jobs to an endpoint that takes 200 ms, one invocation at parallelism 100")
// Warm-up with one delivery, so the RSS below is the process ready to work, holding one
// connection and one transfer handle, not yet the hundred in flight.
try reset()
enqueue(kind: "bench-slow", count: 1000)
let warm = call(context(), "/v1/process-batch", key: processorKey, body: #"{"queues":["bench-slow"],"maxJobs":1,"parallelism":1}"#)
if warm.status != 200 { fail("process-batch answered \(warm.status)") }
let idleRSS = rssBytes()
let peak = ManagedPeak()
let sampler = Thread {
    while !peak.stopped { peak.record(rssBytes()); usleep(20_000) }
}
sampler.start()
let slowStart = now()
drain("bench-slow", workers: 1, parallelism: 100, maxJobs: 999)
let slowRate = 999 / (now() - slowStart)
peak.stop()
line("  rate", slowRate)
ratio("  rate / ideal 500 jobs/s", slowRate / 500)
try report("bench-slow", expected: 1000)

print("\n2. Memory of this worker process")
line("  RSS after one delivery (ready, one transfer handle)", Double(idleRSS) / 1_048_576, "MiB")
line("  peak RSS with 100 deliveries in flight", Double(peak.max) / 1_048_576, "MiB")
line("  bytes per in-flight delivery ((peak - ready) / 100)", Double(peak.max - idleRSS) / 100, "bytes")

// Warm-up: connections, plans, code paths.
try reset()
enqueue(kind: "bench-fast", count: 2000)
drain("bench-fast", workers: 1, parallelism: 32)

print("\n3. End-to-end to nginx `return 200` (enqueue start → last outcome recorded)")
var best = 0.0
for (workers, parallelism) in [(1, 32), (1, 100), (2, 32), (2, 100)] {
    try reset()
    let start = now()
    enqueue(kind: "bench-fast", count: total)
    let enqueued = now()
    drain("bench-fast", workers: workers, parallelism: parallelism)
    let end = now()
    let rate = Double(total) / (end - start)
    best = max(best, rate)
    line("  \(workers) invocation(s), parallelism \(parallelism): end to end", rate)
    line("      of which the drain alone", Double(total) / (end - enqueued))
    try report("bench-fast", expected: total)
}
if let wrk = env["BENCH_WRK_RATE"].flatMap(Double.init) {
    ratio("  best end to end / wrk raw POST rate", best / wrk)
}
if let peerRate { ratio("  best end to end / pgqueuer+aiohttp peer (this run)", best / peerRate) }
ratio("  best end to end / 3,377 jobs/s (the peer as the issue measured it)", best / 3377)

final class ManagedPeak: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var done = false
    func record(_ bytes: Int) { lock.lock(); value = Swift.max(value, bytes); lock.unlock() }
    func stop() { lock.lock(); done = true; lock.unlock() }
    var stopped: Bool { lock.lock(); defer { lock.unlock() }; return done }
    var max: Int { lock.lock(); defer { lock.unlock() }; return value }
}
