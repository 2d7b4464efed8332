import Foundation
import JobQueue
import Postgres
import Testing

/// Every transition of docs/state-machine.md against the real database.
struct StateMachineTests {
    let db: Connection
    let store: PostgresJobStore
    let queue = TestDatabase.uniqueQueue()
    let org = TestDatabase.uniqueOrg()

    init() throws {
        db = try TestDatabase.connect()
        store = PostgresJobStore(connection: db)
    }

    func processor(_ body: @escaping @Sendable (ClaimedJob, JobContext) throws -> String) -> Processor {
        Processor(store: store, executor: ClosureExecutor(body: body), kinds: .test)
    }

    func options(maxJobs: Int = 100, maxSeconds: Double = 10, lease: Double? = nil, parallelism: Int = 32) -> BatchOptions {
        BatchOptions(queues: [queue], maxJobs: maxJobs, maxSeconds: maxSeconds, leaseSeconds: lease, parallelism: parallelism)
    }

    @Test func availableToRunningToCompleted() throws {
        let id = try store.enqueue([newJob(queue, payload: #"{"n":1}"#)], orgId: org)[0].id
        let owner = UUID()
        let claimed = try store.claim(queues: [queue], limit: 10, leaseSeconds: 30, owner: owner)
        #expect(claimed.map(\.id) == [id])
        #expect(claimed[0].attempt == 1)
        var job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .running)
        #expect(job.startedAt != nil)

        let applied = try store.record([JobOutcome(jobId: id, attempt: 1, durationMs: 7, result: .completed(resultJSON: #"{"ok":true}"#))], owner: owner)
        #expect(applied == [id])
        job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .completed)
        #expect(job.result == .object(["ok": .bool(true)]))
        #expect(job.durationMs == 7)
        #expect(job.finishedAt != nil)
        #expect(job.errors.isEmpty)
    }

    @Test func failureRetriesWithBackoffThenDeadKeepsHistory() throws {
        let id = try store.enqueue([newJob(queue, kind: "fail", maxAttempts: 3)], orgId: org)[0].id
        let p = processor { job, _ in throw JobFailure("boom \(job.attempt)") }

        var summary = try p.run(options())
        #expect(summary.retried == 1)
        var job = try #require(try store.job(id: id, orgId: org))
        // Backing off: it waits in `scheduled` until its time comes.
        #expect(job.state == .scheduled)
        #expect(job.attempt == 1)
        // The fail kind's policy: 30 s base, jitter 0.2 → between 24 and 30 s from now.
        let wait = job.runAt.timeIntervalSinceNow
        #expect(wait > 20 && wait <= 31)
        #expect(job.errors.map(\.message) == ["boom 1"])

        for expectedAttempt in 2...3 {
            try db.execute("UPDATE conveyor_jobs SET run_at = now() WHERE id = \(id)")
            summary = try p.run(options())
            job = try #require(try store.job(id: id, orgId: org))
            #expect(job.attempt == expectedAttempt)
        }
        #expect(summary.dead == 1)
        #expect(job.state == .dead)
        #expect(job.attempt == job.maxAttempts)
        #expect(job.errors.map(\.message) == ["boom 1", "boom 2", "boom 3"])
        #expect(job.errors.map(\.attempt) == [1, 2, 3])
        #expect(job.finishedAt != nil)

        // A dead job is never claimed again, so attempt never passes maxAttempts.
        try db.execute("UPDATE conveyor_jobs SET run_at = now() WHERE id = \(id)")
        #expect(try p.run(options()).claimed == 0)
        #expect(throws: PostgresError.self) {
            try db.execute("UPDATE conveyor_jobs SET attempt = 4 WHERE id = \(id)")
        }
    }

    @Test(arguments: [(3600.0, 3590.0...3601.0), (1.0, 20.0...31.0), (1e9, 86_390.0...86_401.0)])
    func retryAfterWinsOnlyWhenLongerThanBackoff(retryAfter: Double, expected: ClosedRange<Double>) throws {
        let id = try store.enqueue([newJob(queue, kind: "fail", maxAttempts: 3)], orgId: org)[0].id
        let summary = try processor { _, _ in throw JobFailure("429 slow down", retryAfterSeconds: retryAfter) }.run(options())
        #expect(summary.retried == 1)
        let job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .scheduled)
        // Backoff for the fail kind is 24–30 s; a day caps what a server may ask for.
        #expect(expected.contains(job.runAt.timeIntervalSinceNow))
    }

    @Test func permanentFailureDeadLettersAtOnce() throws {
        let id = try store.enqueue([newJob(queue, kind: "fail", maxAttempts: 5)], orgId: org)[0].id
        let summary = try processor { _, _ in throw JobFailure("550 mailbox unavailable", retryable: false) }.run(options())
        #expect(summary.dead == 1)
        let job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .dead)
        #expect(job.attempt == 1)
        #expect(job.errors.first?.message == "550 mailbox unavailable")
    }

    @Test func lateFinisherAfterRescueChangesNothing() throws {
        let id = try store.enqueue([newJob(queue)], orgId: org)[0].id
        let first = UUID()
        _ = try store.claim(queues: [queue], limit: 1, leaseSeconds: 30, owner: first)
        try TestDatabase.expireLease(id, on: db)
        #expect(try store.rescueExpired(queues: [queue], limit: 10) == RescueSummary(available: 1, dead: 0))
        let second = UUID()
        let again = try store.claim(queues: [queue], limit: 1, leaseSeconds: 30, owner: second)
        #expect(again.first?.attempt == 2)

        // The first invocation wakes up and reports: nothing may change.
        let late = try store.record([JobOutcome(jobId: id, attempt: 1, durationMs: 1, result: .completed(resultJSON: "1"))], owner: first)
        #expect(late.isEmpty)
        #expect(try store.release([id], owner: first) == 0)
        #expect(try store.reportProgress(jobId: id, owner: first, percent: 50, message: nil, leaseSeconds: 30, capSeconds: 60) == false)
        var job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .running)
        #expect(job.result == nil)
        #expect(job.errors.count == 1)
        #expect(job.errors[0].rescued == true)

        // The rightful owner still finishes it.
        #expect(try store.record([JobOutcome(jobId: id, attempt: 2, durationMs: 1, result: .completed(resultJSON: "2"))], owner: second) == [id])
        job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .completed)
        #expect(job.result == .int(2))
    }

