import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// `cron-driver watch` against the real test cluster (DATABASE_URL from scripts/with-postgres)
/// and a recording HTTP server in place of nginx.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DATABASE_URL"] != nil, "needs DATABASE_URL (scripts/with-postgres)"))
struct WatchTests {
    static let key = "cron-watch-test-key-\(UUID().uuidString.prefix(8))"
    static var databaseURL: String { ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "" }

    /// A migrated connection for the test's own statements.
    static func database() throws -> Connection {
        let connection = try Connection(url: databaseURL, applicationName: "conveyor-cron-tests")
        try ConveyorSchema.migrate(connection)
        return connection
    }

    static func uniqueName(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(8).lowercased())" }

    struct Watching {
        let dir: URL
        let recorder: HTTPRecorder
        let watch: Child
        let queue: String
        let applicationName: String

        var batchCalls: [HTTPRecorder.Request] { recorder.requests.filter { $0.path == "/v1/process-batch" } }

        func waitForCalls(_ count: Int, timeout: Double = 5) async -> Bool {
            await DriverHarness.eventually(timeout: timeout) { batchCalls.count >= count }
        }

        func stop() {
            watch.stop()
            recorder.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    /// Starts a recorder answering `{"claimed":0}` and a watcher on a queue of its own. Without a
    /// long poll unless `arguments` ask for one: the recorder answers at once, as a process-batch
    /// that waits would not.
    static func startWatching(holdFirstSeconds: Double? = nil, arguments: [String] = ["--wait-seconds", "0"]) async throws -> Watching {
        let dir = try DriverHarness.temporaryDirectory()
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/process-batch=200:{"claimed":0}"#], holdFirstSeconds: holdFirstSeconds)
        let queue = uniqueName("watch")
        let applicationName = uniqueName("conveyor-cron-watch")
        let env = DriverHarness.environment(["CONVEYOR_URL": recorder.url, "CONVEYOR_PROCESSOR_KEY": key, "DATABASE_URL": databaseURL])
        let watch = try Child(DriverHarness.binary,
                              ["watch", "--queues", queue, "--max-jobs", "50", "--max-seconds", "20",
                               "--application-name", applicationName, "--verbose"] + arguments,
                              environment: env, directory: dir, label: "watch")
        return Watching(dir: dir, recorder: recorder, watch: watch, queue: queue, applicationName: applicationName)
    }

    static func enqueue(_ queue: String, delay: Double? = nil, on connection: Connection) throws {
        _ = try PostgresJobStore(connection: connection).enqueue(
            [NewJob(kind: "noop", payloadJSON: "{}", queue: queue, delaySeconds: delay, maxAttempts: 3)],
            orgId: Int64.random(in: 1_000_000...Int64(Int32.max)))
    }

    /// A call busy with slow jobs does not hold up new work: an enqueue starts a second call
    /// beside it, and no more than --max-in-flight run at once. The first call is held; the
    /// recorder's arrival times tell whether the next came while it was held. With a long poll
    /// the held call is the long poll, and the job it does not take starts another.
    struct Calls: Sendable, CustomTestStringConvertible {
        var maxInFlight: Int
        var waitSeconds: Double
        var testDescription: String { "--max-in-flight \(maxInFlight) --wait-seconds \(waitSeconds)" }
        static let all = [Calls(maxInFlight: 2, waitSeconds: 0), Calls(maxInFlight: 1, waitSeconds: 0),
                          Calls(maxInFlight: 2, waitSeconds: 20), Calls(maxInFlight: 1, waitSeconds: 20)]
    }

    @Test(arguments: Calls.all)
    func newWorkStartsACallBesideABusyOne(calls mode: Calls) async throws {
        let maxInFlight = mode.maxInFlight, waitSeconds = mode.waitSeconds
        let db = try Self.database()
        // Long enough that a test thread starved by the suites beside it still enqueues while the
        // first call is held; with one call at a time the second waits for the hold, so shorter.
        let hold = maxInFlight > 1 ? 60.0 : 12.0
        let w = try await Self.startWatching(holdFirstSeconds: hold, arguments: ["--max-in-flight", String(maxInFlight),
                                                                                "--wait-seconds", String(waitSeconds)])
        defer { w.stop() }
        #expect(await w.waitForCalls(1), "\(w.watch.stderr)")
        try Self.enqueue(w.queue, on: db)
        // Tests share two cooperative threads, so this one may run late: the enqueue's own time
        // is what the calls are compared with.
        let enqueuedAt = Date().timeIntervalSince1970
        #expect(await w.waitForCalls(2, timeout: 25), "\(w.watch.stderr)")
        let calls = w.batchCalls
        let heldUntil = calls[0].at + hold
        if maxInFlight > 1 {
            try #require(enqueuedAt < heldUntil - 2, "the enqueue came too late to tell")
            #expect(calls[1].at < heldUntil, "the second call came \(calls[1].at - enqueuedAt) s after the enqueue, while the first was held")
            #expect(calls[1].at - enqueuedAt < 2)
        } else {
            #expect(calls[1].at >= heldUntil - 0.05, "one call at a time: the second came \(calls[1].at - calls[0].at) s after the first")
        }
    }

    @Test func callsAtStartAndWithinMillisecondsOfAnEnqueue() async throws {
        let db = try Self.database()
        let w = try await Self.startWatching()
        defer { w.stop() }

        // One call at start: jobs may have been waiting.
        #expect(await w.waitForCalls(1), "\(w.watch.stderr)")
        let first = try #require(w.batchCalls.first)
        #expect(first.method == "POST")
        #expect(first.headers["x-api-key"] == Self.key)
        #expect(first.body == #"{"maxJobs":50,"maxSeconds":20,"queues":["\#(w.queue)"]}"#)
        try await Task.sleep(for: .milliseconds(300))
        let settled = w.batchCalls.count

        // Notifications for other queues do not wake it (nothing is due in its own queue yet).
        try db.notify(JobQueueSchema.notifyChannel(.standard), payload: Self.uniqueName("other"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(w.batchCalls.count == settled)

        // A plain pg_notify on its queue does.
        try db.query("SELECT pg_notify(\(JobQueueSchema.notifyChannel(.standard)), \(w.queue))")
        #expect(await w.waitForCalls(settled + 1), "\(w.watch.stderr)")

        // So does an enqueue's own NOTIFY for a job due now.
        try await Task.sleep(for: .milliseconds(100))
        let beforeEnqueue = w.batchCalls.count
        try Self.enqueue(w.queue, on: db)
        #expect(await w.waitForCalls(beforeEnqueue + 1), "\(w.watch.stderr)")

        #expect(await w.watch.terminate() == 0)
        #expect(!w.watch.stderr.contains(Self.key))
    }

    @Test func wakesForADelayedJobWithoutANotification() async throws {
        let db = try Self.database()
        // Enqueued before the watcher starts: the start call comes too early for it, and no
        // NOTIFY is sent for a job that is not due, so the watcher must sleep until its run_at.
        let enqueuedAt = Date()
        let w = try await Self.startWatchingAfterEnqueue(delay: 2, on: db)
        defer { w.stop() }
        #expect(await w.waitForCalls(1), "\(w.watch.stderr)")
        #expect(await w.waitForCalls(2, timeout: 10), "\(w.watch.stderr)")
        // Not before the job was due (a generous bound: it came due 2 s after the enqueue).
        #expect(Date().timeIntervalSince(enqueuedAt) > 1.5)
    }

    /// Enqueues a delayed job on a fresh queue, then starts watching that queue.
    static func startWatchingAfterEnqueue(delay: Double, on db: Connection) async throws -> Watching {
        let dir = try DriverHarness.temporaryDirectory()
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/process-batch=200:{"claimed":0}"#])
        let queue = uniqueName("delayed")
        try enqueue(queue, delay: delay, on: db)
        let applicationName = uniqueName("conveyor-cron-watch")
        let env = DriverHarness.environment(["CONVEYOR_URL": recorder.url, "CONVEYOR_PROCESSOR_KEY": key, "DATABASE_URL": databaseURL])
        let watch = try Child(DriverHarness.binary, ["watch", "--queues", queue, "--application-name", applicationName, "--verbose",
                                                     "--wait-seconds", "0"],
                              environment: env, directory: dir, label: "watch")
        return Watching(dir: dir, recorder: recorder, watch: watch, queue: queue, applicationName: applicationName)
    }

    /// One call is always out as a long poll, with `waitSeconds` in its body. One that answers
    /// at once (as this recorder does, or a process-batch that does not wait) is called again
    /// after a pause, not in a loop.
    @Test func aLongPollIsAlwaysOutButNeverCalledInALoop() async throws {
        let w = try await Self.startWatching(arguments: ["--wait-seconds", "15"])
        defer { w.stop() }
        // It keeps calling…
        #expect(await w.waitForCalls(3, timeout: 15), "\(w.watch.stderr)")
        let calls = w.batchCalls
        let first = try #require(calls.first)
        #expect(first.body == #"{"maxJobs":50,"maxSeconds":20,"queues":["\#(w.queue)"],"waitSeconds":15}"#)
        // …but not in a loop: the recorder's arrival times show the pause between calls.
        for (a, b) in zip(calls, calls.dropFirst()) {
            #expect(b.at - a.at >= 0.9, "a call \(b.at - a.at) s after the one before")
        }
    }

    /// A stop does not wait for a long poll to answer: the call is abandoned (process-batch runs
    /// its jobs to the end regardless) and the watcher exits.
    @Test func aStopAbandonsTheLongPoll() async throws {
        let hold = 60.0
        let w = try await Self.startWatching(holdFirstSeconds: hold, arguments: ["--wait-seconds", "15"])
        defer { w.stop() }
        #expect(await w.waitForCalls(1), "\(w.watch.stderr)")
        let stoppedAt = Date()
        #expect(await w.watch.terminate() == 0)
        #expect(Date().timeIntervalSince(stoppedAt) < hold / 2, "it waited for the held call")
    }

    @Test func survivesATerminatedBackend() async throws {
        let db = try Self.database()
        let w = try await Self.startWatching()
        defer { w.stop() }
        #expect(await w.waitForCalls(1), "\(w.watch.stderr)")

        func backends() throws -> [Int32] {
            try db.query("SELECT pid FROM pg_stat_activity WHERE application_name = \(w.applicationName)")
                .map { try $0.decode("pid", as: Int32.self) }
        }
        let before = try backends()
        try #require(before.count == 1)
        let killed = w.batchCalls.count
        try db.query("SELECT pg_terminate_backend(\(before[0]))")

        // It reconnects, and calls once because notifications may have been missed meanwhile.
        #expect(await DriverHarness.eventually(timeout: 15) { (try? backends()).map { $0.count == 1 && $0 != before } ?? false },
                "\(w.watch.stderr)")
        #expect(await w.waitForCalls(killed + 1, timeout: 15), "\(w.watch.stderr)")
        #expect(w.watch.stderr.contains("database connection lost"))

        // Notifications reach it again (the LISTEN may land a moment after the backend shows up).
        let reconnected = w.batchCalls.count
        var woke = false
        for _ in 0..<30 where !woke {
            _ = try? db.query("SELECT pg_notify(\(JobQueueSchema.notifyChannel(.standard)), \(w.queue))")
            woke = await w.waitForCalls(reconnected + 1, timeout: 0.5)
        }
        #expect(woke, "\(w.watch.stderr)")
        #expect(w.watch.process.isRunning)
    }

    @Test func httpFailuresAreRetriedNotFatal() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/process-batch=503:{"error":{"code":"unavailable"}}"#])
        let env = DriverHarness.environment(["CONVEYOR_URL": recorder.url, "CONVEYOR_PROCESSOR_KEY": Self.key, "DATABASE_URL": Self.databaseURL])
        let watch = try Child(DriverHarness.binary, ["watch", "--queues", Self.uniqueName("failing")],
                              environment: env, directory: dir, label: "watch")
        let w = Watching(dir: dir, recorder: recorder, watch: watch, queue: "", applicationName: "")
        defer { w.stop() }
        // Backoff 0.5 s, then 1 s: a third attempt within a few seconds, and still running.
        #expect(await w.waitForCalls(3, timeout: 15), "\(watch.stderr)")
        #expect(watch.process.isRunning)
        #expect(watch.stderr.contains("process-batch: HTTP 503"))
        #expect(await watch.terminate() == 0)
    }

    @Test func missingDatabaseURLIsOneLine() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var env = DriverHarness.environment(["CONVEYOR_URL": "http://127.0.0.1:9", "CONVEYOR_PROCESSOR_KEY": Self.key])
        env["DATABASE_URL"] = nil
        let watch = try Child(DriverHarness.binary, ["watch"], environment: env, directory: dir, label: "watch")
        #expect(await watch.wait(timeout: 30) == 2)
        #expect(watch.stderr == "cron-driver: DATABASE_URL is not set\n")
    }
}
