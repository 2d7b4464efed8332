import Postgres

/// Organizations and their API keys. Migrations 1–99 are this module's.
public enum AccountsSchema {
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "organizations", sql: """
            CREATE TABLE conveyor_organizations (
                id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                created_at timestamptz NOT NULL DEFAULT now(),
                name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200)
            );
            -- Only the SHA-256 of a key is kept; the key itself is shown once and never stored.
            CREATE TABLE conveyor_api_keys (
                id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                org_id     bigint NOT NULL REFERENCES conveyor_organizations (id) ON DELETE CASCADE,
                created_at timestamptz NOT NULL DEFAULT now(),
                revoked_at timestamptz,
                key_hash   bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
                label      text
            );
            CREATE INDEX conveyor_api_keys_org ON conveyor_api_keys (org_id);
            """),
    ]
}
