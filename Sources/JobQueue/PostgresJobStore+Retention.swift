import FoundationEssentials
import Postgres

/// What one retention pass deleted.
public struct PruneSummary: Sendable, Equatable {
    /// Jobs deleted, by state.
    public var deleted: [JobState: Int] = [:]
    /// Rollup rows (per-minute metrics) past their two days, deleted.
    public var rollupRows = 0
    /// Rollup delta rows folded away by compaction (rows deleted minus rows written).
    public var compactedRows = 0
    public var batches = 0
    /// True when `maxBatches` stopped the pass with expired jobs left; the next pass goes on.
    public var more = false

    public init() {}
}

extension PostgresJobStore {
    /// Completed jobs are kept a day unless their queue says otherwise (seed 000).
    public static let defaultCompletedRetentionSeconds = 86_400
    /// Dead and cancelled jobs are kept a week unless their queue says otherwise.
    public static let defaultDeadRetentionSeconds = 604_800
    /// Per-minute rollups are kept two days: queue-metrics reads the last hour, alerts 15 minutes.
    static let rollupRetentionSeconds = 172_800

    /// Deletes finished jobs past their queue's retention (`conveyor_queues`, else the
    /// defaults), and old rollup rows. Works in batches of `batchSize` rows, each its own
    /// statement, paging through each (state, queue) by keyset on (finished_at, id) so that
    /// no batch wades through the index entries the previous ones left for vacuum. Stops after
    /// `maxBatches` batches; several pruners at once skip each other's rows.
    public func pruneExpired(batchSize: Int = 1000, maxBatches: Int = 100) throws -> PruneSummary {
        let size = min(max(batchSize, 1), 10_000)
        var summary = PruneSummary()
        var retention: [String: QueueSettings.Retention] = [:]
        for settings in try queueSettings() { retention[settings.name] = settings.retention }
        for state in Self.purgeableStates {
            for queue in try finishedQueues(state: state, only: nil) {
                let r = retention[queue]
                let seconds = state == .completed
                    ? r?.completedSeconds ?? Self.defaultCompletedRetentionSeconds
                    : r?.deadSeconds ?? Self.defaultDeadRetentionSeconds
                let left = (maxBatches - summary.batches) * size
                guard left > 0 else { summary.more = true; return summary }
                let result = try pruneBatches(queue: queue, state: state, olderThanSeconds: seconds, budget: left, batchSize: size)
                summary.deleted[state, default: 0] += result.deleted
                summary.batches += result.batches
                if result.more { summary.more = true; return summary }
            }
        }
        for table in ["conveyor_job_minutes", "conveyor_job_timings"] {
            summary.rollupRows += try connection.execute("""
                DELETE FROM \(unsafe: table) WHERE ctid = ANY (ARRAY(
                    SELECT ctid FROM \(unsafe: table) WHERE minute < now() - make_interval(secs => \(Self.rollupRetentionSeconds))
                    LIMIT \(size * 10)))
                """)
        }
        summary.compactedRows = try compactRollups(limit: size * 10)
        return summary
    }

    /// Delta rows younger than this are left alone by compaction: the hot rows the engine is
    /// appending to stay untouched, and each old key ends up as a single row.
    static let rollupCompactAfterSeconds = 300

    /// The rollups' delta tables: name, key columns, summed columns, and the time column that
    /// says how old a delta is (part of the key for the per-minute tables).
    static let rollupTables: [(table: String, keys: String, sums: [String], time: String, timeIsKey: Bool)] = [
        ("conveyor_job_totals", "queue, kind, state", ["jobs"], "at", false),
        ("conveyor_job_processed", "queue, kind, outcome", ["jobs"], "at", false),
        ("conveyor_job_answers", "queue, kind, answer", ["jobs"], "at", false),
        ("conveyor_job_run_histogram", "queue, kind, bucket", ["jobs", "total_ms"], "at", false),
        ("conveyor_job_minutes", "minute, queue, kind", ["completed", "failed"], "minute", true),
        ("conveyor_job_timings", "minute, queue, kind, measure, bucket", ["jobs", "total_ms"], "minute", true),
    ]

