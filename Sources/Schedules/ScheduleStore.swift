import Cron
import Foundation
import JobQueue
import Postgres

/// Schedules in PostgreSQL: every statement about them lives here. Each query is scoped by org,
/// except the firing, which works for every org as process-batch does.
public struct ScheduleStore: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// The org already has `limit` schedules.
    public struct TooMany: Error { public let limit: Int }

    static let columns: SQL = """
        org_id, name, cron, time_zone, job::text AS job, jitter_seconds, paused, next_at, last_fired_at, last_job_id, missed,
        created_at, updated_at
        """

    static func schedule(_ row: Row) throws -> Schedule {
        Schedule(orgId: try row.decode("org_id"), name: try row.decode("name"), cron: try row.decode("cron"),
                 timeZone: try row.decode("time_zone"), job: try JSONValue.parse(try row.decode("job", as: String.self)),
                 jitterSeconds: try row.decode("jitter_seconds"), paused: try row.decode("paused"), nextAt: try row.decodeIfPresent("next_at"),
                 lastFiredAt: try row.decodeIfPresent("last_fired_at"), lastJobId: try row.decodeIfPresent("last_job_id"),
                 missed: try row.decode("missed"), createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }

    /// Creates or replaces the org's schedule `name`; its next slot counts from `now`. Returns it
    /// and whether it is new. Throws `TooMany` when a new one would pass `maxPerOrg`.
    public func put(orgId: Int64, name: String, spec: ScheduleSpec, maxPerOrg: Int, now: Date = Date()) throws -> (Schedule, created: Bool) {
        let next = spec.clock.next(after: now)
        let rows = try connection.query("""
            INSERT INTO conveyor_schedules AS s (org_id, name, cron, time_zone, job, jitter_seconds, paused, next_at, next_name)
            SELECT \(orgId), \(name), \(spec.cron.text), \(spec.timeZoneName), \(PostgresJSON(text: spec.job.jsonText))::jsonb,
                   \(spec.jitterSeconds), \(spec.paused), \(next?.at)::timestamptz, \(next?.name)
            WHERE (SELECT count(*) FROM conveyor_schedules WHERE org_id = \(orgId) AND name <> \(name)) < \(maxPerOrg)
            ON CONFLICT (org_id, name) DO UPDATE SET
                cron = excluded.cron, time_zone = excluded.time_zone, job = excluded.job, jitter_seconds = excluded.jitter_seconds,
                paused = excluded.paused, next_at = excluded.next_at, next_name = excluded.next_name, updated_at = now()
            RETURNING \(Self.columns), (xmax = 0) AS created
            """)
        guard let row = rows.first else { throw TooMany(limit: maxPerOrg) }
        return (try Self.schedule(row), try row.decode("created", as: Bool.self))
    }

    /// The org's schedules by name, at most `limit`, after `after` (keyset).
    public func list(orgId: Int64, after: String? = nil, limit: Int = 100) throws -> [Schedule] {
        try connection.query("""
            SELECT \(Self.columns) FROM conveyor_schedules
            WHERE org_id = \(orgId) AND name > \(after ?? "")
            ORDER BY name LIMIT \(limit)
            """).map(Self.schedule)
    }

    /// Every org's schedules, soonest next run first (paused and finished ones last), at most
    /// `limit`: for the operator's dashboard.
    public func listAll(limit: Int = 100) throws -> [Schedule] {
        try connection.query("""
            SELECT \(Self.columns) FROM conveyor_schedules
            ORDER BY paused, next_at NULLS LAST, org_id, name LIMIT \(limit)
            """).map(Self.schedule)
    }

    public func get(orgId: Int64, name: String) throws -> Schedule? {
        try connection.query("SELECT \(Self.columns) FROM conveyor_schedules WHERE org_id = \(orgId) AND name = \(name)").first.map(Self.schedule)
    }

    /// Pauses, or resumes from `now`: slots that passed while paused are not fired.
    public func setPaused(orgId: Int64, name: String, paused: Bool, now: Date = Date()) throws -> Schedule? {
        guard let current = try get(orgId: orgId, name: name) else { return nil }
        guard current.paused != paused else { return current }
        var nextAt: Date? = current.nextAt
        var nextName: String?
        if !paused, let clock = try? Self.clock(cron: current.cron, timeZone: current.timeZone) {
            let next = clock.next(after: now)
            nextAt = next?.at
            nextName = next?.name
        }
        return try connection.query("""
            UPDATE conveyor_schedules SET paused = \(paused), updated_at = now(),
                next_at = CASE WHEN \(paused) THEN next_at ELSE \(nextAt)::timestamptz END,
                next_name = CASE WHEN \(paused) THEN next_name ELSE \(nextName) END
            WHERE org_id = \(orgId) AND name = \(name)
            RETURNING \(Self.columns)
            """).first.map(Self.schedule)
    }

    public func delete(orgId: Int64, name: String) throws -> Bool {
        try connection.execute("DELETE FROM conveyor_schedules WHERE org_id = \(orgId) AND name = \(name)") == 1
    }

    static func clock(cron: String, timeZone: String) throws -> ScheduleClock {
        guard let zone = TimeZone(identifier: timeZone) else { throw JobQueueError(.invalidInput, "unknown time zone \(timeZone)") }
        return ScheduleClock(cron: try CronSchedule(parsing: cron), timeZone: zone)
    }
}

