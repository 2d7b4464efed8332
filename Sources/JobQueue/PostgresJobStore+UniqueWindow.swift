import FoundationEssentials
import Postgres

extension PostgresJobStore {
    /// Enqueues a batch in which some jobs carry `uniqueForSeconds`, one statement per job in
    /// one transaction, so the batch stays all-or-nothing.
    ///
    /// Uniqueness is exact, not bucketed: a job enqueued with a window holds its (org, kind,
    /// payload) from its creation until `created_at + uniqueFor`, and the exclusion constraint
    /// `conveyor_jobs_unique_window` refuses a second window that overlaps an open one. A new
    /// window starts now, so it overlaps exactly when an earlier holder's window is still open.
    /// The database decides, so racing enqueues agree: the loser waits for the winner's commit
    /// and is answered with the winner's job. The payload is compared as canonical jsonb (key
    /// order and whitespace do not matter).
    func enqueueWindowed(_ jobs: [NewJob], orgId: Int64) throws -> [EnqueuedJob] {
        try connection.transaction { connection in
            try jobs.map { job in
                if let row = try insertWindowed(job, orgId: orgId, on: connection).first {
                    return EnqueuedJob(id: try row.decode("id"), queue: job.queue, kind: job.kind,
                                       state: JobState(rawValue: try row.decode("state")) ?? .available,
                                       runAt: try row.decode("run_at"), idempotencyKey: job.idempotencyKey, duplicate: false)
                }
                guard let holder = try self.holder(of: job, orgId: orgId, on: connection) else {
                    throw JobQueueError(.conflict, "the job holding this job's idempotency key or uniqueness window changed while enqueueing; retry")
                }
                return holder
            }
        }
    }

    /// The insert. ON CONFLICT without a target covers both the idempotency index and the
    /// uniqueness exclusion constraint (DO NOTHING is the one action exclusion constraints allow).
    func insertWindowed(_ job: NewJob, orgId: Int64, on connection: Connection) throws -> QueryResult {
        try connection.query("""
            WITH ins AS (
                INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, state, max_attempts, idempotency_key,
                                           flow_key, timeout_ms, unique_hash, unique_until, traceparent)
                SELECT \(orgId), \(job.queue), \(job.kind), \(PostgresJSON(text: job.payloadJSON))::jsonb, \(job.priority)::smallint,
                       at.r, \(unsafe: Self.stateOf("at.r")), \(Self.maxAttemptsSQL(job)), \(job.idempotencyKey),
                       \(job.flowKey), \(job.timeoutMs)::integer, \(Self.uniqueHashSQL(job)),
                       now() + make_interval(secs => \(job.uniqueForSeconds)::float8), \(job.traceparent)
                FROM (SELECT coalesce(\(job.runAt)::timestamptz, now() + make_interval(secs => coalesce(\(job.delaySeconds)::float8, 0))) AS r) AS at
                ON CONFLICT DO NOTHING
                RETURNING id, run_at, queue, state
            )
            SELECT id, run_at, state::text AS state,
                   pg_notify(\(JobQueueSchema.notifyChannel(connection.schema)),
                             CASE WHEN run_at <= now() THEN queue ELSE \(JobQueueSchema.delayedPrefix) || queue END)::text AS notified
            FROM ins
            """)
    }

    /// The job that made `job` a duplicate: the holder of its idempotency key, else the holder
    /// of its uniqueness window (the latest, should windows have come and gone meanwhile).
    func holder(of job: NewJob, orgId: Int64, on connection: Connection) throws -> EnqueuedJob? {
        var found: Row?
        if let key = job.idempotencyKey {
            found = try connection.query("""
                SELECT id, queue, kind, state::text AS state, run_at, idempotency_key
                FROM conveyor_jobs WHERE org_id = \(orgId) AND idempotency_key = \(key)
                """).first
        }
        if found == nil, job.uniqueForSeconds != nil {
            // The range condition lets the exclusion constraint's index find the few rows whose
            // window is open or just closed, however long the key's history.
            found = try connection.query("""
                SELECT id, queue, kind, state::text AS state, run_at, idempotency_key
                FROM conveyor_jobs
                WHERE org_id = \(orgId) AND unique_hash = \(Self.uniqueHashSQL(job)) AND unique_hash IS NOT NULL
                  AND tstzrange(created_at, unique_until) && tstzrange(now() - interval '1 minute', NULL)
                ORDER BY unique_until DESC LIMIT 1
                """).first
        }
        guard let row = found else { return nil }
        return EnqueuedJob(id: try row.decode("id"), queue: try row.decode("queue"), kind: try row.decode("kind"),
                           state: JobState(rawValue: try row.decode("state")) ?? .available, runAt: try row.decode("run_at"),
                           idempotencyKey: try row.decodeIfPresent("idempotency_key"), duplicate: true)
    }

    /// The uniqueness hash: kind and canonical jsonb text (sorted keys, no whitespace), as a uuid.
    static func uniqueHashSQL(_ job: NewJob) -> SQL {
        guard job.uniqueForSeconds != nil else { return "NULL::uuid" }
        return "md5(\(job.kind) || E'\\n' || \(PostgresJSON(text: job.payloadJSON))::jsonb::text)::uuid"
    }
}
