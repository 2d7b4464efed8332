import Foundation
import JobQueue
import Postgres
import Testing

/// Enqueues from separate callers sharing one statement and commit (the FastCGI worker's group
/// commit): each job lands in its own org, keys stay per org, and one bad job fails alone.
struct SharedEnqueueTests {
    let db: Connection
    let store: PostgresJobStore
    let queue = TestDatabase.uniqueQueue("shared")
    let orgA = TestDatabase.uniqueOrg()
    let orgB = TestDatabase.uniqueOrg()

    init() throws {
        db = try TestDatabase.connect()
        store = PostgresJobStore(connection: db)
    }

    func rows(_ org: Int64) throws -> [(id: Int64, payload: String)] {
        try db.query("SELECT id, payload::text AS payload FROM conveyor_jobs WHERE org_id = \(org) AND queue = \(queue) ORDER BY id").map {
            (try $0.decode("id"), try $0.decode("payload"))
        }
    }

    @Test func eachJobIsStoredUnderItsOwnOrgInInputOrder() throws {
        let jobs = (0..<5).map { newJob(queue, payload: "{\"n\":\($0)}") }
        let orgs = [orgA, orgB, orgA, orgB, orgB]
        let answers = try store.enqueue(jobs, orgIds: orgs)
        #expect(answers.map(\.duplicate) == Array(repeating: false, count: 5))
        #expect(answers.map(\.id) == answers.map(\.id).sorted())
        let a = try rows(orgA), b = try rows(orgB)
        #expect(a.map(\.payload) == [#"{"n": 0}"#, #"{"n": 2}"#])
        #expect(b.map(\.payload) == [#"{"n": 1}"#, #"{"n": 3}"#, #"{"n": 4}"#])
        #expect(a.map(\.id) == [answers[0].id, answers[2].id])
        #expect(b.map(\.id) == [answers[1].id, answers[3].id, answers[4].id])
        // Each org sees its own jobs only.
        #expect(try store.job(id: answers[1].id, orgId: orgA) == nil)
        #expect(try store.job(id: answers[1].id, orgId: orgB)?.orgId == orgB)
    }

    @Test func idempotencyKeysArePerOrgInsideOneStatement() throws {
        let stored = try store.enqueue([newJob(queue, key: "already")], orgId: orgB)[0]
        let answers = try store.enqueue([
            newJob(queue, payload: #"{"i":0}"#, key: "k"),       // A: new
            newJob(queue, payload: #"{"i":1}"#, key: "k"),       // B: same key, other org: new
            newJob(queue, payload: #"{"i":2}"#, key: "k"),       // A again: the first one's job
            newJob(queue, payload: #"{"i":3}"#, key: "already"), // B: stored before
            newJob(queue, payload: #"{"i":4}"#, key: "already"), // A: that key is only B's: new
        ], orgIds: [orgA, orgB, orgA, orgB, orgA])
        #expect(answers.map(\.duplicate) == [false, false, true, true, false])
        #expect(answers[2].id == answers[0].id)
        #expect(answers[1].id != answers[0].id)
        #expect(answers[3].id == stored.id)
        #expect(try rows(orgA).count == 2)
        #expect(try rows(orgB).count == 2)
    }

    @Test func aJobTheDatabaseRefusesFailsAloneAndTheOthersAreStoredOnce() throws {
        // Priority 500 passes no validator here and breaks the table's CHECK: the shared
        // statement fails as a whole, and every job is tried again on its own.
        let answers = store.enqueueEach([newJob(queue, payload: #"{"ok":1}"#), newJob(queue, priority: 500), newJob(queue, payload: #"{"ok":2}"#)],
                                        orgIds: [orgA, orgB, orgA])
        #expect((try? answers[0].get()) != nil)
        #expect((try? answers[2].get()) != nil)
        guard case .failure(let error as PostgresError) = answers[1] else {
            Issue.record("the refused job should fail with the server's error, got \(answers[1])")
            return
        }
        #expect(error.sqlState == "23514")
        #expect(try rows(orgA).map(\.payload) == [#"{"ok": 1}"#, #"{"ok": 2}"#])
        #expect(try rows(orgB).isEmpty)
    }

    @Test func aRefusalThatIsNotAboutTheDataIsEveryJobsAnswerAndNothingIsRetried() throws {
        // Another transaction holds org A's key "held" uncommitted: the shared insert waits on
        // it and gives up at the lock timeout. Running the jobs one by one after that would
        // wait again for each, and store B's jobs while A's caller is told it failed.
        let holder = try TestDatabase.connect()
        try holder.execute("BEGIN")
        try holder.execute("INSERT INTO conveyor_jobs (org_id, queue, kind, payload, max_attempts, idempotency_key) VALUES (\(orgA), \(queue), 'noop', '{}', 3, 'held')")
        defer { _ = try? holder.execute("ROLLBACK") }
        try db.execute("SET lock_timeout = '200ms'")
        defer { _ = try? db.execute("RESET lock_timeout") }

        let answers = store.enqueueEach([newJob(queue, key: "held"), newJob(queue), newJob(queue)], orgIds: [orgA, orgB, orgB])
        for answer in answers {
            guard case .failure(let error as PostgresError) = answer else {
                Issue.record("every job should fail with the lock timeout, got \(answer)")
                continue
            }
            #expect(error.sqlState == "55P03")
        }
        #expect(try rows(orgB).isEmpty)
    }

    @Test func sharedEnqueuesNotifyEachQueueOnceAfterTheirCommit() throws {
        let listener = try TestDatabase.connect()
        try listener.listen(JobQueueSchema.notifyChannel(.standard))
        let later = TestDatabase.uniqueQueue("later")
        _ = try store.enqueue([newJob(queue), newJob(later, delay: 600), newJob(queue)], orgIds: [orgA, orgB, orgB])
        var got: [PostgresNotification] = []
        for _ in 0..<20 where !(got.contains { $0.payload == queue } && got.contains { $0.payload.hasSuffix(later) }) {
            got += try listener.waitForNotifications(timeout: 0.25)
        }
        #expect(got.filter { $0.payload == queue }.count == 1)
        #expect(got.filter { $0.payload == JobQueueSchema.delayedPrefix + later }.count == 1)
        #expect(!got.contains { $0.payload == later })
    }
}
