import FoundationEssentials
import Postgres

/// What `startNow` found: a job of its own, running under the caller's lease, or the job
/// another request already made with the same idempotency key.
public enum ImmediateStart: Sendable, Equatable {
    case started(id: Int64)
    case existing(Job)
}

extension PostgresJobStore {
    /// Stores `job` as already running, attempt 1, owned by `owner` for `leaseSeconds`: for work
    /// a request does itself (send-email's `sendNow`) that must happen once per idempotency key.
    /// A second request with the key gets the first one's job instead. The caller ends it with
    /// `record` (same owner, attempt 1) or `abandonStarted`; if the caller dies, the lease ends
    /// and rescue hands the job to process-batch, as for any interrupted attempt.
    public func startNow(_ job: NewJob, orgId: Int64, owner: UUID, leaseSeconds: Double) throws -> ImmediateStart {
        let inserted = try connection.query("""
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, state, attempt, max_attempts, idempotency_key,
                                       flow_key, timeout_ms, traceparent, locked_by, locked_until, started_at)
            VALUES (\(orgId), \(job.queue), \(job.kind), \(PostgresJSON(text: job.payloadJSON))::jsonb, \(job.priority)::smallint,
                    'running', 1, \(job.maxAttempts)::smallint, \(job.idempotencyKey), \(job.flowKey), \(job.timeoutMs)::integer,
                    \(job.traceparent), \(owner)::uuid, now() + make_interval(secs => \(max(leaseSeconds, 1))::float8), now())
            ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id
            """)
        if let row = inserted.first { return .started(id: try row.decode("id")) }
        guard let key = job.idempotencyKey,
              let found = try connection.query("SELECT \(Job.columns) FROM conveyor_jobs WHERE org_id = \(orgId) AND idempotency_key = \(key)").first
        else {
            // Only a key can make the insert find a conflict; without one this is unreachable,
            // and a key whose job was pruned between the two statements is simply gone.
            throw JobQueueError(.conflict, "the job for this idempotencyKey changed while it was looked up; retry")
        }
        return .existing(try Job(row: found))
    }

    /// Takes back a job `startNow` made whose work did not happen (nothing was done, so there
    /// is nothing to retry or keep): the key is free again. Guarded by state and owner.
    @discardableResult
    public func abandonStarted(id: Int64, owner: UUID) throws -> Bool {
        try connection.execute("DELETE FROM conveyor_jobs WHERE id = \(id) AND state = 'running' AND locked_by = \(owner)::uuid") == 1
    }
}
