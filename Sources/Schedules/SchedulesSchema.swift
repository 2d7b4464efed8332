import Postgres

/// Schedules stored in the database (migration 500): one row per org and name, with the next
/// slot not yet turned into a job. An index on that slot is all the firing needs.
public enum SchedulesSchema {
    public static let migrations: [Migration] = [
        Migration(version: 500, name: "schedules", sql: """
            CREATE TABLE conveyor_schedules (
                org_id          bigint NOT NULL REFERENCES conveyor_organizations (id) ON DELETE CASCADE,
                name            text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
                cron            text NOT NULL CHECK (octet_length(cron) <= 200),
                time_zone       text NOT NULL CHECK (octet_length(time_zone) <= 64),
                -- The job each slot enqueues, as the enqueue function's fields (JSON object).
                job             jsonb NOT NULL,
                jitter_seconds  integer NOT NULL DEFAULT 0 CHECK (jitter_seconds BETWEEN 0 AND 3600),
                paused          boolean NOT NULL DEFAULT false,
                -- The next slot to fire and its local name; NULL when the expression never fires again.
                next_at         timestamptz,
                next_name       text,
                last_fired_at   timestamptz,
                last_job_id     bigint,
                -- Slots that passed while no driver ran, skipped (each return fires one, not all).
                missed          bigint NOT NULL DEFAULT 0,
                created_at      timestamptz NOT NULL DEFAULT now(),
                updated_at      timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (org_id, name)
            );
            CREATE INDEX conveyor_schedules_due ON conveyor_schedules (next_at) WHERE NOT paused AND next_at IS NOT NULL;
            """),
    ]
}
