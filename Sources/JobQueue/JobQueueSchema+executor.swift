import Postgres

extension JobQueueSchema {
    /// The executor's schema, part one (migration 151): the `scheduled` state. A new enum value
    /// cannot be used in the transaction that adds it, so it has a migration of its own.
    static let scheduledState = Migration(version: 151, name: "scheduled state", sql: """
        ALTER TYPE conveyor_job_state ADD VALUE IF NOT EXISTS 'scheduled' BEFORE 'available';
        """)

    /// The executor's schema, part two (migration 152).
    ///
    /// - Jobs whose `run_at` lies ahead wait in `scheduled`; the claim stages them when they come
    ///   due. `available` then holds only due jobs, so finding claimable work costs what the due
    ///   work costs, however many delayed jobs or queue names exist.
    /// - The lane index orders available jobs by (org, queue, flow key), then priority: a claim
    ///   shares itself among orgs first, then among each org's queues, then among a queue's flow
    ///   keys, so no tenant's backlog, priority or number of queues delays another tenant.
    /// - Every job carries its attempt's timeout (`timeout_ms`), and a lease that covers it.
    /// - Queues limit concurrency and rate per org and per flow key, as well as in total.
    /// - Index upkeep is what a claim and a completion pay for: the org listing index leaves out
    ///   running jobs (the claim skips it), and per-kind statistics index only failed and slow
    ///   jobs (a fast, clean completion skips them).
    static let executor = Migration(version: 152, name: "executor: scheduled jobs, fair lanes, timeouts, flow keys", sql: """
        -- Delayed jobs wait in their own state, so only due jobs are ever claim candidates.
        UPDATE conveyor_jobs SET state = 'scheduled' WHERE state = 'available' AND run_at > now();

        ALTER TABLE conveyor_jobs
            ADD COLUMN flow_key text NOT NULL DEFAULT '' CHECK (octet_length(flow_key) <= 255),
            ADD COLUMN timeout_ms integer NOT NULL DEFAULT 30000 CHECK (timeout_ms BETWEEN 1 AND 86400000);

        CREATE INDEX conveyor_jobs_lanes ON conveyor_jobs (org_id, queue, flow_key, priority DESC, run_at, id)
            WHERE state = 'available';
        DROP INDEX conveyor_jobs_claim_by_queue;
        CREATE INDEX conveyor_jobs_scheduled ON conveyor_jobs (run_at) WHERE state = 'scheduled';
        CREATE INDEX conveyor_jobs_active ON conveyor_jobs (queue, org_id, flow_key) WHERE state = 'running';
        DROP INDEX conveyor_jobs_running;
        CREATE INDEX conveyor_jobs_by_org ON conveyor_jobs (org_id, id) WHERE state <> 'running';
        DROP INDEX conveyor_jobs_org;
        DROP INDEX conveyor_jobs_finished_by_kind;
        CREATE INDEX conveyor_jobs_failed_by_kind ON conveyor_jobs (kind, finished_at)
            WHERE state IN ('completed', 'dead', 'cancelled') AND errors <> '[]'::jsonb;
        CREATE INDEX conveyor_jobs_slow_by_kind ON conveyor_jobs (kind, duration_ms)
            WHERE state IN ('completed', 'dead', 'cancelled') AND duration_ms >= 100;

        ALTER TABLE conveyor_queues
            ADD COLUMN org_concurrency integer CHECK (org_concurrency BETWEEN 1 AND 1000000),
            ADD COLUMN org_rate_limit integer CHECK (org_rate_limit BETWEEN 1 AND 1000000000),
            ADD COLUMN org_rate_period_seconds double precision CHECK (org_rate_period_seconds >= 0.1 AND org_rate_period_seconds <= 86400),
            ADD COLUMN flow_concurrency integer CHECK (flow_concurrency BETWEEN 1 AND 1000000),
            ADD COLUMN flow_rate_limit integer CHECK (flow_rate_limit BETWEEN 1 AND 1000000000),
            ADD COLUMN flow_rate_period_seconds double precision CHECK (flow_rate_period_seconds >= 0.1 AND flow_rate_period_seconds <= 86400),
            ADD CHECK ((org_rate_limit IS NULL) = (org_rate_period_seconds IS NULL)),
            ADD CHECK ((flow_rate_limit IS NULL) = (flow_rate_period_seconds IS NULL));

        DROP TABLE conveyor_queue_starts;
        CREATE TABLE conveyor_queue_starts (
            queue    text NOT NULL REFERENCES conveyor_queues (name) ON DELETE CASCADE,
            scope    "char" NOT NULL,
            org_id   bigint NOT NULL,
            flow_key text NOT NULL,
            slice    timestamptz NOT NULL,
            starts   integer NOT NULL,
            PRIMARY KEY (queue, scope, org_id, flow_key, slice)
        );

        DROP FUNCTION conveyor_claim(text[], integer, double precision, uuid);

        \(claimFunctions)
        """)

