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

    /// `conveyor_check_job`: one job's fields, checked and given their defaults; `names` are the
    /// fields' names as the caller spelled them (SQL arguments, or a batch entry's JSON keys).
    /// These helpers carry no search path of their own (a SET clause costs every call): only
    /// `enqueue` and `enqueue_many`, which pin it, may call them.
    static let validation = #"""
        CREATE FUNCTION conveyor_invalid(field text, message text, code text DEFAULT '22023') RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = code, COLUMN = field, MESSAGE = field || ': ' || message;
        END $$;

        CREATE FUNCTION conveyor_check_job(
            org bigint, kind text, payload jsonb, queue text, priority integer, run_at timestamptz, delay_seconds double precision,
            max_attempts integer, idempotency_key text, flow_key text, timeout_seconds double precision, traceparent text,
            names text[], OUT job conveyor_jobs)
        LANGUAGE plpgsql AS $$
        DECLARE
            k conveyor_kinds;
            target_timeout integer;
            target_name text;
            at timestamptz;
        BEGIN
            IF org IS NULL OR NOT EXISTS (SELECT FROM conveyor_organizations o WHERE o.id = org) THEN
                PERFORM conveyor_invalid(names[1], 'no organization has this id');
            END IF;
            IF kind IS NULL OR kind = '' THEN
                PERFORM conveyor_invalid(names[2], 'is required');
            END IF;
            SELECT * INTO k FROM conveyor_kinds WHERE name = kind;
            IF NOT FOUND AND strpos(kind, ':') BETWEEN 1 AND length(kind) - 1 THEN
                SELECT * INTO k FROM conveyor_kinds WHERE name = split_part(kind, ':', 1) || ':*';
                IF FOUND THEN
                    k.name := kind;
                END IF;
            END IF;
            IF k.name IS NULL THEN
                PERFORM conveyor_invalid(names[2], format('unknown kind ''%s''; known kinds: %s', left(kind, 100),
                    (SELECT coalesce(string_agg(name, ', ' ORDER BY name), 'none') FROM conveyor_kinds)));
            END IF;
            payload := coalesce(payload, '{}');
            IF jsonb_typeof(payload) <> 'object' THEN
                PERFORM conveyor_invalid(names[3], 'must be a JSON object');
            END IF;
            IF octet_length(payload::text) > 262144 THEN
                PERFORM conveyor_invalid(names[3], format('is %s bytes; the limit is 262144 bytes', octet_length(payload::text)), '54000');
            END IF;
            queue := coalesce(queue, k.queue);
            IF queue !~ '^[a-z0-9][a-z0-9_.-]{0,63}$' THEN
                PERFORM conveyor_invalid(names[4], 'must be 1 to 64 characters of a-z, 0-9, ''_'', ''-'' or ''.'', starting with a letter or digit');
            END IF;
            IF queue <> k.queue AND NOT k.queue_override THEN
                PERFORM conveyor_invalid(names[4], format('%s jobs run in queue ''%s''; this kind does not let a job choose its queue', kind, k.queue));
            END IF;
            priority := coalesce(priority, 0);
            IF priority NOT BETWEEN -100 AND 100 THEN
                PERFORM conveyor_invalid(names[5], 'must be between -100 and 100 (higher runs first)');
            END IF;
            IF run_at IS NOT NULL AND delay_seconds IS NOT NULL THEN
                PERFORM conveyor_invalid(names[6], format('give either %s or %s, not both', names[7], names[6]));
            END IF;
            IF delay_seconds IS NOT NULL AND NOT (delay_seconds >= 0 AND delay_seconds <= 31622400) THEN
                PERFORM conveyor_invalid(names[7], 'must be zero or more and at most 31622400 (one year)');
            END IF;
            IF run_at IS NOT NULL AND (NOT isfinite(run_at) OR run_at > now() + interval '31622400 seconds') THEN
                PERFORM conveyor_invalid(names[6], 'must be within one year');
            END IF;
            IF max_attempts IS NOT NULL AND max_attempts NOT BETWEEN 1 AND 100 THEN
                PERFORM conveyor_invalid(names[8], 'must be between 1 and 100');
            END IF;
            IF idempotency_key IS NOT NULL AND (octet_length(idempotency_key) NOT BETWEEN 1 AND 255 OR idempotency_key ~ '[\x01-\x1f\x7f]') THEN
                PERFORM conveyor_invalid(names[9], 'must be 1 to 255 bytes with no control characters');
            END IF;
            IF flow_key IS NOT NULL AND (octet_length(flow_key) NOT BETWEEN 1 AND 255 OR flow_key ~ '[\x01-\x1f\x7f]') THEN
                PERFORM conveyor_invalid(names[10], 'must be 1 to 255 bytes with no control characters');
            END IF;
            IF timeout_seconds IS NOT NULL AND NOT (timeout_seconds >= 0.001 AND timeout_seconds * 1000 <= k.timeout_ms) THEN
                PERFORM conveyor_invalid(names[11], format('must be more than 0 and at most %s, the limit of %s jobs', trim_scale(k.timeout_ms / 1000.0), kind));
            END IF;
            IF traceparent IS NOT NULL AND (traceparent !~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
                    OR substr(traceparent, 4, 32) ~ '^0+$' OR substr(traceparent, 37, 16) ~ '^0+$') THEN
                PERFORM conveyor_invalid(names[12], 'must be a W3C traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase, ids not all zero');
            END IF;

            job.timeout_ms := CASE WHEN timeout_seconds IS NULL THEN k.timeout_ms
                                   ELSE greatest(1, least(ceil(timeout_seconds * 1000), 86400000))::integer END;
            job.flow_key := coalesce(flow_key, '');
            IF kind LIKE 'target:%' THEN
                -- A tenant's own target: it must exist, and caps the attempt as over HTTP.
                target_name := substr(kind, 8);
                SELECT t.timeout_ms INTO target_timeout FROM conveyor_targets t WHERE t.org_id = org AND t.name = target_name;
                IF NOT FOUND THEN
                    PERFORM conveyor_invalid(names[2], format('this org has no target named %s; create it with PUT /v1/targets/{name}', left(target_name, 64)));
                END IF;
                job.timeout_ms := least(job.timeout_ms, target_timeout);
                IF job.flow_key = '' THEN
                    job.flow_key := target_name;
                END IF;
            END IF;

            at := coalesce(run_at, now() + make_interval(secs => coalesce(delay_seconds, 0)));
            job.org_id := org;
            job.kind := kind;
            job.queue := queue;
            job.payload := payload;
            job.priority := priority;
            job.run_at := at;
            job.state := CASE WHEN at <= now() THEN 'available' ELSE 'scheduled' END;
            job.max_attempts := coalesce(max_attempts,
                CASE WHEN NOT k.declares_retry THEN (SELECT q.max_attempts FROM conveyor_queues q WHERE q.name = queue) END,
                k.max_attempts);
            job.idempotency_key := idempotency_key;
            job.traceparent := traceparent;
        END $$;

        -- Stores a checked job (or finds the one holding its idempotency key) and notifies, as the
        -- enqueue function does; the notification goes out when the caller's transaction commits.
        CREATE FUNCTION conveyor_store_job(job conveyor_jobs) RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE
            stored bigint;
        BEGIN
            INSERT INTO conveyor_jobs (org_id, queue, kind, payload, priority, run_at, state, max_attempts, idempotency_key,
                                       flow_key, timeout_ms, traceparent)
            VALUES (job.org_id, job.queue, job.kind, job.payload, job.priority, job.run_at, job.state, job.max_attempts,
                    job.idempotency_key, job.flow_key, job.timeout_ms, job.traceparent)
            ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id INTO stored;
            IF stored IS NULL THEN
                SELECT j.id INTO stored FROM conveyor_jobs j WHERE j.org_id = job.org_id AND j.idempotency_key = job.idempotency_key;
                RETURN stored;
            END IF;
            PERFORM pg_notify(current_schema() || '_jobs',
                              CASE WHEN job.state = 'available' THEN job.queue ELSE 'delayed:' || job.queue END);
            RETURN stored;
        END $$;

        """#

    static let enqueueFunctions = #"""
        -- One job. Returns its id, or for a repeated idempotency key the id of the job that holds it.
        CREATE FUNCTION enqueue(
            org_id bigint, kind text, payload jsonb DEFAULT '{}', queue text DEFAULT NULL, priority integer DEFAULT 0,
            run_at timestamptz DEFAULT NULL, max_attempts integer DEFAULT NULL, idempotency_key text DEFAULT NULL,
            flow_key text DEFAULT NULL, delay_seconds double precision DEFAULT NULL, timeout_seconds double precision DEFAULT NULL,
            traceparent text DEFAULT NULL) RETURNS bigint
        LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
            SELECT conveyor_store_job(conveyor_check_job(org_id, kind, payload, queue, priority, run_at, delay_seconds, max_attempts,
                idempotency_key, flow_key, timeout_seconds, traceparent,
                '{org_id,kind,payload,queue,priority,run_at,delay_seconds,max_attempts,idempotency_key,flow_key,timeout_seconds,traceparent}'))
        $$;

        -- Up to 1,000 jobs of one org, as the enqueue function's {"jobs": [...]}: each entry an object
        -- with its fields (kind, payload, queue, priority, runAt, delaySeconds, maxAttempts,
        -- idempotencyKey, flowKey, timeoutSeconds, traceparent). Returns the ids in input order.
        CREATE FUNCTION enqueue_many(org_id bigint, jobs jsonb) RETURNS SETOF bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
        DECLARE
            entry jsonb;
            n bigint;
            field text;
            p text;
            checked conveyor_jobs[] := '{}';
            fields constant text[] := '{kind,payload,queue,priority,runAt,delaySeconds,maxAttempts,idempotencyKey,flowKey,timeoutSeconds,traceparent}';
            job conveyor_jobs;
        BEGIN
            IF jsonb_typeof(jobs) IS DISTINCT FROM 'array' OR jsonb_array_length(jobs) NOT BETWEEN 1 AND 1000 THEN
                PERFORM conveyor_invalid('jobs', 'must be an array of 1 to 1000 jobs');
            END IF;
            FOR entry, n IN SELECT e, i - 1 FROM jsonb_array_elements(jobs) WITH ORDINALITY AS a(e, i) LOOP
                p := format('jobs[%s].', n);
                IF jsonb_typeof(entry) <> 'object' THEN
                    PERFORM conveyor_invalid(format('jobs[%s]', n), 'must be a JSON object');
                END IF;
                SELECT key INTO field FROM jsonb_object_keys(entry) AS key WHERE key <> ALL (fields) ORDER BY key LIMIT 1;
                IF field IS NOT NULL THEN
                    PERFORM conveyor_invalid(p || field, 'unknown field; expected one of ' || array_to_string(fields, ', '));
                END IF;
                FOREACH field IN ARRAY '{kind,queue,runAt,idempotencyKey,flowKey,traceparent}'::text[] LOOP
                    IF jsonb_typeof(entry -> field) NOT IN ('string', 'null') THEN
                        PERFORM conveyor_invalid(p || field, 'must be a string');
                    END IF;
                END LOOP;
                FOREACH field IN ARRAY '{priority,maxAttempts}'::text[] LOOP
                    IF jsonb_typeof(entry -> field) NOT IN ('number', 'null') OR (entry ->> field)::numeric % 1 <> 0 THEN
                        PERFORM conveyor_invalid(p || field, 'must be a whole number');
                    END IF;
                END LOOP;
                FOREACH field IN ARRAY '{delaySeconds,timeoutSeconds}'::text[] LOOP
                    IF jsonb_typeof(entry -> field) NOT IN ('number', 'null') THEN
                        PERFORM conveyor_invalid(p || field, 'must be a number of seconds');
                    END IF;
                END LOOP;
                IF entry ->> 'runAt' IS NOT NULL AND NOT conveyor_is_timestamp(entry ->> 'runAt') THEN
                    PERFORM conveyor_invalid(p || 'runAt', 'must be an RFC 3339 timestamp of a date and time that exist, such as 2026-01-31T09:30:00Z');
                END IF;
                checked := checked || conveyor_check_job(org_id, entry ->> 'kind', entry -> 'payload', entry ->> 'queue',
                    conveyor_clamp((entry ->> 'priority')::numeric), (entry ->> 'runAt')::timestamptz,
                    (entry ->> 'delaySeconds')::double precision,
                    conveyor_clamp((entry ->> 'maxAttempts')::numeric), entry ->> 'idempotencyKey',
                    entry ->> 'flowKey', (entry ->> 'timeoutSeconds')::double precision, entry ->> 'traceparent',
                    ARRAY['org_id', p || 'kind', p || 'payload', p || 'queue', p || 'priority', p || 'runAt', p || 'delaySeconds',
                          p || 'maxAttempts', p || 'idempotencyKey', p || 'flowKey', p || 'timeoutSeconds', p || 'traceparent']);
            END LOOP;
            -- Checked first, stored after: a bad entry stores nothing.
            FOREACH job IN ARRAY checked LOOP
                RETURN NEXT conveyor_store_job(job);
            END LOOP;
        END $$;

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
        REVOKE ALL ON FUNCTION conveyor_invalid(text, text, text), conveyor_check_job(bigint, text, jsonb, text, integer, timestamptz,
            double precision, integer, text, text, double precision, text, text[]), conveyor_store_job(conveyor_jobs),
            enqueue(bigint, text, jsonb, text, integer, timestamptz, integer, text, text, double precision, double precision, text),
            enqueue_many(bigint, jsonb), conveyor_is_timestamp(text), conveyor_clamp(numeric) FROM PUBLIC;

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
