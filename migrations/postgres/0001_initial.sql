-- accountd schema, PostgreSQL flavour. Kept in lockstep with migrations/sqlite/0001_initial.sql:
-- timestamps are epoch milliseconds (BIGINT), text that is filtered or sorted is COLLATE "C" so
-- comparisons are byte-wise, lists stored as JSON text. See migrations/README.md.

-- Singletons of §2.2: the `singleton` column can only hold TRUE and is unique, so replicas that
-- start together converge on one row (the loser's INSERT … ON CONFLICT DO NOTHING re-reads).
CREATE TABLE deployment (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    store_id UUID NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE authentication_realms (
    id UUID PRIMARY KEY,
    singleton BOOLEAN NOT NULL DEFAULT TRUE UNIQUE CHECK (singleton),
    name TEXT COLLATE "C" NOT NULL,
    redirect_uris TEXT NOT NULL,
    duplicate_email_policy TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE account_authentication_settings (
    id UUID PRIMARY KEY,
    singleton BOOLEAN NOT NULL DEFAULT TRUE UNIQUE CHECK (singleton),
    enable_self_signup BOOLEAN NOT NULL,
    auto_create_account_for_account_members BOOLEAN NOT NULL,
    account_member_self_management TEXT NOT NULL,
    token_timeout_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE account_membership_settings (
    id UUID PRIMARY KEY,
    singleton BOOLEAN NOT NULL DEFAULT TRUE UNIQUE CHECK (singleton),
    membership_limit BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE jwt_keys (
    kid TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jwt_keys_one_active ON jwt_keys (active) WHERE active;

CREATE TABLE application_keys (
    id UUID PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    secret_hash BYTEA NOT NULL,
    managed_by_configuration BOOLEAN NOT NULL,
    reserved_rate_limit BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT,
    CONSTRAINT application_keys_name_key UNIQUE (name),
    CONSTRAINT application_keys_client_id_key UNIQUE (client_id)
);

-- Only the SHA-256 of a bearer token is stored; deleting its key deletes it (§5.4).
CREATE TABLE bearer_tokens (
    token_hash BYTEA PRIMARY KEY,
    application_key_id UUID NOT NULL REFERENCES application_keys (id) ON DELETE CASCADE,
    grant_type TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX bearer_tokens_application_key ON bearer_tokens (application_key_id);
CREATE INDEX bearer_tokens_expires_at ON bearer_tokens (expires_at);

CREATE TABLE password_profiles (
    id UUID PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    username_format TEXT NOT NULL,
    enable_one_time_password_token BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A user authentication info and its account member are one row (§3). `email_lower` is the
-- Unicode lower-case form computed by accountd. `tokens_valid_after` is whole epoch seconds (D8b).
CREATE TABLE users (
    id UUID PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    email_lower TEXT COLLATE "C" NOT NULL,
    given_name TEXT COLLATE "C",
    middle_name TEXT COLLATE "C",
    family_name TEXT COLLATE "C",
    tokens_valid_after BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_email_lower ON users (email_lower);
CREATE INDEX users_created_at ON users (created_at, id);

CREATE TABLE password_profile_infos (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_profile_id UUID NOT NULL REFERENCES password_profiles (id) ON DELETE CASCADE,
    username TEXT COLLATE "C" NOT NULL,
    username_lower TEXT COLLATE "C" NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT password_profile_infos_username_key UNIQUE (password_profile_id, username_lower),
    CONSTRAINT password_profile_infos_user_profile_key UNIQUE (user_id, password_profile_id)
);

-- `ancestor_ids` holds the ancestors root first, comma-separated; `parent_id` is immutable, so
-- it never goes stale (§7.4 implementation freedom).
CREATE TABLE accounts (
    id UUID PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    legal_name TEXT COLLATE "C",
    registration_id TEXT COLLATE "C",
    external_ref TEXT COLLATE "C",
    parent_id UUID REFERENCES accounts (id),
    ancestor_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT accounts_registration_id_key UNIQUE (registration_id)
);
CREATE INDEX accounts_parent ON accounts (parent_id);
CREATE INDEX accounts_created_at ON accounts (created_at, id);

CREATE TABLE account_memberships (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    account_member_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT account_memberships_pair_key UNIQUE (account_member_id, account_id)
);
CREATE INDEX account_memberships_account ON account_memberships (account_id, created_at);
