//! Login throttling policy, free of storage: the three keys a password or one-time-code attempt
//! counts on, and when each of them refuses the next attempt. The counts themselves live in the
//! database so every replica sees them (`store::SecurityStore`).
//!
//! - The **pair** key (profile, lower-cased username, client address) backs off after five
//!   consecutive failures: 30 s, then twice the previous lock for each failure after a lock has
//!   ended, up to 900 s. Only this key reacts to a handful of failures, so an attacker who keeps
//!   failing from one address locks out nobody but that address.
//! - The **username** key (profile, lower-cased username) locks only under distributed guessing:
//!   while the last 15 minutes hold 50 or more failures from at least two addresses.
//! - The **address** key locks while the last 15 minutes hold 50 or more failures from it.
//!
//! An attempt that passes the check is reserved before its argon2id work and counts as a
//! failure for every decision until its outcome is known, so concurrent guesses cannot slip past
//! a lock: at most five attempts of one pair are ever in progress or failed before it locks.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Consecutive failures before a pair key first locks.
pub const FAILURES_BEFORE_LOCK: i64 = 5;
pub const FIRST_LOCK_SECONDS: i64 = 30;
pub const MAX_LOCK_SECONDS: i64 = 900;
/// A username or address key locks while its window holds this many failures.
pub const WINDOW_FAILURE_LIMIT: i64 = 50;
pub const WINDOW_SECONDS: i64 = 15 * 60;
/// A username key needs failures from at least this many addresses to lock.
pub const USERNAME_LOCK_MIN_ADDRESSES: i64 = 2;
/// A reservation whose outcome was never recorded (the process died, the client vanished
/// mid-hash) counts as a failure once it is this old.
pub const RESERVATION_TIMEOUT_SECONDS: i64 = 30;
/// A login username longer than this (255 characters of up to four bytes) cannot exist and is
/// refused before any store work, so it writes nothing anywhere.
pub const MAX_USERNAME_BYTES: usize = 1020;

/// The three keys of one attempt, as stored: digests for the keys that hold a username, so the
/// tables hold no usernames, and the address bucket itself for the address key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKeys {
    pub pair: String,
    pub username: String,
    pub address: String,
}

impl LoginKeys {
    /// `address` is the client's bucket (an IPv6 client as its /64). The profile id is
    /// canonicalised by parsing, so changing its letter case does not dodge the throttle.
    pub fn new(password_profile_id: Uuid, username_lower: &str, address: &str) -> Self {
        let username = username_key(password_profile_id, username_lower);
        let mut digest = Sha256::new();
        digest.update(username.as_bytes());
        digest.update([0u8]);
        digest.update(address.as_bytes());
        Self {
            pair: hex::encode(digest.finalize()),
            username,
            address: address.to_owned(),
        }
    }
}

/// The username key: a digest of (profile id, lower-cased username), the same whether or not
/// the profile or the username exists.
pub fn username_key(password_profile_id: Uuid, username_lower: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(password_profile_id.to_string().as_bytes());
    digest.update([0u8]);
    digest.update(username_lower.as_bytes());
    hex::encode(digest.finalize())
}

/// The pair key's backoff state and its attempts in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairState {
    /// Consecutive failures since the last success.
    pub failures: i64,
    pub locked_until_millis: i64,
    pub pending: i64,
}

/// A windowed key (username or address): recorded failures in the last 15 minutes, the time of
/// the failure whose leaving the window would bring the count under the limit, and attempts in
/// progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowState {
    pub failures: i64,
    /// `failed_at` of the 50th most recent failure in the window, if there are 50.
    pub limit_failure_at_millis: Option<i64>,
    pub pending: i64,
    /// Distinct addresses among the failures, and among failures and pending attempts.
    pub failing_addresses: i64,
    pub addresses_with_pending: i64,
}

/// Everything the decision reads, gathered in one transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleSnapshot {
    pub pair: PairState,
    pub username: WindowState,
    pub address: WindowState,
}

/// Which key refuses; the audit trail records one throttled attempt per key and lock period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockedKey {
    Pair,
    Username,
    Address,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub key: LockedKey,
    /// Whole seconds for `Retry-After`, at least 1.
    pub retry_after: u64,
}

/// The lock that refuses an attempt now, if any: when several keys are locked, the longest
/// wait. A lock that exists only because of attempts still in progress says "1 second": their
/// outcome is known within a hash or two.
pub fn decide(snapshot: &ThrottleSnapshot, now_millis: i64) -> Option<Lock> {
    let pair = {
        let state = snapshot.pair;
        if state.locked_until_millis > now_millis {
            Some(seconds_until(state.locked_until_millis, now_millis))
        } else if state.pending > 0 && state.failures + state.pending >= FAILURES_BEFORE_LOCK {
            Some(1)
        } else {
            None
        }
    };
    let address = window_wait(&snapshot.address, 1, now_millis);
    let username = window_wait(&snapshot.username, USERNAME_LOCK_MIN_ADDRESSES, now_millis);
    [
        (LockedKey::Pair, pair),
        (LockedKey::Username, username),
        (LockedKey::Address, address),
    ]
    .into_iter()
    .filter_map(|(key, wait)| wait.map(|retry_after| Lock { key, retry_after }))
    .max_by_key(|lock| lock.retry_after)
}

fn window_wait(state: &WindowState, min_addresses: i64, now_millis: i64) -> Option<u64> {
    let recorded =
        state.failures >= WINDOW_FAILURE_LIMIT && state.failing_addresses >= min_addresses;
    if recorded {
        // Locked until the failure that completes the limit leaves the window.
        let limit_at = state.limit_failure_at_millis.unwrap_or(now_millis);
        return Some(seconds_until(limit_at + WINDOW_SECONDS * 1000, now_millis).max(1));
    }
    let with_pending = state.failures + state.pending >= WINDOW_FAILURE_LIMIT
        && state.addresses_with_pending >= min_addresses;
    with_pending.then_some(1)
}