    @Test func rescueOfLastAttemptDeadLetters() throws {
        let id = try store.enqueue([newJob(queue, maxAttempts: 1)], orgId: org)[0].id
        _ = try store.claim(queues: [queue], limit: 1, leaseSeconds: 30, owner: UUID())
        try TestDatabase.expireLease(id, on: db)
        #expect(try store.rescueExpired(queues: [queue], limit: 10) == RescueSummary(available: 0, dead: 1))
        let job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .dead)
        #expect(job.errors.count == 1)
    }

    @Test func concurrentRescuesTakeAnExpiredLeaseOnce() throws {
        let ids = try store.enqueue((0..<20).map { _ in newJob(queue) }, orgId: org).map(\.id)
        _ = try store.claim(queues: [queue], limit: 20, leaseSeconds: 30, owner: UUID())
        try db.execute("UPDATE conveyor_jobs SET locked_until = now() - interval '1 second' WHERE id = ANY(\(ids)::bigint[])")

        let totals = Totals()
        let group = DispatchGroup()
        let rescueQueue = queue
        for _ in 0..<2 {
            let connection = try TestDatabase.connect()
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for _ in 0..<5 {
                    if let r = try? PostgresJobStore(connection: connection).rescueExpired(queues: [rescueQueue], limit: 1000) {
                        totals.add(r.total)
                    }
                }
            }
        }
        group.wait()
        #expect(totals.value == 20)
        let rescuedEntries = try db.query("""
            SELECT count(*)::int AS n FROM conveyor_jobs, jsonb_array_elements(errors) e
            WHERE id = ANY(\(ids)::bigint[]) AND (e->>'rescued')::bool
            """)[0].decode("n", as: Int.self)
        #expect(rescuedEntries == 20)
    }

    @Test func delayedJobIsNotClaimedBeforeRunAt() throws {
        let job = try store.enqueue([newJob(queue, delay: 3600)], orgId: org)[0]
        #expect(job.runAt.timeIntervalSinceNow > 3500)
        #expect(try processor { _, _ in "null" }.run(options()).claimed == 0)
        try db.execute("UPDATE conveyor_jobs SET run_at = now() - interval '1 second' WHERE id = \(job.id)")
        #expect(try processor { _, _ in "null" }.run(options()).completed == 1)
    }

    @Test func priorityOrderHoldsWithinABatch() throws {
        let priorities = [0, 5, -3, 100, 5, -100, 42, 0]
        let ids = try store.enqueue(priorities.map { newJob(queue, priority: $0) }, orgId: org).map(\.id)
        let order = Totals()
        // One at a time, so the order they start in is the order they run in.
        _ = try processor { job, _ in order.append(job.id); return "null" }.run(options(parallelism: 1))
        let expected = zip(ids, priorities).sorted { ($0.1, $1.0) > ($1.1, $0.0) }.map(\.0)
        #expect(order.ids == expected)
    }

    @Test func progressIsStoredAndShown() throws {
        let id = try store.enqueue([newJob(queue)], orgId: org)[0].id
        let seen = Totals()
        _ = try processor { job, context in
            #expect(try context.reportProgress(40, message: "halfway-ish"))
            let j = try store.job(id: job.id, orgId: org)
            seen.append(Int64(j?.progress?.percent ?? -1))
            return "null"
        }.run(options())
        #expect(seen.ids == [40])
        let job = try #require(try store.job(id: id, orgId: org))
        #expect(job.progress == JobProgress(percent: 40, message: "halfway-ish"))
    }

    @Test func noAttemptRunsPastTheBudget() throws {
        // Five jobs of 300 ms with a 400 ms limit, one at a time, in a 1 s budget: a job starts
        // only while its deadline fits, and the rest are never claimed (attempts unspent).
        let ids = try store.enqueue((0..<5).map { _ in newJob(queue, timeoutMs: 400) }, orgId: org).map(\.id)
        let summary = try processor { _, _ in usleep(300_000); return "null" }.run(options(maxSeconds: 1, parallelism: 1))
        #expect(summary.completed >= 2 && summary.completed <= 3)
        #expect(summary.claimed == summary.completed)
        #expect(summary.durationMs <= 1000 + Int(Processor.answerMargin * 1000))
        let rows = try db.query("SELECT attempt FROM conveyor_jobs WHERE id = ANY(\(ids)::bigint[]) AND state = 'available'")
        #expect(rows.count == 5 - summary.completed)
        for row in rows { #expect(try row.decode("attempt", as: Int.self) == 0) }
    }

    @Test func jobsLongerThanTheBudgetAreReportedNotClaimed() throws {
        let id = try store.enqueue([newJob(queue, timeoutMs: 5000)], orgId: org)[0].id
        let summary = try processor { _, _ in "null" }.run(options(maxSeconds: 2))
        #expect(summary.claimed == 0)
        #expect(summary.tooLong == 1)
        let job = try #require(try store.job(id: id, orgId: org))
        #expect(job.state == .available && job.attempt == 0)
    }

    @Test func nothingDueReturnsAtOnce() throws {
        let summary = try processor { _, _ in "null" }.run(options(maxSeconds: 30))
        #expect(summary.claimed == 0)
        #expect(summary.durationMs < 5000)
    }
}

