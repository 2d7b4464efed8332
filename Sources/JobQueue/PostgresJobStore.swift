import FoundationEssentials
import Postgres

/// The engine's storage on PostgreSQL: every statement the engine runs lives in this type's files.
///
/// It borrows one connection and runs one statement at a time on it; callers that want
/// parallelism use more stores on more connections.
public struct PostgresJobStore: JobStore, Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    public func job(id: Int64, orgId: Int64) throws -> Job? {
        let rows = try connection.query("SELECT \(Job.columns) FROM conveyor_jobs WHERE id = \(id) AND org_id = \(orgId)")
        return try rows.first.map(Job.init(row:))
    }

    public func jobs(orgId: Int64, filter: JobFilter) throws -> JobPage {
        var sql: SQL = """
            SELECT id, org_id, queue, kind, state::text AS state, priority, attempt, max_attempts, run_at, \
            NULL::jsonb AS payload, NULL::jsonb AS result, errors, progress, progress_message, idempotency_key, \
            duration_ms, created_at, started_at, finished_at
            FROM conveyor_jobs WHERE org_id = \(orgId)
            """
        if let state = filter.state { sql = sql + " AND state = \(state.rawValue)::conveyor_job_state" }
        if let queue = filter.queue { sql = sql + " AND queue = \(queue)" }
        if let kind = filter.kind { sql = sql + " AND kind = \(kind)" }
        if let before = filter.before { sql = sql + " AND id < \(before)" }
        let limit = min(max(filter.limit, 1), 200)
        sql = sql + " ORDER BY id DESC LIMIT \(limit + 1)"
        var jobs = try connection.query(sql).map(Job.init(row:))
        var next: Int64?
        if jobs.count > limit {
            jobs.removeLast()
            next = jobs.last?.id
        }
        return JobPage(jobs: jobs, nextCursor: next)
    }

    public func rescueExpired(queues: [String]?, limit: Int) throws -> RescueSummary {
        let queueFilter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        // FOR UPDATE SKIP LOCKED makes concurrent rescuers take each job exactly once.
        let rows = try connection.query("""
            WITH expired AS (
                SELECT id, run_at, started_at FROM conveyor_jobs
                WHERE state = 'running' AND locked_until < now()\(queueFilter)
                ORDER BY locked_until
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), rescued AS (
            UPDATE conveyor_jobs AS j SET
                state = CASE WHEN j.attempt >= j.max_attempts THEN 'dead' ELSE 'available' END::conveyor_job_state,
                errors = j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'rescued', true,
                    'message', 'lease expired: the invocation running this attempt stopped before recording an outcome')),
                run_at = now(),
                finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                locked_by = NULL,
                locked_until = NULL
            FROM expired
            -- No re-check needed here: FOR UPDATE re-evaluates the CTE's condition on the newest
            -- row version before locking, and SKIP LOCKED passes over rows another rescuer holds.
            WHERE j.id = expired.id
            -- A rescued attempt has no run time of its own; its wait is measured from the
            -- run_at it was claimed at, which the update replaces.
            RETURNING j.queue, j.kind, j.state,
                CASE WHEN j.state = 'dead' THEN 'dead' ELSE 'retried' END AS outcome,
                CASE WHEN j.state = 'dead' THEN j.state END AS finished_state,
                NULL::bigint AS run_ms,
                greatest(0, (extract(epoch FROM expired.started_at - expired.run_at) * 1000)::bigint) AS wait_ms
            )\(unsafe: JobQueueSchema.endedDeltas("rescued"))
            SELECT state::text AS state FROM rescued
            """)
        var summary = RescueSummary(available: 0, dead: 0)
        for row in rows {
            if try row.decode("state", as: String.self) == "dead" { summary.dead += 1 } else { summary.available += 1 }
        }
        return summary
    }

    public func claim(queues: [String]?, limit: Int, leaseSeconds: Double, owner: UUID) throws -> [ClaimedJob] {
        // conveyor_claim (migration 101) shares the claim among the queues round-robin, skips
        // paused queues, and applies concurrency and rate limits under each limited queue's row
        // lock; unlimited queues take the lock-free path. Inside, its CTE stays the optimisation
        // fence of Oban's basic engine: pick and lock the rows first, then update exactly those.
        let rows = try connection.query("""
            SELECT id, org_id, queue, kind, priority, run_at, attempt, max_attempts, payload
            FROM conveyor_claim(\(queues)::text[], \(limit), \(leaseSeconds), \(owner))
            """)
        return try rows.map { row in
            ClaimedJob(id: try row.decode("id"), orgId: try row.decode("org_id"), queue: try row.decode("queue"),
                       kind: try row.decode("kind"), priority: try row.decode("priority"), runAt: try row.decode("run_at"),
                       attempt: try row.decode("attempt"), maxAttempts: try row.decode("max_attempts"),
                       payload: try row.decode("payload"))
        }
    }

    public func record(_ outcomes: [JobOutcome], owner: UUID) throws -> Set<Int64> {
        guard !outcomes.isEmpty else { return [] }
        // The rollup deltas ride along as CTEs over the RETURNING rows: one round trip, plain
        // INSERTs, nothing shared to wait on. `p` is the row as claimed: the retry's new run_at
        // would otherwise hide the one the wait time is measured from.
        let rows = try connection.query("""
            WITH ended AS (
            UPDATE conveyor_jobs AS j SET
                state = o.s::conveyor_job_state,
                result = CASE WHEN o.s = 'completed' THEN o.r END,
                errors = CASE WHEN o.e IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'message', o.e, 'durationMs', o.ms)) END,
                run_at = CASE WHEN o.s = 'available' THEN now() + make_interval(secs => o.d) ELSE j.run_at END,
                finished_at = CASE WHEN o.s = 'available' THEN NULL ELSE now() END,
                duration_ms = o.ms,
                locked_by = NULL,
                locked_until = NULL
            FROM jsonb_to_recordset(\(PostgresJSON(text: Self.outcomesJSON(outcomes)))::jsonb)
                AS o(id bigint, a smallint, w conveyor_job_state, s text, r jsonb, e text, d float8, ms integer)
                JOIN conveyor_jobs AS p ON p.id = o.id
            -- The state guard reads 'running' from the input (w) rather than a literal: a literal
            -- lets the planner pick the partial lease index and loop over every running job, and
            -- with stale statistics that was 600x slower than the primary-key lookups this forces.
            WHERE j.id = o.id AND j.attempt = o.a AND j.state = o.w AND j.locked_by = \(owner)
            RETURNING j.id, j.queue, j.kind,
                CASE o.s WHEN 'completed' THEN 'completed' WHEN 'dead' THEN 'dead' ELSE 'retried' END AS outcome,
                CASE WHEN o.s IN ('completed', 'dead') THEN o.s::conveyor_job_state END AS finished_state,
                greatest(j.duration_ms, 0)::bigint AS run_ms,
                greatest(0, (extract(epoch FROM p.started_at - p.run_at) * 1000)::bigint) AS wait_ms
            )\(unsafe: JobQueueSchema.endedDeltas("ended"))
            SELECT id FROM ended
            """)
        return Set(try rows.map { try $0.decode("id", as: Int64.self) })
    }

    public func release(_ ids: [Int64], owner: UUID) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try connection.execute("""
            UPDATE conveyor_jobs SET state = 'available', attempt = attempt - 1, locked_by = NULL, locked_until = NULL
            WHERE id = ANY(\(ids)::bigint[]) AND state = 'running' AND locked_by = \(owner)
            """)
    }

    public func reportProgress(jobId: Int64, owner: UUID, percent: Int, message: String?, leaseSeconds: Double) throws -> Bool {
        try connection.execute("""
            UPDATE conveyor_jobs SET progress = \(percent), progress_message = \(message),
                locked_until = greatest(locked_until, now() + make_interval(secs => \(leaseSeconds)))
            WHERE id = \(jobId) AND state = 'running' AND locked_by = \(owner)
            """) == 1
    }

    /// Outcomes as one JSON array for `jsonb_to_recordset`: one bind parameter, however many rows.
    static func outcomesJSON(_ outcomes: [JobOutcome]) -> String {
        var out = "["
        out.reserveCapacity(outcomes.count * 80)
        for (i, o) in outcomes.enumerated() {
            if i > 0 { out += "," }
            out += "{\"id\":\(o.jobId),\"a\":\(o.attempt),\"w\":\"running\",\"ms\":\(o.durationMs),"
            switch o.result {
            case .completed(let result):
                // Results come from handlers as JSON text; jsonb_to_recordset re-validates them.
                out += "\"s\":\"completed\",\"r\":\(result.isEmpty ? "null" : result)}"
            case .retry(let error, let delay):
                out += "\"s\":\"available\",\"d\":\(delay.isFinite ? delay : 0),\"e\":"
                JSONValue.writeString(error, to: &out)
                out += "}"
            case .dead(let error):
                out += "\"s\":\"dead\",\"e\":"
                JSONValue.writeString(error, to: &out)
                out += "}"
            }
        }
        return out + "]"
    }
}

