import JobQueue
import Logging
import Postgres
import Targets

/// Conveyor as the application's own database sees it: `enqueue` and `enqueue_many`, SQL
/// functions a transaction calls so that its jobs exist exactly when it commits, the
/// `job_results` view, and the roles that may use them.
///
/// The functions check a job exactly as the `enqueue` function does (`JobRequest.validated`
/// and the target binding) against `conveyor_kinds`, the manifest's kinds as `publishKinds`
/// last wrote them, and send the same notification, which PostgreSQL delivers at commit and
/// drops at rollback. They run as their owner (SECURITY DEFINER) with the search path fixed to
/// the schema, `pg_temp` last, so a caller's temporary tables cannot stand in for ours: a member
/// of `conveyor_enqueuer` may call them and touch nothing else.
///
/// Errors carry SQLSTATEs an application can catch: 22023 (invalid_parameter_value) for a field
/// that breaks a rule, with the field in the error's COLUMN and at the start of the message;
/// 54000 (program_limit_exceeded) for a payload over the limit; and PostgreSQL's own 22P05 for
/// a NUL (`\u0000`) in JSON, which jsonb cannot hold.
public enum SQLInterface {
    /// Numbered after every module's: it reads their tables.
    public static let migrations: [Migration] = [
        Migration(version: 900, name: "sql interface", sql: kindsTable + validation + enqueueFunctions + view + roles),
    ]

