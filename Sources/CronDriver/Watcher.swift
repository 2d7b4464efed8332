import Cron
import Curl
import Foundation
import JobQueue
import Logging
import Postgres

/// The `watch` loop, on the calling thread: wait on LISTEN for enqueues, call process-batch,
/// and otherwise sleep until the next delayed job is due.
///
/// With `waitSeconds` (the default), one call is always a long poll: process-batch waits for
/// enqueues itself and claims the moment one arrives, so pickup costs one claim, not a
/// notification, an HTTP call and a batch's start. When it answers, the next one goes out at
/// once. This loop still listens: work the long poll cannot take (its slots are full of slow
/// jobs, or a job's time limit does not fit what is left of its budget) starts another call
/// beside it.
///
/// Blocking by design: one connection and this thread listen, and calls run on threads of their
/// own, each with its own libcurl handle, at most `maxInFlight` at once. While a call is busy
/// with slow jobs, new work starts another, so one slow queue never holds up the rest. Waits
/// are cut into short slices so a stop request is noticed within half a second; a long poll is
/// abandoned on stop (its jobs run to the end in process-batch regardless), other calls are
/// allowed to finish.
final class Watcher: @unchecked Sendable {
    struct Options: Sendable {
        var queues: [String]?
        var maxJobs: Int
        var maxSeconds: Double
        var debounce: Double
        var maxWait: Double
        var applicationName: String
        var maxInFlight: Int = 2
        /// The long poll's `waitSeconds`; 0 calls only when there is work.
        var waitSeconds: Double = 0
        /// Each call's `parallelism` (nil: process-batch's default).
        var parallelism: Int?
    }

    private let options: Options
    private let databaseURL: String
    /// The installation whose enqueues wake us: its schema names the channel.
    private let channel: String
    private let endpoint: FunctionEndpoint
    private let settings: DriverSettings
    private let stop: CronStopSignal
    private let logger: Logger
    private let body: Data
    private let longPollBody: Data
    private var longPolls: Bool { options.waitSeconds > 0 }

    private var connection: Connection?
    /// A call is owed: at start, after a notification, a full batch, a due delayed job or a reconnect.
    private var pending = true
    private var lastClaimed = 0
    /// Grows while jobs are due but calls claim none, so a failing processor is not hammered.
    private var dueBackoff: Double = 0
    /// Calls under way and the answers of those that ended.
    private let calls = NSLock()
    private var inFlight = 0
    /// The long poll that is always out (the primary call; others are extra): its number (0 when
    /// none is out) and when it went out. Once its wait is over it may still run jobs for a
    /// while, and can no longer take work whose time limit passes its budget: the next primary
    /// then goes out beside it.
    private var primaryCall = 0
    private var primaryStartedAt = Date.distantPast
    private var callsStarted = 0
    private var ended: [Ended] = []
    /// When the next long poll may go out: at once, unless the last one answered early.
    private var nextLongPollAt = Date.distantPast
    /// Extra calls beside the long poll wait this long after one that claimed nothing.
    private var extraBackoff: Double = 0
    private var extraAllowedAt = Date.distantPast

    /// A call's answer: jobs claimed (nil when stopped first) and how long it took.
    struct Ended {
        var claimed: Int?
        var primary: Bool
        var seconds: Double
    }
    /// Idle callers, each with its own libcurl handle (and kept-alive connection to nginx).
    private var idleCallers: [FunctionCaller] = []

    /// How long one wait lasts at most, so a stop request is noticed.
    private static let slice = 0.5

