import Foundation
import Handlers
import Postgres
import Testing

/// A session holding `LOCK conveyor_jobs IN ACCESS EXCLUSIVE MODE` (a careless migration, a
/// manual VACUUM FULL) must not pin the workers: requests through nginx answer 503 with
/// Retry-After within their time bound, nothing half-done is kept, and once the lock goes every
/// worker serves again. The stack has a database of its own: the lock must not stall other suites.
struct LockTimeoutTests {
    /// With a lock bound of 1 s every request gives up on the lock; with none (0) each runs into
    /// its statement bound, and a request that waited behind another in its worker's queue is
    /// refused when its own bound is spent, so nginx never times out first and stores nothing.
    @Test(arguments: ["1", "0"])
    func aHeldTableLockIsA503WithinTheBoundAndEveryWorkerIsFreeAfterwards(lockSeconds: String) throws {
        // Behind a transaction pooler Conveyor sets no session bounds (they would stay on a server
        // connection another client gets): the role's lock_timeout applies, not this variable,
        // and the case without one is the case that holds.
        if lockSeconds != "0", ProcessInfo.processInfo.environment["CONVEYOR_DATABASE_POOLER"] == "transaction" { return }
        var options = Stack.Options(workers: 2)
        options.environment = ["CONVEYOR_DB_LOCK_TIMEOUT_SECONDS": lockSeconds]
        options.ownDatabase = true
        let stack = try Stack(options)
        defer { stack.stop() }
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let manifest = try FunctionManifest.load(path: Stack.repoRoot.appendingPathComponent("functions.json").path)
        let web = try Web(stack.baseURL)
        let existing = try #require(try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key).json["id"]?.intValue)

        let holder = try Connection(url: stack.databaseURL)
        let requests: [(function: String, method: String, path: String, body: String?)] = [
            ("enqueue", "POST", "/v1/jobs", #"{"kind":"noop","queue":"\#(tenant.queue)","idempotencyKey":"under-lock-1"}"#),
            ("enqueue", "POST", "/v1/jobs", #"{"jobs":[{"kind":"noop","queue":"\#(tenant.queue)","idempotencyKey":"under-lock-2"}]}"#),
            ("job-status", "GET", "/v1/jobs/\(existing)", nil),
            ("list-jobs", "GET", "/v1/jobs", nil),
        ]
        let answers = Collected<(Int, Result<Web.Answer, any Error>, Double)>()
        try holder.transaction { _ in
            try holder.unsafeExecuteScript("LOCK conveyor_jobs IN ACCESS EXCLUSIVE MODE")
            let done = DispatchGroup()
            for (i, r) in requests.enumerated() {
                done.enter()
                Thread.detachNewThread {
                    defer { done.leave() }
                    let started = Date()
                    let answer = Result { try Web(stack.baseURL).call(r.method, r.path, body: r.body, key: tenant.key, timeout: 150) }
                    answers.add((i, answer, Date().timeIntervalSince(started)))
                }
            }
            #expect(done.wait(timeout: .now() + 200) == .success)
        }
        let got = Dictionary(answers.values.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { first, _ in first })
        #expect(got.count == requests.count)
        for (i, r) in requests.enumerated() {
            guard let (result, seconds) = got[i] else { Issue.record("\(r.function): no answer"); continue }
            guard case .success(let answer) = result else { Issue.record("\(r.function): \(result)"); continue }
            #expect(answer.status == 503, "\(r.function): \(answer.status) \(answer.text)")
            #expect(answer.errorCode == "unavailable")
            #expect(answer.headers.contains { $0.0.lowercased() == "retry-after" && (Int($0.1) ?? 0) >= 1 }, "\(r.function): \(answer.headers)")
            // With a lock bound, each answers within its own bound. Without one, a request may
            // wait behind another on its worker's kept connection, so it answers within the
            // longest bound of the requests sent, and still before nginx would give up.
            let own = try #require(manifest.functions.first { $0.name == r.function }).timeoutSeconds
            let longest = try requests.map { r in try #require(manifest.functions.first { $0.name == r.function }).timeoutSeconds }.max() ?? own
            let bound = lockSeconds == "0" ? longest : own
            // The margin covers answering and the hop through nginx.
            #expect(seconds < bound + 0.5, "\(r.function) answered after \(seconds) s; the bound is \(bound) s")
        }
        // Nothing of the refused enqueues was kept.
        let kept = try holder.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE idempotency_key LIKE 'under-lock-%'")[0].decode("n", as: Int.self)
        #expect(kept == 0)
        // Every worker serves again: more requests than workers, all answered at once.
        for i in 0..<6 {
            let answer = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)","idempotencyKey":"after-\#(i)"}"#, key: tenant.key, timeout: 5)
            #expect(answer.status == 201, "\(answer.text)")
        }
        #expect(try web.call("GET", "/v1/jobs/\(existing)", key: tenant.key, timeout: 5).status == 200)
        // No backend is left waiting on a lock.
        let waiting = try holder.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")[0].decode("n", as: Int.self)
        #expect(waiting == 0)
    }
}
