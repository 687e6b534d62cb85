-- Login throttling shared by every replica (§6.10) and the security audit trail (§25).

-- A username key: SHA-256 of (password profile id, Unicode lower-case username), so the table
-- holds no usernames and unknown usernames are throttled exactly like known ones.
CREATE TABLE login_throttles (
    key TEXT COLLATE "C" PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    lock_seconds BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per failed login, per client address, for the 15-minute window of the address key.
CREATE TABLE address_failures (
    address TEXT COLLATE "C" NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX address_failures_window ON address_failures (address, failed_at);
CREATE INDEX address_failures_failed_at ON address_failures (failed_at);

-- Append-only: accountd inserts and reads, never updates or deletes. `detail` is a JSON
-- object and never holds a password, code or token.
CREATE TABLE audit_events (
    id UUID PRIMARY KEY,
    event_type TEXT COLLATE "C" NOT NULL,
    actor TEXT COLLATE "C",
    subject TEXT COLLATE "C",
    client_address TEXT COLLATE "C",
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_created_at ON audit_events (created_at, id);
CREATE INDEX audit_events_event_type ON audit_events (event_type, created_at);
