//! Where "now" comes from for every time-dependent decision: a token's expiry, how long the JWK
//! Set stays fresh, the refetch bound and the introspection cache. Tests hand in a clock they move.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time. Production uses [`SystemClock`]; a test can share one manual clock between
/// accountd and its verifier, so both see time move together.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Epoch milliseconds, negative before 1970, saturating far outside the range of `i64`.
pub(crate) fn unix_millis(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(|millis| -millis)
            .unwrap_or(i64::MIN),
    }
}

/// The instant of a JWT NumericDate in whole seconds; `None` when `SystemTime` cannot hold it.
pub(crate) fn from_unix_seconds(seconds: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// A duration in milliseconds as the clock arithmetic uses them.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_convert_both_ways_around_the_epoch() {
        assert_eq!(
            unix_millis(UNIX_EPOCH + Duration::from_millis(1_500)),
            1_500
        );
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(2)), -2_000);
        assert_eq!(
            from_unix_seconds(1_719_445_524).map(unix_millis),
            Some(1_719_445_524_000)
        );
        assert_eq!(from_unix_seconds(-5).map(unix_millis), Some(-5_000));
        // Never a panic at the extremes.
        let _ = from_unix_seconds(i64::MAX);
        let _ = from_unix_seconds(i64::MIN);
    }
}
