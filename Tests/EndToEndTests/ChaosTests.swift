import Foundation
import Handlers
import JobQueue
import Postgres
import Targets
import TestSupport
import Testing

/// The crash-and-restart suite. send-email jobs go through nginx and fcgi-host (4 workers) to a
/// real SMTP sink, and every fourth job is instead an HTTP target's, signed to a real endpoint
/// (verified by the reference Standard Webhooks package), run by `cron-driver watch` and two loops of process-batch calls, while a
/// random worker is killed every 2 s, the master once, cron-driver once, and PostgreSQL restarts
/// once (immediate mode). Jobs are enqueued before the faults and during them; an enqueue counts
/// once the client has seen it acknowledged (retried with its idempotency key until it is).
///
/// Executions are counted by what the sink and the endpoint received, outside the engine. It asserts that the
/// faults happened; that every acknowledged job was delivered at least once and ended
/// completed; that every extra delivery belongs to a job whose attempt a fault may have cut (it
/// was running when a worker, the master or PostgreSQL went down, or, for PostgreSQL, it was
/// delivered in the second before the restart, when a claim committed asynchronously can be
/// lost); and that throughput is back within 5 s of PostgreSQL.
///
/// It restarts PostgreSQL, so it runs only when CONVEYOR_CHAOS=1, as the separate last step of
/// scripts/test with a cluster of its own; the main run skips it.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CONVEYOR_CHAOS"] == "1"))
struct ChaosTests {
    /// Jobs enqueued before the faults, due evenly over `spreadSeconds`.
    static let preloaded = 6_000
    static let spreadSeconds = 30.0
    /// Single enqueues a second during the faults.
    static let liveRate = 40.0
    /// Each attempt's time limit: its lease is this plus 10 s, so a cut attempt comes back soon.
    static let timeoutSeconds = 5

    static func job(_ n: Int, runAt: String? = nil) -> String {
        let at = runAt.map { #","runAt":"\#($0)""# } ?? ""
        let work = n % 4 == 0
            ? #"{"kind":"chaos-hook","payload":{"n":\#(n)},"#
            : #"{"kind":"send-email","payload":{"to":"chaos@example.com","subject":"chaos-\#(n)","text":"job \#(n)"},"#
        return work + #""idempotencyKey":"chaos-\#(n)","maxAttempts":10,"timeoutSeconds":\#(timeoutSeconds)\#(at)}"#
    }

    /// A manifest that includes Conveyor's and adds `chaos-hook`, an HTTP target in the email
    /// queue (so every check of that queue covers it), delivering to `receiver`.
    static func manifest(_ receiver: WebhookReceiver, in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("chaos-functions.json")
        try Data("""
            {"include": ["\(Stack.repoRoot.appendingPathComponent("functions.json").path)"],
             "functions": [{"name": "chaos-hook", "target": {"url": "\(receiver.base)/ok", "timeoutSeconds": \(timeoutSeconds)},
                            "job": {"queue": "email", "maxAttempts": 10, "backoffBaseSeconds": 1}}]}
            """.utf8).write(to: path)
        return path.path
    }

    @Test func everyAcknowledgedJobIsDeliveredThroughKillsAndAPostgresRestart() throws {
        let env = ProcessInfo.processInfo.environment
        let pgdata = try #require(env["CONVEYOR_PGDATA"], "needs scripts/with-postgres")
        let pgRoot = try #require(env["CONVEYOR_PG_ROOT"])
        let smtp = try SMTPSink()
        defer { smtp.stop() }
        let secret = WebhookSecret.generate()
        let endpoint = try WebhookReceiver(secrets: [secret])
        let manifestDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: manifestDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: manifestDirectory) }
        var options = Stack.Options(workers: 4)
        options.environment = smtp.environment
        options.environment["CONVEYOR_MANIFEST"] = try Self.manifest(endpoint, in: manifestDirectory)
        options.environment["CONVEYOR_WEBHOOK_SECRET"] = secret
        let stack = try Stack(options)
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let acknowledged = Keys()

        // Before the faults: batches of 1,000, due evenly over the spread.
        let web = try Web(stack.baseURL)
        let firstDue = Date().addingTimeInterval(6)
        try preloadJobs(web, tenantKey: tenant.key, count: Self.preloaded, firstDue: firstDue, spreadSeconds: Self.spreadSeconds,
                        into: acknowledged, key: { "chaos-\($0)" }, job: { Self.job($0, runAt: $1) })

