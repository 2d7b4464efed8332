import FoundationEssentials
import Postgres

extension PostgresJobStore {
    public func enqueue(_ jobs: [NewJob], orgId: Int64) throws -> [EnqueuedJob] {
        guard !jobs.isEmpty else { return [] }
        if jobs.contains(where: { $0.uniqueForSeconds != nil }) { return try enqueueWindowed(jobs, orgId: orgId) }
        let rows = jobs.count == 1 ? try insertOne(jobs[0], orgId: orgId) : try insertMany(jobs, orgId: orgId)
        // Queue and kind are the input's; only what the database decided comes back.
        var inserted = try rows.map { row in
            (id: try row.decode("id", as: Int64.self), runAt: try row.decode("run_at", as: Date.self),
             key: try row.decodeIfPresent("idempotency_key", as: String.self))
        }
        inserted.sort { $0.id < $1.id }
        // Keys are compared as Postgres does, byte for byte: Swift's String equality treats
        // "é" and "e\u{301}" as one key where the unique index sees two.
        let insertedKeys = Set(inserted.compactMap { $0.key.map { Array($0.utf8) } })

        // Walk the inputs in order: each one either took the next inserted row, or repeats a key
        // (earlier in this batch, or already stored) and is answered with that job.
        var results: [EnqueuedJob?] = Array(repeating: nil, count: jobs.count)
        var byKey: [[UInt8]: EnqueuedJob] = [:]
        var missingKeys: [String] = []
        var next = 0
        for (i, job) in jobs.enumerated() {
            if let key = job.idempotencyKey.map({ Array($0.utf8) }) {
                if let first = byKey[key] {
                    results[i] = first.markedDuplicate
                    continue
                }
                guard insertedKeys.contains(key) else {
                    missingKeys.append(job.idempotencyKey!)
                    continue
                }
            }
            guard next < inserted.count, inserted[next].key.map({ Array($0.utf8) }) == job.idempotencyKey.map({ Array($0.utf8) }) else {
                throw Self.mismatch
            }
            let answer = EnqueuedJob(id: inserted[next].id, queue: job.queue, kind: job.kind, state: .available,
                                     runAt: inserted[next].runAt, idempotencyKey: job.idempotencyKey, duplicate: false)
            results[i] = answer
            if let key = job.idempotencyKey { byKey[Array(key.utf8)] = answer }
            next += 1
        }
        guard next == inserted.count else { throw Self.mismatch }

        if !missingKeys.isEmpty {
            // A new statement sees rows a racing enqueue committed while ours waited on the index.
            let existing = try connection.query("""
                SELECT id, queue, kind, state::text AS state, run_at, idempotency_key
                FROM conveyor_jobs WHERE org_id = \(orgId) AND idempotency_key = ANY(\(missingKeys)::text[])
                """)
            for row in existing {
                let key: String = try row.decode("idempotency_key")
                byKey[Array(key.utf8)] = EnqueuedJob(id: try row.decode("id"), queue: try row.decode("queue"), kind: try row.decode("kind"),
                                         state: JobState(rawValue: try row.decode("state")) ?? .available,
                                         runAt: try row.decode("run_at"), idempotencyKey: key, duplicate: true)
            }
            for (i, job) in jobs.enumerated() where results[i] == nil {
                guard let key = job.idempotencyKey, let found = byKey[Array(key.utf8)] else {
                    // The holder of the key vanished between the two statements (pruned): rare enough
                    // that the client's retry is the right answer.
                    throw JobQueueError(.conflict, "the job holding idempotency key '\(job.idempotencyKey ?? "")' changed while enqueueing; retry")
                }
                results[i] = found.markedDuplicate
            }
        }
        return results.map { $0! }
    }

    /// The batch path: one statement for any number of jobs. ORDER BY n makes ids follow the
    /// input order, which is how inserted rows are matched back to their inputs. The notify runs
    /// once per queue per statement (delivered at commit): the queue's name wakes
    /// `cron-driver watch` to process now; "delayed:<queue>" only tells it to recompute when to
    /// wake next.
    func insertMany(_ jobs: [NewJob], orgId: Int64) throws -> QueryResult {
        try connection.query("""
            WITH input AS (
                SELECT * FROM jsonb_to_recordset(\(PostgresJSON(text: Self.enqueueJSON(jobs)))::jsonb)
                    AS i(n integer, kind text, queue text, payload jsonb, priority smallint, delay float8,
                         run_at timestamptz, max_attempts smallint, key text, from_queue boolean)
            ), ins AS (
                INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, max_attempts, idempotency_key)
                SELECT \(orgId), queue, kind, payload, priority,
                       coalesce(run_at, now() + make_interval(secs => coalesce(delay, 0))),
                       coalesce(CASE WHEN from_queue THEN (SELECT q.max_attempts FROM conveyor_queues q WHERE q.name = input.queue) END,
                                max_attempts),
                       key
                FROM input ORDER BY n
                ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING id, run_at, idempotency_key, queue
            )
            SELECT id, run_at, idempotency_key,
                   (SELECT count(pg_notify(\(JobQueueSchema.notifyChannel),
                                           CASE WHEN due THEN q ELSE \(JobQueueSchema.delayedPrefix) || q END))
                    FROM (SELECT queue AS q, bool_or(run_at <= now()) AS due FROM ins GROUP BY queue) AS queues) AS notified
            FROM ins
            """)
    }

