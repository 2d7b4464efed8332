/// How many times a kind of job is tried, and how long it waits between attempts.
///
/// The delay before retrying after failed attempt `n` is `base · 2^(n-1)`, capped at `cap`, then
/// lowered by a random fraction of at most `jitter` so that jobs failing together do not retry
/// together (a thundering herd against the same downstream).
public struct RetryPolicy: Sendable, Equatable, Codable {
    /// Attempts a job of this kind gets unless its enqueue says otherwise.
    public var maxAttempts: Int
    /// Delay after the first failed attempt, in seconds.
    public var baseSeconds: Double
    /// Largest delay, in seconds.
    public var capSeconds: Double
    /// Largest fraction taken off the delay at random, in 0...1.
    public var jitter: Double

    public init(maxAttempts: Int = 3, baseSeconds: Double = 1, capSeconds: Double = 3600, jitter: Double = 0.2) {
        self.maxAttempts = maxAttempts
        self.baseSeconds = baseSeconds
        self.capSeconds = capSeconds
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The engine's default for kinds that declare no policy of their own.
    public static let `default` = RetryPolicy()

    /// The bounds of the delay after failed attempt `attempt` (1-based).
    public func delayBounds(afterAttempt attempt: Int) -> ClosedRange<Double> {
        let exponent = Double(max(attempt, 1) - 1)
        // pow overflows to +inf for huge exponents, which min() then caps.
        let raw = baseSeconds * pow(2, exponent)
        let capped = min(raw, capSeconds)
        return (capped * (1 - jitter))...capped
    }

    /// The delay after failed attempt `attempt`, with `unit` a random number in 0..<1.
    public func delay(afterAttempt attempt: Int, unit: Double) -> Double {
        let bounds = delayBounds(afterAttempt: attempt)
        return bounds.upperBound - (bounds.upperBound - bounds.lowerBound) * min(max(unit, 0), 1)
    }

    /// The delay after failed attempt `attempt`, jittered with the system random generator.
    public func delay(afterAttempt attempt: Int) -> Double {
        delay(afterAttempt: attempt, unit: Double.random(in: 0..<1))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
