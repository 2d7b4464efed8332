import Foundation
@testable import JobQueue
import Postgres
import Testing

/// Jobs of random durations and limits under invocations with random budgets, leases and
/// parallelism, three at a time, and nothing killed: every job ends, and no attempt ever runs
/// twice (a job's executions, counted outside the engine, never overlap, never repeat an
/// attempt, and match the attempts the engine recorded).
struct RandomizedBatchTests {
    /// One execution as the job's own code saw it.
    struct Execution {
        var job: Int64
        var attempt: Int
        var began: UInt64
        var ended: UInt64
    }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [Execution] = []
        private var summaries: [BatchSummary] = []
        func add(_ e: Execution) { lock.withLock { list.append(e) } }
        func add(_ s: BatchSummary) { lock.withLock { summaries.append(s) } }
        var executions: [Execution] { lock.withLock { list } }
        var batches: [BatchSummary] { lock.withLock { summaries } }
    }

    static let kinds = JobKinds([.init(name: "work", retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05, capSeconds: 0.2),
                                       timeoutSeconds: 1.5, queueOverride: true)])

    @Test func everyJobEndsAndNoAttemptRunsTwice() throws {
        var random = SystemRandomNumberGenerator()
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("random")
        let org = TestDatabase.uniqueOrg()
        let store = PostgresJobStore(connection: db)
        let jobs = (0..<120).map { _ in
            // Some run past their own limit and time out; every one of those retries, and some die.
            NewJob(kind: "work", payloadJSON: #"{"ms":\#(Int.random(in: 0...600, using: &random))}"#, queue: queue,
                   priority: Int.random(in: -3...3, using: &random), maxAttempts: 3,
                   timeoutMs: Int.random(in: 100...1200, using: &random))
        }
        let ids = try store.enqueue(jobs, orgId: org).map(\.id)
        let log = Log()
        let executor = ClosureExecutor { job, context in
            let began = Monotonic.nanoseconds()
            defer { log.add(Execution(job: job.id, attempt: job.attempt, began: began, ended: Monotonic.nanoseconds())) }
            let ms = (try? JSONValue.parse(Data(job.payload.text.utf8)))?["ms"]?.intValue ?? 0
            // Cooperative, as blocking job code must be: it stops at its deadline.
            var left = Double(ms) / 1000
            while left > 0 {
                if context.isCancelled || context.remainingSeconds <= 0 { throw JobFailure("stopped at the deadline") }
                let slice = min(left, 0.01)
                usleep(UInt32(slice * 1e6))
                left -= slice
            }
            return #"{"slept":\#(ms)}"#
        }

        let deadline = Date().addingTimeInterval(90)
        let group = DispatchGroup()
        for _ in 0..<3 {
            let connection = try TestDatabase.connect()
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var random = SystemRandomNumberGenerator()
                let processor = Processor(store: PostgresJobStore(connection: connection), executor: executor, kinds: Self.kinds)
                while Date() < deadline {
                    let options = BatchOptions(queues: [queue], maxJobs: Int.random(in: 1...40, using: &random),
                                               maxSeconds: Double.random(in: 0.3...3, using: &random),
                                               leaseSeconds: Double.random(in: 1...6, using: &random),
                                               parallelism: Int.random(in: 1...16, using: &random))
                    guard let summary = try? processor.run(options) else { continue }
                    log.add(summary)
                    let open: Int = (try? connection.query("""
                        SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(queue) AND state NOT IN ('completed', 'dead')
                        """)[0].decode("n")) ?? 1
                    if open == 0 { return }
                    if summary.claimed == 0 { usleep(20_000) }
                }
            }
        }
        group.wait()

        let rows = try db.query("""
            SELECT id, state::text AS state, attempt::int AS attempt, errors::text AS errors FROM conveyor_jobs WHERE id = ANY(\(ids)::bigint[])
            """)
        var attempts: [Int64: Int] = [:]
        for row in rows {
            let id: Int64 = try row.decode("id"), state: String = try row.decode("state")
            #expect(state == "completed" || state == "dead", "job \(id) ended \(state)")
            #expect(!(try row.decode("errors", as: String.self)).contains("lease expired"), "job \(id) was rescued though nothing died")
            attempts[id] = try row.decode("attempt")
        }
        #expect(attempts.count == ids.count)
        let byJob = Dictionary(grouping: log.executions, by: \.job)
        for id in ids {
            let runs = (byJob[id] ?? []).sorted { $0.began < $1.began }
            // Each attempt ran once, and as many ran as the engine recorded.
            #expect(runs.map(\.attempt) == Array(1...max(1, runs.count)), "job \(id) ran attempts \(runs.map(\.attempt))")
            #expect(runs.count == attempts[id], "job \(id): \(runs.count) executions, \(attempts[id] ?? -1) attempts recorded")
            // No two executions of one job overlapped.
            for (a, b) in zip(runs, runs.dropFirst()) { #expect(a.ended <= b.began, "job \(id) ran attempts \(a.attempt) and \(b.attempt) at once") }
        }
        let batches = log.batches
        #expect(batches.allSatisfy { $0.lost == 0 && $0.abandoned == 0 && $0.rescued == 0 })
        #expect(batches.contains { $0.timedOut > 0 }, "some attempts ran into their deadline")
        #expect(batches.contains { $0.maxRunning > 1 }, "jobs ran at once")
    }
}
