import Postgres

extension JobQueueSchema {
    /// Upper bounds, in milliseconds, of the duration histogram buckets (a last, unbounded bucket
    /// follows). Shared by the rollups, the percentiles and the Prometheus histogram.
    public static let durationBucketsMs: [Int] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000]

    /// Operations (migration 150): rollups that keep queue metrics cheap however many finished
    /// jobs the table holds, indexes for retention and the admin actions, and alert state.
    ///
    /// Counting 1,000,000 finished rows costs far more than the 50 ms queue-metrics may take, so
    /// statement-level triggers keep running counts instead. They see each statement's rows as
    /// transition tables, so a batch of 500 outcomes costs one upsert per (queue, kind), not 500.
    /// Upserts go in key order, so two concurrent batches never lock counter rows crosswise.
    static let operations = Migration(version: 150, name: "operations: metrics rollups, retention indexes, alerts", sql: """
        -- Finished jobs by state, exact: what is in the table right now.
        CREATE TABLE conveyor_job_totals (
            queue text NOT NULL,
            kind  text NOT NULL,
            state conveyor_job_state NOT NULL,
            jobs  bigint NOT NULL,
            PRIMARY KEY (queue, kind, state)
        );
        -- Attempts that ended, per minute: throughput and failure rate over the last hour.
        CREATE TABLE conveyor_job_minutes (
            minute    timestamptz NOT NULL,
            queue     text NOT NULL,
            kind      text NOT NULL,
            completed integer NOT NULL,
            failed    integer NOT NULL,
            PRIMARY KEY (minute, queue, kind)
        );
        -- Run ('r') and wait ('w') times per minute as histogram buckets: percentiles without
        -- reading a single job row.
        CREATE TABLE conveyor_job_timings (
            minute   timestamptz NOT NULL,
            queue    text NOT NULL,
            kind     text NOT NULL,
            measure  "char" NOT NULL,
            bucket   smallint NOT NULL,
            jobs     integer NOT NULL,
            total_ms bigint NOT NULL,
            PRIMARY KEY (minute, queue, kind, measure, bucket)
        );
        -- Monotonic counters for Prometheus: attempts by outcome, and the run-time histogram.
        -- Never pruned, so a scrape never sees a counter go down.
        CREATE TABLE conveyor_job_processed (
            queue   text NOT NULL,
            kind    text NOT NULL,
            outcome text NOT NULL,
            jobs    bigint NOT NULL,
            PRIMARY KEY (queue, kind, outcome)
        );
        CREATE TABLE conveyor_job_run_histogram (
            queue    text NOT NULL,
            kind     text NOT NULL,
            bucket   smallint NOT NULL,
            jobs     bigint NOT NULL,
            total_ms bigint NOT NULL,
            PRIMARY KEY (queue, kind, bucket)
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

        CREATE FUNCTION conveyor_jobs_count_finished() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO conveyor_job_totals AS t (queue, kind, state, jobs)
                SELECT n.queue, n.kind, n.state, count(*) FROM conveyor_new n
                WHERE n.state IN ('completed', 'dead', 'cancelled')
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                ON CONFLICT (queue, kind, state) DO UPDATE SET jobs = t.jobs + EXCLUDED.jobs;
            ELSIF TG_OP = 'DELETE' THEN
                INSERT INTO conveyor_job_totals AS t (queue, kind, state, jobs)
                SELECT o.queue, o.kind, o.state, -count(*) FROM conveyor_old o
                WHERE o.state IN ('completed', 'dead', 'cancelled')
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                ON CONFLICT (queue, kind, state) DO UPDATE SET jobs = t.jobs + EXCLUDED.jobs;
            ELSE
                INSERT INTO conveyor_job_totals AS t (queue, kind, state, jobs)
                SELECT d.queue, d.kind, d.state, sum(d.n) FROM (
                    SELECT n.queue, n.kind, n.state, 1 AS n FROM conveyor_new n WHERE n.state IN ('completed', 'dead', 'cancelled')
                    UNION ALL
                    SELECT o.queue, o.kind, o.state, -1 FROM conveyor_old o WHERE o.state IN ('completed', 'dead', 'cancelled')) d
                GROUP BY 1, 2, 3 HAVING sum(d.n) <> 0 ORDER BY 1, 2, 3
                ON CONFLICT (queue, kind, state) DO UPDATE SET jobs = t.jobs + EXCLUDED.jobs;

                -- Attempts that ended in this statement. A release hands a claim back unstarted
                -- (attempt - 1): not an outcome. A rescued attempt has no run time of its own.
                WITH ended AS (
                    SELECT n.queue, n.kind,
                           CASE n.state WHEN 'completed' THEN 'completed' WHEN 'dead' THEN 'dead' ELSE 'retried' END AS outcome,
                           CASE WHEN n.state = 'completed' OR (n.errors -> -1 ->> 'rescued') IS NULL
                                THEN greatest(n.duration_ms, 0)::bigint END AS run_ms,
                           greatest(0, (extract(epoch FROM o.started_at - o.run_at) * 1000)::bigint) AS wait_ms
                    FROM conveyor_old o JOIN conveyor_new n ON n.id = o.id
                    WHERE o.state = 'running' AND n.state <> 'running' AND n.attempt = o.attempt
                ), per_minute AS (
                    INSERT INTO conveyor_job_minutes AS m (minute, queue, kind, completed, failed)
                    SELECT date_trunc('minute', now()), e.queue, e.kind,
                           count(*) FILTER (WHERE e.outcome = 'completed'), count(*) FILTER (WHERE e.outcome <> 'completed')
                    FROM ended e GROUP BY 2, 3 ORDER BY 2, 3
                    ON CONFLICT (minute, queue, kind) DO UPDATE SET
                        completed = m.completed + EXCLUDED.completed, failed = m.failed + EXCLUDED.failed
                ), timings AS (
                    INSERT INTO conveyor_job_timings AS t (minute, queue, kind, measure, bucket, jobs, total_ms)
                    SELECT date_trunc('minute', now()), x.queue, x.kind, x.measure, x.bucket, count(*), sum(x.ms) FROM (
                        SELECT e.queue, e.kind, 'r'::"char" AS measure, e.run_ms AS ms, \(bucketOf("e.run_ms")) AS bucket
                        FROM ended e WHERE e.run_ms IS NOT NULL
                        UNION ALL
                        SELECT e.queue, e.kind, 'w'::"char", e.wait_ms, \(bucketOf("e.wait_ms")) FROM ended e
                    ) x GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
                    ON CONFLICT (minute, queue, kind, measure, bucket) DO UPDATE SET
                        jobs = t.jobs + EXCLUDED.jobs, total_ms = t.total_ms + EXCLUDED.total_ms
                ), processed AS (
                    INSERT INTO conveyor_job_processed AS p (queue, kind, outcome, jobs)
                    SELECT e.queue, e.kind, e.outcome, count(*) FROM ended e GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                    ON CONFLICT (queue, kind, outcome) DO UPDATE SET jobs = p.jobs + EXCLUDED.jobs
                )
                INSERT INTO conveyor_job_run_histogram AS h (queue, kind, bucket, jobs, total_ms)
                SELECT e.queue, e.kind, \(bucketOf("e.run_ms")), count(*), sum(e.run_ms)
                FROM ended e WHERE e.run_ms IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                ON CONFLICT (queue, kind, bucket) DO UPDATE SET jobs = h.jobs + EXCLUDED.jobs, total_ms = h.total_ms + EXCLUDED.total_ms;
            END IF;
            RETURN NULL;
        END
        $fn$;

        -- A trigger with transition tables serves one event only, hence one each. None on
        -- INSERT: jobs are always inserted available (enqueue never names a state), and a
        -- statement trigger on INSERT cost single enqueue a fifth of its throughput
        -- (pgbench -M prepared -c 8: 6.9k tps with it, 8.6-10.5k without).
        CREATE TRIGGER conveyor_jobs_observe_update AFTER UPDATE ON conveyor_jobs
            REFERENCING OLD TABLE AS conveyor_old NEW TABLE AS conveyor_new FOR EACH STATEMENT EXECUTE FUNCTION conveyor_jobs_count_finished();
        CREATE TRIGGER conveyor_jobs_observe_delete AFTER DELETE ON conveyor_jobs
            REFERENCING OLD TABLE AS conveyor_old FOR EACH STATEMENT EXECUTE FUNCTION conveyor_jobs_count_finished();

        -- The triggers hold the table's lock until this migration commits, so the backfill and
        -- the triggers see the same rows.
        INSERT INTO conveyor_job_totals (queue, kind, state, jobs)
        SELECT queue, kind, state, count(*) FROM conveyor_jobs
        WHERE state IN ('completed', 'dead', 'cancelled') GROUP BY 1, 2, 3;
        """)

    /// The histogram bucket of a millisecond value: the index of the first bound it does not
    /// exceed (Prometheus `le`), or the count of bounds for the unbounded bucket.
    static func bucketOf(_ expression: String) -> String {
        "width_bucket(\(expression) - 1, ARRAY[\(durationBucketsMs.map(String.init).joined(separator: ","))]::bigint[])::smallint"
    }
}
