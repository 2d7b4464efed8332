import Foundation
import JobQueue
import Postgres
import Testing

/// `uniqueFor`: within the window, the same org, kind and payload is a duplicate.
struct UniqueWindowTests {
    let db: Connection
    let store: PostgresJobStore
    let queue = TestDatabase.uniqueQueue("uniq")
    let org = TestDatabase.uniqueOrg()

    init() throws {
        db = try TestDatabase.connect()
        store = PostgresJobStore(connection: db)
    }

    func job(_ payload: String, kind: String = "noop", window: Double? = 60, key: String? = nil) -> NewJob {
        var j = newJob(queue, kind: kind, payload: payload, key: key)
        j.uniqueForSeconds = window
        return j
    }

    @Test func insideTheWindowTheSamePayloadIsADuplicate() throws {
        let first = try store.enqueue([job(#"{"a":1,"b":[1,2]}"#)], orgId: org)[0]
        #expect(!first.duplicate)
        // Canonical jsonb: key order and whitespace do not make a different payload.
        let again = try store.enqueue([job(#"{ "b": [1, 2], "a": 1 }"#)], orgId: org)[0]
        #expect(again.duplicate && again.id == first.id)
        // Anything else that differs is a new job: payload, kind, org.
        #expect(try !store.enqueue([job(#"{"a":2,"b":[1,2]}"#)], orgId: org)[0].duplicate)
        #expect(try !store.enqueue([job(#"{"a":1,"b":[1,2]}"#, kind: "fail")], orgId: org)[0].duplicate)
        #expect(try !store.enqueue([job(#"{"a":1,"b":[1,2]}"#)], orgId: org + 1)[0].duplicate)
        // A job enqueued without a window neither holds one nor is held back by one.
        #expect(try !store.enqueue([job(#"{"a":1,"b":[1,2]}"#, window: nil)], orgId: org)[0].duplicate)
        // The holder counts whatever its state: a finished job still holds its window.
        try db.execute("UPDATE conveyor_jobs SET state = 'completed', finished_at = now() WHERE id = \(first.id)")
        let later = try store.enqueue([job(#"{"a":1,"b":[1,2]}"#)], orgId: org)[0]
        #expect(later.duplicate && later.id == first.id && later.state == .completed)
    }

    @Test func afterTheWindowItIsANewJob() throws {
        let first = try store.enqueue([job(#"{"x":1}"#, window: 30)], orgId: org)[0]
        // Age the holder as if it had been enqueued 31 s ago: its window closed a second ago.
        try db.execute("""
            UPDATE conveyor_jobs SET created_at = created_at - interval '31 seconds', unique_until = unique_until - interval '31 seconds'
            WHERE id = \(first.id)
            """)
        let second = try store.enqueue([job(#"{"x":1}"#, window: 30)], orgId: org)[0]
        #expect(!second.duplicate && second.id != first.id)
        // And the new job holds a window of its own.
        #expect(try store.enqueue([job(#"{"x":1}"#, window: 30)], orgId: org)[0].id == second.id)
    }

    @Test func aBatchRepeatsWithinItselfAndKeepsItsOrder() throws {
        let results = try store.enqueue([job(#"{"n":1}"#), job(#"{"n":2}"#, window: nil), job(#"{"n":1}"#), job(#"{"n":3}"#)], orgId: org)
        #expect(results.map(\.duplicate) == [false, false, true, false])
        #expect(results[2].id == results[0].id)
        #expect(results[0].id < results[1].id && results[1].id < results[3].id)
    }

    @Test func anIdempotencyKeyStillWins() throws {
        let first = try store.enqueue([job(#"{"k":1}"#, key: "k-1")], orgId: org)[0]
        let byKey = try store.enqueue([job(#"{"k":2}"#, key: "k-1")], orgId: org)[0]
        #expect(byKey.duplicate && byKey.id == first.id)
        let byWindow = try store.enqueue([job(#"{"k":1}"#, key: "k-2")], orgId: org)[0]
        #expect(byWindow.duplicate && byWindow.id == first.id)
    }

    /// 8 threads enqueue the same job at once on their own connections: the database makes
    /// them agree on one job.
    @Test func racingEnqueuesAgree() throws {
        let ids = Totals()
        let seen = LockedIds()
        let group = DispatchGroup()
        for _ in 0..<8 {
            let connection = try TestDatabase.connect()
            let job = job(#"{"race":true}"#)
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                if let r = try? PostgresJobStore(connection: connection).enqueue([job], orgId: org)[0] {
                    seen.add(r.id, new: !r.duplicate)
                    ids.add(1)
                }
            }
        }
        group.wait()
        #expect(ids.value == 8)
        #expect(seen.distinct == 1)
        #expect(seen.newOnes == 1)
        let stored = try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(queue)")[0]
        #expect(try stored.decode("n", as: Int.self) == 1)
    }
}

final class LockedIds: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = Set<Int64>()
    private var news = 0
    func add(_ id: Int64, new: Bool) { lock.withLock { ids.insert(id); if new { news += 1 } } }
    var distinct: Int { lock.withLock { ids.count } }
    var newOnes: Int { lock.withLock { news } }
}