    init(options: Options, databaseURL: String, endpoint: FunctionEndpoint, settings: DriverSettings,
         stop: CronStopSignal, logger: Logger) throws {
        self.options = options
        self.databaseURL = databaseURL
        channel = JobQueueSchema.notifyChannel(try DatabaseSchema.fromEnvironment())
        self.endpoint = endpoint
        self.settings = settings
        self.stop = stop
        self.logger = logger
        struct Body: Encodable {
            var maxJobs: Int
            var maxSeconds: Double
            var queues: [String]?
            var parallelism: Int?
            var waitSeconds: Double?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        body = try encoder.encode(Body(maxJobs: options.maxJobs, maxSeconds: options.maxSeconds, queues: options.queues,
                                       parallelism: options.parallelism))
        longPollBody = try encoder.encode(Body(maxJobs: options.maxJobs, maxSeconds: options.maxSeconds, queues: options.queues,
                                               parallelism: options.parallelism, waitSeconds: options.waitSeconds))
        // The long poll handles the start's work itself.
        pending = !longPolls
    }

    /// Runs until the stop signal is raised, then waits for the calls under way.
    func run() {
        let scope = options.queues.map { "queues \($0.joined(separator: ","))" } ?? "all queues"
        let poll = longPolls ? "a long poll of \(options.waitSeconds) s always out, " : ""
        logger.info("watching \(channel) for \(scope); calling \(endpoint.method) \(endpoint.url), \(poll)up to \(options.maxInFlight) at once")
        defer { waitForCalls() }
        while !stop.isStopped {
            guard let connection = connected() else { return }
            do {
                collectEnded()
                if longPolls, !primaryWaits, Date() >= nextLongPollAt, startCall(primary: true) {
                    continue
                }
                if pending, startCall(primary: false) {
                    pending = false
                    continue
                }
                if calls.withLock({ inFlight }) > 0 {
                    // Calls are busy (with slow jobs, perhaps): keep listening, so new work starts
                    // another call beside them rather than waiting for them to end.
                    let arrived = relevant(try connection.waitForNotifications(timeout: Self.busySlice))
                    if arrived.contains(where: { !$0.delayed }) {
                        if longPolls {
                            try callIfLeft(connection)
                        } else {
                            try debounce(connection)
                            pending = true
                        }
                    }
                } else if longPolls {
                    // The long poll waits out its backoff.
                    _ = try connection.waitForNotifications(timeout: max(0.001, min(Self.slice, nextLongPollAt.timeIntervalSinceNow)))
                } else {
                    try idle(connection)
                }
            } catch let error as PostgresError where Self.isConnectionLoss(error) {
                reconnect(connection, after: error)
            } catch {
                logger.error("database error: \(error); retrying in 1 s")
                stop.wait(seconds: 1)
            }
        }
    }

    /// How often the loop looks at ended calls while some are under way.
    private static let busySlice = 0.05

    /// True while the primary long poll is out and still within its wait (and a moment more, in
    /// which an idle one answers by itself).
    private var primaryWaits: Bool {
        calls.withLock { primaryCall != 0 && Date() < primaryStartedAt + options.waitSeconds + 0.5 }
    }

    /// Starts a call on a thread of its own when fewer than `maxInFlight` are under way; a new
    /// primary may go out beside that many, as the one it replaces is done waiting.
    private func startCall(primary: Bool) -> Bool {
        let started: (FunctionCaller, Int)? = calls.withLock {
            guard inFlight < options.maxInFlight + (primary ? 1 : 0) else { return nil }
            guard let caller = idleCallers.popLast() ?? (try? FunctionCaller(settings: settings)) else { return nil }
            inFlight += 1
            callsStarted += 1
            if primary {
                primaryCall = callsStarted
                primaryStartedAt = Date()
            }
            return (caller, callsStarted)
        }
        guard let (caller, number) = started else { return false }
        Thread.detachNewThread { [self] in
            let started = ContinuousClock.now
            let claimed = callProcessBatch(caller, body: primary ? longPollBody : body, abandonOnStop: primary)
            let took = ContinuousClock.now - started
            let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            calls.withLock {
                inFlight -= 1
                if primaryCall == number { primaryCall = 0 }
                idleCallers.append(caller)
                ended.append(Ended(claimed: claimed, primary: primary, seconds: seconds))
            }
        }
        return true
    }

    /// What the calls that ended claimed: a full batch means more may wait.
    private func collectEnded() {
        let answers = calls.withLock { () -> [Ended] in
            defer { ended.removeAll() }
            return ended
        }
        for answer in answers {
            guard let claimed = answer.claimed else { continue }
            lastClaimed = claimed
            if claimed > 0 { dueBackoff = 0 }
            if answer.primary {
                // A long poll answers early only when full or when its host stops; one that keeps
                // answering at once (a process-batch that does not wait) must not be called in a loop.
                if claimed < options.maxJobs, answer.seconds < options.waitSeconds / 2 {
                    nextLongPollAt = Date() + 1
                    logger.debug("the long poll answered after \(answer.seconds) s; calling again in 1 s")
                }
                continue
            }
            if claimed >= options.maxJobs { pending = true }
            if longPolls {
                extraBackoff = claimed > 0 ? 0 : (extraBackoff == 0 ? 0.5 : min(extraBackoff * 2, options.maxWait))
                extraAllowedAt = Date() + extraBackoff
            }
        }
    }

    /// Work was enqueued while the long poll is out. It claims such work within a round trip;
    /// if due jobs are still left after `longPollGrace`, its slots are full or the jobs do not
    /// fit its budget, and another call takes them. That call does not wait: it runs what it
    /// claims and answers, so at most one FastCGI worker is ever held by a wait.
    private func callIfLeft(_ connection: Connection) throws {
        let until = Date() + Self.longPollGrace
        while !stop.isStopped, until.timeIntervalSinceNow > 0 {
            _ = try connection.waitForNotifications(timeout: until.timeIntervalSinceNow)
        }
        guard Date() >= extraAllowedAt, let next = try PostgresJobStore(connection: connection).nextRunAt(queues: options.queues),
              next <= Date() else { return }
        pending = true
    }

    /// How long the long poll gets to take new work before another call is started for it.
    private static let longPollGrace = 0.01

    private func waitForCalls() {
        while calls.withLock({ inFlight }) > 0 { usleep(20_000) }
    }

    /// Sleeps until a relevant notification (then debounces), the next delayed job, or the cap.
    private func idle(_ connection: Connection) throws {
        let (deadline, dueThen) = try wakeTime(connection)
        while !stop.isStopped {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 {
                if dueThen { pending = true }
                return
            }
            let arrived = relevant(try connection.waitForNotifications(timeout: min(remaining, Self.slice)))
            if arrived.contains(where: { !$0.delayed }) {
                try debounce(connection)
                pending = true
                return
            }
            // Only delayed jobs arrived: nothing to run yet, but the next wake-up may be earlier.
            if !arrived.isEmpty { return }
        }
    }

    /// When to look again, and whether a job is due by then.
    private func wakeTime(_ connection: Connection) throws -> (Date, Bool) {
        let next: Date?
        do {
            next = try PostgresJobStore(connection: connection).nextRunAt(queues: options.queues)
        } catch let error as PostgresError where !Self.isConnectionLoss(error) {
            logger.warning("cannot look up the next delayed job: \(error.message)")
            return (Date() + options.maxWait, false)
        }
        // Read after the query: "due now" comes back as the server's now(), which a clock read
        // before the query would take for a moment in the future.
        let now = Date()
        let cap = now + options.maxWait
        guard let next else { return (cap, false) }
        if next > now { return next <= cap ? (next, true) : (cap, false) }
        // Due already. Call again at once after a call that claimed jobs (the batch stopped at
        // maxSeconds); after one that claimed none, back off: the processor is failing these
        // jobs' claims, or another driver holds them.
        guard lastClaimed == 0 else { return (now, true) }
        dueBackoff = dueBackoff == 0 ? 1 : min(dueBackoff * 2, options.maxWait)
        logger.debug("jobs are due but the last call claimed none; calling again in \(dueBackoff) s")
        return (now + dueBackoff, true)
    }

    /// Collects the rest of a burst so one call serves it.
    private func debounce(_ connection: Connection) throws {
        let until = Date() + options.debounce
        while !stop.isStopped {
            let remaining = until.timeIntervalSinceNow
            if remaining <= 0 { return }
            _ = try connection.waitForNotifications(timeout: remaining)
        }
    }

    /// A notification about one queue: jobs due now, or only delayed ones.
    struct QueueNotice {
        var queue: String
        var delayed: Bool
    }

    /// The notifications for the queues watched.
    private func relevant(_ notifications: [PostgresNotification]) -> [QueueNotice] {
        notifications.compactMap { n in
            let delayed = n.payload.hasPrefix(JobQueueSchema.delayedPrefix)
            let queue = delayed ? String(n.payload.dropFirst(JobQueueSchema.delayedPrefix.count)) : n.payload
            if let queues = options.queues, !queues.contains(queue) { return nil }
            return QueueNotice(queue: queue, delayed: delayed)
        }
    }

    /// One process-batch call, retried with backoff until it gets a 2xx answer. Returns the
    /// number of jobs claimed, or nil when stopped first.
    private func callProcessBatch(_ caller: FunctionCaller, body: Data, abandonOnStop: Bool) -> Int? {
        var backoff = 0.5
        let stop = self.stop
        let stopped: @Sendable () -> Bool = { stop.isStopped }
        let abandonWhen = abandonOnStop ? stopped : nil
        while !stop.isStopped {
            let started = ContinuousClock.now
            let problem: String
            do {
                let response = try caller.send(endpoint, body: body, abandonWhen: abandonWhen)
                let ms = (ContinuousClock.now - started).components.seconds * 1000
                    + (ContinuousClock.now - started).components.attoseconds / 1_000_000_000_000_000
                if response.isSuccess {
                    struct Summary: Decodable { var claimed: Int? }
                    let claimed = (try? JSONDecoder().decode(Summary.self, from: response.body))?.claimed ?? 0
                    let line: Logger.Message = "process-batch: HTTP \(response.status), claimed \(claimed) in \(ms) ms"
                    if claimed > 0 { logger.info(line) } else { logger.debug(line) }
                    return claimed
                }
                problem = "HTTP \(response.status) \(response.bodySnippet())"
            } catch {
                problem = "\(error)"
            }
            logger.warning("process-batch: \(problem); retrying in \(backoff) s")
            if stop.wait(seconds: backoff) { return nil }
            backoff = min(backoff * 2, 30)
        }
        return nil
    }

    /// The open, listening connection; opens it (retrying with backoff) when there is none.
    /// Nil when stopped first.
    private func connected() -> Connection? {
        if let connection { return connection }
        var backoff = 0.1
        var failures = 0
        while !stop.isStopped {
            do {
                // A session of our own (the URL is never a transaction pooler's, see Watch).
                let connection = try Connection(url: databaseURL, applicationName: options.applicationName, pooler: DatabasePooler.none)
                try connection.listen(channel)
                self.connection = connection
                if failures > 0 { logger.info("connected to the database") }
                return connection
            } catch {
                failures += 1
                if failures == 1 { logger.warning("cannot connect to the database: \(Self.message(error)); retrying") }
                stop.wait(seconds: backoff)
                backoff = min(backoff * 2, 5)
            }
        }
        return nil
    }

    /// Re-opens a dropped connection and its LISTEN, then owes one call: notifications sent
    /// while it was down are lost.
    private func reconnect(_ connection: Connection, after error: PostgresError) {
        logger.warning("database connection lost: \(error.message); reconnecting")
        var backoff = 0.1
        var failures = 0
        while !stop.wait(seconds: backoff) {
            do {
                try connection.reconnect()
                try connection.listen(channel)
                logger.info("reconnected to the database")
                pending = true
                return
            } catch {
                failures += 1
                if failures == 1 { logger.warning("cannot reconnect yet: \(Self.message(error)); retrying with backoff up to 5 s") }
                backoff = min(backoff * 2, 5)
            }
        }
    }

    /// A dropped connection or a server shutting down (SQLSTATE class 08 or 57P).
    static func isConnectionLoss(_ error: PostgresError) -> Bool {
        error.code == .connection || error.sqlState.map { $0.hasPrefix("08") || $0.hasPrefix("57P") } == true
    }

    private static func message(_ error: any Error) -> String {
        (error as? PostgresError)?.message ?? "\(error)"
    }
}
