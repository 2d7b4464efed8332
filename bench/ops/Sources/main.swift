import Foundation
import Handlers
import JobQueue
import Logging
import Postgres

// Operations benchmark: queue-metrics on a table holding 1,000,000 finished jobs (a week of
// them over 8 queues and 5 kinds) plus a live backlog, with an hour of rollups written by the
// engine's own rollup deltas (jobs enqueued and run through process-batch). Release build, real PostgreSQL
// (DATABASE_URL). Prints p50/p95/max of queue-metrics through the router, in process, and fails
// when p95 exceeds 50 ms. Run it through bench/ops/run.

let env = ProcessInfo.processInfo.environment
guard let url = env["DATABASE_URL"] else {
    FileHandle.standardError.write(Data("ops-bench: DATABASE_URL is not set (use bench/ops/run)\n".utf8))
    exit(2)
}
let finished = Int(env["BENCH_FINISHED"] ?? "") ?? 1_000_000
let rounds = Int(env["BENCH_ROUNDS"] ?? "") ?? 200
let budgetMs = 50.0
let processorKey = "bench-processor-key", adminKey = "bench-admin-key"
let manifest = try FunctionManifest.load(path: env["CONVEYOR_MANIFEST"] ?? "functions.json")
let router = try Router(manifest: manifest)
var quiet = Logger(label: "bench")
quiet.logLevel = .critical
let context = FunctionContext(configuration: Configuration(environment: ["DATABASE_URL": url, "CONVEYOR_PROCESSOR_KEY": processorKey,
                                                                         "CONVEYOR_ADMIN_KEY": adminKey]),
                              manifest: manifest, logger: quiet)

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
@MainActor func call(_ method: String, _ path: String, key: String, body: String = "", query: [String: String] = [:]) -> HTTPResponse {
    router.handle(HTTPRequest(method: method, path: path, query: query, headers: ["x-api-key": key, "content-type": "application/json"],
                              body: Data(body.utf8)), context: context)
}

let db = try Connection(url: url)
try ConveyorSchema.migrate(db)
let tenantKey = try Organizations.create(name: "ops bench", connection: db).key
let queues = (1...8).map { "bench-ops-\($0)" }
let kinds = ["noop", "fail", "send-email", "route-intake", "report"]

// A week of finished jobs in one statement: 95% completed, 4% dead, 1% cancelled.
var start = now()
try db.execute("""
    INSERT INTO conveyor_jobs (org_id, queue, kind, state, run_at, created_at, started_at, finished_at, duration_ms,
                               attempt, max_attempts, payload, result, errors)
    SELECT 1, (\(queues)::text[])[1 + i % 8], (\(kinds)::text[])[1 + (i / 8) % 5],
           CASE WHEN i % 100 < 95 THEN 'completed' WHEN i % 100 < 99 THEN 'dead' ELSE 'cancelled' END::conveyor_job_state,
           t, t, t + interval '20 ms', t + (i % 500) * interval '1 ms', i % 500,
           CASE WHEN i % 100 = 99 THEN 0 ELSE 1 END, 3, '{"to":"user@example.com"}', '{"ok":true}',
           CASE WHEN i % 100 BETWEEN 95 AND 98 THEN '[{"attempt":1,"at":"2026-01-01T00:00:00Z","message":"smtp said no"}]'::jsonb ELSE '[]' END
    FROM generate_series(1, \(finished)) AS i, LATERAL (SELECT now() - interval '7 days' * i / \(finished) AS t) AS at
    """)
// Rows inserted already finished bypass the rollup deltas (the engine never inserts them):
// recount, as the migration's backfill does.
try db.execute("DELETE FROM conveyor_job_totals")
try db.execute("""
    INSERT INTO conveyor_job_totals (queue, kind, state, jobs)
    SELECT queue, kind, state, count(*) FROM conveyor_jobs
    WHERE state IN ('completed', 'dead', 'cancelled') GROUP BY 1, 2, 3
    """)
say("seeded \(finished) finished jobs in \(Int(now() - start)) s")

// The last hour's rollups, written by the engine's statements: real jobs through enqueue and process-batch.
start = now()
for queue in queues {
    let job = #"{"kind":"noop","queue":"\#(queue)","payload":{"n":1}}"#
    _ = call("POST", "/v1/jobs", key: tenantKey, body: #"{"jobs":["# + Array(repeating: job, count: 1000).joined(separator: ",") + "]}")
    let failing = #"{"kind":"fail","queue":"\#(queue)","payload":{"permanent":true,"message":"bench failure"}}"#
    _ = call("POST", "/v1/jobs", key: tenantKey, body: #"{"jobs":["# + Array(repeating: failing, count: 50).joined(separator: ",") + "]}")
}
var ran = 0
while true {
    let batch = call("POST", "/v1/process-batch", key: processorKey, body: #"{"maxJobs":1000,"maxSeconds":30}"#)
    guard batch.status == 200, let summary = try? JSONValue.parse(batch.body), let claimed = summary["claimed"]?.intValue, claimed > 0 else { break }
    ran += Int(claimed)
}
say("ran \(ran) jobs through process-batch in \(Int(now() - start)) s")
// And a live backlog: due and delayed jobs.
for queue in queues {
    let due = #"{"kind":"noop","queue":"\#(queue)"}"#, later = #"{"kind":"noop","queue":"\#(queue)","delaySeconds":3600}"#
    _ = call("POST", "/v1/jobs", key: tenantKey, body: #"{"jobs":["# + Array(repeating: due, count: 1000).joined(separator: ",") + "]}")
    _ = call("POST", "/v1/jobs", key: tenantKey, body: #"{"jobs":["# + Array(repeating: later, count: 250).joined(separator: ",") + "]}")
}
try db.execute("VACUUM ANALYZE conveyor_jobs")
let total: Int64 = try db.query("SELECT count(*)::bigint AS n FROM conveyor_jobs WHERE state IN ('completed', 'dead', 'cancelled')")[0].decode("n")
say("table: \(total) finished jobs, \(8 * 1250) waiting or delayed")

@MainActor func measure(_ label: String, _ body: () -> HTTPResponse) -> (p50: Double, p95: Double, max: Double) {
    for _ in 0..<10 { _ = body() }  // warm: plan cache, buffers
    var ms: [Double] = []
    for _ in 0..<rounds {
        let t = now()
        let r = body()
        ms.append((now() - t) * 1000)
        if r.status != 200 {
            say("\(label) answered \(r.status): \(String(decoding: r.body, as: UTF8.self))")
            exit(1)
        }
    }
    ms.sort()
    let result = (ms[ms.count / 2], ms[Int(Double(ms.count) * 0.95)], ms.last!)
    print("\(label): p50 \(String(format: "%.2f", result.0)) ms, p95 \(String(format: "%.2f", result.1)) ms, max \(String(format: "%.2f", result.2)) ms over \(rounds) calls")
    return result
}

let metrics = measure("queue-metrics (\(total) finished jobs)") { call("GET", "/v1/metrics/queues", key: adminKey) }
_ = measure("GET /metrics") { call("GET", "/metrics", key: adminKey) }
_ = measure("job-stats ?kind=send-email") { call("GET", "/v1/metrics/kinds", key: adminKey, query: ["kind": "send-email"]) }
fflush(nil)
if metrics.p95 > budgetMs {
    say("ops-bench: queue-metrics p95 \(metrics.p95) ms is over the \(Int(budgetMs)) ms budget")
    exit(1)
}
print("queue-metrics within \(Int(budgetMs)) ms: yes")
