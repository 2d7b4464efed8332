import FoundationEssentials
import Postgres

extension PostgresJobStore {
    public func enqueue(_ jobs: [NewJob], orgId: Int64) throws -> [EnqueuedJob] {
        guard !jobs.isEmpty else { return [] }
        if jobs.contains(where: { $0.uniqueForSeconds != nil }) { return try enqueueWindowed(jobs, orgId: orgId) }
        return try enqueue(jobs, orgIds: Array(repeating: orgId, count: jobs.count))
    }

    /// Jobs of several orgs, each stored under its own org (`orgIds[i]` for `jobs[i]`), in one
    /// statement and one commit. This is how a host answering concurrent enqueue requests lets
    /// them share a transaction (group commit): the commit's WAL flush, the statement and the
    /// wake-up notification are paid once for all of them. Idempotency keys are per org, as
    /// always. Jobs with a uniqueness window take their own path, one org at a time.
    public func enqueue(_ jobs: [NewJob], orgIds: [Int64]) throws -> [EnqueuedJob] {
        precondition(jobs.count == orgIds.count, "one org per job")
        guard !jobs.isEmpty else { return [] }
        if jobs.contains(where: { $0.uniqueForSeconds != nil }) { return try enqueueGroupedByOrg(jobs, orgIds: orgIds) }
        do {
            return try storeTogether(jobs, orgIds: orgIds).map { try $0.get() }
        } catch let refused as InsertRefused {
            throw refused.error
        }
    }

    /// One statement for all the jobs, then each input matched to its row. Throws
    /// `InsertRefused` when the insert itself failed (nothing was stored), and any other error
    /// only when no job can be answered; once the rows are committed, a job whose answer cannot
    /// be found fails alone.
    func storeTogether(_ jobs: [NewJob], orgIds: [Int64]) throws -> [Result<EnqueuedJob, any Error>] {
        let rows: QueryResult
        do {
            rows = jobs.count == 1 ? try insertOne(jobs[0], orgId: orgIds[0]) : try insertMany(jobs, orgIds: orgIds)
        } catch let error as PostgresError {
            throw InsertRefused(error: error)
        }
        // Queue and kind are the input's; only what the database decided comes back.
        var inserted = try rows.map { row in
            (id: try row.decode("id", as: Int64.self), org: try row.decode("org_id", as: Int64.self),
             runAt: try row.decode("run_at", as: Date.self), key: try row.decodeIfPresent("idempotency_key", as: String.self),
             state: JobState(rawValue: try row.decode("state", as: String.self)) ?? .available)
        }
        inserted.sort { $0.id < $1.id }
        // Keys are compared as Postgres does, byte for byte: Swift's String equality treats
        // "é" and "e\u{301}" as one key where the unique index sees two.
        func orgKey(_ i: Int) -> OrgKey? { jobs[i].idempotencyKey.map { OrgKey(org: orgIds[i], key: Array($0.utf8)) } }
        let insertedKeys = Set(inserted.compactMap { row in row.key.map { OrgKey(org: row.org, key: Array($0.utf8)) } })

        // Walk the inputs in order: each one either took the next inserted row, or repeats a key
        // (earlier in this batch, or already stored) and is answered with that job.
        var results: [Result<EnqueuedJob, any Error>?] = Array(repeating: nil, count: jobs.count)
        var byKey: [OrgKey: EnqueuedJob] = [:]
        var missing: [OrgKey] = []
        var next = 0
        for (i, job) in jobs.enumerated() {
            let key = orgKey(i)
            if let key {
                if let first = byKey[key] {
                    results[i] = .success(first.markedDuplicate)
                    continue
                }
                guard insertedKeys.contains(key) else {
                    missing.append(key)
                    continue
                }
            }
            guard next < inserted.count, inserted[next].org == orgIds[i], inserted[next].key.map({ Array($0.utf8) }) == key?.key else {
                throw Self.mismatch
            }
            let answer = EnqueuedJob(id: inserted[next].id, queue: job.queue, kind: job.kind, state: inserted[next].state,
                                     runAt: inserted[next].runAt, idempotencyKey: job.idempotencyKey, duplicate: false)
            results[i] = .success(answer)
            if let key { byKey[key] = answer }
            next += 1
        }
        guard next == inserted.count else { throw Self.mismatch }

        if !missing.isEmpty {
            do {
                // A new statement sees rows a racing enqueue committed while ours waited on the index.
                let existing = try connection.query("""
                    SELECT j.org_id, j.id, j.queue, j.kind, j.state::text AS state, j.run_at, j.idempotency_key
                    FROM unnest(\(missing.map(\.org))::bigint[], \(missing.map { String(decoding: $0.key, as: UTF8.self) })::text[]) AS m(org_id, key)
                    JOIN conveyor_jobs j ON j.org_id = m.org_id AND j.idempotency_key = m.key
                    """)
                for row in existing {
                    let key: String = try row.decode("idempotency_key")
                    byKey[OrgKey(org: try row.decode("org_id"), key: Array(key.utf8))] = EnqueuedJob(
                        id: try row.decode("id"), queue: try row.decode("queue"), kind: try row.decode("kind"),
                        state: JobState(rawValue: try row.decode("state")) ?? .available,
                        runAt: try row.decode("run_at"), idempotencyKey: key, duplicate: true)
                }
            } catch {
                // The new rows are committed and answered; only the repeats could not be looked up.
                for i in jobs.indices where results[i] == nil { results[i] = .failure(error) }
            }
            for (i, job) in jobs.enumerated() where results[i] == nil {
                if let key = orgKey(i), let found = byKey[key] {
                    results[i] = .success(found.markedDuplicate)
                } else {
                    // The holder of the key vanished between the two statements (pruned): rare
                    // enough that a retry, which the key makes safe, is the right answer.
                    results[i] = .failure(JobQueueError(.conflict, "the job holding idempotency key '\(job.idempotencyKey ?? "")' changed while enqueueing; retry"))
                }
            }
        }
        return results.map { $0! }
    }

