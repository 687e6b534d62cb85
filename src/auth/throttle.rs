//! Login throttling policy (§6.10), free of storage: the keys failed attempts count on, and how
//! long a username key locks. The counts themselves live in the database so every replica sees
//! them.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Consecutive failures before a username key first locks.
pub const FAILURES_BEFORE_LOCK: i64 = 5;
pub const FIRST_LOCK_SECONDS: i64 = 30;
pub const MAX_LOCK_SECONDS: i64 = 900;
/// An address key locks while it has this many failures within the window.
pub const ADDRESS_FAILURE_LIMIT: i64 = 50;
pub const ADDRESS_WINDOW_SECONDS: i64 = 15 * 60;

/// The username key: a digest of (profile id, lower-cased username), so the table holds no
/// usernames and whether the profile or username exists changes nothing. The profile id is
/// canonicalised first, so changing its letter case does not dodge the throttle.
pub fn username_key(password_profile_id: Uuid, username_lower: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(password_profile_id.to_string().as_bytes());
    digest.update([0u8]);
    digest.update(username_lower.as_bytes());
    hex::encode(digest.finalize())
}

/// The lock a failure sets once a key is past its free attempts: 30 s first, then twice the
/// previous lock, up to 900 s.
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
    fn username_keys_ignore_profile_id_case_but_not_usernames() {
        let id = Uuid::parse_str("9A44BB7E-1C2D-4E3F-8A9B-0C1D2E3F4A5B").unwrap();
        let same = Uuid::parse_str("9a44bb7e-1c2d-4e3f-8a9b-0c1d2e3f4a5b").unwrap();
        assert_eq!(username_key(id, "ann"), username_key(same, "ann"));
        assert_ne!(username_key(id, "ann"), username_key(id, "anne"));
        assert_eq!(username_key(id, "ann").len(), 64);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(seconds_until(30_001, 0), 31);
        assert_eq!(seconds_until(30_000, 0), 30);
        assert_eq!(seconds_until(0, 5), 0);
    }
}