    /// The lane index's order, in full. Every probe of the lane index orders by all of it, so the
    /// planner can take no other index: with only `ORDER BY org_id`, it chose the org listing
    /// index and filtered its way through every finished job.
    static let laneOrder = "j.org_id, j.queue, j.flow_key, j.priority DESC, j.run_at, j.id"
    static let laneOrderDescending = "j.org_id DESC, j.queue DESC, j.flow_key DESC, j.priority, j.run_at DESC, j.id DESC"
    /// What a claim sets on each job it takes, on both of its paths (with and without limits):
    /// the lease covers the attempt's time limit and 10 s more.
    /// 153: jobs keep the trace context they were enqueued under, and the claim hands a job's
    /// idempotency key and trace context to its target (a new result type, so the function is
    /// dropped first); a claim for some queues shares itself among the orgs with jobs in them.
    /// `claimFunctions` is the current text of the claim functions: 152 created them, 153 and
    /// any later change re-apply it.
    static let claimForTargets = Migration(version: 153, name: "claim: trace context and idempotency key for targets; queue-filtered shares", sql: """
        -- A nullable column without a default is added without rewriting the table, and a NOT VALID
        -- constraint without scanning it: only new rows are checked (old ones are all NULL).
        ALTER TABLE conveyor_jobs ADD COLUMN traceparent text;
        ALTER TABLE conveyor_jobs ADD CONSTRAINT conveyor_jobs_traceparent_check CHECK (octet_length(traceparent) = 55) NOT VALID;
        DROP FUNCTION conveyor_claim(text[], integer, double precision, uuid, integer);
        \(claimFunctions)
        """)

    /// 154: how targets answered (`2xx`, `5xx`, `timeout`, `exit 75`, …), per queue and kind,
    /// as append-only deltas beside the other rollups: counters for /metrics and queue-metrics.
    static let targetAnswers = Migration(version: 154, name: "target answers rollup", sql: """
        CREATE TABLE conveyor_job_answers (
            queue  text NOT NULL,
            kind   text NOT NULL,
            answer text NOT NULL,
            jobs   bigint NOT NULL,
            at     timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX conveyor_job_answers_at ON conveyor_job_answers (at);
        """)

    static let claimAssignments = """
        state = 'running', attempt = j.attempt + 1, locked_by = p_owner,
                            locked_until = v_now + make_interval(secs => greatest(p_lease, j.timeout_ms / 1000.0 + 10)),
                            started_at = v_now, progress = NULL, progress_message = NULL
        """

