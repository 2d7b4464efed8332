import FoundationEssentials
import Postgres

/// What a bounded purge did.
public struct PurgeSummary: Sendable, Equatable {
    public var deleted: Int
    /// True when the limit stopped it with matching jobs left: call again.
    public var more: Bool
}

extension PostgresJobStore {
    /// Finished states an operator may purge.
    public static let purgeableStates: [JobState] = [.completed, .dead, .cancelled]

    /// Gives a dead job a fresh set of attempts: it becomes available now and keeps its error
    /// history. `notFound` for an unknown id, `conflict` when it is not dead.
    public func retryDeadJob(id: Int64) throws -> Job {
        // It leaves the dead: the totals' delta rides along on the RETURNING row.
        let rows = try connection.query("""
            WITH revived AS (
                UPDATE conveyor_jobs SET state = 'available', attempt = 0, run_at = now(), finished_at = NULL, result = NULL
                WHERE id = \(id) AND state = 'dead'
                RETURNING \(Job.columns)
            )\(unsafe: JobQueueSchema.totalsDelta("(SELECT queue, kind, 'dead'::conveyor_job_state AS state FROM revived)", sign: -1))
            SELECT * FROM revived
            """)
        if let row = rows.first { return try Job(row: row) }
        throw try missingOrConflict(id, wanted: "dead", action: "retried")
    }

    /// Retries up to `limit` dead jobs of a queue and/or kind (every dead job when both are nil),
    /// the longest dead first. Returns how many; call again while it returns `limit`.
    public func retryDeadJobs(queue: String?, kind: String?, limit: Int) throws -> Int {
        var filter: SQL = ""
        if let queue { filter = filter + " AND queue = \(queue)" }
        if let kind { filter = filter + " AND kind = \(kind)" }
        return try connection.query("""
            WITH picked AS (
                SELECT id FROM conveyor_jobs WHERE state = 'dead'\(filter)
                ORDER BY finished_at, id LIMIT \(min(max(limit, 1), 10_000))
                FOR UPDATE SKIP LOCKED
            ), revived AS (
                UPDATE conveyor_jobs AS j SET state = 'available', attempt = 0, run_at = now(), finished_at = NULL, result = NULL
                FROM picked WHERE j.id = picked.id
                RETURNING j.queue, j.kind, 'dead'::conveyor_job_state AS state
            )\(unsafe: JobQueueSchema.totalsDelta("revived", sign: -1))
            SELECT count(*)::int AS n FROM revived
            """)[0].decode("n")
    }

    /// Cancels a job that has not started: waiting, delayed or backing off. `conflict` for a
    /// running or finished job, which cancelling could not stop or undo.
    public func cancelJob(id: Int64) throws -> Job {
        let rows = try connection.query("""
            WITH cancelled AS (
                UPDATE conveyor_jobs SET state = 'cancelled', finished_at = now()
                WHERE id = \(id) AND state IN ('available', 'scheduled')
                RETURNING \(Job.columns)
            )\(unsafe: JobQueueSchema.totalsDelta("(SELECT queue, kind, 'cancelled'::conveyor_job_state AS state FROM cancelled)", sign: 1))
            SELECT * FROM cancelled
            """)
        if let row = rows.first { return try Job(row: row) }
        throw try missingOrConflict(id, wanted: "available or scheduled", action: "cancelled")
    }

    /// Pauses or resumes a queue; a paused queue is skipped by every claim.
    public func setPaused(queue: String, _ paused: Bool) throws -> QueueUpdate {
        try updateQueue(named: queue, replacing: false, with: .object(["paused": .bool(paused)]))
    }

    /// Deletes finished jobs (of `states`, optionally one queue) that finished more than
    /// `olderThanSeconds` ago, in batches of at most 1,000, stopping after `limit`.
    public func purgeFinished(olderThanSeconds: Int, states: [JobState] = purgeableStates, queue: String? = nil, limit: Int = 10_000) throws -> PurgeSummary {
        guard !states.isEmpty, states.allSatisfy(\.isFinished) else {
            throw JobQueueError.invalid("states", "must list finished states only: completed, dead, cancelled")
        }
        var deleted = 0
        let budget = min(max(limit, 1), 100_000)
        for state in states {
            for name in try finishedQueues(state: state, only: queue) {
                let result = try pruneBatches(queue: name, state: state, olderThanSeconds: olderThanSeconds, budget: budget - deleted)
                deleted += result.deleted
                if result.more { return PurgeSummary(deleted: deleted, more: true) }
            }
        }
        return PurgeSummary(deleted: deleted, more: false)
    }

    /// Jobs across every org for the operator: `running` by lease, others newest first.
    public func adminJobs(state: JobState, queue: String? = nil, kind: String? = nil, limit: Int = 50, before: Int64? = nil) throws -> JobPage {
        var sql: SQL = """
            SELECT id, org_id, queue, kind, state::text AS state, priority, attempt, max_attempts, run_at, \
            NULL::jsonb AS payload, NULL::jsonb AS result, errors, progress, progress_message, idempotency_key, \
            duration_ms, created_at, started_at, finished_at
            FROM conveyor_jobs WHERE state = \(state.rawValue)::conveyor_job_state
            """
        if let queue { sql = sql + " AND queue = \(queue)" }
        if let kind { sql = sql + " AND kind = \(kind)" }
        if let before { sql = sql + " AND id < \(before)" }
        let n = min(max(limit, 1), 200)
        sql = sql + " ORDER BY id DESC LIMIT \(n + 1)"
        var jobs = try connection.query(sql).map(Job.init(row:))
        var next: Int64?
        if jobs.count > n {
            jobs.removeLast()
            next = jobs.last?.id
        }
        return JobPage(jobs: jobs, nextCursor: next)
    }

    func missingOrConflict(_ id: Int64, wanted: String, action: String) throws -> JobQueueError {
        guard let row = try connection.query("SELECT state::text AS state FROM conveyor_jobs WHERE id = \(id)").first else {
            return JobQueueError(.notFound, "no job \(id)")
        }
        let state: String = try row.decode("state")
        return JobQueueError(.conflict, "job \(id) is \(state); only a job that is \(wanted) can be \(action)", details: ["state": .string(state)])
    }
}
