import Postgres

extension JobQueueSchema {
    /// Flow control (migration 101): per-queue settings, the rate log, fair per-queue claim
    /// indexes, windowed uniqueness, and the claim as one server-side function.
    static let flowControl = Migration(version: 101, name: "queues and flow control", sql: """
        -- One row per configured queue. A queue without a row is unlimited and unpaused.
        CREATE TABLE conveyor_queues (
            name                        text PRIMARY KEY,
            concurrency                 integer CHECK (concurrency BETWEEN 1 AND 1000000),
            rate_limit                  integer CHECK (rate_limit BETWEEN 1 AND 1000000000),
            rate_period_seconds         double precision CHECK (rate_period_seconds >= 0.1 AND rate_period_seconds <= 86400),
            paused                      boolean NOT NULL DEFAULT false,
            max_attempts                smallint CHECK (max_attempts BETWEEN 1 AND 100),
            backoff_base_seconds        double precision CHECK (backoff_base_seconds > 0),
            backoff_cap_seconds         double precision CHECK (backoff_cap_seconds > 0),
            completed_retention_seconds integer CHECK (completed_retention_seconds >= 0),
            dead_retention_seconds      integer CHECK (dead_retention_seconds >= 0),
            created_at                  timestamptz NOT NULL DEFAULT now(),
            updated_at                  timestamptz NOT NULL DEFAULT now(),
            CHECK ((rate_limit IS NULL) = (rate_period_seconds IS NULL)),
            CHECK ((backoff_base_seconds IS NULL) = (backoff_cap_seconds IS NULL))
        );

        -- The rate log: starts per queue in slices of 1/100 of the rate period. A slice counts
        -- against the window while any part of it lies inside, so no window ever holds more
        -- than the rate. Written only for rate-limited queues, under their row lock.
        CREATE TABLE conveyor_queue_starts (
            queue  text NOT NULL REFERENCES conveyor_queues (name) ON DELETE CASCADE,
            slice  timestamptz NOT NULL,
            starts integer NOT NULL,
            PRIMARY KEY (queue, slice)
        );

        -- Fair claiming takes each queue's jobs in run order, so the claim index leads with the
        -- queue; it also serves single-queue claims better than the global one it replaces.
        CREATE INDEX conveyor_jobs_claim_by_queue ON conveyor_jobs (queue, priority DESC, run_at, id)
            WHERE state = 'available';
        DROP INDEX conveyor_jobs_claim;
        -- Running jobs per queue (the concurrency count) and by lease expiry (the rescue).
        CREATE INDEX conveyor_jobs_running ON conveyor_jobs (queue, locked_until) WHERE state = 'running';
        DROP INDEX conveyor_jobs_lease;

        -- uniqueFor: a job enqueued with a window holds (org, kind, payload) from its creation
        -- until unique_until; the exclusion constraint makes racing enqueues agree. Rows without
        -- a window are not in the index and cost nothing.
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        ALTER TABLE conveyor_jobs ADD COLUMN unique_hash uuid, ADD COLUMN unique_until timestamptz;
        ALTER TABLE conveyor_jobs ADD CONSTRAINT conveyor_jobs_unique_window
            EXCLUDE USING gist (org_id WITH =, unique_hash WITH =, tstzrange(created_at, unique_until) WITH &&)
            WHERE (unique_hash IS NOT NULL);

        \(claimFunction)
        """)

