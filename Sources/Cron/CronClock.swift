import Foundation

/// The time source `CronScheduler.run` reads and sleeps on. Tests pass a fake one that jumps
/// straight to each deadline.
public protocol CronClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Blocks until `deadline` by this clock, or until `stop` is raised.
    func sleep(until deadline: Date, or stop: CronStopSignal)
}

/// The wall clock.
public struct SystemCronClock: CronClock {
    /// The wall clock.
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date, or stop: CronStopSignal) {
        // Short slices, so a wall clock set backwards is noticed by the scheduler's loop
        // instead of stretching this sleep by the size of the jump.
        stop.wait(until: min(deadline, Date(timeIntervalSinceNow: 30)))
    }
}
