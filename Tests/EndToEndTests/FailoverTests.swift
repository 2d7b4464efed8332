import Foundation
import Handlers
import JobQueue
import Postgres
import Targets
import TestSupport
import Testing

/// Failover: a primary and a synchronous streaming standby (scripts/with-standby), Conveyor on a
/// multi-host URL (`…?target_session_attrs=read-write`) through nginx. 5,000 jobs of an HTTP
/// target are enqueued (before and during the switch, each retried with its idempotency key until
/// acknowledged) and drained by `cron-driver watch` and two process-batch loops, while the primary
/// is stopped (immediate mode) and the standby promoted.
///
/// Executions are counted by what the endpoint received, outside the engine. It asserts that
/// every acknowledged job was delivered and ended completed, that every extra delivery belongs to
/// an attempt the switch could cut (running at it, or delivered in the second before it, when a
/// claim or an outcome committed asynchronously can be lost), and that throughput is back within
/// 5 s of the promotion.
///
/// It stops a cluster, so it runs only when CONVEYOR_FAILOVER=1, as a separate step of
/// scripts/test with clusters of its own.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CONVEYOR_FAILOVER"] == "1"))
struct FailoverTests {
    static let preloaded = 4_000
    static let spreadSeconds = 24.0
    static let liveRate = 50.0
    static let total = 5_000
    static let timeoutSeconds = 5

