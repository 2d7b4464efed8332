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
        Migration(version: 2, name: "dashboard sessions and login throttle", sql: """
            -- A dashboard login, kept server-side so logout and a new admin key end it everywhere.
            -- Only the SHA-256 of the cookie's token is kept; key_hash names the admin key it was
            -- issued under (a digest of it), so a changed key leaves every old session unusable.
            CREATE TABLE conveyor_admin_sessions (
                token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                key_hash   bytea NOT NULL CHECK (length(key_hash) = 32),
                created_at timestamptz NOT NULL DEFAULT now(),
                expires_at timestamptz NOT NULL
            );
            CREATE INDEX conveyor_admin_sessions_expiry ON conveyor_admin_sessions (expires_at);
            -- Refused logins by client address, for the throttle; pruned as logins come.
            CREATE TABLE conveyor_login_failures (
                address text NOT NULL CHECK (length(address) <= 100),
                at      timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX conveyor_login_failures_address ON conveyor_login_failures (address, at);
            CREATE INDEX conveyor_login_failures_at ON conveyor_login_failures (at);
            """),
    ]
}
