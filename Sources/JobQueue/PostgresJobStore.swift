import FoundationEssentials
import Postgres

/// The engine's storage on PostgreSQL: every statement the engine runs lives in this type's files.
///
/// It borrows one connection and runs one statement at a time on it; callers that want
/// parallelism use more stores on more connections.
public struct PostgresJobStore: JobStore, Sendable {
    public let connection: Connection
    /// Where a long poll LISTENs: a session of its own when `connection` goes through a
    /// transaction pooler, which cannot keep one; nil listens on `connection`.
    public var listener: Connection?

    public init(connection: Connection, listener: Connection? = nil) {
        self.connection = connection
        self.listener = listener
    }

    public func job(id: Int64, orgId: Int64) throws -> Job? {
        let rows = try connection.query("SELECT \(Job.columns) FROM conveyor_jobs WHERE id = \(id) AND org_id = \(orgId)")
        return try rows.first.map(Job.init(row:))
    }

    public func jobs(orgId: Int64, filter: JobFilter) throws -> JobPage {
        // Two partial indexes hold an org's jobs: running ones (few, by queue) and all others
        // (by org and id). Each part is read newest first and the two are merged.
        var conditions: SQL = " org_id = \(orgId)"
        if let queue = filter.queue { conditions = conditions + " AND queue = \(queue)" }
        if let kind = filter.kind { conditions = conditions + " AND kind = \(kind)" }
        if let before = filter.before { conditions = conditions + " AND id < \(before)" }
        let limit = min(max(filter.limit, 1), 200)
        let columns: SQL = """
            SELECT id, org_id, queue, kind, state::text AS state, priority, attempt, max_attempts, run_at, \
            NULL::jsonb AS payload, NULL::jsonb AS result, errors, progress, progress_message, idempotency_key, \
            duration_ms, created_at, started_at, finished_at FROM conveyor_jobs WHERE
            """
        let running: SQL = columns + conditions + " AND state = 'running' ORDER BY id DESC LIMIT \(limit + 1)"
        var others: SQL = columns + conditions + " AND state <> 'running'"
        if let state = filter.state, state != .running { others = others + " AND state = \(state.rawValue)::conveyor_job_state" }
        others = others + " ORDER BY id DESC LIMIT \(limit + 1)"
        let sql: SQL
        switch filter.state {
        case .running?: sql = running
        case nil: sql = "SELECT * FROM ((" + others + ") UNION ALL (" + running + ")) AS page ORDER BY id DESC LIMIT \(limit + 1)"
        default: sql = others
        }
        var jobs = try connection.query(sql).map(Job.init(row:))
        var next: Int64?
        if jobs.count > limit {
            jobs.removeLast()
            next = jobs.last?.id
        }
        return JobPage(jobs: jobs, nextCursor: next)
    }

    public func rescueExpired(queues: [String]?, limit: Int) throws -> RescueSummary {
        try Self.rescueSummary(connection.query(Self.rescueSQL(queues: queues, limit: limit, countInvocation: false)))
    }

    /// The rescue pass: expired leases back to `available` (due now), or to `dead` with no
    /// attempts left. With `countInvocation` it also counts one process-batch invocation for
    /// /metrics, which costs the invocation no round trip of its own.
    static func rescueSQL(queues: [String]?, limit: Int, countInvocation: Bool) -> SQL {
        let queueFilter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        let counted: SQL = countInvocation ? """
            , counted AS (
                INSERT INTO conveyor_counters AS c (name, value) VALUES (\(batchInvocationsCounter), 1)
                ON CONFLICT (name) DO UPDATE SET value = c.value + 1
            )
            """ : ""
        // FOR UPDATE SKIP LOCKED makes concurrent rescuers take each job exactly once.
        return """
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
            )\(unsafe: JobQueueSchema.endedDeltas("rescued"))\(counted)
            SELECT count(*) FILTER (WHERE state = 'dead')::int AS dead, count(*) FILTER (WHERE state <> 'dead')::int AS available
            FROM rescued
            """
    }

