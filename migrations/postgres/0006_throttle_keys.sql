-- Login throttling by pair, username and address keys, with attempts reserved before their
-- argon2id work. Replaces the username-and-address tables of 0004. PostgreSQL flavour, kept in
-- lockstep with migrations/sqlite/0006_throttle_keys.sql; see migrations/README.md.

DROP TABLE login_throttles;
DROP TABLE address_failures;

-- One row per key that matters now: `pair:<digest>` rows carry the backoff of a (profile,
-- username, address) pair and the username digest an admin's lockout clearing looks for;
-- `user:<digest>` and `addr:<address>` rows carry no count of their own. Every attempt locks
-- its three rows, so concurrent attempts on a key are decided one after the other.
-- `audited_until` is the end of the lock period whose throttled attempt was recorded.
CREATE TABLE throttle_keys (
    key TEXT COLLATE "C" PRIMARY KEY,
    username_key TEXT COLLATE "C",
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    lock_seconds BIGINT NOT NULL,
    audited_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX throttle_keys_username ON throttle_keys (username_key);
CREATE INDEX throttle_keys_updated_at ON throttle_keys (updated_at);

-- One row per failed attempt, for the 15-minute windows of the username and address keys.
-- `username_key` becomes NULL when an admin clears the member's lockout: the failure then no
-- longer counts on the username, but still on the address.
CREATE TABLE login_failures (
    username_key TEXT COLLATE "C",
    address TEXT COLLATE "C" NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username_key, failed_at);
CREATE INDEX login_failures_address ON login_failures (address, failed_at);
CREATE INDEX login_failures_failed_at ON login_failures (failed_at);

-- Attempts that passed the check and await their outcome; each counts as a failure meanwhile.
CREATE TABLE login_reservations (
    id UUID PRIMARY KEY,
    pair_key TEXT COLLATE "C" NOT NULL,
    username_key TEXT COLLATE "C" NOT NULL,
    address TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX login_reservations_pair ON login_reservations (pair_key, created_at);
CREATE INDEX login_reservations_username ON login_reservations (username_key, created_at);
CREATE INDEX login_reservations_address ON login_reservations (address, created_at);
CREATE INDEX login_reservations_created_at ON login_reservations (created_at);