    /// The single-job path, which most callers take: plain VALUES, no JSON recordset to build
    /// and unpack, no sort. Same conflict rule and the same notification.
    ///
    /// Outside a transaction the notification is sent after the insert has committed, in its
    /// own transaction with an asynchronous commit, pipelined so it costs no extra round trip.
    /// A NOTIFY inside the insert's transaction takes a database-wide lock that it holds through
    /// the commit's WAL flush, so concurrent enqueues could not share a flush: pgbench measured
    /// insert+notify at half the rate of a plain insert, and insert then notify at 0.7 of it.
    /// Losing that notification in a crash loses nothing: the job is committed and the crontab
    /// (or the next notification) picks it up.
    func insertOne(_ job: NewJob, orgId: Int64) throws -> QueryResult {
        if connection.isInTransaction {
            return try connection.query(insertOneStatement(job, orgId: orgId, notifying: true))
        }
        let delayed = job.runAt.map { $0 > Date() } ?? ((job.delaySeconds ?? 0) > 0)
        let channelPayload = delayed ? JobQueueSchema.delayedPrefix + job.queue : job.queue
        let outcomes = try connection.pipelined([
            insertOneStatement(job, orgId: orgId, notifying: false),
            "SELECT set_config('synchronous_commit', 'off', true), pg_notify(\(JobQueueSchema.notifyChannel), \(channelPayload))",
        ])
        // A failed notification is not a failed enqueue: the job is stored.
        return try outcomes[0].get()
    }

    func insertOneStatement(_ job: NewJob, orgId: Int64, notifying: Bool) -> SQL {
        let insert: SQL = """
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, max_attempts, idempotency_key)
            VALUES (\(orgId), \(job.queue), \(job.kind), \(PostgresJSON(text: job.payloadJSON))::jsonb, \(job.priority)::smallint,
                    coalesce(\(job.runAt)::timestamptz, now() + make_interval(secs => coalesce(\(job.delaySeconds)::float8, 0))),
                    \(Self.maxAttemptsSQL(job)), \(job.idempotencyKey))
            ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, run_at, idempotency_key, queue
            """
        guard notifying else { return insert }
        return """
            WITH ins AS (\(insert))
            SELECT id, run_at, idempotency_key,
                   pg_notify(\(JobQueueSchema.notifyChannel),
                             CASE WHEN run_at <= now() THEN queue ELSE \(JobQueueSchema.delayedPrefix) || queue END)::text AS notified
            FROM ins
            """
    }

    /// The job's max_attempts as SQL: its own, or the queue's default when it has no say.
    static func maxAttemptsSQL(_ job: NewJob) -> SQL {
        guard job.maxAttemptsFromQueue else { return "\(job.maxAttempts)::smallint" }
        return "coalesce((SELECT max_attempts FROM conveyor_queues WHERE name = \(job.queue)), \(job.maxAttempts)::smallint)"
    }

    static var mismatch: JobQueueError {
        JobQueueError(.conflict, "enqueue could not match inserted jobs to their inputs; retry")
    }

    /// The batch as one JSON array for `jsonb_to_recordset`.
    static func enqueueJSON(_ jobs: [NewJob]) -> String {
        var out = "["
        out.reserveCapacity(jobs.reduce(2) { $0 + $1.payloadJSON.utf8.count + 120 })
        for (n, job) in jobs.enumerated() {
            if n > 0 { out += "," }
            out += "{\"n\":\(n),\"kind\":"
            JSONValue.writeString(job.kind, to: &out)
            out += ",\"queue\":"
            JSONValue.writeString(job.queue, to: &out)
            out += ",\"payload\":\(job.payloadJSON),\"priority\":\(job.priority),\"max_attempts\":\(job.maxAttempts)"
            if job.maxAttemptsFromQueue { out += ",\"from_queue\":true" }
            if let delay = job.delaySeconds { out += ",\"delay\":\(delay)" }
            if let runAt = job.runAt { out += ",\"run_at\":\"\(Timestamp.format(runAt))\"" }
            if let key = job.idempotencyKey {
                out += ",\"key\":"
                JSONValue.writeString(key, to: &out)
            }
            out += "}"
        }
        return out + "]"
    }
}

extension EnqueuedJob {
    var markedDuplicate: EnqueuedJob {
        var copy = self
        copy.duplicate = true
        return copy
    }
}
