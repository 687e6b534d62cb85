-- Login throttling shared by every replica (§6.10) and the security audit trail (§25).

-- A username key: SHA-256 of (password profile id, Unicode lower-case username), so the table
-- holds no usernames and unknown usernames are throttled exactly like known ones.
CREATE TABLE login_throttles (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    lock_seconds INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per failed login, per client address, for the 15-minute window of the address key.
CREATE TABLE address_failures (
    address TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX address_failures_window ON address_failures (address, failed_at);
CREATE INDEX address_failures_failed_at ON address_failures (failed_at);

-- Append-only: accountd inserts and reads, never updates or deletes. `detail` is a JSON
-- object and never holds a password, code or token.
CREATE TABLE audit_events (
    id BLOB PRIMARY KEY,
    event_type TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    client_address TEXT,
    detail TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_created_at ON audit_events (created_at, id);
CREATE INDEX audit_events_event_type ON audit_events (event_type, created_at);