    /// Writes the manifest's kinds to `conveyor_kinds` in one statement: new kinds added,
    /// changed ones updated, kinds the manifest no longer has removed. Run by `local-host
    /// migrate` and at fcgi-host start, so SQL enqueues know what the HTTP ones know.
    public static func publishKinds(_ kinds: JobKinds, on connection: Connection) throws {
        let list = kinds.names.compactMap { kinds[$0] }
        // Hosts starting together publish together: one at a time, so two manifests that
        // differ (a reload under way) cannot deadlock on each other's rows.
        try connection.transaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock(\(Self.publishLockKey))")
            try connection.execute("""
                WITH manifest AS (
                    SELECT * FROM unnest(\(list.map(\.name))::text[], \(list.map(\.queue))::text[], \(list.map(\.queueOverride))::boolean[],
                                         \(list.map(\.retry.maxAttempts))::smallint[], \(list.map(\.declaresRetry))::boolean[],
                                         \(list.map { JobKinds.milliseconds($0.timeoutSeconds) })::integer[])
                        AS m(name, queue, queue_override, max_attempts, declares_retry, timeout_ms)
                ), gone AS (
                    DELETE FROM conveyor_kinds k WHERE NOT EXISTS (SELECT FROM manifest m WHERE m.name = k.name)
                )
                INSERT INTO conveyor_kinds AS k (name, queue, queue_override, max_attempts, declares_retry, timeout_ms)
                SELECT * FROM manifest
                ON CONFLICT (name) DO UPDATE SET
                    queue = excluded.queue, queue_override = excluded.queue_override, max_attempts = excluded.max_attempts,
                    declares_retry = excluded.declares_retry, timeout_ms = excluded.timeout_ms, updated_at = now()
                WHERE (k.queue, k.queue_override, k.max_attempts, k.declares_retry, k.timeout_ms)
                      IS DISTINCT FROM (excluded.queue, excluded.queue_override, excluded.max_attempts, excluded.declares_retry, excluded.timeout_ms)
                """)
        }
    }

    /// "kinds" in ASCII, beside the migrator's key.
    static let publishLockKey: Int64 = 0x6B69_6E64_73

    static let kindsTable = """
        -- Functions below pin this search path (SET search_path FROM CURRENT): the schema, then
        -- pg_temp, never before it.
        SELECT set_config('search_path', current_schema() || ', pg_temp', true);

        -- The manifest's kinds, as publishKinds last wrote them. A family ('target:*') stands for
        -- each of its members, as in JobKinds.
        CREATE TABLE conveyor_kinds (
            name           text PRIMARY KEY,
            queue          text NOT NULL,
            queue_override boolean NOT NULL,
            -- The kind's own policy, or the engine's when it declares none (declares_retry false:
            -- the queue's default then wins).
            max_attempts   smallint NOT NULL,
            declares_retry boolean NOT NULL,
            timeout_ms     integer NOT NULL,
            updated_at     timestamptz NOT NULL DEFAULT now()
        );

        """

    /// The checks, set-based so a batch of 1,000 costs one query rather than a loop:
    /// `conveyor_resolve` gives each input row either the first rule it breaks (in the order
    /// `JobRequest.validated` checks them) or the row to insert, with its defaults;
    /// `conveyor_enqueue_rows` raises the first row's problem, or inserts every row in one
    /// statement and notifies each queue once. These helpers carry no search path of their own
    /// (a SET clause costs every call): only `enqueue` and `enqueue_many`, which pin it, call them.
    static let validation = #"""
        CREATE FUNCTION conveyor_invalid(field text, message text, code text DEFAULT '22023') RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = code, COLUMN = field, MESSAGE = field || ': ' || message;
        END $$;

        -- One job as the caller gave it; n numbers a batch's entries from 0.
        CREATE TYPE conveyor_job_input AS (
            n integer, kind text, payload jsonb, queue text, priority integer, run_at timestamptz, delay_seconds double precision,
            max_attempts integer, idempotency_key text, flow_key text, timeout_seconds double precision, traceparent text);

        -- A field's name as the caller spelled it: an argument of enqueue, or a key of entry n.
        CREATE FUNCTION conveyor_field(field text, n integer, json_names boolean) RETURNS text
        LANGUAGE sql STABLE AS $$
            SELECT CASE WHEN NOT json_names THEN field
                        ELSE format('jobs[%s].', n) || CASE field WHEN 'run_at' THEN 'runAt' WHEN 'delay_seconds' THEN 'delaySeconds'
                            WHEN 'max_attempts' THEN 'maxAttempts' WHEN 'idempotency_key' THEN 'idempotencyKey' WHEN 'flow_key' THEN 'flowKey'
                            WHEN 'timeout_seconds' THEN 'timeoutSeconds' ELSE field END END
        $$;

        -- The first rule a job breaks, in the order JobRequest.validated checks them, as
        -- {field, message[, SQLSTATE]}; NULL when it breaks none. k is its kind (NULL: unknown),
        -- has_target whether a 'target:NAME' kind names one of the org's targets, and payload,
        -- queue and priority carry their defaults. One SQL expression, so the planner inlines it
        -- into the batch's query; the message may hold {known}, {run_at} and {delay_seconds},
        -- filled in when raised (conveyor_raise).
        CREATE FUNCTION conveyor_problem(i conveyor_job_input, k conveyor_kinds, has_target boolean, payload jsonb, queue text,
                                         priority integer) RETURNS text[]
        LANGUAGE sql STABLE AS $$
            SELECT CASE
                WHEN coalesce(i.kind, '') = '' THEN ARRAY['kind', 'is required']
                WHEN k.name IS NULL THEN ARRAY['kind', format('unknown kind ''%s''; known kinds: {known}', left(i.kind, 100))]
                WHEN jsonb_typeof(payload) <> 'object' THEN ARRAY['payload', 'must be a JSON object']
                WHEN octet_length(payload::text) > 262144 THEN
                    ARRAY['payload', format('is %s bytes; the limit is 262144 bytes', octet_length(payload::text)), '54000']
                WHEN queue !~ '^[a-z0-9][a-z0-9_.-]{0,63}$' THEN
                    ARRAY['queue', 'must be 1 to 64 characters of a-z, 0-9, ''_'', ''-'' or ''.'', starting with a letter or digit']
                WHEN queue <> k.queue AND NOT k.queue_override THEN
                    ARRAY['queue', format('%s jobs run in queue ''%s''; this kind does not let a job choose its queue', i.kind, k.queue)]
                WHEN priority NOT BETWEEN -100 AND 100 THEN ARRAY['priority', 'must be between -100 and 100 (higher runs first)']
                WHEN i.run_at IS NOT NULL AND i.delay_seconds IS NOT NULL THEN ARRAY['run_at', 'give either {delay_seconds} or {run_at}, not both']
                WHEN i.delay_seconds IS NOT NULL AND NOT (i.delay_seconds >= 0 AND i.delay_seconds <= 31622400) THEN
                    ARRAY['delay_seconds', 'must be zero or more and at most 31622400 (one year)']
                WHEN i.run_at IS NOT NULL AND (NOT isfinite(i.run_at) OR i.run_at > now() + interval '31622400 seconds') THEN
                    ARRAY['run_at', 'must be within one year']
                WHEN i.max_attempts IS NOT NULL AND i.max_attempts NOT BETWEEN 1 AND 100 THEN ARRAY['max_attempts', 'must be between 1 and 100']
                WHEN i.idempotency_key IS NOT NULL AND (octet_length(i.idempotency_key) NOT BETWEEN 1 AND 255 OR i.idempotency_key ~ '[\x01-\x1f\x7f]') THEN
                    ARRAY['idempotency_key', 'must be 1 to 255 bytes with no control characters']
                WHEN i.flow_key IS NOT NULL AND (octet_length(i.flow_key) NOT BETWEEN 1 AND 255 OR i.flow_key ~ '[\x01-\x1f\x7f]') THEN
                    ARRAY['flow_key', 'must be 1 to 255 bytes with no control characters']
                WHEN i.timeout_seconds IS NOT NULL AND NOT (i.timeout_seconds >= 0.001 AND i.timeout_seconds * 1000 <= k.timeout_ms) THEN
                    ARRAY['timeout_seconds', format('must be more than 0 and at most %s, the limit of %s jobs', trim_scale(k.timeout_ms / 1000.0), i.kind)]
                WHEN i.traceparent IS NOT NULL AND (i.traceparent !~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
                        OR substr(i.traceparent, 4, 32) ~ '^0+$' OR substr(i.traceparent, 37, 16) ~ '^0+$') THEN
                    ARRAY['traceparent', 'must be a W3C traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase, ids not all zero']
                WHEN i.kind LIKE 'target:%' AND NOT has_target THEN
                    ARRAY['kind', format('this org has no target named %s; create it with PUT /v1/targets/{name}', left(substr(i.kind, 8), 64))]
            END
        $$;

        -- Raises a problem of conveyor_problem, naming fields as the caller spelled them.
        CREATE FUNCTION conveyor_raise(problem text[], n integer, json_names boolean) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM conveyor_invalid(conveyor_field(problem[1], n, json_names),
                replace(replace(replace(problem[2], '{run_at}', conveyor_field('run_at', n, json_names)),
                                '{delay_seconds}', conveyor_field('delay_seconds', n, json_names)),
                        '{known}', (SELECT coalesce(string_agg(name, ', ' ORDER BY name), 'none') FROM conveyor_kinds)),
                coalesce(problem[3], '22023'));
        END $$;

        -- The kind a job names: itself, or its family ('target:*' for 'target:NAME').
        CREATE FUNCTION conveyor_kind_of(kind text) RETURNS conveyor_kinds
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN (SELECT c FROM conveyor_kinds c
                    WHERE c.name = kind OR (strpos(kind, ':') BETWEEN 1 AND length(kind) - 1 AND c.name = split_part(kind, ':', 1) || ':*')
                    ORDER BY c.name = kind DESC LIMIT 1);
        END $$;

        -- One job: checked with conveyor_problem, stored, notified. The straight path for the
        -- common call, without the batch's arrays.
        CREATE FUNCTION conveyor_enqueue_one(org bigint, i conveyor_job_input) RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            k conveyor_kinds;
            target_timeout integer;
            problem text[];
            body jsonb := coalesce(i.payload, '{}');
            q text;
            at timestamptz;
            st conveyor_job_state;
            stored bigint;
        BEGIN
            IF org IS NULL OR NOT EXISTS (SELECT FROM conveyor_organizations o WHERE o.id = org) THEN
                PERFORM conveyor_invalid('org_id', 'no organization has this id');
            END IF;
            k := conveyor_kind_of(i.kind);
            IF i.kind LIKE 'target:%' THEN
                SELECT t.timeout_ms INTO target_timeout FROM conveyor_targets t WHERE t.org_id = org AND t.name = substr(i.kind, 8);
            END IF;
            q := coalesce(i.queue, k.queue);
            problem := conveyor_problem(i, k, target_timeout IS NOT NULL, body, q, coalesce(i.priority, 0));
            IF problem IS NOT NULL THEN
                PERFORM conveyor_raise(problem, i.n, false);
            END IF;
            at := coalesce(i.run_at, now() + make_interval(secs => coalesce(i.delay_seconds, 0)));
            st := CASE WHEN at <= now() THEN 'available' ELSE 'scheduled' END;
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, state, max_attempts, idempotency_key,
                                       flow_key, timeout_ms, traceparent)
            VALUES (org, q, i.kind, body, coalesce(i.priority, 0), at, st,
                    coalesce(i.max_attempts, CASE WHEN NOT k.declares_retry THEN (SELECT qs.max_attempts FROM conveyor_queues qs WHERE qs.name = q) END,
                             k.max_attempts),
                    i.idempotency_key, coalesce(i.flow_key, CASE WHEN i.kind LIKE 'target:%' THEN substr(i.kind, 8) ELSE '' END),
                    least(CASE WHEN i.timeout_seconds IS NULL THEN k.timeout_ms
                               ELSE greatest(1, least(ceil(i.timeout_seconds * 1000), 86400000))::integer END, target_timeout),
                    i.traceparent)
            ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id INTO stored;
            IF stored IS NULL THEN
                -- A new statement: it sees a job a racing transaction committed while ours waited.
                stored := (SELECT j.id FROM conveyor_jobs j WHERE j.org_id = org AND j.idempotency_key = i.idempotency_key);
                IF stored IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '40001', COLUMN = 'idempotency_key',
                        MESSAGE = 'idempotency_key: the job holding this key changed while enqueueing; retry';
                END IF;
                RETURN stored;
            END IF;
            PERFORM pg_notify(current_schema() || '_jobs', CASE WHEN st = 'available' THEN q ELSE 'delayed:' || q END);
            RETURN stored;
        END $$;

        -- A checked row of a batch: the problem it has, or what to insert.
        CREATE TYPE conveyor_resolved AS (
            n integer, problem text[], kind text, queue text, payload jsonb, priority smallint,
            run_at timestamptz, state conveyor_job_state, max_attempts smallint, idempotency_key text, flow_key text,
            timeout_ms integer, traceparent text);

        -- PL/pgSQL, not SQL: its query's plan is kept for the session, where a SQL function that
        -- cannot be inlined is planned again on every call. The same defaults as conveyor_enqueue_one.
        CREATE FUNCTION conveyor_resolve(org bigint, input conveyor_job_input[]) RETURNS SETOF conveyor_resolved
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN QUERY
            SELECT i.n, conveyor_problem(i, kk.k, t.name IS NOT NULL, d.payload, d.queue, d.priority),
                   i.kind, d.queue, d.payload, d.priority::smallint, d.at,
                   CASE WHEN d.at <= now() THEN 'available' ELSE 'scheduled' END::conveyor_job_state,
                   coalesce(i.max_attempts, CASE WHEN NOT (kk.k).declares_retry THEN (SELECT q.max_attempts FROM conveyor_queues q WHERE q.name = d.queue) END,
                            (kk.k).max_attempts)::smallint,
                   i.idempotency_key,
                   coalesce(i.flow_key, CASE WHEN i.kind LIKE 'target:%' THEN substr(i.kind, 8) ELSE '' END),
                   least(CASE WHEN i.timeout_seconds IS NULL THEN (kk.k).timeout_ms
                              ELSE greatest(1, least(ceil(i.timeout_seconds * 1000), 86400000))::integer END,
                         t.timeout_ms),
                   i.traceparent
            FROM unnest(input) AS i
            -- conveyor_kind_of, written out: a join, not a function call per row.
            LEFT JOIN LATERAL (
                SELECT c FROM conveyor_kinds c
                WHERE c.name = i.kind OR (strpos(i.kind, ':') BETWEEN 1 AND length(i.kind) - 1 AND c.name = split_part(i.kind, ':', 1) || ':*')
                ORDER BY c.name = i.kind DESC LIMIT 1
            ) AS kk(k) ON true
            LEFT JOIN conveyor_targets t ON i.kind LIKE 'target:%' AND t.org_id = org AND t.name = substr(i.kind, 8)
            CROSS JOIN LATERAL (
                SELECT coalesce(i.payload, '{}') AS payload, coalesce(i.queue, (kk.k).queue) AS queue, coalesce(i.priority, 0) AS priority,
                       coalesce(i.run_at, now() + make_interval(secs => coalesce(i.delay_seconds, 0))) AS at
            ) AS d;
        END $$;

        -- Checks every row, then stores them all in one statement (or finds the job holding a
        -- row's idempotency key) and notifies each queue once; the notifications go out when the
        -- caller's transaction commits. Returns the ids in input order.
        CREATE FUNCTION conveyor_enqueue_rows(org bigint, input conveyor_job_input[], json_names boolean) RETURNS SETOF bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            rows conveyor_resolved[];
            bad conveyor_resolved;
            ids bigint[];
        BEGIN
            IF org IS NULL OR NOT EXISTS (SELECT FROM conveyor_organizations o WHERE o.id = org) THEN
                PERFORM conveyor_invalid('org_id', 'no organization has this id');
            END IF;
            rows := ARRAY(SELECT r FROM conveyor_resolve(org, input) AS r ORDER BY r.n);
            SELECT * INTO bad FROM unnest(rows) AS r WHERE r.problem IS NOT NULL ORDER BY r.n LIMIT 1;
            IF FOUND THEN
                PERFORM conveyor_raise(bad.problem, bad.n, json_names);
            END IF;
            WITH ins AS (
                INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, state, max_attempts, idempotency_key,
                                           flow_key, timeout_ms, traceparent)
                SELECT org, r.queue, r.kind, r.payload, r.priority, r.run_at, r.state, r.max_attempts, r.idempotency_key,
                       r.flow_key, r.timeout_ms, r.traceparent
                FROM unnest(rows) AS r ORDER BY r.n
                ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING id, conveyor_jobs.idempotency_key AS key, conveyor_jobs.queue AS q, conveyor_jobs.state AS s
            ), notified AS (
                SELECT count(pg_notify(current_schema() || '_jobs', CASE WHEN due THEN q ELSE 'delayed:' || q END)) AS sent
                FROM (SELECT q, bool_or(s = 'available') AS due FROM ins GROUP BY q) AS queues
            ), fresh AS (
                -- Ids follow the input order (ORDER BY n): the k-th keyless row inserted is the
                -- k-th keyless input.
                SELECT id, row_number() OVER (ORDER BY id) AS rank FROM ins WHERE key IS NULL
            ), wanted AS (
                SELECT r.n, r.idempotency_key AS key,
                       row_number() OVER (PARTITION BY r.idempotency_key IS NULL ORDER BY r.n) AS rank
                FROM unnest(rows) AS r
            )
            SELECT array_agg(coalesce(f.id, k.id, j.id) ORDER BY w.n) INTO ids
            FROM wanted w
            CROSS JOIN notified
            LEFT JOIN fresh f ON w.key IS NULL AND f.rank = w.rank
            LEFT JOIN ins k ON w.key IS NOT NULL AND k.key = w.key
            -- The statement's snapshot holds the jobs that had the key before it, not its own. A
            -- lateral lookup, one index probe per key: a join could scan the table.
            LEFT JOIN LATERAL (
                SELECT j.id FROM conveyor_jobs j WHERE w.key IS NOT NULL AND k.id IS NULL AND j.org_id = org AND j.idempotency_key = w.key
            ) AS j ON true;
            IF array_position(ids, NULL) IS NOT NULL THEN
                -- A key another transaction held uncommitted: the insert waited for it, but this
                -- statement's snapshot predates its commit. A new statement sees the job.
                ids := ARRAY(
                    SELECT coalesce(x.id, (SELECT j.id FROM conveyor_jobs j WHERE j.org_id = org AND j.idempotency_key = r.idempotency_key))
                    FROM unnest(ids) WITH ORDINALITY AS x(id, i) JOIN unnest(rows) WITH ORDINALITY AS r ON r.ordinality = x.i
                    ORDER BY x.i);
                IF array_position(ids, NULL) IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = '40001',
                        MESSAGE = 'the job holding an idempotency key of this batch changed while enqueueing; retry';
                END IF;
            END IF;
            RETURN QUERY SELECT unnest(ids);
        END $$;

        """#

    static let enqueueFunctions = #"""
        -- The entry points pin the search path, and plan once: the checks' statements take an
        -- array of jobs, whose size a custom plan would re-plan for on every call (a millisecond).

        -- One job. Returns its id, or for a repeated idempotency key the id of the job that holds it.
        CREATE FUNCTION enqueue(
            org_id bigint, kind text, payload jsonb DEFAULT '{}', queue text DEFAULT NULL, priority integer DEFAULT 0,
            run_at timestamptz DEFAULT NULL, max_attempts integer DEFAULT NULL, idempotency_key text DEFAULT NULL,
            flow_key text DEFAULT NULL, delay_seconds double precision DEFAULT NULL, timeout_seconds double precision DEFAULT NULL,
            traceparent text DEFAULT NULL) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
        BEGIN
            RETURN conveyor_enqueue_one(org_id, ROW(0, kind, payload, queue, priority, run_at, delay_seconds, max_attempts,
                idempotency_key, flow_key, timeout_seconds, traceparent)::conveyor_job_input);
        END $$;

        -- Up to 1,000 jobs of one org, as the enqueue function's {"jobs": [...]}: each entry an object
        -- with its fields (kind, payload, queue, priority, runAt, delaySeconds, maxAttempts,
        -- idempotencyKey, flowKey, timeoutSeconds, traceparent). All are stored, or none.
        -- Returns the ids in input order.
        CREATE FUNCTION enqueue_many(org_id bigint, jobs jsonb) RETURNS SETOF bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
        DECLARE
            bad record;
        BEGIN
            IF jsonb_typeof(jobs) IS DISTINCT FROM 'array' OR jsonb_array_length(jobs) NOT BETWEEN 1 AND 1000 THEN
                PERFORM conveyor_invalid('jobs', 'must be an array of 1 to 1000 jobs');
            END IF;
            -- What JSON itself gets wrong, entry by entry, before anything is cast.
            SELECT format('jobs[%s]', e.n) || p.suffix AS field, p.message INTO bad
            FROM (SELECT a.e, a.i - 1 AS n FROM jsonb_array_elements(jobs) WITH ORDINALITY AS a(e, i)) AS e
            CROSS JOIN LATERAL (SELECT CASE
                WHEN jsonb_typeof(e.e) <> 'object' THEN ARRAY['', 'must be a JSON object']
                WHEN EXISTS (SELECT FROM jsonb_object_keys(e.e) AS key WHERE key <> ALL (conveyor_batch_fields())) THEN
                    ARRAY['.' || (SELECT min(key) FROM jsonb_object_keys(e.e) AS key WHERE key <> ALL (conveyor_batch_fields())),
                          'unknown field; expected one of ' || array_to_string(conveyor_batch_fields(), ', ')]
                ELSE (SELECT ARRAY['.' || f, CASE WHEN f IN ('priority', 'maxAttempts') THEN 'must be a whole number'
                                                  WHEN f IN ('delaySeconds', 'timeoutSeconds') THEN 'must be a number of seconds'
                                                  WHEN f = 'runAt' AND jsonb_typeof(e.e -> f) = 'string' THEN
                                                      'must be an RFC 3339 timestamp of a date and time that exist, such as 2026-01-31T09:30:00Z'
                                                  ELSE 'must be a string' END]
                      FROM unnest(conveyor_batch_fields()) WITH ORDINALITY AS f(f, o)
                      WHERE jsonb_typeof(e.e -> f) IS DISTINCT FROM 'null' AND e.e ? f AND CASE
                          WHEN f IN ('priority', 'maxAttempts') THEN
                              -- Written as the enqueue function's parser reads a whole number: digits only.
                              jsonb_typeof(e.e -> f) <> 'number' OR (e.e ->> f) !~ '^-?[0-9]+$'
                          WHEN f IN ('delaySeconds', 'timeoutSeconds') THEN jsonb_typeof(e.e -> f) <> 'number'
                          WHEN f = 'payload' THEN false
                          WHEN f = 'runAt' THEN CASE WHEN jsonb_typeof(e.e -> f) <> 'string' THEN true ELSE NOT conveyor_is_timestamp(e.e ->> f) END
                          ELSE jsonb_typeof(e.e -> f) <> 'string' END
                      ORDER BY o LIMIT 1)
                END AS problem) AS found
            CROSS JOIN LATERAL (SELECT found.problem[1] AS suffix, found.problem[2] AS message) AS p
            WHERE found.problem IS NOT NULL
            ORDER BY e.n LIMIT 1;
            IF FOUND THEN
                PERFORM conveyor_invalid(bad.field, bad.message);
            END IF;
            RETURN QUERY SELECT conveyor_enqueue_rows(org_id, ARRAY(
                SELECT ROW(a.i - 1, e ->> 'kind', e -> 'payload', e ->> 'queue', conveyor_clamp((e ->> 'priority')::numeric),
                           (e ->> 'runAt')::timestamptz, conveyor_seconds((e ->> 'delaySeconds')::numeric),
                           conveyor_clamp((e ->> 'maxAttempts')::numeric), e ->> 'idempotencyKey', e ->> 'flowKey',
                           conveyor_seconds((e ->> 'timeoutSeconds')::numeric), e ->> 'traceparent')::conveyor_job_input
                FROM jsonb_array_elements(jobs) WITH ORDINALITY AS a(e, i) ORDER BY a.i), true);
        END $$;

        -- The fields of a batch entry, in the order the enqueue function reads them.
        CREATE FUNCTION conveyor_batch_fields() RETURNS text[]
        LANGUAGE sql IMMUTABLE AS $$
            SELECT '{kind,payload,queue,priority,delaySeconds,runAt,maxAttempts,idempotencyKey,flowKey,timeoutSeconds,traceparent}'::text[]
        $$;

        -- A JSON number of seconds as a double, beyond a double's range held at its edge (the
        -- range checks then refuse it, naming the field, as for the enqueue function).
        CREATE FUNCTION conveyor_seconds(n numeric) RETURNS double precision
        LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT greatest(least(n, 1e300), -1e300)::double precision $$;

        -- A JSON whole number as an integer for the range checks: out of range stays out of range.
        CREATE FUNCTION conveyor_clamp(n numeric) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT greatest(least(n, 2147483647), -2147483648)::integer $$;

        -- Whether text is an RFC 3339 date and time that exists (2026-02-31 does not), as the
        -- enqueue function's runAt must be; no words ('now', 'infinity'), no time without a zone.
        CREATE FUNCTION conveyor_is_timestamp(t text) RETURNS boolean
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
            IF t !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$' THEN
                RETURN false;
            END IF;
            PERFORM t::timestamptz;
            RETURN true;
        EXCEPTION WHEN others THEN
            RETURN false;
        END $$;

        """#

    static let view = """
        -- What the application may read of its jobs: state, attempts, progress, result and the
        -- error of every failed attempt (errors, oldest first).
        CREATE VIEW job_results AS
        SELECT id, org_id, kind, queue, state::text AS state, attempt, max_attempts, priority, run_at, created_at,
               started_at, finished_at, progress, progress_message, payload, result, errors,
               idempotency_key, nullif(flow_key, '') AS flow_key
        FROM conveyor_jobs;

        """

    static let roles = """
        REVOKE ALL ON FUNCTION conveyor_invalid(text, text, text), conveyor_field(text, integer, boolean),
            conveyor_problem(conveyor_job_input, conveyor_kinds, boolean, jsonb, text, integer), conveyor_raise(text[], integer, boolean),
            conveyor_kind_of(text), conveyor_enqueue_one(bigint, conveyor_job_input), conveyor_resolve(bigint, conveyor_job_input[]),
            conveyor_enqueue_rows(bigint, conveyor_job_input[], boolean),
            enqueue(bigint, text, jsonb, text, integer, timestamptz, integer, text, text, double precision, double precision, text),
            enqueue_many(bigint, jsonb), conveyor_batch_fields(), conveyor_is_timestamp(text), conveyor_clamp(numeric), conveyor_seconds(numeric) FROM PUBLIC;

        -- Roles are the cluster's: another database's installation may have made them already,
        -- and a migrating role without CREATEROLE leaves them to the operator.
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'conveyor_enqueuer') THEN
                CREATE ROLE conveyor_enqueuer NOLOGIN;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'conveyor_reader') THEN
                CREATE ROLE conveyor_reader NOLOGIN;
            END IF;
        EXCEPTION WHEN insufficient_privilege OR duplicate_object OR unique_violation THEN
            RAISE NOTICE 'roles conveyor_enqueuer and conveyor_reader not created (%); grants skipped', SQLERRM;
        END $$;

        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'conveyor_enqueuer') THEN
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO conveyor_enqueuer', current_schema());
                GRANT EXECUTE ON FUNCTION enqueue(bigint, text, jsonb, text, integer, timestamptz, integer, text, text, double precision,
                    double precision, text), enqueue_many(bigint, jsonb) TO conveyor_enqueuer;
            END IF;
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'conveyor_reader') THEN
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO conveyor_reader', current_schema());
                GRANT SELECT ON job_results TO conveyor_reader;
            END IF;
        END $$;
        """
}

/// The manifest's kinds written for SQL enqueues when a host starts or reloads, so that
/// `enqueue` in SQL knows a kind from the moment the HTTP one does.
public enum DeployedKinds {
    /// Loads the manifest at `manifestPath` and publishes its kinds over `DATABASE_URL`. Never
    /// throws: a host must start (and reload) while the database is away, or before its first
    /// migration; each failure is a warning, and the next start or `local-host migrate` publishes.
    public static func publish(manifestPath: String, configuration: Configuration = Configuration(), logger: Logger) {
        guard let url = configuration.databaseURL else { return }
        do {
            let manifest = try FunctionManifest.load(path: manifestPath)
            try SQLInterface.publishKinds(manifest.jobKinds, on: Connection(url: url, applicationName: "conveyor-kinds"))
        } catch let error as PostgresError where error.sqlState == "42P01" {
            logger.warning("job kinds not published for SQL enqueues: the database is not migrated (run local-host migrate)")
        } catch let error as PostgresError {
            logger.warning("job kinds not published for SQL enqueues: \(error.message)")
        } catch {
            logger.warning("job kinds not published for SQL enqueues: \(error)")
        }
    }
}
