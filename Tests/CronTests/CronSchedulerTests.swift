import Cron
import Foundation
import Testing

/// A clock that jumps to scripted times: each `sleep` moves to the next one (or stops the
/// scheduler when the script runs out), after letting the previous minute's firings finish so
/// runs are deterministic.
final class ScriptedClock: CronClock, @unchecked Sendable {
    private let lock = NSLock()
    private var time: Date
    private var script: [Date]
    private let settle: @Sendable () -> Void

    init(start: Date, then script: [Date], settle: @escaping @Sendable () -> Void = {}) {
        time = start
        self.script = script
        self.settle = settle
    }

    /// A script of on-time wake-ups: every minute boundary after `start` up to `end`.
    convenience init(start: Date, until end: Date, settle: @escaping @Sendable () -> Void = {}) {
        var minutes: [Date] = []
        var t = CronScheduler.minuteStart(start) + 60
        while t <= end { minutes.append(t); t += 60 }
        self.init(start: start, then: minutes, settle: settle)
    }

    func now() -> Date {
        lock.withLock { time }
    }

    func sleep(until deadline: Date, or stop: CronStopSignal) {
        settle()
        lock.withLock {
            if script.isEmpty {
                stop.requestStop()
            } else {
                time = script.removeFirst()
            }
        }
    }
}

/// Collects what the scheduler ran and logged.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var firings: [(line: Int, minute: Date)] = []
    private var lines: [String] = []

    func fired(_ f: CronScheduler.Firing) { lock.withLock { firings.append((f.entry.line, f.minute)) } }
    func log(_ line: String) { lock.withLock { lines.append(line) } }
    var fired: [(line: Int, minute: Date)] { lock.withLock { firings.sorted { ($0.minute, $0.line) < ($1.minute, $1.line) } } }
    var logged: [String] { lock.withLock { lines } }
}

/// A gate a firing can block on until the test opens it.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var open = false
    func wait() {
        condition.lock()
        while !open { condition.wait() }
        condition.unlock()
    }
    func release() {
        condition.lock()
        open = true
        condition.broadcast()
        condition.unlock()
    }
}

struct CronSchedulerTests {
    static func entries(_ text: String) throws -> [Crontab.Entry] {
        try Crontab(parsing: text).entries
    }

    @Test func runFiresEachEntryAtItsMinutes() throws {
        let recorder = Recorder()
        let scheduler = CronScheduler(entries: try Self.entries("*/15 * * * * a\n7 * * * * b\n0 11 * * * c\n"),
                                      log: recorder.log) { firing in
            recorder.fired(firing)
            return "exit 0"
        }
        let clock = ScriptedClock(start: utc("2025-01-01T10:00:30Z"), until: utc("2025-01-01T12:00:00Z"),
                                  settle: { scheduler.waitUntilIdle(seconds: 10) })
        #expect(scheduler.run(clock: clock, grace: 10) == 0)

        let expected: [(Int, String)] = [
            (2, "10:07"), (1, "10:15"), (1, "10:30"), (1, "10:45"), (1, "11:00"), (3, "11:00"),
            (2, "11:07"), (1, "11:15"), (1, "11:30"), (1, "11:45"), (1, "12:00"),
        ]
        #expect(recorder.fired.map(\.line) == expected.map(\.0))
        #expect(recorder.fired.map(\.minute) == expected.map { utc("2025-01-01T\($0.1):00Z") })
        // One log line per firing: line number, what ran, outcome, duration.
        #expect(recorder.logged.count == expected.count)
        #expect(recorder.logged.allSatisfy { $0.range(of: #"^line [123] [abc]: exit 0 in \d+ ms$"#, options: .regularExpression) != nil })
    }

    @Test func anEntryNeverOverlapsItself() throws {
        let recorder = Recorder()
        let gate = Gate()
        let scheduler = CronScheduler(entries: try Self.entries("* * * * * slow\n* * * * * fast\n"), log: recorder.log) { firing in
            if firing.entry.line == 1 { gate.wait() }
            recorder.fired(firing)
            return "exit 0"
        }
        let m0 = utc("2025-01-01T10:00:00Z")
        #expect(scheduler.tick(at: m0).map(\.entry.line) == [1, 2])
        #expect(scheduler.waitUntilIdle(seconds: 0.2) == false)
        #expect(scheduler.runningLines == [1])

        // The slow entry is still running: only the fast one starts, and the skip is logged.
        #expect(scheduler.tick(at: m0 + 60).map(\.entry.line) == [2])
        #expect(recorder.logged.contains("line 1 slow: skipped, the previous run is still going"))

        gate.release()
        #expect(scheduler.waitUntilIdle(seconds: 10))
        #expect(scheduler.tick(at: m0 + 120).map(\.entry.line) == [1, 2])
        #expect(scheduler.waitUntilIdle(seconds: 10))
        #expect(recorder.fired.filter { $0.line == 1 }.map(\.minute) == [m0, m0 + 120])
        #expect(recorder.fired.filter { $0.line == 2 }.map(\.minute) == [m0, m0 + 60, m0 + 120])
    }

    @Test func lateWakeUpsCatchUpAndClockJumpsDoNot() throws {
        let recorder = Recorder()
        let scheduler = CronScheduler(entries: try Self.entries("0 * * * * m0\n1 * * * * m1\n2 * * * * m2\n3 * * * * m3\n4 * * * * m4\n"),
                                      log: recorder.log) { firing in
            recorder.fired(firing)
            return "exit 0"
        }
        let clock = ScriptedClock(start: utc("2025-01-01T10:00:10Z"), then: [
            utc("2025-01-01T10:01:00Z"),   // on time
            utc("2025-01-01T10:04:02Z"),   // three minutes late: 10:02, 10:03 and 10:04 all fire
            utc("2025-01-01T12:00:05Z"),   // the clock jumped two hours: only 12:00 fires
            utc("2025-01-01T11:00:00Z"),   // set back an hour: nothing fires, counting restarts
            utc("2025-01-01T11:01:00Z"),
        ], settle: { scheduler.waitUntilIdle(seconds: 10) })
        #expect(scheduler.run(clock: clock, grace: 10) == 0)
        #expect(recorder.fired.map(\.minute) == ["10:01", "10:02", "10:03", "10:04", "11:01", "12:00"].map { utc("2025-01-01T\($0):00Z") })
    }

    @Test func stopWaitsForRunningFiringsWithinTheGrace() throws {
        let gate = Gate()
        let scheduler = CronScheduler(entries: try Self.entries("* * * * * slow\n"), log: { _ in }) { _ in
            gate.wait()
            return "exit 0"
        }
        scheduler.tick(at: utc("2025-01-01T10:00:00Z"))
        scheduler.stop()
        // Stopped: nothing new starts.
        #expect(scheduler.tick(at: utc("2025-01-01T10:01:00Z")).isEmpty)
        // A grace too short gives up on the running firing and says so.
        #expect(scheduler.run(clock: SystemCronClock(), grace: 0.1) == 1)

        let finished = CronStopSignal()
        Thread {
            Thread.sleep(forTimeInterval: 0.1)
            finished.requestStop()
            gate.release()
        }.start()
        #expect(scheduler.run(clock: SystemCronClock(), grace: 30) == 0)
        #expect(finished.isStopped)
    }

    @Test func stopSignalWakesSleepers() {
        let signal = CronStopSignal()
        Thread {
            Thread.sleep(forTimeInterval: 0.05)
            signal.requestStop()
        }.start()
        // Woken long before the hour is up.
        #expect(signal.wait(seconds: 3600))
        #expect(signal.isStopped)
        #expect(signal.wait(seconds: 3600))
    }
}