    static func job(_ n: Int, runAt: String? = nil) -> String {
        let at = runAt.map { #","runAt":"\#($0)""# } ?? ""
        return #"{"kind":"failover-hook","payload":{"n":\#(n)},"idempotencyKey":"failover-\#(n)","maxAttempts":10,"timeoutSeconds":\#(timeoutSeconds)\#(at)}"#
    }

    static func manifest(_ receiver: WebhookReceiver, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("failover-functions.json")
        try Data("""
            {"include": ["\(Stack.repoRoot.appendingPathComponent("functions.json").path)"],
             "functions": [{"name": "failover-hook", "target": {"url": "\(receiver.base)/ok", "timeoutSeconds": \(timeoutSeconds)},
                            "job": {"queue": "failover", "maxAttempts": 10, "backoffBaseSeconds": 1}}]}
            """.utf8).write(to: path)
        return path.path
    }

    @Test func everyAcknowledgedJobRunsThroughAPromotion() throws {
        let env = ProcessInfo.processInfo.environment
        let primaryData = try #require(env["CONVEYOR_PGDATA"], "needs scripts/with-postgres")
        let standbyData = try #require(env["CONVEYOR_STANDBY_PGDATA"], "needs scripts/with-standby")
        let secret = WebhookSecret.generate()
        let endpoint = try WebhookReceiver(secrets: [secret])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("failover-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var options = Stack.Options(workers: 4)
        options.environment["CONVEYOR_MANIFEST"] = try Self.manifest(endpoint, in: directory)
        options.environment["CONVEYOR_WEBHOOK_SECRET"] = secret
        let stack = try Stack(options)
        #expect(stack.databaseURL.contains(","), "DATABASE_URL names one host: \(stack.databaseURL)")
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let acknowledged = Keys()

        let web = try Web(stack.baseURL)
        let firstDue = Date().addingTimeInterval(5)
        try preloadJobs(web, tenantKey: tenant.key, count: Self.preloaded, firstDue: firstDue, spreadSeconds: Self.spreadSeconds,
                        into: acknowledged, key: { "failover-\($0)" }, job: { Self.job($0, runAt: $1) })

        let watcher = try stack.launch(Stack.binDir.appendingPathComponent("cron-driver").path,
                                       ["watch", "--queues", "failover", "--max-seconds", "8", "--wait-seconds", "2", "--max-wait-seconds", "0.5"],
                                       log: "cron-driver.log")
        defer { if watcher.isRunning { kill(watcher.processIdentifier, SIGKILL); watcher.waitUntilExit() } }
        let stop = Flag()
        let loops = ProcessBatchLoops(stack, queue: "failover")
        defer { stop.set(); loops.finish() }

        // Enqueues during the switch, one at a time, each retried with its key until acknowledged.
        let live = DispatchGroup()
        let liveAttempts = Tally()
        live.enter()
        Thread.detachNewThread {
            defer { live.leave() }
            var web = try? Web(stack.baseURL)
            let start = Date()
            for n in Self.preloaded..<Self.total {
                var acked = false
                while !acked && !stop.isSet {
                    if web == nil { web = try? Web(stack.baseURL) }
                    let r = try? web?.call("POST", "/v1/jobs", body: Self.job(n), key: tenant.key, timeout: 10)
                    liveAttempts.add(r?.status ?? -1)
                    if let r, r.status == 201 || r.status == 200 { acked = true } else { web = nil; usleep(100_000) }
                }
                if acked { acknowledged.add(["failover-\(n)"]) }
                let next = start.addingTimeInterval(Double(n + 1 - Self.preloaded) / Self.liveRate)
                if next > Date() { usleep(UInt32(next.timeIntervalSinceNow * 1e6)) }
            }
        }

        let sampler = CompletionSampler(databaseURL: stack.databaseURL, queue: "failover", applicationName: "failover-sampler")
        defer { sampler.finish() }

        // The switch, 8 s after the first job is due: what runs just before it may be cut.
        while Date() < firstDue.addingTimeInterval(8) { usleep(50_000) }
        let observer = try Connection(url: stack.databaseURL, applicationName: "failover-observer")
        let runningBefore = Set(try observer.query("SELECT id FROM conveyor_jobs WHERE queue = 'failover' AND state = 'running'")
            .map { try $0.decode("id", as: Int64.self) })
        let stoppedAt = Date()
        let stopped = try ChildProcess.run("/usr/sbin/runuser", ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", primaryData,
                                                                 "-m", "immediate", "-w", "-t", "60", "stop"],
                                           environment: env, outputFile: stack.dir.appendingPathComponent("pg_ctl-stop.log"))
        #expect(stopped.status == 0, "pg_ctl stop: \(stopped.output)")
        let promoted = try ChildProcess.run("/usr/sbin/runuser", ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", standbyData,
                                                                  "-w", "-t", "60", "promote"],
                                            environment: env, outputFile: stack.dir.appendingPathComponent("pg_ctl-promote.log"))
        let promotedAt = Date()
        #expect(promoted.status == 0, "pg_ctl promote: \(promoted.output)")

        live.wait()
        let check = try Connection(url: stack.databaseURL, applicationName: "failover-check")
        #expect(try check.query("SELECT inet_server_port() AS p")[0].decode("p", as: Int.self) == Int(env["CONVEYOR_STANDBY_PORT"] ?? ""))
        let runningAfter = Set(try check.query("SELECT id FROM conveyor_jobs WHERE queue = 'failover' AND state = 'running'")
            .map { try $0.decode("id", as: Int64.self) })
        let drainDeadline = Date().addingTimeInterval(120)
        var unfinished = Int.max
        while Date() < drainDeadline {
            unfinished = try check.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = 'failover' AND state NOT IN ('completed', 'dead')")[0].decode("n")
            if unfinished == 0 { break }
            usleep(500_000)
        }
        stop.set()
        loops.finish()
        sampler.finish()

        let (deliveries, received) = try endpoint.deliveriesByKey()
        let unverified = received.filter { $0.verified != [true] }.count
        var jobs: [String: (id: Int64, state: String)] = [:]
        for row in try check.query("SELECT id, idempotency_key AS key, state::text AS state FROM conveyor_jobs WHERE queue = 'failover'") {
            jobs[try row.decode("key")] = (try row.decode("id"), try row.decode("state"))
        }
        let acked = acknowledged.all
        var missing = 0, notCompleted: [String: Int] = [:], undelivered = 0, extra = 0, unexplained: [String] = []
        for key in acked {
            guard let job = jobs[key] else { missing += 1; continue }
            if job.state != "completed" { notCompleted[job.state, default: 0] += 1 }
            if deliveries[key] == nil { undelivered += 1 }
        }
        let exposed = runningBefore.union(runningAfter)
        for (key, times) in deliveries where times.count > 1 {
            extra += times.count - 1
            // One cut attempt per job: running across the switch, or delivered in the second
            // before it (its claim or its outcome may not have reached the standby).
            let cut = (jobs[key].map { exposed.contains($0.id) } ?? false)
                || times.contains { $0 >= stoppedAt.addingTimeInterval(-1) && $0 <= promotedAt }
            if times.count - 1 > (cut ? 1 : 0) { unexplained.append("\(key): \(times.count) deliveries") }
        }
        let rates = ChaosTests.rates(sampler.samples.values, restartedAt: stoppedAt, backAt: promotedAt)
        print(String(format: "failover: primary stopped, standby promoted in %.2f s; ", promotedAt.timeIntervalSince(stoppedAt))
              + "\(acked.count) enqueues acknowledged (live attempts \(liveAttempts.histogram)), \(jobs.count) jobs stored, \(unfinished) unfinished, "
              + "\(received.count) deliveries, \(extra) beyond one per job, \(exposed.count) attempts running across the switch; "
              + "process-batch loop calls \(loops.calls.histogram)")
        print("failover: " + rates.report)
        #expect(acked.count == Self.total, "only \(acked.count) of \(Self.total) enqueues acknowledged")
        #expect(unfinished == 0, "\(unfinished) jobs neither completed nor dead\n\(stack.log("fcgi-host.log").suffix(3000))")
        #expect(missing == 0, "\(missing) acknowledged jobs are not in the promoted standby")
        #expect(notCompleted.isEmpty, "acknowledged jobs that did not complete: \(notCompleted)")
        #expect(undelivered == 0, "\(undelivered) acknowledged jobs never reached the endpoint")
        #expect(unverified == 0, "\(unverified) deliveries did not verify")
        #expect(unexplained.isEmpty, "deliveries beyond the attempts the switch cut: \(unexplained.prefix(10))")
        #expect(rates.recoveredWithin.map { $0 <= 5 } ?? false, "\(rates.report)")
    }
}
