import FoundationEssentials
import Postgres

extension PostgresJobStore {
    /// Due jobs waiting in `queues` (nil: all), counted up to `cap` so a huge backlog costs no
    /// more than the threshold it is compared with.
    public func waitingJobs(queues: [String]?, cap: Int) throws -> Int {
        let filter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        return try connection.query("""
            SELECT count(*)::int AS n FROM (
                SELECT 1 FROM conveyor_jobs WHERE state = 'available'\(filter) LIMIT \(max(cap, 0) + 1)) AS w
            """)[0].decode("n")
    }

    /// Attempts that completed and failed in `queues` (nil: all) over the last `seconds`, from
    /// the per-minute rollup (whole minutes: the window reaches back to the start of its first).
    public func recentOutcomes(queues: [String]?, seconds: Int) throws -> (completed: Int64, failed: Int64) {
        let filter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        let row = try connection.query("""
            SELECT coalesce(sum(completed), 0)::bigint AS completed, coalesce(sum(failed), 0)::bigint AS failed
            FROM conveyor_job_minutes WHERE minute >= date_trunc('minute', now() - make_interval(secs => \(seconds)))\(filter)
            """)[0]
        return (try row.decode("completed"), try row.decode("failed"))
    }

    /// Takes the right to send `condition`'s alert: true when none was sent in the last
    /// `everySeconds`. One statement, so racing checkers agree on a single sender.
    public func claimAlert(_ condition: String, everySeconds: Int, payloadJSON: String) throws -> Bool {
        try connection.query("""
            INSERT INTO conveyor_alerts AS a (condition, last_sent_at, last_payload)
            VALUES (\(condition), now(), \(PostgresJSON(text: payloadJSON))::jsonb)
            ON CONFLICT (condition) DO UPDATE SET last_sent_at = now(), last_payload = EXCLUDED.last_payload
            WHERE a.last_sent_at <= now() - make_interval(secs => \(everySeconds))
            RETURNING condition
            """).count == 1
    }

    /// Gives a claimed alert back after its delivery failed, so the next check tries again.
    public func releaseAlert(_ condition: String) throws {
        try connection.execute("UPDATE conveyor_alerts SET last_sent_at = '-infinity' WHERE condition = \(condition)")
    }
}