    /// The claim, as one server-side function so the limited path costs one round trip.
    ///
    /// Every statement in a plpgsql function takes a fresh snapshot, which is what makes the
    /// limits hold: the running count and the rate log are read *after* the queue's row lock is
    /// held, so they include everything the previous holder committed. Unlimited queues take
    /// no lock at all. Queues share a claim round-robin: each gets an equal share of the limit,
    /// so a queue with 100,000 waiting jobs cannot crowd out one with 10.
    static let claimFunction = """
        CREATE FUNCTION conveyor_claim(p_queues text[], p_limit integer, p_lease double precision, p_owner uuid)
        RETURNS TABLE (id bigint, org_id bigint, queue text, kind text, priority smallint, run_at timestamptz,
                       attempt smallint, max_attempts smallint, payload jsonb)
        LANGUAGE plpgsql AS $fn$
        #variable_conflict use_column
        DECLARE
            v_queues  text[];
            v_limited text[];
            v_locked  text[];
            v_now     timestamptz;
        BEGIN
            -- Queues with available jobs: the listed ones, or every one (a skip scan of the index).
            IF p_queues IS NULL THEN
                WITH RECURSIVE found AS (
                    (SELECT j.queue FROM conveyor_jobs j WHERE j.state = 'available' ORDER BY j.queue LIMIT 1)
                    UNION ALL
                    SELECT (SELECT j.queue FROM conveyor_jobs j WHERE j.state = 'available' AND j.queue > f.queue
                            ORDER BY j.queue LIMIT 1)
                    FROM found f WHERE f.queue IS NOT NULL
                )
                SELECT array_agg(f.queue) INTO v_queues FROM found f WHERE f.queue IS NOT NULL;
            ELSE
                SELECT array_agg(q.name) INTO v_queues FROM unnest(p_queues) AS q(name)
                WHERE EXISTS (SELECT 1 FROM conveyor_jobs j WHERE j.state = 'available' AND j.queue = q.name);
            END IF;
            IF v_queues IS NULL THEN
                RETURN;
            END IF;

            SELECT array_agg(c.name ORDER BY c.name) INTO v_limited FROM conveyor_queues c
            WHERE c.name = ANY (v_queues) AND NOT c.paused AND (c.concurrency IS NOT NULL OR c.rate_limit IS NOT NULL);

            IF v_limited IS NULL THEN
                -- The fast path: no limited queue involved, no lock, no count.
                RETURN QUERY
                WITH cand AS (
                    SELECT c.name AS queue, row_number() OVER (ORDER BY random()) AS rn, count(*) OVER () AS k
                    FROM unnest(v_queues) AS c(name)
                    WHERE NOT EXISTS (SELECT 1 FROM conveyor_queues q WHERE q.name = c.name
                                      AND (q.paused OR q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL))
                ), share AS (
                    SELECT cand.queue, (p_limit / cand.k + CASE WHEN cand.rn <= p_limit % cand.k THEN 1 ELSE 0 END)::integer AS n
                    FROM cand WHERE cand.rn <= p_limit
                ), due AS (
                    SELECT d.id FROM share s CROSS JOIN LATERAL (
                        SELECT j.id FROM conveyor_jobs j
                        WHERE j.state = 'available' AND j.queue = s.queue AND j.run_at <= now()
                        ORDER BY j.priority DESC, j.run_at, j.id
                        LIMIT s.n
                        FOR UPDATE SKIP LOCKED) AS d
                )
                UPDATE conveyor_jobs AS j SET
                    state = 'running',
                    attempt = j.attempt + 1,
                    locked_by = p_owner,
                    locked_until = now() + make_interval(secs => p_lease),
                    started_at = now(),
                    progress = NULL,
                    progress_message = NULL
                FROM due
                WHERE j.id = due.id
                RETURNING j.id, j.org_id, j.queue, j.kind, j.priority, j.run_at, j.attempt, j.max_attempts, j.payload;
                RETURN;
            END IF;

            -- Limited queues: take their row locks. SKIP LOCKED: a queue another claim holds right
            -- now is served by that claim, so this one passes over it rather than queue up behind
            -- it. With more than 4 limited queues a claim locks half of them, picked at random,
            -- so that two concurrent claims can work on disjoint halves instead of one holding
            -- every lock (measured: 4 invocations on 10 limited queues reached 0.79 of the
            -- unlimited rate locking all, see bench/queue); random picks keep every queue served.
            SELECT array_agg(l.name) INTO v_locked FROM (
                SELECT c.name FROM conveyor_queues c WHERE c.name = ANY (v_limited)
                ORDER BY CASE WHEN cardinality(v_limited) > 4 THEN random() END, c.name
                LIMIT greatest(4, ceil(cardinality(v_limited) / 2.0)::integer)
                FOR UPDATE SKIP LOCKED) AS l;
            -- Every limited queue is being claimed right now and there is nothing else to take:
            -- wait for one of them (at random, so waiters spread) rather than come back empty,
            -- which would end this invocation's batch early. No other queue lock is held, so
            -- the wait cannot deadlock.
            IF v_locked IS NULL AND NOT EXISTS (
                SELECT 1 FROM unnest(v_queues) AS c(name) WHERE NOT EXISTS (
                    SELECT 1 FROM conveyor_queues q WHERE q.name = c.name
                    AND (q.paused OR q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL))) THEN
                SELECT array_agg(l.name) INTO v_locked FROM (
                    SELECT c.name FROM conveyor_queues c WHERE c.name = ANY (v_limited) ORDER BY random() LIMIT 1
                    FOR UPDATE) AS l;
            END IF;
            -- Read after the locks, so starts are ordered as the locks were granted.
            v_now := clock_timestamp();
            DELETE FROM conveyor_queue_starts s USING conveyor_queues c
            WHERE s.queue = c.name AND c.name = ANY (v_locked)
              AND (c.rate_limit IS NULL OR s.slice <= v_now - make_interval(secs => c.rate_period_seconds * 1.01));

            RETURN QUERY
            WITH cand AS (
                SELECT c.name AS queue, q.concurrency, q.rate_limit, q.rate_period_seconds, (q.name IS NOT NULL) AS limited,
                       row_number() OVER (ORDER BY random()) AS rn, count(*) OVER () AS k
                FROM unnest(v_queues) AS c(name)
                LEFT JOIN conveyor_queues q ON q.name = c.name
                     AND (q.paused OR q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL)
                -- A limited queue is claimed only under its lock; one that became limited since
                -- the locks were taken waits for the next claim.
                WHERE q.name IS NULL OR (NOT q.paused AND q.name = ANY (v_locked))
            ), share AS (
                SELECT cand.*, (p_limit / cand.k + CASE WHEN cand.rn <= p_limit % cand.k THEN 1 ELSE 0 END)::integer AS n
                FROM cand WHERE cand.rn <= p_limit
            ), allowed AS (
                SELECT s.queue, CASE WHEN NOT s.limited THEN s.n ELSE greatest(0, least(s.n,
                    coalesce(s.concurrency - (SELECT count(*) FROM conveyor_jobs r
                                              WHERE r.state = 'running' AND r.queue = s.queue), s.n),
                    coalesce(s.rate_limit - (SELECT coalesce(sum(l.starts), 0) FROM conveyor_queue_starts l
                                             WHERE l.queue = s.queue
                                               AND l.slice > v_now - make_interval(secs => s.rate_period_seconds * 1.01)), s.n)
                    ))::integer END AS n
                FROM share s
            ), due AS (
                SELECT d.id FROM allowed a CROSS JOIN LATERAL (
                    SELECT j.id FROM conveyor_jobs j
                    WHERE j.state = 'available' AND j.queue = a.queue AND j.run_at <= now()
                    ORDER BY j.priority DESC, j.run_at, j.id
                    LIMIT a.n
                    FOR UPDATE SKIP LOCKED) AS d
                WHERE a.n > 0
            ), claimed AS (
                UPDATE conveyor_jobs AS j SET
                    state = 'running',
                    attempt = j.attempt + 1,
                    locked_by = p_owner,
                    locked_until = now() + make_interval(secs => p_lease),
                    started_at = v_now,
                    progress = NULL,
                    progress_message = NULL
                FROM due
                WHERE j.id = due.id
                RETURNING j.id, j.org_id, j.queue, j.kind, j.priority, j.run_at, j.attempt, j.max_attempts, j.payload
            ), logged AS (
                INSERT INTO conveyor_queue_starts AS l (queue, slice, starts)
                SELECT c.queue, date_bin(make_interval(secs => q.rate_period_seconds / 100), v_now, timestamptz '2000-01-01 00:00:00+00'),
                       count(*)
                FROM claimed c JOIN conveyor_queues q ON q.name = c.queue
                WHERE q.rate_limit IS NOT NULL AND q.name = ANY (v_locked)
                GROUP BY 1, 2
                ON CONFLICT (queue, slice) DO UPDATE SET starts = l.starts + EXCLUDED.starts
            )
            SELECT * FROM claimed;
        END
        $fn$;
        """
}
