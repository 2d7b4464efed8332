import Accounts
import Cron
import Foundation
import JobQueue
import Postgres
import Schedules
import Synchronization
import Testing

/// The store on the test cluster; each test has an org of its own.
struct ScheduleStoreTests {
    static let kinds = JobKinds([JobKinds.Kind(name: "noop", queueOverride: true), JobKinds.Kind(name: "locked", queue: "locked")])

    /// A schema of the test's own: firing works across orgs (as process-batch does), so tests
    /// that fire at moments of their choosing must not see each other's schedules.
    static func connect() throws -> (Connection, url: String) {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "DATABASE_URL is not set: run through scripts/test")
        let schema = try DatabaseSchema("sched_\(UUID().uuidString.prefix(8).lowercased())")
        let db = try Connection(url: url, applicationName: "schedules-tests", schema: schema)
        try Migrator.migrate(AccountsSchema.migrations + JobQueueSchema.migrations + SchedulesSchema.migrations, on: db)
        return (db, url)
    }

    static func org(_ db: Connection) throws -> Int64 {
        try db.query("INSERT INTO conveyor_organizations (name) VALUES ('schedules test') RETURNING id")[0].decode("id")
    }

    static func spec(_ json: String) throws -> ScheduleSpec {
        try ScheduleSpec(json: try JSONValue.parse(json), kinds: kinds)
    }

    static func jobs(_ db: Connection, org: Int64) throws -> [(key: String, runAt: Date)] {
        try db.query("SELECT idempotency_key, run_at FROM conveyor_jobs WHERE org_id = \(org) ORDER BY run_at")
            .map { (try $0.decode("idempotency_key"), try $0.decode("run_at")) }
    }

    static func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    /// Eight drivers fire the same slots at the same moment: one job per slot.
    @Test func manyDriversFiringAtOnceMakeOneJobPerSlot() throws {
        let (db, _) = try Self.connect()
        let org = try Self.org(db)
        let store = ScheduleStore(connection: db)
        let start = Self.at("2030-01-01T00:00:30Z")
        _ = try store.put(orgId: org, name: "every-minute", spec: Self.spec(#"{"cron":"* * * * *","job":{"kind":"noop","queue":"sched-a"}}"#),
                          maxPerOrg: 10, now: start)
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let schema = db.schema
        // Three rounds, as drivers on a schedule would: each round's moment sees the next slots.
        for round in 0..<3 {
            let now = start.addingTimeInterval(Double(round) * 60)
            let fired = Mutex(0)
            let done = DispatchGroup()
            for _ in 0..<8 {
                done.enter()
                Thread.detachNewThread {
                    defer { done.leave() }
                    let summary = try? ScheduleStore(connection: Connection(url: url, schema: schema)).fireDue(kinds: Self.kinds, now: now, horizon: 120)
                    fired.withLock { $0 += summary?.fired ?? 0 }
                }
            }
            done.wait()
        }
        let keys = try Self.jobs(db, org: org).map(\.key)
        #expect(Set(keys).count == keys.count)
        // Slots up to 00:04 (the last round's moment, 00:02:30, plus two minutes).
        #expect(keys == ["schedule:every-minute:2030-01-01T00:01", "schedule:every-minute:2030-01-01T00:02",
                         "schedule:every-minute:2030-01-01T00:03", "schedule:every-minute:2030-01-01T00:04"])
        let runAts = try Self.jobs(db, org: org).map(\.runAt)
        #expect(runAts == [Self.at("2030-01-01T00:01:00Z"), Self.at("2030-01-01T00:02:00Z"), Self.at("2030-01-01T00:03:00Z"), Self.at("2030-01-01T00:04:00Z")])
    }

    /// A driver that was away fires the missed slot once on its return, and says so.
    @Test func aDriverBackFromAwayFiresOnceAndSaysSo() throws {
        let (db, _) = try Self.connect()
        let org = try Self.org(db)
        let store = ScheduleStore(connection: db)
        _ = try store.put(orgId: org, name: "hourly", spec: Self.spec(#"{"cron":"0 * * * *","job":{"kind":"noop","queue":"sched-b"}}"#),
                          maxPerOrg: 10, now: Self.at("2030-02-01T00:10:00Z"))
        // Nobody fired from 01:00 until 05:20: slots 01:00 … 05:00 passed.
        let back = Self.at("2030-02-01T05:20:00Z")
        let summary = try store.fireDue(kinds: Self.kinds, now: back, horizon: 120)
        #expect(summary.fired == 1)
        #expect(summary.late.count == 1)
        #expect(summary.late.first?.contains("5 slots passed") == true, "\(summary.late)")
        let jobs = try Self.jobs(db, org: org)
        #expect(jobs.map(\.key) == ["schedule:hourly:2030-02-01T05:00"])
        #expect(jobs.map(\.runAt) == [back])
        let schedule = try #require(try store.get(orgId: org, name: "hourly"))
        #expect(schedule.missed == 4)
        #expect(schedule.nextAt == Self.at("2030-02-01T06:00:00Z"))
        // Firing again at once makes nothing more.
        #expect(try store.fireDue(kinds: Self.kinds, now: back, horizon: 120).fired == 0)
    }

    @Test func pausedSchedulesFireNothingAndResumeFromNow() throws {
        let (db, _) = try Self.connect()
        let org = try Self.org(db)
        let store = ScheduleStore(connection: db)
        _ = try store.put(orgId: org, name: "paused", spec: Self.spec(#"{"cron":"*/5 * * * *","job":{"kind":"noop","queue":"sched-c"}}"#),
                          maxPerOrg: 10, now: Self.at("2030-03-01T00:00:00Z"))
        _ = try store.setPaused(orgId: org, name: "paused", paused: true)
        #expect(try store.fireDue(kinds: Self.kinds, now: Self.at("2030-03-01T01:00:00Z")).fired >= 0)
        #expect(try Self.jobs(db, org: org).isEmpty)
        let resumed = try #require(try store.setPaused(orgId: org, name: "paused", paused: false, now: Self.at("2030-03-01T01:02:00Z")))
        #expect(resumed.nextAt == Self.at("2030-03-01T01:05:00Z"))
        #expect(try store.fireDue(kinds: Self.kinds, now: Self.at("2030-03-01T01:04:00Z"), horizon: 120).fired == 1)
        #expect(try Self.jobs(db, org: org).map(\.key) == ["schedule:paused:2030-03-01T01:05"])
    }

    /// A slot whose job no longer checks out (its kind left the manifest) is skipped, said so,
    /// and the schedule goes on.
    @Test func aSlotWhoseKindIsGoneIsSkippedAndTheScheduleGoesOn() throws {
        let (db, _) = try Self.connect()
        let org = try Self.org(db)
        let store = ScheduleStore(connection: db)
        _ = try store.put(orgId: org, name: "gone", spec: Self.spec(#"{"cron":"0 0 * * *","job":{"kind":"noop","queue":"sched-d"}}"#),
                          maxPerOrg: 10, now: Self.at("2030-04-01T12:00:00Z"))
        let summary = try store.fireDue(kinds: JobKinds([]), now: Self.at("2030-04-01T23:59:00Z"))
        #expect(summary.fired == 0)
        #expect(summary.skipped.first?.contains("unknown kind") == true, "\(summary.skipped)")
        #expect(try store.get(orgId: org, name: "gone")?.nextAt == Self.at("2030-04-03T00:00:00Z"))
    }

    @Test func anOrgHasAtMostItsCap() throws {
        let (db, _) = try Self.connect()
        let org = try Self.org(db)
        let store = ScheduleStore(connection: db)
        let spec = try Self.spec(#"{"cron":"@daily","job":{"kind":"noop"}}"#)
        _ = try store.put(orgId: org, name: "a", spec: spec, maxPerOrg: 2)
        _ = try store.put(orgId: org, name: "b", spec: spec, maxPerOrg: 2)
        #expect(throws: ScheduleStore.TooMany.self) { try store.put(orgId: org, name: "c", spec: spec, maxPerOrg: 2) }
        // Replacing one it has is not a new one.
        #expect(try store.put(orgId: org, name: "b", spec: spec, maxPerOrg: 2).created == false)
        #expect(try store.list(orgId: org).map(\.name) == ["a", "b"])
    }

    @Test(arguments: [
        (#"{"job":{"kind":"noop"}}"#, "cron"),
        (#"{"cron":"61 * * * *","job":{"kind":"noop"}}"#, "cron"),
        (#"{"cron":"0 0 30 2 *","job":{"kind":"noop"}}"#, "cron"),
        (#"{"cron":"* * * * *","timeZone":"Mars/Olympus","job":{"kind":"noop"}}"#, "timeZone"),
        (#"{"cron":"* * * * *","timeZone":"EST","job":{"kind":"noop"}}"#, "timeZone"),
        (#"{"cron":"* * * * *","timeZone":7,"job":{"kind":"noop"}}"#, "timeZone"),
        (#"{"cron":"* * * * *"}"#, "job"),
        (#"{"cron":"* * * * *","job":{"kind":"resize"}}"#, "job.kind"),
        (#"{"cron":"* * * * *","job":{"kind":"locked","queue":"other"}}"#, "job.queue"),
        (#"{"cron":"* * * * *","job":{"kind":"noop","runAt":"2030-01-01T00:00:00Z"}}"#, "job.runAt"),
        (#"{"cron":"* * * * *","job":{"kind":"noop","priority":500}}"#, "job.priority"),
        (#"{"cron":"* * * * *","job":{"kind":"noop"},"jitterSeconds":3601}"#, "jitterSeconds"),
        (#"{"cron":"* * * * *","job":{"kind":"noop"},"every":"day"}"#, "every"),
    ] as [(String, String)])
    func badSchedulesNameTheField(body: String, field: String) {
        let error = #expect(throws: JobQueueError.self) { try Self.spec(body) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix(field + ":") == true, "\(String(describing: error))")
    }
}