        // The drivers: cron-driver watch (short calls, so a killed call's lease ends soon) and two
        // threads looping process-batch with a 4 s lease (a job's lease is at least its limit + 10 s).
        let watchArgs = ["watch", "--queues", "email", "--max-seconds", "8", "--wait-seconds", "2", "--max-wait-seconds", "0.5"]
        let driverPath = Stack.binDir.appendingPathComponent("cron-driver").path
        let watcher = Box<Process>()
        watcher.value = try stack.launch(driverPath, watchArgs, log: "cron-driver.log")
        defer { if let p = watcher.value, p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let stop = Flag()
        let loops = ProcessBatchLoops(stack, queue: "email")
        defer { stop.set(); loops.finish() }

        // Enqueues during the faults: one at a time, each retried with its key until acknowledged.
        let enqueuing = Flag()
        let live = DispatchGroup()
        let liveAttempts = Tally()
        live.enter()
        Thread.detachNewThread {
            defer { live.leave() }
            var n = Self.preloaded
            var web = try? Web(stack.baseURL)
            let start = Date()
            while !enqueuing.isSet {
                let key = "chaos-\(n)"
                var acked = false
                while !acked && !stop.isSet {
                    if web == nil { web = try? Web(stack.baseURL) }
                    let r = try? web?.call("POST", "/v1/jobs", body: Self.job(n), key: tenant.key, timeout: 10)
                    liveAttempts.add(r?.status ?? -1)
                    if let r, r.status == 201 || r.status == 200 { acked = true } else { web = nil; usleep(100_000) }
                }
                if acked { acknowledged.add([key]) }
                n += 1
                let next = start.addingTimeInterval(Double(n - Self.preloaded) / Self.liveRate)
                if next > Date() { usleep(UInt32(next.timeIntervalSinceNow * 1e6)) }
            }
        }

        // Progress, sampled from the database on a connection of its own.
        let sampler = CompletionSampler(databaseURL: stack.databaseURL, queue: "email", applicationName: "chaos-sampler")
        defer { sampler.finish() }

        // The faults, on a fixed timeline from the first due job. Around each, the jobs running:
        // an attempt a fault cuts was running just before it, or (its process gone) still is after.
        let watchConnection = Box<Connection>()
        func running() -> Set<Int64> {
            for _ in 0..<100 {
                do {
                    if watchConnection.value == nil { watchConnection.value = try Connection(url: stack.databaseURL, applicationName: "chaos-faults") }
                    let rows = try watchConnection.value!.query("SELECT id FROM conveyor_jobs WHERE queue = 'email' AND state = 'running'")
                    return Set(try rows.map { try $0.decode("id", as: Int64.self) })
                } catch {
                    watchConnection.value = nil
                    usleep(100_000)
                }
            }
            return []
        }
        var exposed: [Int64: Int] = [:]
        func expose(_ ids: Set<Int64>) { for id in ids { exposed[id, default: 0] += 1 } }
        var events: [String] = []
        var faults = (workers: 0, masters: 0, drivers: 0, postgres: 0)
        var pgBack: Date?, pgRestartedAt: Date?
        let plan: [(Double, String)] = [(9, "master"), (15, "cron-driver"), (21, "postgres")]
        var next = 0
        var lastWorkerKill = Date.distantPast
        let end = firstDue.addingTimeInterval(Self.spreadSeconds + 2)
        while Date() < end {
            let t = Date().timeIntervalSince(firstDue)
            if t >= 1, Date().timeIntervalSince(lastWorkerKill) >= 2, let master = stack.fcgiHost?.processIdentifier {
                let children = try stack.run("/usr/bin/pgrep", ["-P", String(master)]).split(separator: "\n").compactMap { pid_t($0) }
                if let victim = children.randomElement() {
                    let before = running()
                    if kill(victim, SIGKILL) == 0 { faults.workers += 1 }
                    expose(before.union(running()))
                }
                lastWorkerKill = Date()
            }
            if next < plan.count, t >= plan[next].0 {
                let at = String(format: "%.1f", t)
                switch plan[next].1 {
                case "master":
                    let before = running()
                    if let p = stack.fcgiHost, kill(p.processIdentifier, SIGKILL) == 0 {
                        p.waitUntilExit()
                        faults.masters += 1
                    }
                    usleep(300_000)
                    expose(before.union(running()))
                    try stack.restartFcgiHost(options)
                    events.append("t=\(at) s: kill -9 fcgi-host master, restarted")
                case "cron-driver":
                    // Its calls were HTTP requests: process-batch runs on in fcgi-host, nothing is cut.
                    if let p = watcher.value, kill(p.processIdentifier, SIGKILL) == 0 {
                        p.waitUntilExit()
                        faults.drivers += 1
                    }
                    usleep(500_000)
                    watcher.value = try stack.launch(driverPath, watchArgs, log: "cron-driver-2.log")
                    events.append("t=\(at) s: kill -9 cron-driver watch, restarted")
                default:
                    let before = running()
                    pgRestartedAt = Date()
                    let r = try ChildProcess.run("/usr/sbin/runuser", ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", pgdata,
                                                                       "-l", pgRoot + "/server.log", "-m", "immediate", "-w", "-t", "60", "restart"],
                                                 environment: env, outputFile: stack.dir.appendingPathComponent("pg_ctl.log"))
                    pgBack = Date()
                    if r.status == 0 { faults.postgres += 1 }
                    #expect(r.status == 0, "pg_ctl restart: \(r.output)")
                    expose(before.union(running()))
                    events.append(String(format: "t=%@ s: pg_ctl restart -m immediate, back after %.2f s", at, pgBack!.timeIntervalSince(pgRestartedAt!)))
                }
                next += 1
            }
            usleep(100_000)
        }
        enqueuing.set()
        live.wait()
        events.append("\(faults.workers) workers killed with kill -9, one every 2 s")

