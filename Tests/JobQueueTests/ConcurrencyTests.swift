import Foundation
import JobQueue
import Postgres
import Testing

struct ConcurrencyTests {
    /// 4 process-batch invocations on separate connections drain 2,000 jobs; a side-effect table
    /// written by each execution proves every job ran exactly once.
    @Test func fourInvocationsCompleteEveryJobExactlyOnce() throws {
        let db = try TestDatabase.connect()
        let queue = TestDatabase.uniqueQueue("conc")
        let org = TestDatabase.uniqueOrg()
        let effects = "effects_\(UUID().uuidString.prefix(8).lowercased())"
        try db.execute("CREATE TABLE \(unsafe: effects) (job_id bigint NOT NULL, invocation int NOT NULL)")
        defer { _ = try? db.execute("DROP TABLE \(unsafe: effects)") }

        let store = PostgresJobStore(connection: db)
        for chunk in 0..<2 {
            _ = try store.enqueue((0..<1000).map { newJob(queue, payload: #"{"i":\#(chunk * 1000 + $0)}"#) }, orgId: org)
        }

        let group = DispatchGroup()
        let failures = Totals()
        for invocation in 0..<4 {
            let connection = try TestDatabase.connect()
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let worker = PostgresJobStore(connection: connection)
                let executor = ClosureExecutor { job, _ in
                    try connection.execute("INSERT INTO \(unsafe: effects) VALUES (\(job.id), \(invocation))")
                    return job.payload.text
                }
                let processor = Processor(store: worker, executor: executor, kinds: .test)
                do {
                    while try processor.run(BatchOptions(queues: [queue], maxJobs: 100, maxSeconds: 30)).claimed > 0 {}
                } catch {
                    failures.add(1)
                }
            }
        }
        group.wait()
        #expect(failures.value == 0)

        let counts = try db.query("""
            SELECT count(*)::int AS total, count(DISTINCT job_id)::int AS distinct_jobs,
                   count(DISTINCT invocation)::int AS invocations FROM \(unsafe: effects)
            """)[0]
        #expect(try counts.decode("total", as: Int.self) == 2000)
        #expect(try counts.decode("distinct_jobs", as: Int.self) == 2000)
        #expect(try counts.decode("invocations", as: Int.self) > 1)
        let states = try db.query("""
            SELECT count(*) FILTER (WHERE state = 'completed' AND attempt = 1 AND result = payload)::int AS done,
                   count(*)::int AS total FROM conveyor_jobs WHERE queue = \(queue)
            """)[0]
        #expect(try states.decode("done", as: Int.self) == 2000)
        #expect(try states.decode("total", as: Int.self) == 2000)
    }
}