    static func rescueSummary(_ rows: QueryResult) throws -> RescueSummary {
        guard let row = rows.first else { return RescueSummary(available: 0, dead: 0) }
        return RescueSummary(available: try row.decode("available"), dead: try row.decode("dead"))
    }

    public func claim(queues: [String]?, limit: Int, leaseSeconds: Double, owner: UUID, maxTimeoutMs: Int = Int(Int32.max)) throws -> [ClaimedJob] {
        try Self.claimedJobs(connection.query(Self.claimSQL(queues: queues, limit: limit, leaseSeconds: leaseSeconds, owner: owner,
                                                            maxTimeoutMs: maxTimeoutMs)))
    }

    /// conveyor_claim (migrations 152, 153) stages due scheduled jobs, shares the claim among orgs,
    /// their queues and flow keys, skips paused queues, and applies every limit under the
    /// limited queue's row lock; unlimited queues take the lock-free path. It commits
    /// asynchronously: a claim lost in a crash leaves its jobs available with attempts unspent.
    static func claimSQL(queues: [String]?, limit: Int, leaseSeconds: Double, owner: UUID, maxTimeoutMs: Int) -> SQL {
        """
        SELECT id, org_id, queue, kind, priority, run_at, attempt, max_attempts, payload, timeout_ms, lease_ms, wait_ms,
               idempotency_key, traceparent
        FROM conveyor_claim(\(queues)::text[], \(limit), \(leaseSeconds), \(owner), \(min(maxTimeoutMs, Int(Int32.max))))
        """
    }

    /// The claim's rows, by position (the SELECT list of `claimSQL`): a thousand rows a claim.
    static func claimedJobs(_ rows: QueryResult) throws -> [ClaimedJob] {
        try rows.map { row in
            ClaimedJob(id: try row.decode(0), orgId: try row.decode(1), queue: try row.decode(2),
                       kind: try row.decode(3), priority: try row.decode(4), runAt: try row.decode(5),
                       attempt: try row.decode(6), maxAttempts: try row.decode(7),
                       payload: try row.decode(8), timeoutMs: try row.decode(9),
                       leaseMs: try row.decode(10), waitMs: try row.decode(11),
                       idempotencyKey: try row.decodeIfPresent(12), traceparent: try row.decodeIfPresent(13))
        }
    }

    public func record(_ outcomes: [JobOutcome], owner: UUID) throws -> Set<Int64> {
        guard !outcomes.isEmpty else { return [] }
        return try Self.appliedIds(connection.query(Self.recordSQL(outcomes, owner: owner)))
    }