extension PostgresJobStore {
    /// The earliest `run_at` among available jobs (nil when none wait), so `cron-driver watch` can
    /// sleep exactly until the next delayed job comes due instead of polling.
    public func nextRunAt(queues: [String]? = nil) throws -> Date? {
        let queueFilter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        // The claim index leads with the queue, then the priority, so a plain min(run_at) would
        // read every available row. Two skip scans take the first entry of each (queue,
        // priority) pair instead: one index probe per pair, however many jobs wait. Paused
        // queues are left out: nothing in them will run until they resume.
        let rows = try connection.query("""
            WITH RECURSIVE found AS (
                (SELECT queue FROM conveyor_jobs WHERE state = 'available'\(queueFilter) ORDER BY queue LIMIT 1)
                UNION ALL
                SELECT (SELECT queue FROM conveyor_jobs WHERE state = 'available' AND queue > found.queue\(queueFilter)
                        ORDER BY queue LIMIT 1)
                FROM found WHERE found.queue IS NOT NULL
            ), levels AS (
                SELECT found.queue, first.priority, first.run_at FROM found, LATERAL (
                    SELECT priority, run_at FROM conveyor_jobs WHERE state = 'available' AND queue = found.queue
                    ORDER BY priority DESC, run_at LIMIT 1) AS first
                WHERE found.queue IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM conveyor_queues q WHERE q.name = found.queue AND q.paused)
                UNION ALL
                SELECT levels.queue, next.priority, next.run_at FROM levels, LATERAL (
                    SELECT priority, run_at FROM conveyor_jobs
                    WHERE state = 'available' AND queue = levels.queue AND priority < levels.priority
                    ORDER BY priority DESC, run_at LIMIT 1) AS next
            )
            SELECT min(run_at) AS next FROM levels
            """)
        return try rows.first?.decodeIfPresent("next", as: Date.self)
    }

    /// Due jobs that wait only because their queue is at its concurrency or rate limit (paused
    /// queues not counted), up to `cap` per queue: what process-batch reports as `limited`.
    public func heldBack(queues: [String]?, cap: Int = 1000) throws -> Int {
        let queueFilter: SQL = queues.map { " AND q.name = ANY(\($0)::text[])" } ?? ""
        let rows = try connection.query("""
            SELECT coalesce(sum(due.n), 0)::int AS n FROM conveyor_queues q, LATERAL (
                SELECT count(*) AS n FROM (
                    SELECT 1 FROM conveyor_jobs j WHERE j.state = 'available' AND j.queue = q.name AND j.run_at <= now()
                    LIMIT \(cap)) AS d) AS due
            WHERE NOT q.paused AND (q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL)\(queueFilter)
            """)
        return try rows.first?.decode("n", as: Int.self) ?? 0
    }
}
