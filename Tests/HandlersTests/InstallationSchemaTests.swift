import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// Conveyor's whole schema, moved and side by side, in databases of the tests' own.
@Suite struct InstallationSchemaTests {
    /// A database of the test's own, dropped afterwards.
    static func withDatabase(_ body: (String) throws -> Void) throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let admin = try Connection(url: url)
        let name = "install_\(UUID().uuidString.prefix(8).lowercased())"
        try admin.unsafeExecuteScript("CREATE DATABASE \(name)")
        defer { try? admin.unsafeExecuteScript("DROP DATABASE \(name) WITH (FORCE)") }
        var components = try #require(URLComponents(string: url))
        components.path = "/\(name)"
        try body(try #require(components.string))
    }

    static func newJob(_ queue: String, key: String? = nil) -> NewJob {
        NewJob(kind: "noop", payloadJSON: #"{"n":1}"#, queue: queue, maxAttempts: 3, idempotencyKey: key)
    }

    /// An installation of 0.9 (every table in public, no SQL interface) with jobs in every state
    /// a job can wait or run in; migrating to the schema keeps each job, its id and its lease,
    /// and the engine goes on from there.
    @Test func anInstallationInPublicMovesWithoutLosingAJob() throws {
        try Self.withDatabase { url in
            let old = try Connection(url: url, schema: .legacy)
            try Migrator.migrate(ConveyorSchema.migrations.filter { $0.version < 900 }, on: old)
            let org = try Organizations.create(name: "before the move", connection: old)
            let store = PostgresJobStore(connection: old)
            let waiting = try store.enqueue([Self.newJob("q"), Self.newJob("q", key: "k-1")], orgId: org.id).map(\.id)
            var later = Self.newJob("q")
            later.delaySeconds = 3600
            let scheduled = try store.enqueue([later], orgId: org.id)[0].id
            let owner = UUID()
            let running = try store.claim(queues: ["q"], limit: 1, leaseSeconds: 300, owner: owner).map(\.id)
            #expect(running.count == 1)

            let db = try Connection(url: url)
            #expect(db.schema == .standard)
            let applied = try ConveyorSchema.migrate(db, kinds: Harness.manifest().jobKinds)
            #expect(applied == [900])
            let rows = try db.query("SELECT id, state::text AS state, locked_by::text AS owner FROM conveyor_jobs ORDER BY id")
            #expect(try rows.map { try $0.decode("id", as: Int64.self) } == (waiting + [scheduled]).sorted())
            let states = try Dictionary(uniqueKeysWithValues: rows.map { (try $0.decode("id", as: Int64.self), try $0.decode("state", as: String.self)) })
            #expect(states[running[0]] == "running")
            #expect(states[scheduled] == "scheduled")
            // Only the record of the move is left in public.
            #expect(try db.query("SELECT array_agg(tablename::text) AS t FROM pg_tables WHERE schemaname = 'public'")[0].decode("t", as: [String].self)
                    == ["conveyor_migrations"])
            // A 0.9 migrate there now finds every version applied: it recreates nothing.
            #expect(try Migrator.migrate(ConveyorSchema.migrations.filter { $0.version < 900 }, on: old) == [])
            #expect(try db.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")[0].decode("n", as: Int.self) == 1)

            // The engine carries on: the running job completes under its owner, the key still
            // holds, the new functions work, and ids continue.
            let moved = PostgresJobStore(connection: db)
            let recorded = try moved.record([JobOutcome(jobId: running[0], attempt: 1, durationMs: 1, result: .completed(resultJSON: "{}"))], owner: owner)
            #expect(recorded == [running[0]])
            #expect(try moved.enqueue([Self.newJob("q", key: "k-1")], orgId: org.id)[0].duplicate)
            let viaSQL: Int64 = try db.query("SELECT enqueue(\(org.id), 'noop', queue => 'q') AS id")[0].decode("id")
            #expect(viaSQL > (waiting + [scheduled]).max()!)
            #expect(try ConveyorSchema.isCurrent(db))
        }
    }

    /// Two installations in two schemas of one database: jobs, claims and wake-ups stay apart.
    @Test func twoInstallationsInOneDatabaseDoNotSeeEachOther() throws {
        try Self.withDatabase { url in
            let a = try Connection(url: url, schema: DatabaseSchema("tenant_a"))
            let b = try Connection(url: url, schema: DatabaseSchema("tenant_b"))
            try ConveyorSchema.migrate(a, kinds: Harness.manifest().jobKinds)
            try ConveyorSchema.migrate(b, kinds: Harness.manifest().jobKinds)
            let listenA = try Connection(url: url, schema: a.schema)
            let listenB = try Connection(url: url, schema: b.schema)
            try listenA.listen(JobQueueSchema.notifyChannel(a.schema))
            try listenB.listen(JobQueueSchema.notifyChannel(b.schema))

            let orgA = try Organizations.create(name: "a", connection: a)
            let ids = try PostgresJobStore(connection: a).enqueue([Self.newJob("shared"), Self.newJob("shared")], orgId: orgA.id).map(\.id)
            let viaSQL: Int64 = try a.query("SELECT enqueue(\(orgA.id), 'noop', queue => 'shared') AS id")[0].decode("id")

            #expect(try PostgresJobStore(connection: b).claim(queues: ["shared"], limit: 10, leaseSeconds: 30, owner: UUID()).isEmpty)
            #expect(try b.query("SELECT count(*)::int AS n FROM conveyor_jobs")[0].decode("n", as: Int.self) == 0)
            #expect(try b.query("SELECT count(*)::int AS n FROM conveyor_organizations")[0].decode("n", as: Int.self) == 0)
            // The org exists only in a: b's SQL enqueue refuses it.
            #expect(throws: PostgresError.self) { try b.query("SELECT enqueue(\(orgA.id), 'noop')") }

            var heardA: [PostgresNotification] = []
            for _ in 0..<20 where heardA.count < 2 { heardA += try listenA.waitForNotifications(timeout: 0.1) }
            #expect(heardA.contains { $0.payload == "shared" })
            #expect(try listenB.waitForNotifications(timeout: 0.5).isEmpty)

            let claimed = try PostgresJobStore(connection: a).claim(queues: ["shared"], limit: 10, leaseSeconds: 30, owner: UUID()).map(\.id)
            #expect(claimed.sorted() == (ids + [viaSQL]).sorted())
        }
    }
}
