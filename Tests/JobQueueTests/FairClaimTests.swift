import Foundation
@testable import JobQueue
import Postgres
import Testing

/// Queues share a claim: a big backlog in one queue does not starve another.
struct FairClaimTests {
    @Test func aHundredThousandJobsDoNotStarveTen() throws {
        let db = try TestDatabase.connect()
        let big = TestDatabase.uniqueQueue("big"), small = TestDatabase.uniqueQueue("small")
        let org = TestDatabase.uniqueOrg()
        defer { _ = try? db.execute("DELETE FROM conveyor_jobs WHERE queue = ANY(\([big, small])::text[])") }
        // The backlog is older and has higher priority than the small queue's jobs, so a claim
        // in global run order would take only backlog.
        try db.execute("""
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, max_attempts, timeout_ms)
            SELECT \(org), \(big), 'noop', '{}', 10, now() - interval '1 hour', 3, 2000 FROM generate_series(1, 100000)
            """)
        let store = PostgresJobStore(connection: db)
        let smallIds = try store.enqueue((0..<10).map { _ in newJob(small) }, orgId: org).map(\.id)

        // Each queue's share is half the claim: the small queue's 10 all fit in theirs.
        let claimed = try store.claim(queues: [big, small], limit: 100, leaseSeconds: 30, owner: UUID())
        #expect(claimed.filter { $0.queue == big }.count == 50)
        #expect(Set(claimed.filter { $0.queue == small }.map(\.id)) == Set(smallIds))

        // The run order interleaves the queues too: a batch cut short still served both.
        let order = Array(Processor.runOrder(claimed).prefix(20))
        #expect(order.filter { $0.queue == small }.count == 10)
    }

    /// A claim for some queues shares itself among the orgs with jobs in those queues: orgs
    /// busy in other queues do not shrink this org's share to one of its two queues.
    @Test func orgsBusyElsewhereDoNotShrinkAQueueFilteredClaim() throws {
        let db = try TestDatabase.connect()
        let a = TestDatabase.uniqueQueue("a"), b = TestDatabase.uniqueQueue("b"), elsewhere = TestDatabase.uniqueQueue("elsewhere")
        let org = TestDatabase.uniqueOrg()
        defer { _ = try? db.execute("DELETE FROM conveyor_jobs WHERE queue = ANY(\([a, b, elsewhere])::text[])") }
        try db.execute("""
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, run_at, max_attempts, timeout_ms)
            SELECT \(org) + 1 + o, \(elsewhere), 'noop', '{}', now() - interval '1 hour', 3, 2000 FROM generate_series(1, 150) AS o
            """)
        let store = PostgresJobStore(connection: db)
        _ = try store.enqueue((0..<10).map { _ in newJob(a) } + (0..<10).map { _ in newJob(b) }, orgId: org)
        let claimed = try store.claim(queues: [a, b], limit: 100, leaseSeconds: 30, owner: UUID())
        #expect(claimed.filter { $0.queue == a }.count == 10)
        #expect(claimed.filter { $0.queue == b }.count == 10)
    }

    /// What a target needs from the claim: the job's idempotency key and trace context.
    @Test func theClaimCarriesTheIdempotencyKeyAndTraceContext() throws {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("trace")
        let org = TestDatabase.uniqueOrg()
        defer { _ = try? db.execute("DELETE FROM conveyor_jobs WHERE queue = \(queue)") }
        let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let store = PostgresJobStore(connection: db)
        _ = try store.enqueue([newJob(queue, key: "order-7", traceparent: trace), newJob(queue)], orgId: org)
        _ = try store.enqueue([newJob(queue, key: "order-8", traceparent: trace)], orgId: org)
        let claimed = try store.claim(queues: [queue], limit: 10, leaseSeconds: 30, owner: UUID()).sorted { $0.id < $1.id }
        #expect(claimed.map(\.idempotencyKey) == ["order-7", nil, "order-8"])
        #expect(claimed.map(\.traceparent) == [trace, nil, trace])
    }