/// A pair key's state after one more failure: past its free attempts, a failure while unlocked
/// locks it, for 30 s first and twice the previous lock after that, up to 900 s.
pub fn after_failure(
    failures: i64,
    locked_until_millis: i64,
    lock_seconds: i64,
    now_millis: i64,
) -> (i64, i64, i64) {
    let failures = failures + 1;
    if failures >= FAILURES_BEFORE_LOCK && now_millis >= locked_until_millis {
        let lock = next_lock_seconds(lock_seconds);
        (failures, now_millis + lock * 1000, lock)
    } else {
        (failures, locked_until_millis, lock_seconds)
    }
}

/// The lock a failure sets once a key is past its free attempts.
pub fn next_lock_seconds(previous_lock_seconds: i64) -> i64 {
    if previous_lock_seconds <= 0 {
        FIRST_LOCK_SECONDS
    } else {
        previous_lock_seconds
            .saturating_mul(2)
            .min(MAX_LOCK_SECONDS)
    }
}

/// Whole seconds until `until_millis`, rounded up, for `Retry-After`.
pub fn seconds_until(until_millis: i64, now_millis: i64) -> u64 {
    let wait = until_millis.saturating_sub(now_millis).max(0);
    u64::try_from((wait + 999) / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    #[test]
    fn locks_double_from_thirty_seconds_up_to_fifteen_minutes() {
        let mut lock = 0;
        let mut seen = Vec::new();
        for _ in 0..8 {
            lock = next_lock_seconds(lock);
            seen.push(lock);
        }
        assert_eq!(seen, [30, 60, 120, 240, 480, 900, 900, 900]);
    }

    #[test]
    fn the_fifth_consecutive_failure_locks_and_each_failure_after_a_lock_relocks() {
        let mut state = (0, 0, 0);
        for _ in 0..4 {
            state = after_failure(state.0, state.1, state.2, NOW);
            assert_eq!(state.1, 0);
        }
        state = after_failure(state.0, state.1, state.2, NOW);
        assert_eq!((state.1, state.2), (NOW + 30_000, 30));
        let later = NOW + 31_000;
        state = after_failure(state.0, state.1, state.2, later);
        assert_eq!((state.1, state.2), (later + 60_000, 60));
    }

    #[test]
    fn pending_attempts_count_as_failures_and_say_one_second() {
        let snapshot = |failures, pending| ThrottleSnapshot {
            pair: PairState {
                failures,
                locked_until_millis: 0,
                pending,
            },
            ..ThrottleSnapshot::default()
        };
        assert_eq!(decide(&snapshot(0, 4), NOW), None);
        assert_eq!(
            decide(&snapshot(0, 5), NOW),
            Some(Lock {
                key: LockedKey::Pair,
                retry_after: 1
            })
        );
        assert!(decide(&snapshot(4, 1), NOW).is_some());
        // A lock that has ended lets exactly one attempt through at a time.
        assert_eq!(decide(&snapshot(5, 0), NOW), None);
        assert!(decide(&snapshot(5, 1), NOW).is_some());
    }

    #[test]
    fn a_username_locks_only_with_failures_from_two_addresses() {
        let one_address = WindowState {
            failures: 80,
            limit_failure_at_millis: Some(NOW - 60_000),
            pending: 0,
            failing_addresses: 1,
            addresses_with_pending: 1,
        };
        let snapshot = ThrottleSnapshot {
            username: one_address,
            ..ThrottleSnapshot::default()
        };
        assert_eq!(decide(&snapshot, NOW), None);
        let distributed = ThrottleSnapshot {
            username: WindowState {
                failing_addresses: 2,
                addresses_with_pending: 2,
                ..one_address
            },
            ..ThrottleSnapshot::default()
        };
        assert_eq!(
            decide(&distributed, NOW),
            Some(Lock {
                key: LockedKey::Username,
                retry_after: 840
            })
        );
    }

    #[test]
    fn an_address_locks_alone_and_the_longest_wait_wins() {
        let snapshot = ThrottleSnapshot {
            pair: PairState {
                failures: 5,
                locked_until_millis: NOW + 30_000,
                pending: 0,
            },
            address: WindowState {
                failures: 50,
                limit_failure_at_millis: Some(NOW - 50_000),
                pending: 0,
                failing_addresses: 1,
                addresses_with_pending: 1,
            },
            ..ThrottleSnapshot::default()
        };
        assert_eq!(
            decide(&snapshot, NOW),
            Some(Lock {
                key: LockedKey::Address,
                retry_after: 850
            })
        );
    }

    #[test]
    fn keys_ignore_profile_id_case_but_not_usernames_or_addresses() {
        let id = Uuid::parse_str("9A44BB7E-1C2D-4E3F-8A9B-0C1D2E3F4A5B").unwrap();
        let same = Uuid::parse_str("9a44bb7e-1c2d-4e3f-8a9b-0c1d2e3f4a5b").unwrap();
        assert_eq!(username_key(id, "ann"), username_key(same, "ann"));
        assert_ne!(username_key(id, "ann"), username_key(id, "anne"));
        assert_eq!(username_key(id, "ann").len(), 64);
        let here = LoginKeys::new(id, "ann", "192.0.2.1");
        let there = LoginKeys::new(id, "ann", "192.0.2.2");
        assert_eq!(here.username, there.username);
        assert_ne!(here.pair, there.pair);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(seconds_until(30_001, 0), 31);
        assert_eq!(seconds_until(30_000, 0), 30);
        assert_eq!(seconds_until(0, 5), 0);
    }
}