    /// Outcomes in one statement. The rollup deltas ride along as CTEs over the RETURNING rows:
    /// one round trip, plain INSERTs, nothing shared to wait on. A retry with a delay waits in
    /// `scheduled`; one due at once (Retry-After 0, an interrupted attempt) is available again.
    ///
    /// The outcomes travel as parallel arrays, one bind parameter each: the server reads 1,000
    /// of them in under 2 ms, where one JSON document of the same took 6.
    static func recordSQL(_ outcomes: [JobOutcome], owner: UUID) -> SQL {
        var ids: [Int64] = [], attempts: [Int] = [], states: [String?] = [], results: [String?] = []
        var errors: [String?] = [], delays: [Double] = [], runMs: [Int] = [], waitMs: [Int] = [], answers: [String?] = []
        // Only outcomes of targets carry an answer: the others' statement stays as it was.
        let answered = outcomes.contains { $0.answer != nil }
        ids.reserveCapacity(outcomes.count)
        results.reserveCapacity(outcomes.count)
        for o in outcomes {
            ids.append(o.jobId)
            attempts.append(o.attempt)
            runMs.append(o.durationMs)
            waitMs.append(o.waitMs)
            if answered { answers.append(o.answer) }
            switch o.result {
            case .completed(let result):
                states.append("completed"); results.append(result.isEmpty ? "null" : result); errors.append(nil); delays.append(0)
            case .retry(let error, let delay):
                states.append("available"); results.append(nil); errors.append(error); delays.append(delay.isFinite ? max(delay, 0) : 0)
            case .dead(let error):
                states.append("dead"); results.append(nil); errors.append(error); delays.append(0)
            }
        }
        let answerArray: SQL = answered ? ", \(PostgresArrayText.texts(answers))::text[]" : ""
        return """
            WITH o AS MATERIALIZED (
                SELECT u.*, 'running'::conveyor_job_state AS w, \(owner)::uuid AS owner
                FROM unnest(\(PostgresArrayText.integers(ids))::bigint[], \(PostgresArrayText.integers(attempts))::smallint[],
                            \(PostgresArrayText.texts(states))::text[], \(PostgresArrayText.texts(results))::text[],
                            \(PostgresArrayText.texts(errors))::text[], \(PostgresArrayText.doubles(delays))::float8[],
                            \(PostgresArrayText.integers(runMs))::integer[], \(PostgresArrayText.integers(waitMs))::integer[]\(answerArray))
                    AS u(id, a, s, r, e, d, ms, wms\(unsafe: answered ? ", c" : ""))
            ), ended AS (
            UPDATE conveyor_jobs AS j SET
                state = (CASE WHEN o.s <> 'available' THEN o.s WHEN o.d > 0 THEN 'scheduled' ELSE 'available' END)::conveyor_job_state,
                result = CASE WHEN o.s = 'completed' THEN o.r::jsonb END,
                errors = CASE WHEN o.e IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(), 'message', o.e, 'durationMs', o.ms)) END,
                run_at = CASE WHEN o.s = 'available' THEN now() + make_interval(secs => o.d) ELSE j.run_at END,
                finished_at = CASE WHEN o.s = 'available' THEN NULL ELSE now() END,
                duration_ms = o.ms,
                locked_by = NULL,
                locked_until = NULL
            -- The guard's state and owner come from the materialized input, which the planner
            -- cannot fold into constants: as plain conditions on the table, right after an
            -- ANALYZE that saw no running job, it guessed the owner's rows were few and scanned
            -- the whole table (or looped over every running job for each outcome), where the
            -- primary key finds each one at once.
            FROM o
            WHERE j.id = o.id AND j.attempt = o.a AND j.state = o.w AND j.locked_by = o.owner
            RETURNING j.id, j.queue, j.kind,
                CASE o.s WHEN 'completed' THEN 'completed' WHEN 'dead' THEN 'dead' ELSE 'retried' END AS outcome,
                CASE WHEN o.s IN ('completed', 'dead') THEN o.s::conveyor_job_state END AS finished_state,
                greatest(j.duration_ms, 0)::bigint AS run_ms,
                greatest(o.wms, 0)::bigint AS wait_ms\(unsafe: answered ? ", o.c AS answer" : "")
            )\(unsafe: JobQueueSchema.endedDeltas("ended"))\(unsafe: answered ? JobQueueSchema.answerDeltas("ended") : "")
            SELECT id FROM ended
            """
    }

    static func appliedIds(_ rows: QueryResult) throws -> Set<Int64> {
        Set(try rows.map { try $0.decode("id", as: Int64.self) })
    }

