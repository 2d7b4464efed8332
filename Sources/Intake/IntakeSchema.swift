import Postgres

/// The intake tables: pipelines, intake requests and the activity log. Migrations 300–399.
public enum IntakeSchema {
    public static let migrations: [Migration] = [
        Migration(version: 300, name: "intake", sql: """
            CREATE TABLE pipelines (
                id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                org_id      bigint NOT NULL REFERENCES conveyor_organizations (id) ON DELETE CASCADE,
                created_at  timestamptz NOT NULL DEFAULT now(),
                updated_at  timestamptz NOT NULL DEFAULT now(),
                is_active   boolean NOT NULL DEFAULT true,
                name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
                description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
                keywords    text[] NOT NULL DEFAULT '{}' CHECK (cardinality(keywords) <= 50),
                UNIQUE (org_id, name),
                -- The target of the requests' composite foreign key: an assignment can only ever
                -- name a pipeline of the request's own org, whatever the code above does.
                UNIQUE (org_id, id)
            );

            CREATE TABLE intake_requests (
                id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                org_id               bigint NOT NULL REFERENCES conveyor_organizations (id) ON DELETE CASCADE,
                assigned_pipeline_id bigint,
                -- The job that created this request (enqueue with kind route-intake and a new
                -- request), so a retried attempt finds it instead of creating it again.
                source_job_id        bigint,
                created_at           timestamptz NOT NULL DEFAULT now(),
                updated_at           timestamptz NOT NULL DEFAULT now(),
                ai_processed_at      timestamptz,
                routing_confidence   double precision CHECK (routing_confidence BETWEEN 0 AND 1),
                priority             smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
                source               text NOT NULL CHECK (source IN ('FORM', 'EMAIL', 'CHAT', 'API')),
                status               text NOT NULL DEFAULT 'NEW'
                                     CHECK (status IN ('NEW', 'ROUTING', 'ASSIGNED', 'PROCESSING', 'COMPLETED', 'REJECTED')),
                title                text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
                description          text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
                routing_reasoning    text,
                -- Why the last routing attempt failed (kept after a fallback to the offline router).
                routing_error        text,
                request_data         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(request_data) = 'object'),
                ai_analysis          jsonb,
                suggested_pipelines  jsonb CHECK (jsonb_typeof(suggested_pipelines) = 'array'),
                FOREIGN KEY (org_id, assigned_pipeline_id) REFERENCES pipelines (org_id, id),
                CHECK (status <> 'ASSIGNED' OR assigned_pipeline_id IS NOT NULL)
            );
            -- list-intake: newest first within an org, by status or by source, keyset-paged on id.
            CREATE INDEX intake_requests_org ON intake_requests (org_id, id DESC);
            CREATE INDEX intake_requests_status ON intake_requests (org_id, status, id DESC);
            CREATE INDEX intake_requests_source ON intake_requests (org_id, source, id DESC);
            CREATE INDEX intake_requests_pipeline ON intake_requests (org_id, assigned_pipeline_id)
                WHERE assigned_pipeline_id IS NOT NULL;
            CREATE UNIQUE INDEX intake_requests_source_job ON intake_requests (org_id, source_job_id)
                WHERE source_job_id IS NOT NULL;

            CREATE TABLE activity_log (
                id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                org_id     bigint NOT NULL REFERENCES conveyor_organizations (id) ON DELETE CASCADE,
                entity_id  bigint,
                created_at timestamptz NOT NULL DEFAULT now(),
                action     text NOT NULL CHECK (action ~ '^[A-Z][A-Z0-9_]{0,63}$'),
                entity     text NOT NULL CHECK (entity ~ '^[a-z][a-z0-9_]{0,63}$'),
                metadata   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object')
            );
            CREATE INDEX activity_log_entity ON activity_log (org_id, entity, entity_id, id);
            CREATE INDEX activity_log_org ON activity_log (org_id, id DESC);
            """),
    ]
}
