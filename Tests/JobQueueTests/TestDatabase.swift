import Foundation
import JobQueue
import Postgres
import Testing

/// A connection to the test cluster that `scripts/test` starts, with the engine's tables migrated.
/// Tests isolate themselves by queue name (and org id), so they run in parallel.
enum TestDatabase {
    static func connect() throws -> Connection {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through scripts/test, which starts a throwaway cluster")
            throw PostgresError(.configuration, message: "DATABASE_URL is not set")
        }
        let connection = try Connection(url: url, applicationName: "conveyor-tests")
        try Migrator.migrate(JobQueueSchema.migrations, on: connection)
        return connection
    }

    /// A queue name no other test uses.
    static func uniqueQueue(_ label: String = "t") -> String {
        "\(label)-\(UUID().uuidString.prefix(12).lowercased())"
    }

    /// An org id no other test uses (the engine's tables do not reference organizations).
    static func uniqueOrg() -> Int64 { Int64.random(in: 1_000_000...Int64(Int32.max)) }

    /// Moves a running job's lease into the past, as if its invocation had died.
    static func expireLease(_ id: Int64, on connection: Connection) throws {
        try connection.execute("UPDATE conveyor_jobs SET locked_until = now() - interval '1 second' WHERE id = \(id)")
    }
}

/// An executor built from a closure that blocks, run on the shared blocking pool.
struct ClosureExecutor: JobExecutor {
    let body: @Sendable (ClaimedJob, JobContext) throws -> String
    init(body: @escaping @Sendable (ClaimedJob, JobContext) throws -> String) { self.body = body }
    func start(_ attempt: RunningAttempt) {
        let body = self.body
        BlockingExecutor { context in try body(context.job, context) }.start(attempt)
    }
}

extension JobKinds {
    /// Kinds for the engine's tests: attempts of at most 5 s, so budgets of a few seconds fit them.
    static let test = JobKinds([
        .init(name: "noop", retry: RetryPolicy(maxAttempts: 3, baseSeconds: 1, capSeconds: 60), timeoutSeconds: 5, queueOverride: true),
        .init(name: "fail", retry: RetryPolicy(maxAttempts: 3, baseSeconds: 30, capSeconds: 600), timeoutSeconds: 5, queueOverride: true),
    ])
}

func newJob(_ queue: String, kind: String = "noop", payload: String = "{}", priority: Int = 0, delay: Double? = nil,
            maxAttempts: Int = 3, key: String? = nil, flowKey: String = "", timeoutMs: Int = 2000, traceparent: String? = nil) -> NewJob {
    NewJob(kind: kind, payloadJSON: payload, queue: queue, priority: priority, delaySeconds: delay, runAt: nil,
           maxAttempts: maxAttempts, idempotencyKey: key, flowKey: flowKey, timeoutMs: timeoutMs, traceparent: traceparent)
}