    /// The claim, as server-side functions so a claim costs one round trip.
    ///
    /// Every statement in a plpgsql function takes a fresh snapshot, which is what makes the
    /// limits hold: running counts and the rate log are read after the queue's row lock is held,
    /// so they include everything the previous holder committed. Unlimited queues take no lock.
    static let claimFunctions = #"""
        -- A text between two keys, at random: the first character where they differ is drawn between
        -- theirs, the rest at random. Where a window of keys starts, so every key gets its turn.
        CREATE OR REPLACE FUNCTION conveyor_random_between(p_lo text, p_hi text) RETURNS text
        LANGUAGE plpgsql VOLATILE AS $fn$
        DECLARE
            i integer := 1;
            n integer := least(length(p_lo), length(p_hi));
            c1 integer;
            c2 integer;
        BEGIN
            WHILE i <= n AND substr(p_lo, i, 1) = substr(p_hi, i, 1) LOOP
                i := i + 1;
            END LOOP;
            c1 := coalesce(ascii(nullif(substr(p_lo, i, 1), '')), 32);
            c2 := greatest(c1, coalesce(ascii(nullif(substr(p_hi, i, 1), '')), 126));
            RETURN substr(p_lo, 1, i - 1) || chr(c1 + floor(random() * (c2 - c1 + 1))::integer) || substr(md5(random()::text), 1, 6);
        END
        $fn$;

        -- The next key of one level of the lane index after (or from) p_from: an org's next queue
        -- (p_queue NULL), or a lane's next flow key. One index probe.
        CREATE OR REPLACE FUNCTION conveyor_next_lane_key(p_org bigint, p_queue text, p_from text, p_inclusive boolean) RETURNS text
        LANGUAGE plpgsql STABLE AS $fn$
        DECLARE
            v_key text;
        BEGIN
            IF p_queue IS NULL AND p_inclusive THEN
                SELECT j.queue INTO v_key FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = p_org AND j.queue >= p_from ORDER BY \#(laneOrder) LIMIT 1;
            ELSIF p_queue IS NULL THEN
                SELECT j.queue INTO v_key FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = p_org AND j.queue > p_from ORDER BY \#(laneOrder) LIMIT 1;
            ELSIF p_inclusive THEN
                SELECT j.flow_key INTO v_key FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = p_org AND j.queue = p_queue
                    AND j.flow_key >= p_from ORDER BY \#(laneOrder) LIMIT 1;
            ELSE
                SELECT j.flow_key INTO v_key FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = p_org AND j.queue = p_queue
                    AND j.flow_key > p_from ORDER BY \#(laneOrder) LIMIT 1;
            END IF;
            RETURN v_key;
        END
        $fn$;

        -- Up to p_window keys of one level of the lane index: an org's queues (p_queue NULL) or a
        -- lane's flow keys. All of them when they fit the window; otherwise a window from a random
        -- point, wrapping around. One probe per key: the cost is bounded by the window, not by how
        -- many queues or keys exist, and every key gets its turn.
        CREATE OR REPLACE FUNCTION conveyor_lane_keys(p_org bigint, p_queue text, p_window integer) RETURNS text[]
        LANGUAGE plpgsql AS $fn$
        DECLARE
            v_keys  text[] := '{}';
            v_key   text;
            v_start text;
            v_hi    text;
        BEGIN
            -- All of them, when they fit the window.
            v_key := conveyor_next_lane_key(p_org, p_queue, '', true);
            WHILE v_key IS NOT NULL AND cardinality(v_keys) <= p_window LOOP
                v_keys := v_keys || v_key;
                v_key := conveyor_next_lane_key(p_org, p_queue, v_key, false);
            END LOOP;
            IF cardinality(v_keys) <= p_window THEN
                RETURN v_keys;
            END IF;
            -- Too many: a window from a random point between the first and the last, wrapping around.
            IF p_queue IS NULL THEN
                SELECT j.queue INTO v_hi FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = p_org ORDER BY \#(laneOrderDescending) LIMIT 1;
            ELSE
                SELECT j.flow_key INTO v_hi FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = p_org AND j.queue = p_queue
                    ORDER BY \#(laneOrderDescending) LIMIT 1;
            END IF;
            v_start := conveyor_random_between(v_keys[1], v_hi);
            v_keys := '{}';
            v_key := conveyor_next_lane_key(p_org, p_queue, v_start, true);
            WHILE v_key IS NOT NULL AND cardinality(v_keys) < p_window LOOP
                v_keys := v_keys || v_key;
                v_key := conveyor_next_lane_key(p_org, p_queue, v_key, false);
            END LOOP;
            v_key := conveyor_next_lane_key(p_org, p_queue, '', true);
            WHILE v_key IS NOT NULL AND v_key < v_start AND cardinality(v_keys) < p_window LOOP
                v_keys := v_keys || v_key;
                v_key := conveyor_next_lane_key(p_org, p_queue, v_key, false);
            END LOOP;
            RETURN v_keys;
        END
        $fn$;

