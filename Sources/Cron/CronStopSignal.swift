import Foundation

/// A one-way stop request that sleeping threads can wait on and be woken by.
///
/// Signal handlers, schedulers and retry loops share one so that SIGTERM interrupts every
/// sleep at once instead of after it runs out.
public final class CronStopSignal: @unchecked Sendable {
    // NSCondition guards `stopped`; every access goes through it, hence @unchecked.
    private let condition = NSCondition()
    private var stopped = false

    /// A signal that has not been raised.
    public init() {}

    /// True once `requestStop()` was called.
    public var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Raises the signal and wakes every waiter. Safe to call more than once, from any thread.
    public func requestStop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps until `deadline` (wall clock) or until a stop is requested. Returns true when stopped.
    @discardableResult
    public func wait(until deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !stopped && Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        return stopped
    }

    /// Sleeps `seconds` or until a stop is requested. Returns true when stopped.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        wait(until: Date(timeIntervalSinceNow: max(0, seconds)))
    }
}