    /// Folds delta rows older than a few minutes into one row per key, so readers sum few rows.
    /// Each table takes one statement (DELETE ... RETURNING feeding an INSERT of the sums),
    /// touching at most `limit` keys. Rows a concurrent compaction deleted first are not
    /// returned here, so two at once never count a delta twice. Returns the rows removed.
    public func compactRollups(limit: Int = 10_000) throws -> Int {
        var removed = 0
        for t in Self.rollupTables {
            let keys = t.keys.split(separator: ",").map { $0.filter { $0 != " " } }
            let match = keys.map { "d.\($0) = k.\($0)" }.joined(separator: " AND ")
            let sums = t.sums.map { "sum(\($0))" }.joined(separator: ", ")
            let columns = t.keys + ", " + t.sums.joined(separator: ", ") + (t.timeIsKey ? "" : ", " + t.time)
            let values = t.keys + ", " + sums + (t.timeIsKey ? "" : ", min(\(t.time))")
            // Totals may cancel out to nothing: no row then.
            let having = t.table == "conveyor_job_totals" ? " HAVING sum(jobs) <> 0" : ""
            let row = try connection.query("""
                WITH k AS (
                    SELECT \(unsafe: t.keys) FROM \(unsafe: t.table)
                    WHERE \(unsafe: t.time) < now() - make_interval(secs => \(Self.rollupCompactAfterSeconds))
                    GROUP BY \(unsafe: t.keys) HAVING count(*) > 1 LIMIT \(max(limit, 1))
                ), gone AS (
                    DELETE FROM \(unsafe: t.table) AS d USING k
                    WHERE \(unsafe: match) AND d.\(unsafe: t.time) < now() - make_interval(secs => \(Self.rollupCompactAfterSeconds))
                    RETURNING d.*
                ), kept AS (
                    INSERT INTO \(unsafe: t.table) (\(unsafe: columns))
                    SELECT \(unsafe: values) FROM gone GROUP BY \(unsafe: t.keys)\(unsafe: having)
                    RETURNING 1
                )
                SELECT (SELECT count(*) FROM gone)::int - (SELECT count(*) FROM kept)::int AS n
                """)
            removed += try row[0].decode("n", as: Int.self)
        }
        return removed
    }

    /// Queues holding jobs in `state`, from the running totals (no scan of the jobs table).
    func finishedQueues(state: JobState, only: String?) throws -> [String] {
        if let only { return [only] }
        return try connection.query("""
            SELECT queue FROM conveyor_job_totals WHERE state = \(state.rawValue)::conveyor_job_state
            GROUP BY queue HAVING sum(jobs) > 0 ORDER BY queue
            """).map { try $0.decode("queue") }
    }

    /// Deletes one (queue, state)'s jobs finished more than `olderThanSeconds` ago, oldest first,
    /// in keyset-paged batches, until none is left or `budget` rows are gone.
    func pruneBatches(queue: String, state: JobState, olderThanSeconds: Int, budget: Int,
                      batchSize: Int = 1000) throws -> (deleted: Int, batches: Int, more: Bool) {
        let cutoff: String = try connection.query("SELECT (now() - make_interval(secs => \(olderThanSeconds)))::text AS t")[0].decode("t")
        // The cursor travels as Postgres' own text, not as a Double-backed Date, which could
        // round a microsecond away and skip a row that shares the boundary's timestamp.
        var after: (at: String, id: Int64)?
        var deleted = 0, batches = 0
        while deleted < budget {
            let n = min(batchSize, budget - deleted)
            let cursor: SQL = after.map { " AND (finished_at, id) > (\($0.at)::timestamptz, \($0.id))" } ?? ""
            let rows = try connection.query("""
                WITH doomed AS (
                    SELECT id FROM conveyor_jobs
                    WHERE state = \(state.rawValue)::conveyor_job_state AND queue = \(queue)
                      AND finished_at < \(cutoff)::timestamptz\(cursor)
                    ORDER BY finished_at, id LIMIT \(n)
                    FOR UPDATE SKIP LOCKED
                ), gone AS (
                    DELETE FROM conveyor_jobs AS j USING doomed WHERE j.id = doomed.id RETURNING j.finished_at, j.id, j.queue, j.kind, j.state
                )\(unsafe: JobQueueSchema.totalsDelta("gone", sign: -1))
                SELECT count(*)::int AS n, max(finished_at)::text AS at,
                       (SELECT max(id) FROM gone g WHERE g.finished_at = (SELECT max(finished_at) FROM gone)) AS id
                FROM gone
                """)
            batches += 1
            let count: Int = try rows[0].decode("n")
            deleted += count
            guard count == n, let at: String = try rows[0].decodeIfPresent("at"), let id: Int64 = try rows[0].decodeIfPresent("id") else {
                return (deleted, batches, false)
            }
            after = (at, id)
        }
        // The budget ran out exactly; say whether anything expired is left.
        let left = try connection.query("""
            SELECT EXISTS (SELECT 1 FROM conveyor_jobs WHERE state = \(state.rawValue)::conveyor_job_state AND queue = \(queue)
                           AND finished_at < \(cutoff)::timestamptz) AS more
            """)[0].decode("more", as: Bool.self)
        return (deleted, batches, left)
    }
}
