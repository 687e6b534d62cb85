-- Integrations (§22.1), the transactional outbox (§22.3), delivery logs and one-time password
-- codes (§16), PostgreSQL flavour. Kept in lockstep with migrations/sqlite/0003_events_and_otp.sql.

-- `observes` is a JSON array of event keys as the Admin listed them (aliases included), so that
-- `triggered_by` can repeat the key the way the integration asked for it (§22.1).
CREATE TABLE integrations (
    id UUID PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    integration_type TEXT NOT NULL,
    observes TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    managed_by_configuration BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX integrations_created_at ON integrations (created_at, id);

-- One row per event that at least one enabled integration observed, written in the transaction
-- of the change. `payload` never holds an OTP code: the code lives in `secret` until every
-- delivery of it has finished or the code expired (`expires_at`), and is then set to NULL.
-- `ordinal` orders the events of one transaction the way the changes happened (§22.5).
CREATE TABLE outbox_events (
    id UUID PRIMARY KEY,
    event_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    secret TEXT,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    ordinal BIGINT NOT NULL
);
CREATE INDEX outbox_events_secret ON outbox_events (expires_at) WHERE secret IS NOT NULL;
CREATE INDEX outbox_events_created_at ON outbox_events (created_at);

-- One row per (event, integration). `status` is pending, succeeded, failed or stopped. A
-- dispatcher owns a pending row while `lease_until` is in the future (§22.3).
CREATE TABLE outbox_deliveries (
    id UUID PRIMARY KEY,
    event_id UUID NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    integration_id UUID NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    triggered_by TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner UUID,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    ordinal BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT outbox_deliveries_pair_key UNIQUE (event_id, integration_id)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_deliveries_integration ON outbox_deliveries (integration_id);

-- Every delivery attempt, kept 7 days (§22.1).
CREATE TABLE integration_logs (
    id UUID PRIMARY KEY,
    integration_id UUID NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_id UUID NOT NULL,
    triggered_by TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    status_code BIGINT,
    body TEXT,
    error_detail TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX integration_logs_integration ON integration_logs (integration_id, created_at);
CREATE INDEX integration_logs_created_at ON integration_logs (created_at, id);

-- OTP codes (D11): only the argon2id hash is stored. `status` is outstanding, consumed,
-- superseded or invalidated; `attempts` counts exchanges, reserved before the hash is checked so
-- concurrent guesses cannot exceed five. Rows outlive their use for the hourly issue cap.
CREATE TABLE otp_codes (
    id UUID PRIMARY KEY,
    password_profile_info_id UUID NOT NULL
        REFERENCES password_profile_infos (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX otp_codes_info ON otp_codes (password_profile_info_id, created_at);