    public func release(_ ids: [Int64], owner: UUID) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try connection.execute(Self.releaseSQL(ids, owner: owner))
    }

    static func releaseSQL(_ ids: [Int64], owner: UUID) -> SQL {
        """
        UPDATE conveyor_jobs SET state = 'available', attempt = attempt - 1, locked_by = NULL, locked_until = NULL
        WHERE id = ANY(\(ids)::bigint[]) AND state = 'running' AND locked_by = \(owner)
        """
    }

    public func reportProgress(jobId: Int64, owner: UUID, percent: Int, message: String?, leaseSeconds: Double, capSeconds: Double) throws -> Bool {
        try reportProgress(jobId: jobId, attempt: nil, owner: owner, percent: percent, message: message,
                           leaseSeconds: leaseSeconds, capSeconds: capSeconds)
    }

    /// As above, for one attempt only (`attempt` nil: whichever the owner runs): a report from
    /// outside, such as a target's endpoint, names the attempt it belongs to, so a late report
    /// never lands on the job's next attempt.
    public func reportProgress(jobId: Int64, attempt: Int?, owner: UUID, percent: Int, message: String?,
                               leaseSeconds: Double, capSeconds: Double) throws -> Bool {
        try connection.execute("""
            UPDATE conveyor_jobs SET progress = \(percent), progress_message = \(message),
                locked_until = least(greatest(locked_until, now() + make_interval(secs => \(leaseSeconds))),
                                     now() + make_interval(secs => \(capSeconds)))
            WHERE id = \(jobId) AND state = 'running' AND locked_by = \(owner)
              AND (\(attempt)::integer IS NULL OR attempt = \(attempt)::integer)
            """) == 1
    }

    public func exchange(_ request: StoreExchange, owner: UUID, wait: StoreWait?) throws -> StoreReply {
        var statements: [SQL] = []
        if !request.outcomes.isEmpty { statements.append(Self.recordSQL(request.outcomes, owner: owner)) }
        if !request.release.isEmpty { statements.append(Self.releaseSQL(request.release, owner: owner)) }
        if let rescue = request.rescue { statements.append(Self.rescueSQL(queues: rescue.queues, limit: rescue.limit, countInvocation: true)) }
        if let claim = request.claim {
            statements.append(Self.claimSQL(queues: claim.queues, limit: claim.limit, leaseSeconds: claim.leaseSeconds,
                                            owner: owner, maxTimeoutMs: claim.maxTimeoutMs))
        }
        var reply = StoreReply()
        guard !statements.isEmpty else { return reply }
        let results = try wait.map { w in try connection.pipelined(statements, wait: PipelineWait(fd: w.fd, onReadable: w.onReadable)) }
            ?? connection.pipelined(statements)
        // Each statement committed (or failed) on its own: a part that failed is reported as
        // such, and the parts that committed are never mistaken for lost.
        var index = 0
        func take<T>(_ read: (QueryResult) throws -> T) -> T? {
            defer { index += 1 }
            do {
                return try read(results[index].get())
            } catch {
                reply.failure = reply.failure ?? error
                return nil
            }
        }
        if !request.outcomes.isEmpty { reply.applied = take(Self.appliedIds) }
        if !request.release.isEmpty { reply.released = take(\.affectedRows) }
        if request.rescue != nil { reply.rescued = take(Self.rescueSummary) }
        if request.claim != nil { reply.claimed = take(Self.claimedJobs) }
        return reply
    }
}

extension PostgresJobStore {
    public func listenForWork() throws {
        try (listener ?? connection).listen(JobQueueSchema.notifyChannel(connection.schema))
    }

    public func waitForWork(queues: [String]?, timeout: Double, wakeFD: Int32) throws -> WorkHeard {
        var heard = WorkHeard()
        let channel = JobQueueSchema.notifyChannel(connection.schema)
        for n in try (listener ?? connection).waitForNotifications(timeout: timeout, wakeFD: wakeFD) where n.channel == channel {
            let delayed = n.payload.hasPrefix(JobQueueSchema.delayedPrefix)
            let queue = delayed ? n.payload.dropFirst(JobQueueSchema.delayedPrefix.count) : Substring(n.payload)
            guard queues.map({ $0.contains { $0 == queue } }) ?? true else { continue }
            if delayed { heard.scheduled = true } else { heard.due = true }
        }
        return heard
    }

    public func stopListening() throws {
        try (listener ?? connection).unlisten(JobQueueSchema.notifyChannel(connection.schema))
        // What arrived before the UNLISTEN took effect is of no use to anyone now.
        _ = try (listener ?? connection).waitForNotifications(timeout: 0)
    }

    public func nextScheduled(queues: [String]?) throws -> Date? {
        let queueFilter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        return try connection.query("""
            SELECT run_at FROM conveyor_jobs WHERE state = 'scheduled'\(queueFilter) ORDER BY run_at LIMIT 1
            """).first?.decode("run_at")
    }

