import Foundation
import JobQueue
import Postgres
import Testing

struct EnqueueTests {
    let db: Connection
    let store: PostgresJobStore
    let queue = TestDatabase.uniqueQueue("enq")
    let org = TestDatabase.uniqueOrg()

    init() throws {
        db = try TestDatabase.connect()
        store = PostgresJobStore(connection: db)
    }

    @Test func batchAnswersFollowInputOrder() throws {
        let jobs = (0..<1000).map { i in newJob(queue, payload: #"{"i":\#(i)}"#, priority: i % 7, key: i % 3 == 0 ? "k\(i)" : nil) }
        let results = try store.enqueue(jobs, orgId: org)
        #expect(results.count == 1000)
        #expect(results.allSatisfy { !$0.duplicate })
        #expect(Set(results.map(\.id)).count == 1000)
        for (i, r) in results.enumerated() {
            let job = try #require(try store.job(id: r.id, orgId: org))
            #expect(job.payload == .object(["i": .int(Int64(i))]))
            #expect(job.idempotencyKey == (i % 3 == 0 ? "k\(i)" : nil))
            if i > 20 { break }
        }
        let sample = results[999]
        #expect(try store.job(id: sample.id, orgId: org)?.payload == .object(["i": .int(999)]))
    }

    @Test func repeatedKeysReturnTheExistingJob() throws {
        let first = try store.enqueue([newJob(queue, payload: #"{"v":1}"#, key: "order-42")], orgId: org)[0]
        #expect(!first.duplicate)
        let again = try store.enqueue([newJob(queue, payload: #"{"v":2}"#, key: "order-42")], orgId: org)[0]
        #expect(again.duplicate)
        #expect(again.id == first.id)
        #expect(try store.job(id: first.id, orgId: org)?.payload == .object(["v": .int(1)]))

        // Within one batch, and mixed with new keys.
        let batch = try store.enqueue([
            newJob(queue, key: "order-42"), newJob(queue, key: "new-1"), newJob(queue, key: "new-1"), newJob(queue),
        ], orgId: org)
        #expect(batch.map(\.duplicate) == [true, false, true, false])
        #expect(batch[0].id == first.id)
        #expect(batch[2].id == batch[1].id)

        // The same key in another org is another job.
        let other = try store.enqueue([newJob(queue, key: "order-42")], orgId: org + 1)[0]
        #expect(!other.duplicate)
        #expect(other.id != first.id)
        #expect(try store.job(id: other.id, orgId: org) == nil)
    }

    @Test func racingEnqueuesAgreeOnOneJob() throws {
        let key = "race-\(UUID().uuidString)"
        let ids = Totals()
        let duplicates = Totals()
        let group = DispatchGroup()
        let (queue, org) = (queue, org)
        for _ in 0..<8 {
            let connection = try TestDatabase.connect()
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                if let r = try? PostgresJobStore(connection: connection).enqueue([newJob(queue, key: key)], orgId: org)[0] {
                    ids.append(r.id)
                    if r.duplicate { duplicates.add(1) }
                }
            }
        }
        group.wait()
        #expect(ids.ids.count == 8)
        #expect(Set(ids.ids).count == 1)
        #expect(duplicates.value == 7)
        let n = try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE org_id = \(org) AND idempotency_key = \(key)")[0]
        #expect(try n.decode("n", as: Int.self) == 1)
    }

    @Test func enqueueNotifiesWatchersOfDueQueues() throws {
        let listener = try TestDatabase.connect()
        try listener.listen(JobQueueSchema.notifyChannel(.standard))
        _ = try store.enqueue([newJob(queue)], orgId: org)
        var got: [PostgresNotification] = []
        for _ in 0..<20 where !got.contains(where: { $0.payload == queue }) {
            got += try listener.waitForNotifications(timeout: 0.25)
        }
        #expect(got.contains { $0.channel == JobQueueSchema.notifyChannel(.standard) && $0.payload == queue })

        // A delayed job asks for nothing to run now, only for an earlier wake-up.
        let later = TestDatabase.uniqueQueue("later")
        _ = try store.enqueue([newJob(later, delay: 600)], orgId: org)
        var delayed: [PostgresNotification] = []
        for _ in 0..<20 where !delayed.contains(where: { $0.payload.hasSuffix(later) }) {
            delayed += try listener.waitForNotifications(timeout: 0.25)
        }
        #expect(delayed.contains { $0.payload == JobQueueSchema.delayedPrefix + later })
        #expect(!delayed.contains { $0.payload == later })
    }

    @Test func listsArePagedAndScopedByOrg() throws {
        let ids = try store.enqueue((0..<7).map { _ in newJob(queue) }, orgId: org).map(\.id)
        var seen: [Int64] = []
        var cursor: Int64?
        repeat {
            let page = try store.jobs(orgId: org, filter: JobFilter(queue: queue, limit: 3, before: cursor))
            #expect(page.jobs.count <= 3)
            #expect(page.jobs.allSatisfy { $0.payload == nil })
            seen += page.jobs.map(\.id)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen == ids.reversed())
        #expect(try store.jobs(orgId: org + 7, filter: JobFilter(queue: queue)).jobs.isEmpty)
        #expect(try store.jobs(orgId: org, filter: JobFilter(state: .dead, queue: queue)).jobs.isEmpty)
    }
}

struct NextRunAtTests {
    @Test func findsTheEarliestAcrossPriorities() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let queue = TestDatabase.uniqueQueue("next")
        let org = TestDatabase.uniqueOrg()
        #expect(try store.nextRunAt(queues: [queue]) == nil)
        _ = try store.enqueue([
            newJob(queue, priority: 50, delay: 900),
            newJob(queue, priority: 0, delay: 300),
            newJob(queue, priority: -20, delay: 600),
            newJob(queue, priority: 0, delay: 1200),
        ], orgId: org)
        let next = try #require(try store.nextRunAt(queues: [queue]))
        #expect(abs(next.timeIntervalSinceNow - 300) < 30)
    }
}

struct IdempotencyKeyBytesTests {
    /// "é" precomposed and decomposed are one String to Swift but two keys to the unique index.
    @Test func canonicallyEqualKeysAreDistinctJobs() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let queue = TestDatabase.uniqueQueue("nfc")
        let org = TestDatabase.uniqueOrg()
        let results = try store.enqueue([newJob(queue, key: "caf\u{e9}"), newJob(queue, key: "cafe\u{301}"), newJob(queue, key: "caf\u{e9}")], orgId: org)
        #expect(results.map(\.duplicate) == [false, false, true])
        #expect(results[0].id != results[1].id)
        #expect(results[2].id == results[0].id)
        let again = try store.enqueue([newJob(queue, key: "cafe\u{301}")], orgId: org)[0]
        #expect(again.duplicate && again.id == results[1].id)
    }
}
