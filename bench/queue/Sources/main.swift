import Foundation
import Handlers
import JobQueue
import Logging
import Postgres

// Queue benchmark: release build, real PostgreSQL (DATABASE_URL), everything compared in one run.
//
// 1. Drain against a fair ceiling: noop jobs drained by one and by four process-batch
//    invocations, beside pgbench on a minimal job table (id, queue, payload, status, priority,
//    run_at, attempts, created_at; one partial index in pickup order) claiming the same 1,000 at a
//    time with FOR UPDATE SKIP LOCKED and completing them by id array.
// 2. Flow control: 10 queues drained without limits and with limits that never bind.
// 3. Slow jobs: 1,000 jobs that each wait 200 ms, one invocation at parallelism 100, against the
//    ideal 500 jobs/s.
// 4. Fairness: another org's due job behind a flood of 20,000 delayed jobs in 20,000 queue names,
//    and 100 noop jobs of one org behind 1,000 slow jobs of another at priority 100.
// 5. SQL enqueue: conveyor.enqueue at 8 clients and enqueue_many of 1,000, beside pgbench's
//    plain insert of the same rows (SQLEnqueue.swift). BENCH_ONLY=sql runs only this phase.
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
var benchEnvironment = ["DATABASE_URL": url, "CONVEYOR_PROCESSOR_KEY": processorKey]
// Behind PgBouncer (bench/queue/run's second pass): the pooler's settings reach the functions too.
for name in ["CONVEYOR_DATABASE_POOLER", "CONVEYOR_LISTEN_DATABASE_URL"] { benchEnvironment[name] = env[name] }
let configuration = Configuration(environment: benchEnvironment)

@Sendable func context() -> FunctionContext { FunctionContext(configuration: configuration, manifest: manifest, logger: quiet) }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
@Sendable func call(_ ctx: FunctionContext, _ method: String, _ path: String, key: String, body: String) -> HTTPResponse {
    router.handle(HTTPRequest(method: method, path: path, headers: ["x-api-key": key, "content-type": "application/json"], body: Data(body.utf8)), context: ctx)
}
@Sendable func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("queue-bench: \(message)\n".utf8))
    exit(1)
}
func line(_ label: String, _ value: Double, _ unit: String = "jobs/s") {
    print(label.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: "%10.0f %@", value, unit))
}
func ratio(_ label: String, _ value: Double) {
    print(label.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: "%10.2f", value))
}

let admin = try Connection(url: url)
try ConveyorSchema.migrate(admin, kinds: manifest.jobKinds)
let tenant = try Organizations.create(name: "bench", connection: admin)
let tenantKey = tenant.key
// BENCH_SQL runs a script after the migrations, to try a schema change against the same run.
if let experiment = env["BENCH_SQL"] { try admin.unsafeExecuteScript(experiment) }

/// Every phase starts from the same table state: empty, vacuumed and analyzed.
func reset() throws {
    try admin.execute("DELETE FROM conveyor_jobs WHERE queue LIKE 'bench-%'")
    try admin.execute("VACUUM ANALYZE conveyor_jobs")
}

func remaining(_ queues: [String]) throws -> Int {
    try admin.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = ANY(\(queues)::text[]) AND state <> 'completed'")[0].decode("n")
}

/// Enqueues `count` jobs in batches of 1000 through the enqueue function, the batches dealt
/// round-robin across `queues`.
@discardableResult
func enqueueAll(_ queues: [String], count: Int = total, key: String = tenantKey, job: (String) -> String = { queue in
    #"{"kind":"noop","queue":"\#(queue)","payload":{"to":"user@example.com","n":42}}"#
}) -> Double {
    let ctx = context()
    let bodies = queues.map { queue -> String in
        #"{"jobs":["# + Array(repeating: job(queue), count: 1000).joined(separator: ",") + "]}"
    }
    let start = now()
    for n in 0..<(count / 1000) {
        let r = call(ctx, "POST", "/v1/jobs", key: key, body: bodies[n % bodies.count])
        if r.status != 201 { fail("enqueue answered \(r.status): \(String(decoding: r.body, as: UTF8.self))") }
    }
    return Double(count) / (now() - start)
}