    @Test func processBatchServesEveryQueueInOneBatch() throws {
        let db = try TestDatabase.connect()
        let big = TestDatabase.uniqueQueue("big"), small = TestDatabase.uniqueQueue("small")
        let org = TestDatabase.uniqueOrg()
        defer { _ = try? db.execute("DELETE FROM conveyor_jobs WHERE queue = ANY(\([big, small])::text[])") }
        try db.execute("""
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, run_at, max_attempts, timeout_ms)
            SELECT \(org), \(big), 'noop', '{}', now() - interval '1 hour', 3, 2000 FROM generate_series(1, 5000)
            """)
        let store = PostgresJobStore(connection: db)
        _ = try store.enqueue((0..<10).map { _ in newJob(small) }, orgId: org)
        let processor = Processor(store: store, executor: ClosureExecutor { _, _ in "{}" }, kinds: .test)
        let summary = try processor.run(BatchOptions(queues: [big, small], maxJobs: 40, maxSeconds: 10))
        #expect(summary.completed == 40)
        let done = try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(small) AND state = 'completed'")[0]
        #expect(try done.decode("n", as: Int.self) == 10)
    }

    /// Each queue's jobs in priority order, queues interleaved one job at a time.
    @Test(arguments: [
        (["a1", "a2", "a3", "b1"], ["a1", "b1", "a2", "a3"]),
        (["b1", "b2", "a1", "a2", "c1"], ["a1", "b1", "c1", "a2", "b2"]),
        (["a1", "a2"], ["a1", "a2"]),
    ])
    func runOrderInterleavesQueues(claimed: [String], expected: [String]) {
        let base = Date(timeIntervalSince1970: 1_000_000)
        // Label "q<n>": queue q, n-th oldest in that queue; queue a's first job is the oldest overall.
        let jobs = claimed.enumerated().map { i, label in
            let queue = String(label.prefix(1)), n = Int(label.dropFirst())!
            let age = Double(n * 10) + (queue == "a" ? 0 : queue == "b" ? 1 : 2)
            return ClaimedJob(id: Int64(i + 1), orgId: 1, queue: queue, kind: "noop", priority: 0, runAt: base + age,
                              attempt: 1, maxAttempts: 3, payload: PostgresJSON(text: label))
        }
        #expect(Processor.runOrder(jobs).map { $0.payload.text } == expected)
    }
}

/// Pause and resume: a paused queue is skipped by every claim and by the watcher's wake-up time.
struct PausedQueueTests {
    @Test func pausedQueuesAreSkippedUntilResumed() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let queue = TestDatabase.uniqueQueue("paused"), other = TestDatabase.uniqueQueue("open")
        let org = TestDatabase.uniqueOrg()
        try store.updateQueue(named: queue, replacing: false, with: json(#"{"paused":true}"#))
        let id = try store.enqueue([newJob(queue)], orgId: org)[0].id
        let otherId = try store.enqueue([newJob(other)], orgId: org)[0].id

        #expect(try store.claim(queues: [queue], limit: 10, leaseSeconds: 30, owner: UUID()).isEmpty)
        #expect(try store.nextRunAt(queues: [queue]) == nil)
        let processor = Processor(store: store, executor: ClosureExecutor { _, _ in "{}" }, kinds: .test)
        let summary = try processor.run(BatchOptions(queues: [queue, other], maxJobs: 10, maxSeconds: 5))
        // Tests that process every queue run alongside: the open queue's job may be theirs to
        // run, but it is never left waiting, and the paused one is never touched.
        #expect(!summary.jobs.map(\.id).contains(id))
        #expect(try store.job(id: otherId, orgId: org)?.state != .available)
        #expect(summary.limited == 0, "paused is not limited")
        #expect(try store.job(id: id, orgId: org)?.state == .available)
        #expect(try store.job(id: id, orgId: org)?.attempt == 0)

        try store.updateQueue(named: queue, replacing: false, with: json(#"{"paused":false}"#))
        let claimed = try store.claim(queues: [queue], limit: 10, leaseSeconds: 30, owner: UUID()).map(\.id)
        let attemptAfter = try store.job(id: id, orgId: org)?.attempt ?? 0
        #expect(claimed == [id] || (claimed.isEmpty && attemptAfter > 0))
    }
}
