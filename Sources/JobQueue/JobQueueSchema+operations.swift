import Postgres

extension JobQueueSchema {
    /// Upper bounds, in milliseconds, of the duration histogram buckets (a last, unbounded bucket
    /// follows). Shared by the rollups, the percentiles and the Prometheus histogram.
    public static let durationBucketsMs: [Int] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000]

    /// Operations (migration 150): rollups that keep queue metrics cheap however many finished
    /// jobs the table holds, indexes for retention and the admin actions, and alert state.
    ///
    /// Counting 1,000,000 finished rows costs far more than the 50 ms queue-metrics may take, so
    /// the rollups keep running counts instead. They are append-only delta tables: the engine's
    /// own statements that change a job's finished-ness (record, rescue, retry-dead, cancel,
    /// purge, prune) add rows to them in extra CTEs over their RETURNING rows, with plain INSERTs.
    /// No row is ever updated in place, so concurrent statements never wait on each other (a
    /// shared counter row upserted by every batch serialised them until commit, and triggers with
    /// transition tables taxed every UPDATE, the 1,000-row claim included). Readers SUM the
    /// deltas with GROUP BY; the prune pass compacts old deltas into one row per key.
    /// Writes made with raw SQL outside the engine are not counted.
    static let operations = Migration(version: 150, name: "operations: metrics rollups, retention indexes, alerts", sql: """
        -- Finished jobs by state, exact: what is in the table right now (sum of the deltas).
        CREATE TABLE conveyor_job_totals (
            queue text NOT NULL,
            kind  text NOT NULL,
            state conveyor_job_state NOT NULL,
            jobs  bigint NOT NULL,
            at    timestamptz NOT NULL DEFAULT now()
        );
        -- Attempts that ended, per minute: throughput and failure rate over the last hour.
        CREATE TABLE conveyor_job_minutes (
            minute    timestamptz NOT NULL,
            queue     text NOT NULL,
            kind      text NOT NULL,
            completed integer NOT NULL,
            failed    integer NOT NULL
        );
        CREATE INDEX conveyor_job_minutes_minute ON conveyor_job_minutes (minute);
        -- Run ('r') and wait ('w') times per minute as histogram buckets: percentiles without
        -- reading a single job row.
        CREATE TABLE conveyor_job_timings (
            minute   timestamptz NOT NULL,
            queue    text NOT NULL,
            kind     text NOT NULL,
            measure  "char" NOT NULL,
            bucket   smallint NOT NULL,
            jobs     integer NOT NULL,
            total_ms bigint NOT NULL
        );
        CREATE INDEX conveyor_job_timings_minute ON conveyor_job_timings (minute);
        -- Monotonic counters for Prometheus: attempts by outcome, and the run-time histogram.
        -- Never pruned (only compacted), so a scrape never sees a counter go down.
        CREATE TABLE conveyor_job_processed (
            queue   text NOT NULL,
            kind    text NOT NULL,
            outcome text NOT NULL,
            jobs    bigint NOT NULL,
            at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE conveyor_job_run_histogram (
            queue    text NOT NULL,
            kind     text NOT NULL,
            bucket   smallint NOT NULL,
            jobs     bigint NOT NULL,
            total_ms bigint NOT NULL,
            at       timestamptz NOT NULL DEFAULT now()
        );
        -- Named counters (process-batch invocations).
        CREATE TABLE conveyor_counters (
            name  text PRIMARY KEY,
            value bigint NOT NULL
        );
        -- When each alert condition last fired: at most one alert per condition per hour,
        -- however many checkers run.
        CREATE TABLE conveyor_alerts (
            condition    text PRIMARY KEY,
            last_sent_at timestamptz NOT NULL,
            last_payload jsonb
        );

        -- Retention, purge and the dead-letter list: finished jobs per state and queue in
        -- finishing order, so pruning pages through them by keyset.
        CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (state, queue, finished_at, id)
            WHERE state IN ('completed', 'dead', 'cancelled');
        -- Per-kind statistics over the last 24 h.
        CREATE INDEX conveyor_jobs_finished_by_kind ON conveyor_jobs (kind, finished_at)
            WHERE state IN ('completed', 'dead', 'cancelled');

        -- Finished jobs already in the table when this migration runs.
        INSERT INTO conveyor_job_totals (queue, kind, state, jobs)
        SELECT queue, kind, state, count(*) FROM conveyor_jobs
        WHERE state IN ('completed', 'dead', 'cancelled') GROUP BY 1, 2, 3;
        """)

    /// CTEs that append the rollup deltas of attempts that ended, given a CTE `source` whose
    /// `ended` rows have columns queue, kind, outcome ('completed', 'retried', 'dead'),
    /// finished_state (the new state when finished, else NULL), run_ms (NULL for an attempt
    /// without a run time of its own, such as a rescued one) and wait_ms. Starts with a comma.
    /// A release hands a claim back unstarted: it is no outcome and must not be passed here.
    static func endedDeltas(_ ended: String) -> String {
        // One pass over the ended rows into a handful of groups; each rollup then sums those.
        """
        , ended_groups AS (
            SELECT e.queue, e.kind, e.outcome, e.finished_state,
                   \(bucketOf("e.run_ms")) AS run_bucket, \(bucketOf("e.wait_ms")) AS wait_bucket,
                   count(*) AS n, count(e.run_ms) AS timed, coalesce(sum(e.run_ms), 0) AS run_total, sum(e.wait_ms) AS wait_total
            FROM \(ended) e GROUP BY 1, 2, 3, 4, 5, 6
        ), rollup_totals AS (
            INSERT INTO conveyor_job_totals (queue, kind, state, jobs)
            SELECT g.queue, g.kind, g.finished_state, sum(g.n) FROM ended_groups g
            WHERE g.finished_state IS NOT NULL GROUP BY 1, 2, 3
        ), rollup_minutes AS (
            INSERT INTO conveyor_job_minutes (minute, queue, kind, completed, failed)
            SELECT date_trunc('minute', now()), g.queue, g.kind,
                   coalesce(sum(g.n) FILTER (WHERE g.outcome = 'completed'), 0), coalesce(sum(g.n) FILTER (WHERE g.outcome <> 'completed'), 0)
            FROM ended_groups g GROUP BY 2, 3
        ), rollup_timings AS (
            INSERT INTO conveyor_job_timings (minute, queue, kind, measure, bucket, jobs, total_ms)
            SELECT date_trunc('minute', now()), x.queue, x.kind, x.measure, x.bucket, sum(x.n), sum(x.ms) FROM (
                SELECT g.queue, g.kind, 'r'::"char" AS measure, g.run_bucket AS bucket, g.timed AS n, g.run_total AS ms
                FROM ended_groups g WHERE g.timed > 0
                UNION ALL
                SELECT g.queue, g.kind, 'w'::"char", g.wait_bucket, g.n, g.wait_total FROM ended_groups g
            ) x GROUP BY 2, 3, 4, 5
        ), rollup_processed AS (
            INSERT INTO conveyor_job_processed (queue, kind, outcome, jobs)
            SELECT g.queue, g.kind, g.outcome, sum(g.n) FROM ended_groups g GROUP BY 1, 2, 3
        ), rollup_histogram AS (
            INSERT INTO conveyor_job_run_histogram (queue, kind, bucket, jobs, total_ms)
            SELECT g.queue, g.kind, g.run_bucket, sum(g.timed), sum(g.run_total)
            FROM ended_groups g WHERE g.timed > 0 GROUP BY 1, 2, 3
        )
        """
    }

    /// The per-target answer counts over the ended rows (which then carry `answer`). Starts
    /// with a comma.
    static func answerDeltas(_ ended: String) -> String {
        """
        , rollup_answers AS (
            INSERT INTO conveyor_job_answers (queue, kind, answer, jobs)
            SELECT e.queue, e.kind, e.answer, count(*) FROM \(ended) e WHERE e.answer IS NOT NULL GROUP BY 1, 2, 3
        )
        """
    }

    /// A CTE that appends totals deltas: `sign` (1 or -1) per row of `rows`, which has columns
    /// queue, kind and state (finished states only are counted). Starts with a comma.
    static func totalsDelta(_ rows: String, sign: Int) -> String {
        """
        , rollup_totals AS (
            INSERT INTO conveyor_job_totals (queue, kind, state, jobs)
            SELECT r.queue, r.kind, r.state, \(sign) * count(*) FROM \(rows) r
            WHERE r.state IN ('completed', 'dead', 'cancelled') GROUP BY 1, 2, 3
        )
        """
    }

    /// The histogram bucket of a millisecond value: the index of the first bound it does not
    /// exceed (Prometheus `le`), or the count of bounds for the unbounded bucket.
    static func bucketOf(_ expression: String) -> String {
        "width_bucket(\(expression) - 1, ARRAY[\(durationBucketsMs.map(String.init).joined(separator: ","))]::bigint[])::smallint"
    }
}