/// A thread-safe tally for tests.
final class Totals: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    private var list: [Int64] = []
    func add(_ n: Int) { lock.lock(); total += n; lock.unlock() }
    func append(_ id: Int64) { lock.lock(); list.append(id); lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return total }
    var ids: [Int64] { lock.lock(); defer { lock.unlock() }; return list }
}

/// No job starts after its claim may have been rescued: a job whose turn comes too late for
/// its lease to cover its deadline (and the time to record it) goes back unspent.
struct LeaseBoundTests {
    @Test func aJobWhoseLeaseCannotCoverItsDeadlineGoesBack() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let queue = TestDatabase.uniqueQueue("lease")
        let org = TestDatabase.uniqueOrg()
        // One at a time. A fast job first (so the pace makes the next claim take everything),
        // then a 6 s job ahead of twenty fast ones. With a 1 s lease each fast job's lease is its
        // 0.5 s limit plus 10 s; waiting 6 s for the slow one leaves too little of it.
        _ = try store.enqueue([newJob(queue, priority: 100, timeoutMs: 500)], orgId: org)
        let slow = try store.enqueue([newJob(queue, payload: #"{"slow":true}"#, priority: 50, timeoutMs: 7000)], orgId: org)[0].id
        let fast = try store.enqueue((0..<20).map { _ in newJob(queue, timeoutMs: 500) }, orgId: org).map(\.id)
        let started = Totals()
        let summary = try Processor(store: store, executor: ClosureExecutor { job, _ in
            started.append(job.id)
            if job.id == slow { usleep(6_000_000) }
            return "null"
        }, kinds: .test).run(BatchOptions(queues: [queue], maxJobs: 100, maxSeconds: 20, leaseSeconds: 1, parallelism: 1))
        #expect(summary.released == 20)
        // Handed back unspent, then claimed afresh, with new leases, and run once each.
        #expect(summary.completed == 22)
        #expect(Set(started.ids).count == 22 && started.ids.count == 22)
        let once = try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE id = ANY(\(fast)::bigint[]) AND state = 'completed' AND attempt = 1")
        #expect(try once[0].decode("n", as: Int.self) == 20)
    }
}