    /// When process-batch next has something to do (nil when nothing waits): now when a due job
    /// waits in a queue that is not paused, else the earliest scheduled job's time, so
    /// `cron-driver watch` sleeps exactly until the next delayed job comes due.
    public func nextRunAt(queues: [String]? = nil) throws -> Date? {
        // Due work: each org's queues with available jobs (a bounded skip scan of the lane
        // index), any of them listed and not paused. Paused queues' jobs will not run until
        // they resume.
        let listed: SQL = queues.map { " AND k.queue = ANY(\($0)::text[])" } ?? ""
        let scheduledFilter: SQL = queues.map { " AND queue = ANY(\($0)::text[])" } ?? ""
        let rows = try connection.query("""
            WITH RECURSIVE orgs AS (
                (SELECT j.org_id FROM conveyor_jobs j WHERE j.state = 'available' ORDER BY \(unsafe: JobQueueSchema.laneOrder) LIMIT 1)
                UNION ALL
                SELECT (SELECT j.org_id FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id > orgs.org_id
                        ORDER BY \(unsafe: JobQueueSchema.laneOrder) LIMIT 1)
                FROM orgs WHERE orgs.org_id IS NOT NULL
            )
            SELECT CASE WHEN EXISTS (
                       SELECT 1 FROM orgs, unnest(conveyor_lane_keys(orgs.org_id, NULL, 100)) AS k(queue)
                       WHERE orgs.org_id IS NOT NULL\(listed)
                         AND NOT EXISTS (SELECT 1 FROM conveyor_queues q WHERE q.name = k.queue AND q.paused))
                   THEN now()
                   ELSE (SELECT run_at FROM conveyor_jobs WHERE state = 'scheduled'\(scheduledFilter) ORDER BY run_at LIMIT 1)
                   END AS next
            """)
        return try rows.first?.decodeIfPresent("next", as: Date.self)
    }

    /// Due jobs that wait only because their queue is at one of its limits (paused queues not
    /// counted), up to `cap` per queue: what process-batch reports as `limited`.
    public func heldBack(queues: [String]?, cap: Int = 1000) throws -> Int {
        let queueFilter: SQL = queues.map { " AND q.name = ANY(\($0)::text[])" } ?? ""
        let rows = try connection.query("""
            SELECT coalesce(sum(due.n), 0)::int AS n FROM conveyor_queues q, LATERAL (
                SELECT count(*) AS n FROM (
                    SELECT 1 FROM conveyor_jobs j WHERE j.state = 'available' AND j.queue = q.name
                    LIMIT \(cap)) AS d) AS due
            WHERE NOT q.paused AND (q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL OR q.org_concurrency IS NOT NULL
                OR q.org_rate_limit IS NOT NULL OR q.flow_concurrency IS NOT NULL OR q.flow_rate_limit IS NOT NULL)\(queueFilter)
            """)
        return try rows.first?.decode("n", as: Int.self) ?? 0
    }

    /// Due jobs whose attempt limit is longer than `maxTimeoutMs`, up to `cap`: jobs no
    /// invocation with this budget could start, which process-batch reports as `tooLong`.
    public func tooLong(queues: [String]?, maxTimeoutMs: Int, cap: Int = 1000) throws -> Int {
        let queueFilter: SQL = queues.map { " AND j.queue = ANY(\($0)::text[])" } ?? ""
        let rows = try connection.query("""
            SELECT count(*)::int AS n FROM (
                SELECT 1 FROM conveyor_jobs j WHERE j.state = 'available' AND j.timeout_ms > \(maxTimeoutMs)\(queueFilter)
                  AND NOT EXISTS (SELECT 1 FROM conveyor_queues q WHERE q.name = j.queue AND q.paused)
                LIMIT \(cap)) AS d
            """)
        return try rows.first?.decode("n", as: Int.self) ?? 0
    }
}
