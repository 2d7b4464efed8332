import Postgres

/// The engine's tables. Migrations are numbered across modules; the engine owns 100–199.
/// 100 is the jobs table; 101 (`flowControl`) adds queues, limits, fair claiming and uniqueFor;
/// 150 (`operations`) the metrics rollups; 151 and 152 (`executor`) scheduled jobs, fair lanes,
/// attempt timeouts and flow keys; 153 what a claim hands to targets; 154 how targets answered.
public enum JobQueueSchema {
    /// Channel enqueue notifies at commit, one per installation: `conveyor_jobs` for the schema
    /// `conveyor`, so a watcher of one schema never wakes for another's jobs. The payload is the
    /// queue's name when jobs are due now, or `delayedPrefix` + the name when they were all delayed.
    public static func notifyChannel(_ schema: DatabaseSchema) -> String { schema.name + "_jobs" }
    /// Marks a notification about delayed jobs only: nothing to run yet, but an earlier wake-up.
    public static let delayedPrefix = "delayed:"

    public static let migrations: [Migration] = [
        Migration(version: 100, name: "jobs", sql: """
            CREATE TYPE conveyor_job_state AS ENUM ('available', 'running', 'completed', 'dead', 'cancelled');

            -- Columns are ordered widest first so rows pack without alignment padding.
            CREATE TABLE conveyor_jobs (
                id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                org_id           bigint NOT NULL,
                run_at           timestamptz NOT NULL DEFAULT now(),
                created_at       timestamptz NOT NULL DEFAULT now(),
                started_at       timestamptz,
                finished_at      timestamptz,
                locked_until     timestamptz,
                locked_by        uuid,
                state            conveyor_job_state NOT NULL DEFAULT 'available',
                duration_ms      integer,
                priority         smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100),
                attempt          smallint NOT NULL DEFAULT 0,
                max_attempts     smallint NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
                progress         smallint CHECK (progress BETWEEN 0 AND 100),
                queue            text NOT NULL,
                kind             text NOT NULL,
                idempotency_key  text,
                progress_message text,
                payload          jsonb NOT NULL,
                result           jsonb,
                errors           jsonb NOT NULL DEFAULT '[]',
                CHECK (attempt BETWEEN 0 AND max_attempts),
                CHECK ((state = 'running') = (locked_by IS NOT NULL AND locked_until IS NOT NULL))
            );

            -- Idempotency: one job per key per org, enforced by the database so racing enqueues agree.
            CREATE UNIQUE INDEX conveyor_jobs_idempotency ON conveyor_jobs (org_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            -- The claim: due jobs in run order. Partial, so finished rows cost it nothing.
            CREATE INDEX conveyor_jobs_claim ON conveyor_jobs (priority DESC, run_at, id)
                WHERE state = 'available';
            -- Rescue: running jobs by lease expiry.
            CREATE INDEX conveyor_jobs_lease ON conveyor_jobs (locked_until) WHERE state = 'running';
            -- job-status lists, newest first, always within one org.
            CREATE INDEX conveyor_jobs_org ON conveyor_jobs (org_id, id DESC);
            """),
        flowControl,
        operations,
        scheduledState,
        executor,
        claimForTargets,
        targetAnswers,
    ]
}