        CREATE OR REPLACE FUNCTION conveyor_claim(p_queues text[], p_limit integer, p_lease double precision, p_owner uuid,
                                                  p_max_timeout_ms integer)
        RETURNS TABLE (id bigint, org_id bigint, queue text, kind text, priority smallint, run_at timestamptz,
                       attempt smallint, max_attempts smallint, payload jsonb, timeout_ms integer, lease_ms integer,
                       wait_ms integer, idempotency_key text, traceparent text)
        -- Generic plans: with custom ones (the default for the first executions, and for good
        -- when the planner rates them cheaper) every statement of the function is planned again
        -- on every call, which cost a one-job claim 1.1 of its 1.7 ms (pgbench, this machine); a
        -- claim of 1,000 ran 0.82 as long with generic plans.
        LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
        #variable_conflict use_column
        DECLARE
            v_orgs    bigint[];
            v_org     bigint;
            v_window  integer;
            v_found   text[];
            v_lane_o  bigint[] := '{}';
            v_lane_q  text[] := '{}';
            v_limited text[];
            v_locked  text[];
            v_now     timestamptz;
            v_k       integer;
            v_i       integer;
            v_j       integer;
            v_org_n   integer;
            v_lane_n  integer;
            v_flows   text[];
            v_sub_o   bigint[] := '{}';
            v_sub_q   text[] := '{}';
            v_sub_f   text[] := '{}';
            v_sub_n   integer[] := '{}';
            v_lanes_o bigint[];
            v_lanes_q text[];
        BEGIN
            -- A claim lost in a crash loses nothing: its jobs are still available, attempts unspent.
            PERFORM set_config('synchronous_commit', 'off', true);

            -- Scheduled jobs whose time has come become available (bounded; the next claim goes on).
            -- Only the claim's own queues: a claim for other queues must not stage, and so hide
            -- from this one until it commits, jobs it cannot take.
            -- The rows are locked, and FOR UPDATE re-checked their state, so the update needs no
            -- state condition of its own: one would let the planner pick a partial index and
            -- test every entry against the id list (seen: 2 s for 1,000 ids after an ANALYZE of
            -- an empty queue). The same holds for the claim's updates below.
            UPDATE conveyor_jobs AS j SET state = 'available'
            WHERE j.id = ANY (ARRAY(SELECT s.id FROM conveyor_jobs s WHERE s.state = 'scheduled' AND s.run_at <= now()
                                      AND (p_queues IS NULL OR s.queue = ANY (p_queues))
                                    ORDER BY s.run_at LIMIT 10000 FOR UPDATE SKIP LOCKED));

