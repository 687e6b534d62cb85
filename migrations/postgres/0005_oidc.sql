-- OpenID Connect login (§19–§21), PostgreSQL flavour. Kept in lockstep with
-- migrations/sqlite/0005_oidc.sql; see migrations/README.md.

-- An external identity provider. `client_secret` is kept in the clear because accountd must
-- present it to the provider (client_secret_basic); it is write-only in the API and never logged.
-- `issuer` is the discovery document's issuer as fetched when `discovery_url` was last set.
CREATE TABLE oidc_profiles (
    id UUID PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    discovery_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    issuer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX oidc_profiles_created_at ON oidc_profiles (created_at, id);

-- Links a user to an identity at a provider: (profile, issuer, subject) is unique (§20).
CREATE TABLE oidc_profile_infos (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    oidc_profile_id UUID NOT NULL REFERENCES oidc_profiles (id) ON DELETE CASCADE,
    issuer TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT oidc_profile_infos_identity_key UNIQUE (oidc_profile_id, issuer, subject)
);
CREATE INDEX oidc_profile_infos_user ON oidc_profile_infos (user_id, created_at);

-- Pending logins (§21.2 step 5), found by the SHA-256 of the `state` accountd sent to the
-- provider. `nonce` and `code_verifier` are accountd's own towards the provider; the storefront's
-- `redirect_uri`, `state` and `code_challenge` come back at the callback. Single use: `used_at`
-- is set at the callback, and the row is kept until it expires so a replay can be told apart.
CREATE TABLE oidc_logins (
    state_hash BYTEA PRIMARY KEY,
    oidc_profile_id UUID NOT NULL REFERENCES oidc_profiles (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    client_state TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    report_replay BOOLEAN NOT NULL,
    used_at BIGINT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);

-- accountd's authorization codes (§21.4), found by SHA-256, with the verified identity they
-- stand for. Single use: redeemed codes are deleted.
CREATE TABLE oidc_codes (
    code_hash BYTEA PRIMARY KEY,
    oidc_profile_id UUID NOT NULL REFERENCES oidc_profiles (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    given_name TEXT,
    middle_name TEXT,
    family_name TEXT,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oidc_codes_expires_at ON oidc_codes (expires_at);
