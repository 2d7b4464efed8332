import Foundation

/// The scheduling core of `cron-driver run`: at each minute it starts the entries that match,
/// each on its own thread, and never lets an entry overlap itself.
///
/// What a firing does is the `execute` closure's business (the driver calls a function in
/// process or runs `/bin/sh -c`); the closure returns the outcome for the log line. The clock
/// is a parameter of `run(clock:grace:)` so tests can drive minutes without waiting for them.
public final class CronScheduler: @unchecked Sendable {
    /// One entry firing for one minute.
    public struct Firing: Sendable, Equatable {
        /// The entry.
        public let entry: Crontab.Entry
        /// The minute it fires for.
        public let minute: Date
    }

    /// The entries, in file order.
    public let entries: [Crontab.Entry]
    /// The zone the schedules are read in.
    public let timeZone: TimeZone
    /// Raised by `stop()`; `run` returns after it.
    public let stopSignal: CronStopSignal

    private let execute: @Sendable (Firing) -> String
    private let log: @Sendable (String) -> Void
    // Guards `running`; waiters for idleness wait on it. Hence @unchecked Sendable.
    private let condition = NSCondition()
    private var running: Set<Int> = []

    /// A scheduler for `entries`. `execute` runs a firing and returns its outcome
    /// (`"HTTP 200"`, `"exit 0"`); `log` receives one line per firing or skip.
    public init(entries: [Crontab.Entry], timeZone: TimeZone = .gmt, stopSignal: CronStopSignal = CronStopSignal(),
                log: @escaping @Sendable (String) -> Void, execute: @escaping @Sendable (Firing) -> String) {
        self.entries = entries
        self.timeZone = timeZone
        self.stopSignal = stopSignal
        self.log = log
        self.execute = execute
    }

    /// Asks `run` to start nothing new and return once running firings end.
    public func stop() { stopSignal.requestStop() }

    /// The line numbers of the entries running now.
    public var runningLines: Set<Int> {
        condition.lock()
        defer { condition.unlock() }
        return running
    }

    /// Starts every entry that matches `minute`, except those whose previous firing is still
    /// running (logged as skipped). Returns the firings started. Nothing starts once stopped.
    @discardableResult
    public func tick(at minute: Date) -> [Firing] {
        var started: [Firing] = []
        for entry in entries where entry.schedule.matches(minute, timeZone: timeZone) {
            guard !stopSignal.isStopped else { break }
            let firing = Firing(entry: entry, minute: minute)
            condition.lock()
            let isFree = running.insert(entry.line).inserted
            condition.unlock()
            guard isFree else {
                log("line \(entry.line) \(CronCommand(entry).label): skipped, the previous run is still going")
                continue
            }
            started.append(firing)
            let thread = Thread { [self] in
                let start = ContinuousClock.now
                let outcome = execute(firing)
                let elapsed = ContinuousClock.now - start
                let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
                log("line \(entry.line) \(CronCommand(entry).label): \(outcome) in \(ms) ms")
                condition.lock()
                running.remove(entry.line)
                condition.broadcast()
                condition.unlock()
            }
            thread.name = "cron line \(entry.line)"
            thread.start()
        }
        return started
    }

    /// Blocks until no firing runs, or `seconds` pass. Returns true when none runs.
    @discardableResult
    public func waitUntilIdle(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !running.isEmpty {
            if !condition.wait(until: deadline) { return running.isEmpty }
        }
        return true
    }

    /// Fires entries at each minute boundary until `stop()`, then waits up to `grace` seconds
    /// for running firings. Returns how many were still running when it gave up.
    ///
    /// Like cron, it does not fire the minute it starts in. A late wake-up (a suspended
    /// process, a slow machine) catches up the missed minutes when they are under five; a
    /// larger forward jump of the clock fires only the current minute, and a clock set back
    /// restarts the count from the new time.
    public func run(clock: any CronClock = SystemCronClock(), grace: Double = 30) -> Int {
        var last = Self.minuteStart(clock.now())
        while !stopSignal.isStopped {
            let next = last + 60
            clock.sleep(until: next, or: stopSignal)
            if stopSignal.isStopped { break }
            let now = clock.now()
            if now < next {
                if next.timeIntervalSince(now) > 90 { last = Self.minuteStart(now) }  // set back
                continue
            }
            let current = Self.minuteStart(now)
            if current.timeIntervalSince(next) > 5 * 60 {
                tick(at: current)
            } else {
                for minute in stride(from: next.timeIntervalSince1970, through: current.timeIntervalSince1970, by: 60) {
                    tick(at: Date(timeIntervalSince1970: minute))
                }
            }
            last = current
        }
        waitUntilIdle(seconds: grace)
        return runningLines.count
    }

    /// The start of the minute containing `date`.
    public static func minuteStart(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60)
    }
}
