-- accountd schema, SQLite flavour. Kept in lockstep with migrations/postgres/0001_initial.sql:
-- UUIDs are 16-byte BLOBs (sqlx encodes them so), timestamps epoch milliseconds, booleans 0/1,
-- text compared with the default BINARY collation (byte-wise). See migrations/README.md.

-- Singletons of §2.2: the `singleton` column can only hold TRUE and is unique, so replicas that
-- start together converge on one row (the loser's INSERT … ON CONFLICT DO NOTHING re-reads).
CREATE TABLE deployment (
    singleton INTEGER PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    store_id BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE authentication_realms (
    id BLOB PRIMARY KEY,
    singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    duplicate_email_policy TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE account_authentication_settings (
    id BLOB PRIMARY KEY,
    singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
    enable_self_signup INTEGER NOT NULL,
    auto_create_account_for_account_members INTEGER NOT NULL,
    account_member_self_management TEXT NOT NULL,
    token_timeout_secs INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE account_membership_settings (
    id BLOB PRIMARY KEY,
    singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
    membership_limit INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE jwt_keys (
    kid TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX jwt_keys_one_active ON jwt_keys (active) WHERE active = 1;

CREATE TABLE application_keys (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    managed_by_configuration INTEGER NOT NULL,
    reserved_rate_limit INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_used_at INTEGER,
    CONSTRAINT application_keys_name_key UNIQUE (name),
    CONSTRAINT application_keys_client_id_key UNIQUE (client_id)
);

-- Only the SHA-256 of a bearer token is stored; deleting its key deletes it (§5.4).
CREATE TABLE bearer_tokens (
    token_hash BLOB PRIMARY KEY,
    application_key_id BLOB NOT NULL REFERENCES application_keys (id) ON DELETE CASCADE,
    grant_type TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX bearer_tokens_application_key ON bearer_tokens (application_key_id);
CREATE INDEX bearer_tokens_expires_at ON bearer_tokens (expires_at);

CREATE TABLE password_profiles (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    username_format TEXT NOT NULL,
    enable_one_time_password_token INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A user authentication info and its account member are one row (§3). `email_lower` is the
-- Unicode lower-case form computed by accountd. `tokens_valid_after` is whole epoch seconds (D8b).
CREATE TABLE users (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    given_name TEXT,
    middle_name TEXT,
    family_name TEXT,
    tokens_valid_after INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX users_email_lower ON users (email_lower);
CREATE INDEX users_created_at ON users (created_at, id);

CREATE TABLE password_profile_infos (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_profile_id BLOB NOT NULL REFERENCES password_profiles (id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT password_profile_infos_username_key UNIQUE (password_profile_id, username_lower),
    CONSTRAINT password_profile_infos_user_profile_key UNIQUE (user_id, password_profile_id)
);

-- `ancestor_ids` holds the ancestors root first, comma-separated; `parent_id` is immutable, so
-- it never goes stale (§7.4 implementation freedom).
CREATE TABLE accounts (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    legal_name TEXT,
    registration_id TEXT,
    external_ref TEXT,
    parent_id BLOB REFERENCES accounts (id),
    ancestor_ids TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT accounts_registration_id_key UNIQUE (registration_id)
);
CREATE INDEX accounts_parent ON accounts (parent_id);
CREATE INDEX accounts_created_at ON accounts (created_at, id);

CREATE TABLE account_memberships (
    id BLOB PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    account_member_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT account_memberships_pair_key UNIQUE (account_member_id, account_id)
);
CREATE INDEX account_memberships_account ON account_memberships (account_id, created_at);