    /// Windowed jobs check their window per org: one `enqueue` per org, answers in input order.
    func enqueueGroupedByOrg(_ jobs: [NewJob], orgIds: [Int64]) throws -> [EnqueuedJob] {
        var results: [EnqueuedJob?] = Array(repeating: nil, count: jobs.count)
        var order: [Int64] = []
        var indices: [Int64: [Int]] = [:]
        for (i, org) in orgIds.enumerated() {
            if indices[org] == nil { order.append(org) }
            indices[org, default: []].append(i)
        }
        for org in order {
            let group = indices[org]!
            for (i, answer) in zip(group, try enqueue(group.map { jobs[$0] }, orgId: org)) { results[i] = answer }
        }
        return results.map { $0! }
    }

    /// The batch path: one statement for any number of jobs. ORDER BY n makes ids follow the
    /// input order, which is how inserted rows are matched back to their inputs. Each row's org
    /// is its own, from `orgIds`.
    ///
    /// The wake-up is one notification per queue: the queue's name wakes `cron-driver watch` to
    /// process now; "delayed:<queue>" only tells it to recompute when to wake next. Outside a
    /// transaction they follow the insert's commit, pipelined, as for a single job (see
    /// `insertOne`); inside one they are sent at its commit.
    func insertMany(_ jobs: [NewJob], orgIds: [Int64]) throws -> QueryResult {
        let insert: SQL = """
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, state, max_attempts, idempotency_key, flow_key, timeout_ms,
                                       traceparent)
            SELECT org, queue, kind, payload, priority, at.r, \(unsafe: Self.stateOf("at.r")),
                   coalesce(CASE WHEN from_queue THEN (SELECT q.max_attempts FROM conveyor_queues q WHERE q.name = input.queue) END,
                            max_attempts),
                   key, coalesce(flow, ''), timeout, trace
            FROM jsonb_to_recordset(\(PostgresJSON(text: Self.enqueueJSON(jobs, orgIds: orgIds)))::jsonb)
                AS input(n integer, org bigint, kind text, queue text, payload jsonb, priority smallint, delay float8,
                         run_at timestamptz, max_attempts smallint, key text, from_queue boolean, flow text, timeout integer, trace text)
                CROSS JOIN LATERAL (SELECT coalesce(input.run_at, now() + make_interval(secs => coalesce(input.delay, 0))) AS r) AS at
            ORDER BY n
            ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, org_id, run_at, idempotency_key, queue, state::text AS state
            """
        guard !connection.isInTransaction else {
            return try connection.query("""
                WITH ins AS (\(insert))
                SELECT id, org_id, run_at, idempotency_key, state,
                       (SELECT count(pg_notify(\(JobQueueSchema.notifyChannel(connection.schema)),
                                               CASE WHEN due THEN q ELSE \(JobQueueSchema.delayedPrefix) || q END))
                        FROM (SELECT queue AS q, bool_or(run_at <= now()) AS due FROM ins GROUP BY queue) AS queues) AS notified
                FROM ins
                """)
        }
        let outcomes = try connection.pipelined([insert, Self.notifyAfterCommit(Self.channelPayloads(jobs), channel: JobQueueSchema.notifyChannel(connection.schema))])
        // A failed notification is not a failed enqueue: the jobs are stored.
        return try outcomes[0].get()
    }