/// Sets (or clears) limits on `queues` that are far above what the drain can reach.
func setLimits(_ queues: [String], on: Bool) throws {
    let store = PostgresJobStore(connection: admin)
    let patch = try JSONValue.parse(on ? #"{"concurrency":1000,"rateLimit":{"limit":1000000,"periodSeconds":60}}"#
                                       : #"{"concurrency":null,"rateLimit":null}"#)
    for queue in queues { try store.updateQueue(named: queue, replacing: false, with: patch) }
}

/// Drains `queues` with `workers` concurrent process-batch invocations, each on its own
/// connection and thread, each calling until a call claims nothing.
func drain(_ queues: [String], workers: Int, maxJobs: Int = 10_000, parallelism: Int = 32) throws -> Double {
    let list = queues.map { "\"\($0)\"" }.joined(separator: ",")
    let body = #"{"queues":[\#(list)],"maxJobs":\#(maxJobs),"maxSeconds":50,"parallelism":\#(parallelism)}"#
    let group = DispatchGroup()
    let start = now()
    for _ in 0..<workers {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            let ctx = context()
            while true {
                let r = call(ctx, "POST", "/v1/process-batch", key: processorKey, body: body)
                if r.status != 200 { fail("process-batch answered \(r.status): \(String(decoding: r.body, as: UTF8.self))") }
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

/// The fair ceiling: pgbench on a minimal job table, claiming 1,000 at a time and completing
/// them by id array, `total` jobs in all.
func pgbenchCeiling(clients: Int) throws -> Double {
    try admin.unsafeExecuteScript("""
        DROP TABLE IF EXISTS bench_minimal_jobs;
        CREATE TABLE bench_minimal_jobs (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            queue text NOT NULL,
            payload jsonb NOT NULL,
            status text NOT NULL DEFAULT 'available',
            priority smallint NOT NULL DEFAULT 0,
            run_at timestamptz NOT NULL DEFAULT now(),
            attempts smallint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX bench_minimal_jobs_pickup ON bench_minimal_jobs (queue, priority DESC, run_at, id) WHERE status = 'available';
        INSERT INTO bench_minimal_jobs (queue, payload) SELECT 'q', '{"to":"user@example.com","n":42}' FROM generate_series(1, \(total));
        """)
    try admin.execute("VACUUM ANALYZE bench_minimal_jobs")
    let script = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-minimal-\(clients).sql")
    try """
        WITH due AS (SELECT id FROM bench_minimal_jobs WHERE status = 'available' AND queue = 'q' AND run_at <= now() ORDER BY priority DESC, run_at, id LIMIT 1000 FOR UPDATE SKIP LOCKED), claimed AS (UPDATE bench_minimal_jobs j SET status = 'running', attempts = j.attempts + 1 FROM due WHERE j.id = due.id RETURNING j.id, j.payload) SELECT coalesce(array_agg(id), '{}') AS ids FROM claimed \\gset
        UPDATE bench_minimal_jobs SET status = 'completed' WHERE id = ANY(':ids'::bigint[]);

        """.write(to: script, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(pgbin)/pgbench")
    // Every client claims until the table is empty: the last claims find less, or nothing.
    p.arguments = ["-n", "-f", script.path, "-c", String(clients), "-j", String(clients), "-t", String((total + 999) / 1000 / clients + 1), url]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    guard p.terminationStatus == 0,
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
          let tps = Double(line.dropFirst(6).prefix { $0 != " " }),
          let countLine = text.split(separator: "\n").first(where: { $0.hasPrefix("number of transactions actually processed: ") }),
          let transactions = Double(countLine.split(separator: " ").last?.split(separator: "/").first ?? "") else { fail("pgbench failed: \(text)") }
    let left: Int = try admin.query("SELECT count(*)::int AS n FROM bench_minimal_jobs WHERE status <> 'completed'")[0].decode("n")
    if left != 0 { fail("pgbench left \(left) jobs") }
    try admin.execute("DROP TABLE bench_minimal_jobs")
    // Jobs per second: the whole table over the run's time (transactions / tps).
    return Double(total) / (transactions / tps)
}

let sync = try admin.query("SHOW synchronous_commit")[0].decode(0, as: String.self)
print("queue-bench: \(total) noop jobs, synchronous_commit=\(sync), \(ProcessInfo.processInfo.activeProcessorCount) cores")

// 5. SQL enqueue, first when asked for alone.
func sqlEnqueuePhase() throws {
    let bench = SQLEnqueueBench(url: url, pgbin: pgbin, schema: admin.schema.name, orgId: tenant.id,
                                seconds: Int(env["BENCH_SQL_SECONDS"] ?? "") ?? 8, rounds: Int(env["BENCH_SQL_ROUNDS"] ?? "") ?? 2)
    print("SQL enqueue, pgbench -M prepared, \(bench.seconds) s per run, \(bench.rounds) alternating rounds (mean):")
    try reset()
    let single = try bench.compare([bench.plainInsert, bench.insertAndNotify, bench.function], clients: 8)
    line("  plain insert, 8 clients", single[0])
    line("  insert + NOTIFY in one transaction, 8 clients", single[1])
    line("  conveyor.enqueue, 8 clients", single[2])
    ratio("  cost of enqueue / plain insert (<= 1.5 wanted)", single[0] / single[2])
    ratio("  cost of enqueue / insert + NOTIFY", single[1] / single[2])
    try reset()
    let batch = try bench.compare([bench.plainBatch, bench.batchAndNotify, bench.functionBatch], clients: 1)
    line("  plain INSERT … SELECT of 1,000, 1 client", batch[0] * 1000)
    line("  the same + NOTIFY, 1 client", batch[1] * 1000)
    line("  conveyor.enqueue_many of 1,000, 1 client", batch[2] * 1000)
    ratio("  cost of enqueue_many / plain batch insert", batch[0] / batch[2])
    try reset()
}
if env["BENCH_ONLY"] == "sql" {
    try sqlEnqueuePhase()
    exit(0)
}
// BENCH_ONLY=drain: phase 1's drains alone, for the same run through PgBouncer.
if env["BENCH_ONLY"] == "drain" {
    let via = env["CONVEYOR_DATABASE_POOLER"] == "transaction" ? "through PgBouncer (transaction mode)" : "direct"
    print("drain \(via), \(total) noop jobs:")
    try reset()
    enqueueAll(["bench-1"])
    line("  drain, 1 invocation (claims of 1000)", try drain(["bench-1"], workers: 1))
    try reset()
    enqueueAll(["bench-4"])
    line("  drain, 4 concurrent invocations", try drain(["bench-4"], workers: 4))
    try reset()
    exit(0)
}

// 1. Drain against the fair ceiling.
try reset()
line("enqueue (batches of 1000, in process)", enqueueAll(["bench-1"]))
let drainRate = try drain(["bench-1"], workers: 1)
line("drain, 1 invocation (claims of 1000)", drainRate)
try reset()
enqueueAll(["bench-4"])
let drain4Rate = try drain(["bench-4"], workers: 4)
line("drain, 4 concurrent invocations", drain4Rate)
try reset()
let ceiling1 = try pgbenchCeiling(clients: 1)
line("pgbench minimal table, claim 1000 + complete, 1 client", ceiling1)
let ceiling4 = try pgbenchCeiling(clients: 4)
line("pgbench minimal table, claim 1000 + complete, 4 clients", ceiling4)
ratio("ratio drain/ceiling (1 vs 1 client)", drainRate / ceiling1)
ratio("ratio drain-4/ceiling (4 vs 4 clients)", drain4Rate / ceiling4)

// 2. Flow control: the same 10 queues drained without limits, then with limits that never bind.
let ten = (0..<10).map { "bench-q\($0)" }
func tenQueueDrain(workers: Int, limited: Bool) throws -> Double {
    try reset()
    try setLimits(ten, on: limited)
    enqueueAll(ten)
    return try drain(ten, workers: workers)
}
let free1 = try tenQueueDrain(workers: 1, limited: false)
line("drain 10 queues, 1 invocation, no limits", free1)
let limited1 = try tenQueueDrain(workers: 1, limited: true)
line("drain 10 queues, 1 invocation, limits set", limited1)
let free4 = try tenQueueDrain(workers: 4, limited: false)
line("drain 10 queues, 4 invocations, no limits", free4)
let limited4 = try tenQueueDrain(workers: 4, limited: true)
line("drain 10 queues, 4 invocations, limits set", limited4)
ratio("ratio limited/unlimited, 10 queues, 1 invocation", limited1 / free1)
ratio("ratio limited/unlimited, 10 queues, 4 invocations", limited4 / free4)
try setLimits(ten, on: false)

// 3. Slow jobs: 1,000 jobs of 200 ms, one invocation, parallelism 100.
try reset()
let slowCount = 1000
enqueueAll(["bench-slow"], count: slowCount) { queue in #"{"kind":"sleep","queue":"\#(queue)","timeoutSeconds":2,"payload":{"ms":200}}"# }
let slowStart = now()
let slowAnswer = call(context(), "POST", "/v1/process-batch", key: processorKey,
                      body: #"{"queues":["bench-slow"],"maxJobs":\#(slowCount),"maxSeconds":60,"parallelism":100}"#)
let slowSeconds = now() - slowStart
let slowSummary = try JSONValue.parse(slowAnswer.body)
let slowDone = slowSummary["completed"]?.intValue ?? 0
line("slow jobs: 1000 x 200 ms, parallelism 100", Double(slowDone) / slowSeconds)
line("slow jobs: ideal (100 at a time, 200 ms each)", 500)
ratio("ratio slow jobs/ideal", Double(slowDone) / slowSeconds / 500)
print("  completed \(slowDone) of \(slowCount), at most \(slowSummary["maxRunning"]?.intValue ?? 0) at once, in \(String(format: "%.2f", slowSeconds)) s; timed out \(slowSummary["timedOut"]?.intValue ?? -1)")

// 4. Fairness.
try reset()
let floodKey = try Organizations.create(name: "bench flood", connection: admin).key
let victimKey = try Organizations.create(name: "bench victim", connection: admin).key
let floodCtx = context()
for batch in 0..<20 {
    let jobs = (0..<1000).map { #"{"kind":"noop","queue":"bench-x\#(batch)-\#($0)","delaySeconds":31536000}"# }
    let r = call(floodCtx, "POST", "/v1/jobs", key: floodKey, body: #"{"jobs":[\#(jobs.joined(separator: ","))]}"#)
    if r.status != 201 { fail("flood enqueue answered \(r.status)") }
}
let victim = call(floodCtx, "POST", "/v1/jobs", key: victimKey, body: #"{"kind":"noop","queue":"bench-victim"}"#)
let victimId: Int64 = try JSONValue.parse(victim.body)["id"]?.intValue ?? 0
let floodStart = now()
let first = try JSONValue.parse(call(context(), "POST", "/v1/process-batch", key: processorKey, body: #"{"maxJobs":100,"maxSeconds":5}"#).body)
let floodMs = (now() - floodStart) * 1000
let victimState: String = try admin.query("SELECT state::text AS s FROM conveyor_jobs WHERE id = \(victimId)")[0].decode("s")
print("fairness, 20,000 delayed jobs in 20,000 queues + 1 due job of another org:")
print("  first invocation: claimed \(first["claimed"]?.intValue ?? -1) in \(String(format: "%.1f", floodMs)) ms; the other org's job is \(victimState)")
try admin.execute("DELETE FROM conveyor_jobs WHERE queue LIKE 'bench-x%'")

try reset()
enqueueAll(["bench-slowa"], count: 1000, key: floodKey) { queue in #"{"kind":"sleep","queue":"\#(queue)","priority":100,"timeoutSeconds":2,"payload":{"ms":200}}"# }
let victims = try JSONValue.parse(call(context(), "POST", "/v1/jobs", key: victimKey,
                                       body: #"{"jobs":[\#(Array(repeating: #"{"kind":"noop","queue":"bench-fastb"}"#, count: 100).joined(separator: ","))]}"#).body)
var victimIds: [Int64] = []
if case .array(let jobs)? = victims["jobs"] { victimIds = jobs.compactMap { $0["id"]?.intValue } }
let mixedStart = now()
let mixed = try JSONValue.parse(call(context(), "POST", "/v1/process-batch", key: processorKey,
                                     body: #"{"maxJobs":1000,"maxSeconds":5,"parallelism":32}"#).body)
let mixedSeconds = now() - mixedStart
let victimsDone: Int = try admin.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE id = ANY(\(victimIds)::bigint[]) AND state = 'completed'")[0].decode("n")
print("fairness, 1,000 slow jobs of one org at priority 100 + 100 noop jobs of another, one invocation (5 s, parallelism 32):")
print("  the other org's noops completed: \(victimsDone) of \(victimIds.count); slow ones completed \(Int(mixed["completed"]?.intValue ?? 0) - victimsDone); answered in \(String(format: "%.2f", mixedSeconds)) s")
try reset()

print("")
try sqlEnqueuePhase()