            -- Orgs with available jobs: a skip scan of the lane index, one probe per org, in random order.
            WITH RECURSIVE orgs AS (
                (SELECT j.org_id FROM conveyor_jobs j WHERE j.state = 'available' ORDER BY \#(laneOrder) LIMIT 1)
                UNION ALL
                SELECT (SELECT j.org_id FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id > orgs.org_id
                        ORDER BY \#(laneOrder) LIMIT 1)
                FROM orgs WHERE orgs.org_id IS NOT NULL
            )
            SELECT array_agg(orgs.org_id ORDER BY random()) INTO v_orgs FROM orgs WHERE orgs.org_id IS NOT NULL;
            -- A claim for some queues shares itself among the orgs with jobs in those queues only:
            -- orgs busy elsewhere would shrink every share to one lane (seen: a claim of 100 for two
            -- queues of one org served one of them, with 150 other orgs' jobs waiting in other queues).
            IF p_queues IS NOT NULL THEN
                SELECT array_agg(o.id ORDER BY random()) INTO v_orgs FROM unnest(v_orgs) AS o(id)
                WHERE EXISTS (SELECT 1 FROM unnest(p_queues) AS q(name) WHERE EXISTS (
                    SELECT 1 FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = o.id AND j.queue = q.name));
            END IF;
            IF v_orgs IS NULL THEN
                RETURN;
            END IF;

            -- Each org's lanes this claim may serve: its queues with available jobs, listed, not paused.
            v_window := greatest(1, ceil(p_limit::numeric / cardinality(v_orgs))::integer);
            FOREACH v_org IN ARRAY v_orgs LOOP
                IF p_queues IS NOT NULL THEN
                    SELECT array_agg(q.name) INTO v_found FROM unnest(p_queues) AS q(name)
                    WHERE EXISTS (SELECT 1 FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = v_org AND j.queue = q.name);
                ELSE
                    v_found := conveyor_lane_keys(v_org, NULL, v_window);
                END IF;
                -- A lane takes a share only if it can use it: not paused, and with a job at its head
                -- whose attempt fits what is left of the budget.
                SELECT array_agg(f.name ORDER BY random()) INTO v_found FROM unnest(v_found) AS f(name)
                WHERE NOT EXISTS (SELECT 1 FROM conveyor_queues c WHERE c.name = f.name AND c.paused)
                  AND EXISTS (SELECT 1 FROM (
                          SELECT j.timeout_ms FROM conveyor_jobs j WHERE j.state = 'available' AND j.org_id = v_org AND j.queue = f.name
                          ORDER BY \#(laneOrder) LIMIT 64) AS head
                      WHERE head.timeout_ms <= p_max_timeout_ms);
                IF v_found IS NOT NULL THEN
                    v_found := v_found[1:v_window];
                    v_lane_o := v_lane_o || array_fill(v_org, ARRAY[cardinality(v_found)]);
                    v_lane_q := v_lane_q || v_found;
                END IF;
            END LOOP;
            IF cardinality(v_lane_q) = 0 THEN
                RETURN;
            END IF;

            -- Limited queues are claimed under their row lock, so the counts and the rate log read
            -- after it include everything the previous holder committed. A queue another claim holds
            -- right now is passed over: that claim serves it.
            SELECT array_agg(DISTINCT c.name) INTO v_limited FROM conveyor_queues c
            WHERE c.name = ANY (v_lane_q) AND (c.concurrency IS NOT NULL OR c.rate_limit IS NOT NULL OR c.org_concurrency IS NOT NULL
                OR c.org_rate_limit IS NOT NULL OR c.flow_concurrency IS NOT NULL OR c.flow_rate_limit IS NOT NULL);
            IF v_limited IS NULL THEN
                v_now := now();
            ELSE
                SELECT array_agg(l.name) INTO v_locked FROM (
                    SELECT c.name FROM conveyor_queues c WHERE c.name = ANY (v_limited) ORDER BY c.name FOR UPDATE SKIP LOCKED) AS l;
                -- Every lane is in a limited queue another claim holds: wait for one rather than come back empty.
                IF v_locked IS NULL AND v_lane_q <@ v_limited THEN
                    SELECT array_agg(l.name) INTO v_locked FROM (
                        SELECT c.name FROM conveyor_queues c WHERE c.name = ANY (v_limited) ORDER BY random() LIMIT 1 FOR UPDATE) AS l;
                END IF;
                v_now := clock_timestamp();
                DELETE FROM conveyor_queue_starts s USING conveyor_queues c
                WHERE s.queue = c.name AND c.name = ANY (v_locked)
                  AND s.slice <= v_now - make_interval(secs => 1.01 * CASE s.scope WHEN 'q' THEN coalesce(c.rate_period_seconds, 0)
                                                                                    WHEN 'o' THEN coalesce(c.org_rate_period_seconds, 0)
                                                                                    ELSE coalesce(c.flow_rate_period_seconds, 0) END);
                -- Lanes of limited queues another claim holds wait for the next claim, and lanes
                -- with nothing allowed right now (their queue, or their org in it, at a limit)
                -- take no share.
                SELECT array_agg(u.o ORDER BY u.n), array_agg(u.q ORDER BY u.n) INTO v_lane_o, v_lane_q
                FROM unnest(v_lane_o, v_lane_q) WITH ORDINALITY AS u(o, q, n)
                LEFT JOIN conveyor_queues c ON c.name = u.q AND c.name = ANY (v_locked)
                WHERE (u.q <> ALL (v_limited) OR u.q = ANY (coalesce(v_locked, '{}')))
                  AND (c.name IS NULL OR (
                      coalesce(c.concurrency - (SELECT count(*) FROM conveyor_jobs r WHERE r.state = 'running' AND r.queue = u.q), 1) > 0
                      AND coalesce(c.rate_limit - (SELECT coalesce(sum(l.starts), 0) FROM conveyor_queue_starts l
                          WHERE l.queue = u.q AND l.scope = 'q'
                            AND l.slice > v_now - make_interval(secs => c.rate_period_seconds * 1.01)), 1) > 0
                      AND coalesce(c.org_concurrency - (SELECT count(*) FROM conveyor_jobs r
                          WHERE r.state = 'running' AND r.queue = u.q AND r.org_id = u.o), 1) > 0
                      AND coalesce(c.org_rate_limit - (SELECT coalesce(sum(l.starts), 0) FROM conveyor_queue_starts l
                          WHERE l.queue = u.q AND l.scope = 'o' AND l.org_id = u.o
                            AND l.slice > v_now - make_interval(secs => c.org_rate_period_seconds * 1.01)), 1) > 0));
                IF v_lane_q IS NULL THEN
                    RETURN;
                END IF;
            END IF;

            -- Shares: each org an equal part of the claim, each of its lanes an equal part of that, each
            -- flow key of a lane an equal part of the lane's (remainders to the first, in random order).
            SELECT count(DISTINCT o)::integer INTO v_k FROM unnest(v_lane_o) AS o;
            v_i := 0;
            v_j := 1;
            WHILE v_j <= cardinality(v_lane_o) LOOP
                v_org := v_lane_o[v_j];
                v_i := v_i + 1;
                SELECT array_agg(v_lane_q[n]) INTO v_lanes_q FROM generate_subscripts(v_lane_o, 1) AS n WHERE v_lane_o[n] = v_org;
                v_j := v_j + cardinality(v_lanes_q);
                EXIT WHEN v_i > p_limit;
                v_org_n := p_limit / v_k + CASE WHEN v_i <= p_limit % v_k THEN 1 ELSE 0 END;
                FOR n IN 1 .. least(cardinality(v_lanes_q), v_org_n) LOOP
                    v_lane_n := v_org_n / least(cardinality(v_lanes_q), v_org_n)
                                + CASE WHEN n <= v_org_n % least(cardinality(v_lanes_q), v_org_n) THEN 1 ELSE 0 END;
                    v_flows := conveyor_lane_keys(v_org, v_lanes_q[n], v_lane_n);
                    SELECT array_agg(f ORDER BY random()) INTO v_flows FROM unnest(v_flows) AS f;
                    FOR m IN 1 .. coalesce(cardinality(v_flows), 0) LOOP
                        v_sub_o := v_sub_o || v_org;
                        v_sub_q := v_sub_q || v_lanes_q[n];
                        v_sub_f := v_sub_f || v_flows[m];
                        v_sub_n := v_sub_n || (v_lane_n / cardinality(v_flows) + CASE WHEN m <= v_lane_n % cardinality(v_flows) THEN 1 ELSE 0 END);
                    END LOOP;
                END LOOP;
            END LOOP;

            IF v_locked IS NULL THEN
                -- No limited queue involved: no lock, no count.
                RETURN QUERY
                WITH picked AS (
                    SELECT d.id FROM unnest(v_sub_o, v_sub_q, v_sub_f, v_sub_n) AS s(o, q, f, n) CROSS JOIN LATERAL (
                        SELECT j.id FROM conveyor_jobs j
                        WHERE j.state = 'available' AND j.org_id = s.o AND j.queue = s.q AND j.flow_key = s.f
                          AND j.timeout_ms <= p_max_timeout_ms
                        ORDER BY j.priority DESC, j.run_at, j.id
                        LIMIT s.n
                        FOR UPDATE SKIP LOCKED) AS d
                )
                UPDATE conveyor_jobs AS j SET \#(claimAssignments)
                WHERE j.id = ANY (ARRAY(SELECT picked.id FROM picked))
                RETURNING j.id, j.org_id, j.queue, j.kind, j.priority, j.run_at, j.attempt, j.max_attempts, j.payload, j.timeout_ms,
                          (greatest(p_lease, j.timeout_ms / 1000.0 + 10) * 1000)::integer,
                          greatest(0, extract(epoch FROM v_now - j.run_at) * 1000)::integer, j.idempotency_key, j.traceparent;
                RETURN;
            END IF;

            RETURN QUERY
            WITH subs AS (
                SELECT s.o AS org_id, s.q AS queue, s.f AS flow_key, s.n, s.ord, c.name IS NOT NULL AS limited,
                       c.flow_concurrency, c.flow_rate_limit, c.flow_rate_period_seconds
                FROM unnest(v_sub_o, v_sub_q, v_sub_f, v_sub_n) WITH ORDINALITY AS s(o, q, f, n, ord)
                LEFT JOIN conveyor_queues c ON c.name = s.q AND c.name = ANY (v_locked)
            ), allowed AS (
                SELECT s.org_id, s.queue, s.flow_key, s.ord, CASE WHEN NOT s.limited THEN s.n ELSE greatest(0, least(s.n,
                        coalesce(s.flow_concurrency - (SELECT count(*) FROM conveyor_jobs r WHERE r.state = 'running'
                            AND r.queue = s.queue AND r.org_id = s.org_id AND r.flow_key = s.flow_key), s.n),
                        coalesce(s.flow_rate_limit - (SELECT coalesce(sum(l.starts), 0) FROM conveyor_queue_starts l
                            WHERE l.queue = s.queue AND l.scope = 'f' AND l.org_id = s.org_id AND l.flow_key = s.flow_key
                              AND l.slice > v_now - make_interval(secs => s.flow_rate_period_seconds * 1.01)), s.n)))::integer END AS n
                FROM subs s
            ), picked AS (
                SELECT d.id, a.org_id, a.queue, d.rank, a.ord FROM allowed a CROSS JOIN LATERAL (
                    SELECT j.id, row_number() OVER (ORDER BY j.priority DESC, j.run_at, j.id) AS rank FROM (
                        SELECT j.id, j.priority, j.run_at FROM conveyor_jobs j
                        WHERE j.state = 'available' AND j.org_id = a.org_id AND j.queue = a.queue AND j.flow_key = a.flow_key
                          AND j.timeout_ms <= p_max_timeout_ms
                        ORDER BY j.priority DESC, j.run_at, j.id
                        LIMIT a.n
                        FOR UPDATE SKIP LOCKED) AS j
                ) AS d
                WHERE a.n > 0
            ), org_cut AS (
                -- An org's limits in a limited queue: its flow keys round-robin, then cut at the allowance.
                SELECT p.id, p.org_id, p.queue, p.org_rank FROM (
                    SELECT p.*, row_number() OVER (PARTITION BY p.queue, p.org_id ORDER BY p.rank, p.ord) AS org_rank FROM picked p) p
                LEFT JOIN conveyor_queues c ON c.name = p.queue AND c.name = ANY (v_locked)
                WHERE c.name IS NULL OR (
                    p.org_rank <= coalesce(c.org_concurrency - (SELECT count(*) FROM conveyor_jobs r
                        WHERE r.state = 'running' AND r.queue = p.queue AND r.org_id = p.org_id), p.org_rank)
                    AND p.org_rank <= coalesce(c.org_rate_limit - (SELECT coalesce(sum(l.starts), 0) FROM conveyor_queue_starts l
                        WHERE l.queue = p.queue AND l.scope = 'o' AND l.org_id = p.org_id
                          AND l.slice > v_now - make_interval(secs => c.org_rate_period_seconds * 1.01)), p.org_rank))
            ), queue_cut AS (
                -- The queue's own limits: its orgs round-robin, then cut.
                SELECT p.id FROM (
                    SELECT p.*, row_number() OVER (PARTITION BY p.queue ORDER BY p.org_rank, random()) AS q_rank FROM org_cut p) p
                LEFT JOIN conveyor_queues c ON c.name = p.queue AND c.name = ANY (v_locked)
                WHERE c.name IS NULL OR (
                    p.q_rank <= coalesce(c.concurrency - (SELECT count(*) FROM conveyor_jobs r WHERE r.state = 'running' AND r.queue = p.queue), p.q_rank)
                    AND p.q_rank <= coalesce(c.rate_limit - (SELECT coalesce(sum(l.starts), 0) FROM conveyor_queue_starts l
                        WHERE l.queue = p.queue AND l.scope = 'q'
                          AND l.slice > v_now - make_interval(secs => c.rate_period_seconds * 1.01)), p.q_rank))
            ), claimed AS (
                UPDATE conveyor_jobs AS j SET \#(claimAssignments)
                WHERE j.id = ANY (ARRAY(SELECT queue_cut.id FROM queue_cut))
                RETURNING j.id, j.org_id, j.queue, j.kind, j.priority, j.run_at, j.attempt, j.max_attempts, j.payload, j.timeout_ms,
                          (greatest(p_lease, j.timeout_ms / 1000.0 + 10) * 1000)::integer AS lease_ms,
                          greatest(0, extract(epoch FROM v_now - j.run_at) * 1000)::integer AS wait_ms, j.flow_key,
                          j.idempotency_key, j.traceparent
            ), logged AS (
                INSERT INTO conveyor_queue_starts AS l (queue, scope, org_id, flow_key, slice, starts)
                SELECT x.queue, x.scope, x.org_id, x.flow_key,
                       date_bin(make_interval(secs => x.period / 100), v_now, timestamptz '2000-01-01 00:00:00+00'), count(*)
                FROM (
                    SELECT cl.queue, 'q'::"char" AS scope, 0::bigint AS org_id, ''::text AS flow_key, q.rate_period_seconds AS period
                    FROM claimed cl JOIN conveyor_queues q ON q.name = cl.queue WHERE q.rate_limit IS NOT NULL AND q.name = ANY (v_locked)
                    UNION ALL
                    SELECT cl.queue, 'o', cl.org_id, '', q.org_rate_period_seconds
                    FROM claimed cl JOIN conveyor_queues q ON q.name = cl.queue WHERE q.org_rate_limit IS NOT NULL AND q.name = ANY (v_locked)
                    UNION ALL
                    SELECT cl.queue, 'f', cl.org_id, cl.flow_key, q.flow_rate_period_seconds
                    FROM claimed cl JOIN conveyor_queues q ON q.name = cl.queue WHERE q.flow_rate_limit IS NOT NULL AND q.name = ANY (v_locked)
                ) x
                GROUP BY 1, 2, 3, 4, 5
                ON CONFLICT (queue, scope, org_id, flow_key, slice) DO UPDATE SET starts = l.starts + EXCLUDED.starts
            )
            SELECT c.id, c.org_id, c.queue, c.kind, c.priority, c.run_at, c.attempt, c.max_attempts, c.payload, c.timeout_ms, c.lease_ms,
                   c.wait_ms, c.idempotency_key, c.traceparent
            FROM claimed c;
        END
        $fn$;
        """#
}