    /// What to notify for these jobs: each queue once, as due when any of its jobs is.
    static func channelPayloads(_ jobs: [NewJob]) -> [String] {
        let now = Date()
        var due: [String: Bool] = [:]
        var order: [String] = []
        for job in jobs {
            let isDue = job.runAt.map { $0 <= now } ?? ((job.delaySeconds ?? 0) <= 0)
            if due[job.queue] == nil { order.append(job.queue) }
            due[job.queue] = (due[job.queue] ?? false) || isDue
        }
        return order.map { due[$0]! ? $0 : JobQueueSchema.delayedPrefix + $0 }
    }

    /// Notifications in a transaction of their own with an asynchronous commit: the jobs are
    /// already committed, so losing these in a crash loses only a wake-up (the crontab, or the
    /// next notification, picks the jobs up).
    static func notifyAfterCommit(_ payloads: [String], channel: String) -> SQL {
        """
        SELECT set_config('synchronous_commit', 'off', true), count(pg_notify(\(channel), p))
        FROM unnest(\(payloads)::text[]) AS p
        """
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
        let outcomes = try connection.pipelined([
            insertOneStatement(job, orgId: orgId, notifying: false),
            Self.notifyAfterCommit(Self.channelPayloads([job]), channel: JobQueueSchema.notifyChannel(connection.schema)),
        ])
        // A failed notification is not a failed enqueue: the job is stored.
        return try outcomes[0].get()
    }

    func insertOneStatement(_ job: NewJob, orgId: Int64, notifying: Bool) -> SQL {
        let insert: SQL = """
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, state, max_attempts, idempotency_key, flow_key, timeout_ms,
                                       traceparent)
            SELECT \(orgId), \(job.queue), \(job.kind), \(PostgresJSON(text: job.payloadJSON))::jsonb, \(job.priority)::smallint,
                   at.r, \(unsafe: Self.stateOf("at.r")), \(Self.maxAttemptsSQL(job)), \(job.idempotencyKey), \(job.flowKey), \(job.timeoutMs)::integer,
                   \(job.traceparent)
            FROM (SELECT coalesce(\(job.runAt)::timestamptz, now() + make_interval(secs => coalesce(\(job.delaySeconds)::float8, 0))) AS r) AS at
            ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, org_id, run_at, idempotency_key, queue, state::text AS state
            """
        guard notifying else { return insert }
        return """
            WITH ins AS (\(insert))
            SELECT id, org_id, run_at, idempotency_key, state,
                   pg_notify(\(JobQueueSchema.notifyChannel(connection.schema)),
                             CASE WHEN run_at <= now() THEN queue ELSE \(JobQueueSchema.delayedPrefix) || queue END)::text AS notified
            FROM ins
            """
    }

    /// The state a new job starts in, given its run_at expression: due jobs are available at
    /// once, later ones wait in `scheduled` until a claim stages them.
    static func stateOf(_ runAt: String) -> String {
        "CASE WHEN \(runAt) <= now() THEN 'available' ELSE 'scheduled' END::conveyor_job_state"
    }

