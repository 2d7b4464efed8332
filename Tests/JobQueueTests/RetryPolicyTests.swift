import JobQueue
import Testing

struct RetryPolicyTests {
    /// attempt → bounds, for base 5 s, cap 60 s, jitter 0.2: doubling until the cap, never above it.
    @Test(arguments: [
        (1, 4.0, 5.0),
        (2, 8.0, 10.0),
        (3, 16.0, 20.0),
        (4, 32.0, 40.0),
        (5, 48.0, 60.0),
        (6, 48.0, 60.0),
        (50, 48.0, 60.0),
        (5000, 48.0, 60.0),
    ])
    func bounds(attempt: Int, min: Double, max: Double) {
        let policy = RetryPolicy(maxAttempts: 5, baseSeconds: 5, capSeconds: 60, jitter: 0.2)
        let b = policy.delayBounds(afterAttempt: attempt)
        #expect(abs(b.lowerBound - min) < 1e-9)
        #expect(abs(b.upperBound - max) < 1e-9)
        for unit in [0.0, 0.25, 0.5, 0.999999] {
            let d = policy.delay(afterAttempt: attempt, unit: unit)
            #expect(d >= min - 1e-9 && d <= max + 1e-9)
        }
        for _ in 0..<200 {
            let d = policy.delay(afterAttempt: attempt)
            #expect(d >= min - 1e-9 && d <= max + 1e-9)
        }
    }

    /// The seeds' per-kind policies: route-intake 2 s base, send-email 5 s base.
    @Test(arguments: [
        (2.0, 1, 2.0), (2.0, 2, 4.0), (5.0, 1, 5.0), (5.0, 4, 40.0),
    ])
    func seedPolicies(base: Double, attempt: Int, max: Double) {
        let policy = RetryPolicy(maxAttempts: 5, baseSeconds: base, capSeconds: 3600, jitter: 0)
        #expect(policy.delay(afterAttempt: attempt, unit: 0.7) == max)
    }

    @Test func jitterSpreadsDelays() {
        let policy = RetryPolicy(baseSeconds: 10, capSeconds: 100, jitter: 0.5)
        let delays = Set((0..<50).map { _ in policy.delay(afterAttempt: 2) })
        #expect(delays.count > 40)
    }
}
