import Postgres

/// The tenants' own HTTP targets. Migrations 400–499.
public enum TargetsSchema {
    public static let migrations: [Migration] = [
        Migration(version: 400, name: "tenant targets", sql: """
            CREATE TABLE conveyor_targets (
                org_id          bigint NOT NULL REFERENCES conveyor_organizations (id) ON DELETE CASCADE,
                name            text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
                url             text NOT NULL CHECK (octet_length(url) <= 2048),
                timeout_ms      integer NOT NULL CHECK (timeout_ms BETWEEN 1 AND 86400000),
                -- Signing secrets are used, not compared, so they are kept as they are; they leave
                -- the database only to sign, and through the API only once, when made.
                secret          text NOT NULL,
                previous_secret text,
                -- The previous secret keeps signing until then (a rotation's overlap).
                previous_until  timestamptz,
                created_at      timestamptz NOT NULL DEFAULT now(),
                updated_at      timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (org_id, name)
            );
            """),
    ]
}