        // Drain: every job ended, or give up after the longest lease and more.
        let check = try Connection(url: stack.databaseURL, applicationName: "chaos-check")
        let drainDeadline = Date().addingTimeInterval(120)
        var unfinished = Int.max
        while Date() < drainDeadline {
            unfinished = try check.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = 'email' AND state NOT IN ('completed', 'dead')")[0].decode("n")
            if unfinished == 0 { break }
            usleep(500_000)
        }
        stop.set()
        loops.finish()
        sampler.finish()
        Thread.sleep(forTimeInterval: 0.5)

        // What the sink received, by subject, and what the endpoint received, by idempotency key;
        // and when.
        var deliveries = try Self.deliveries(in: smtp.maildir)
        let (hooked, hookDeliveries) = try endpoint.deliveriesByKey()
        deliveries.merge(hooked) { $0 + $1 }
        let unverified = hookDeliveries.filter { $0.verified != [true] }.count
        let rows = try check.query("""
            SELECT id, idempotency_key AS key, state::text AS state, attempt::int AS attempt FROM conveyor_jobs WHERE queue = 'email'
            """)
        var jobs: [String: (id: Int64, state: String, attempt: Int)] = [:]
        for row in rows {
            jobs[try row.decode("key")] = (try row.decode("id"), try row.decode("state"), try row.decode("attempt"))
        }
        let acked = acknowledged.all
        var missing = 0, notCompleted: [String: Int] = [:], undelivered = 0, extra = 0, unexplained: [String] = []
        for key in acked {
            guard let job = jobs[key] else { missing += 1; continue }
            if job.state != "completed" { notCompleted[job.state, default: 0] += 1 }
            if deliveries[key] == nil { undelivered += 1 }
        }
        for (key, times) in deliveries {
            let beyond = times.count - 1
            guard beyond > 0 else { continue }
            extra += beyond
            var explained = jobs[key].map { exposed[$0.id] ?? 0 } ?? 0
            if let restart = pgRestartedAt, let back = pgBack {
                explained += times.contains { $0 >= restart.addingTimeInterval(-1) && $0 <= back } ? 1 : 0
            }
            if beyond > explained { unexplained.append("\(key): \(times.count) deliveries, \(explained) cut attempts") }
        }
        let cut = exposed.values.reduce(0, +)
        let rates = Self.rates(sampler.samples.values, restartedAt: pgRestartedAt, backAt: pgBack)
        let delivered = deliveries.values.reduce(0) { $0 + $1.count }
        print("chaos: " + events.joined(separator: "; "))
        print("chaos: \(acked.count) enqueues acknowledged (\(acked.count - Self.preloaded) during the faults, live attempts \(liveAttempts.histogram)), "
              + "\(jobs.count) jobs stored, \(unfinished) unfinished, \(delivered) deliveries, \(extra) beyond one per job, "
              + "\(cut) attempts running at a fault (\(hookDeliveries.count) of the deliveries to the HTTP target); process-batch loop calls \(loops.calls.histogram)")
        print("chaos: " + rates.report)
        #expect(faults.workers >= 10 && faults.masters == 1 && faults.drivers == 1 && faults.postgres == 1, "faults: \(faults)")
        #expect(acked.count > Self.preloaded + 500, "only \(acked.count - Self.preloaded) enqueues acknowledged during the faults")
        #expect(unfinished == 0, "\(unfinished) jobs neither completed nor dead\n\(stack.log("fcgi-host.log").suffix(4000))")
        #expect(missing == 0, "\(missing) acknowledged jobs are not in the table")
        #expect(notCompleted.isEmpty, "acknowledged jobs that did not complete: \(notCompleted)")
        #expect(undelivered == 0, "\(undelivered) acknowledged jobs never reached the SMTP server or the endpoint")
        #expect(hookDeliveries.count >= acked.count / 4 - 10, "the HTTP target got \(hookDeliveries.count) deliveries")
        #expect(unverified == 0, "\(unverified) deliveries to the HTTP target did not verify")
        #expect(extra <= cut, "\(extra) extra deliveries, \(cut) attempts a fault could cut")
        #expect(unexplained.isEmpty, "deliveries beyond the attempts faults cut: \(unexplained.prefix(10))")
        #expect(rates.recoveredWithin.map { $0 <= 5 } ?? false, "\(rates.report)")
    }

    /// The messages in the sink's maildir: each subject's delivery times (the file's).
    static func deliveries(in maildir: URL) throws -> [String: [Date]] {
        var found: [String: [Date]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: maildir.path) where name.hasSuffix(".eml") {
            let url = maildir.appendingPathComponent(name)
            let text = try String(contentsOf: url, encoding: .utf8)
            guard let line = text.split(separator: "\r\n").prefix(while: { !$0.isEmpty }).first(where: { $0.hasPrefix("Subject: ") }) else { continue }
            let at = (try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? .distantPast
            found[String(line.dropFirst("Subject: ".count)), default: []].append(at)
        }
        return found
    }

    struct Rates {
        var report: String
        /// Seconds from PostgreSQL accepting connections again to a 1 s window at ≥ 95% of the
        /// pre-restart rate.
        var recoveredWithin: Double?
    }

    /// Completions per second before the restart (the 5 s before it) and after it.
    static func rates(_ samples: [(Date, Int)], restartedAt: Date?, backAt: Date?) -> Rates {
        guard let restartedAt, let backAt else { return Rates(report: "PostgreSQL was not restarted", recoveredWithin: nil) }
        func count(at t: Date) -> Int? { samples.last { $0.0 <= t }?.1 }
        guard let a = count(at: restartedAt.addingTimeInterval(-5)), let b = count(at: restartedAt) else {
            return Rates(report: "no samples before the restart", recoveredWithin: nil)
        }
        let before = Double(b - a) / 5
        var recovered: Double?
        var windows: [String] = []
        for (i, s) in samples.enumerated() where s.0 >= backAt {
            guard let j = samples[i...].firstIndex(where: { $0.0.timeIntervalSince(s.0) >= 1 }) else { break }
            let rate = Double(samples[j].1 - s.1) / samples[j].0.timeIntervalSince(s.0)
            if windows.count < 12 { windows.append(String(format: "+%.1fs %.0f/s", s.0.timeIntervalSince(backAt), rate)) }
            if recovered == nil && rate >= 0.95 * before { recovered = samples[j].0.timeIntervalSince(backAt) }
        }
        let report = String(format: "throughput before the restart %.0f jobs/s; PostgreSQL down %.2f s; ", before, backAt.timeIntervalSince(restartedAt))
            + (recovered.map { String(format: "back to ≥ 95%% within %.2f s of PostgreSQL; ", $0) } ?? "never back to 95%; ")
            + "1 s windows after: " + windows.joined(separator: ", ")
        return Rates(report: report, recoveredWithin: recovered)
    }
}

/// (time, finished jobs) samples from the sampler thread.
final class Samples: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [(Date, Int)] = []
    func add(_ t: Date, _ n: Int) { lock.lock(); list.append((t, n)); lock.unlock() }
    var values: [(Date, Int)] { lock.lock(); defer { lock.unlock() }; return list }
}

/// Idempotency keys the client saw acknowledged.
final class Keys: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ keys: [String]) { lock.lock(); list += keys; lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