    /// The job's max_attempts as SQL: its own, or the queue's default when it has no say.
    static func maxAttemptsSQL(_ job: NewJob) -> SQL {
        guard job.maxAttemptsFromQueue else { return "\(job.maxAttempts)::smallint" }
        return "coalesce((SELECT max_attempts FROM conveyor_queues WHERE name = \(job.queue)), \(job.maxAttempts)::smallint)"
    }

    static var mismatch: JobQueueError {
        // Never seen; if it happens the rows are committed, so a retry without idempotency keys
        // would store the jobs twice.
        JobQueueError(.conflict, "enqueue stored the jobs but could not match them to their inputs; retry only with idempotency keys")
    }

    /// The batch as one JSON array for `jsonb_to_recordset`.
    static func enqueueJSON(_ jobs: [NewJob], orgIds: [Int64]) -> String {
        var out = "["
        out.reserveCapacity(jobs.reduce(2) { $0 + $1.payloadJSON.utf8.count + 120 })
        for (n, job) in jobs.enumerated() {
            if n > 0 { out += "," }
            out += "{\"n\":\(n),\"org\":\(orgIds[n]),\"kind\":"
            JSONValue.writeString(job.kind, to: &out)
            out += ",\"queue\":"
            JSONValue.writeString(job.queue, to: &out)
            out += ",\"payload\":\(job.payloadJSON),\"priority\":\(job.priority),\"max_attempts\":\(job.maxAttempts),\"timeout\":\(job.timeoutMs)"
            if !job.flowKey.isEmpty {
                out += ",\"flow\":"
                JSONValue.writeString(job.flowKey, to: &out)
            }
            if job.maxAttemptsFromQueue { out += ",\"from_queue\":true" }
            if let delay = job.delaySeconds { out += ",\"delay\":\(delay)" }
            if let runAt = job.runAt { out += ",\"run_at\":\"\(Timestamp.format(runAt))\"" }
            if let key = job.idempotencyKey {
                out += ",\"key\":"
                JSONValue.writeString(key, to: &out)
            }
            if let trace = job.traceparent { out += ",\"trace\":\"\(trace)\"" }
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

/// An idempotency key as the unique index sees it: per org, byte for byte.
struct OrgKey: Hashable {
    var org: Int64
    var key: [UInt8]
}

extension PostgresJobStore {
    /// Jobs from separate callers that arrived together, each with its own answer: one shared
    /// statement and commit (`enqueue(_:orgIds:)`), and, when the server refuses that statement
    /// for its data (SQLSTATE class 22 or 23: nothing was stored), each job alone, so one job the
    /// database rejects fails only its own caller. Any other failure is every job's answer:
    /// retrying job by job after a lock or statement timeout would multiply the wait, and after
    /// a broken connection the shared commit may have happened. Jobs with a uniqueness window
    /// lock per org and window, so they go alone.
    public func enqueueEach(_ jobs: [NewJob], orgIds: [Int64]) -> [Result<EnqueuedJob, any Error>] {
        precondition(jobs.count == orgIds.count, "one org per job")
        if jobs.count == 1 || jobs.contains(where: { $0.uniqueForSeconds != nil }) {
            return zip(jobs, orgIds).map { job, org in Result { try enqueue([job], orgId: org)[0] } }
        }
        do {
            return try storeTogether(jobs, orgIds: orgIds)
        } catch let refused as InsertRefused where refused.isAboutTheData && !connection.isInTransaction {
            return zip(jobs, orgIds).map { job, org in Result { try enqueue([job], orgId: org)[0] } }
        } catch let refused as InsertRefused {
            return jobs.map { _ in .failure(refused.error) }
        } catch {
            return jobs.map { _ in .failure(error) }
        }
    }
}

/// The shared insert failed. Nothing of it was stored, unless the connection broke after the
/// commit (code `.connection`), which is why only `isAboutTheData` refusals are retried.
struct InsertRefused: Error {
    let error: PostgresError

    /// Bad data or a violated constraint (SQLSTATE classes 22 and 23): a job's fault, which
    /// trying the jobs one by one isolates.
    var isAboutTheData: Bool {
        guard error.code == .query, let state = error.sqlState else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }
}
