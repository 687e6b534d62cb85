//! Per-address rate limits on the endpoints anyone holding a public client id can reach: the
//! access-token endpoint, the token endpoint, the one-time-code request and the browser-facing
//! OpenID Connect login and callback (which share one budget). Each allows
//! `ACCOUNTD_RATE_LIMIT_PER_MINUTE` requests per client address (an IPv6 client as its /64) per
//! minute, `0` disabling them. The check is an extractor placed first in the handler, so floods
//! are refused before any bearer token is looked up or any row is written. Counts live in this
//! process: each replica keeps its own.
//!
//! The limiter is `governor`'s keyed GCRA: one atomic cell per (endpoint, address), no lock shared
//! by all requests, and idle keys forgotten by [`RateLimiter::forget_idle`] on a timer rather than
//! by a sweep on the request path. A budget refills continuously (one request every
//! 60 s / limit) instead of all at once at a window's edge, so a client cannot double its rate by
//! straddling two windows.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::clock::Clock as GovernorClock;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

use super::extract::client::ClientAddress;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::Clock;

/// The application clock as governor reads it: time since the epoch. Tests move the clock and the
/// limiter follows, as everything else time-dependent does.
#[derive(Clone)]
pub struct LimiterClock(Arc<dyn Clock>);

impl GovernorClock for LimiterClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now().millis()).unwrap_or(0))
    }
}

type Key = (&'static str, IpAddr);
type Limiter =
    Gcra<Key, DashMapStateStore<Key>, LimiterClock, governor::middleware::NoOpMiddleware<Duration>>;

/// Admits or refuses requests per (endpoint, client address); `None` inside when disabled.
pub struct RateLimiter {
    limiter: Option<Limiter>,
    clock: LimiterClock,
    /// Keys whose budget of failures is spent, and until when they are refused outright. Only
    /// failures fill it, so the usual request finds it empty without taking the lock.
    blocked: Mutex<HashMap<Key, Duration>>,
    blocked_keys: AtomicUsize,
}

impl RateLimiter {
    /// `per_minute == 0` admits everything.
    pub fn new(per_minute: u32, clock: Arc<dyn Clock>) -> Self {
        let clock = LimiterClock(clock);
        let limiter = NonZeroU32::new(per_minute)
            .map(|limit| Gcra::dashmap_with_clock(Quota::per_minute(limit), clock.clone()));
        Self {
            limiter,
            clock,
            blocked: Mutex::default(),
            blocked_keys: AtomicUsize::new(0),
        }
    }

    /// For budgets that only failures spend (see [`Self::record_failure`]): refuses a client
    /// that spent its budget until it refills, before its next attempt is even looked at.
    pub fn check_failures(&self, endpoint: &'static str, client: ClientAddress) -> Result<(), u64> {
        if self.blocked_keys.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        let blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        match blocked.get(&(endpoint, client.bucket())) {
            Some(until) if *until > now => Err(whole_seconds(*until - now)),
            _ => Ok(()),
        }
    }

    /// Spends one unit of the client's failure budget; once it is spent the client is refused
    /// by [`Self::check_failures`] until the budget allows one more.
    pub fn record_failure(&self, endpoint: &'static str, client: ClientAddress) -> Result<(), u64> {
        self.admit(endpoint, client).inspect_err(|wait| {
            let until = self.clock.now() + Duration::from_secs(*wait);
            let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
            blocked.insert((endpoint, client.bucket()), until);
            self.blocked_keys.store(blocked.len(), Ordering::Relaxed);
        })
    }

    /// Admits the request, or answers how many whole seconds until the next one would be.
    pub fn admit(&self, endpoint: &'static str, client: ClientAddress) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Refused requests use no budget, so a client that keeps hammering waits no longer
        // than one that stops.
        limiter
            .check_key(&(endpoint, client.bucket()))
            .map_err(|not_until| whole_seconds(not_until.wait_time_from(self.clock.now())))
    }

    /// Drops the keys whose budget is full again: they behave exactly like keys never seen, so
    /// memory stays proportional to the clients of the last minute.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = self.clock.now();
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        blocked.retain(|_, until| *until > now);
        self.blocked_keys.store(blocked.len(), Ordering::Relaxed);
    }

    /// Keys held now, for tests of [`Self::forget_idle`].
    pub fn tracked_keys(&self) -> usize {
        self.limiter.as_ref().map_or(0, Limiter::len)
    }
}

/// A wait in whole seconds, at least one (`Retry-After`).
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_millis()
        .div_ceil(1000)
        .max(1)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// An endpoint with its own per-address budget.
pub trait LimitedEndpoint {
    const NAME: &'static str;
}

pub struct AccessTokenEndpoint;
impl LimitedEndpoint for AccessTokenEndpoint {
    const NAME: &'static str = "oauth_access_token";
}

pub struct OtpRequestEndpoint;
impl LimitedEndpoint for OtpRequestEndpoint {
    const NAME: &'static str = "one_time_password_token_request";
}

pub struct TokenEndpoint;
impl LimitedEndpoint for TokenEndpoint {
    const NAME: &'static str = "account_member_tokens";
}

/// The OpenID Connect login and callback: one budget for both, since each of them writes or
/// claims a login record.
pub struct OidcBrowserEndpoints;
impl LimitedEndpoint for OidcBrowserEndpoints {
    const NAME: &'static str = "oidc_browser";
}

/// Admits the request under the endpoint's per-address limit, or refuses it with `429`.
pub struct RateLimited<E> {
    pub client: ClientAddress,
    endpoint: PhantomData<E>,
}

impl<E: LimitedEndpoint> FromRequestParts<AppState> for RateLimited<E> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(client) = ClientAddress::from_request_parts(parts, state).await;
        state
            .rate_limiter
            .admit(E::NAME, client)
            .map_err(ApiError::too_many_requests)?;
        Ok(Self {
            client,
            endpoint: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ManualClock, Timestamp};

    fn client(text: &str) -> ClientAddress {
        ClientAddress(text.parse().unwrap())
    }

    #[test]
    fn a_spent_budget_refuses_until_it_refills_and_refusals_do_not_count() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = RateLimiter::new(3, clock.clone());
        let address = client("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limiter.admit("e", address), Ok(()));
        }
        // Three a minute: the next one is due 20 s after the budget was spent.
        assert_eq!(limiter.admit("e", address), Err(20));
        clock.advance_seconds(5);
        assert_eq!(limiter.admit("e", address), Err(15));
        // Other endpoints and addresses have their own budgets.
        assert_eq!(limiter.admit("f", address), Ok(()));
        assert_eq!(limiter.admit("e", client("192.0.2.2")), Ok(()));
        clock.advance_seconds(15);
        assert_eq!(limiter.admit("e", address), Ok(()));
        assert_eq!(limiter.admit("e", address), Err(20));
    }

    #[test]
    fn an_ipv6_client_spends_one_budget_for_its_whole_slash_64() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = RateLimiter::new(2, clock);
        assert_eq!(limiter.admit("e", client("2001:db8::1")), Ok(()));
        assert_eq!(limiter.admit("e", client("2001:db8::ffff:2")), Ok(()));
        assert!(limiter.admit("e", client("2001:db8::3:3")).is_err());
        assert_eq!(limiter.admit("e", client("2001:db8:0:1::1")), Ok(()));
    }

    #[test]
    fn a_spent_failure_budget_refuses_before_the_next_attempt_until_it_refills() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = RateLimiter::new(2, clock.clone());
        let address = client("192.0.2.1");
        for _ in 0..2 {
            assert_eq!(limiter.check_failures("f", address), Ok(()));
            assert_eq!(limiter.record_failure("f", address), Ok(()));
        }
        assert_eq!(limiter.check_failures("f", address), Ok(()));
        assert_eq!(limiter.record_failure("f", address), Err(30));
        assert_eq!(limiter.check_failures("f", address), Err(30));
        assert_eq!(limiter.check_failures("f", client("192.0.2.2")), Ok(()));
        clock.advance_seconds(30);
        assert_eq!(limiter.check_failures("f", address), Ok(()));
        limiter.forget_idle();
        assert_eq!(limiter.blocked_keys.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn zero_disables_the_limit() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(0)));
        let limiter = RateLimiter::new(0, clock);
        for _ in 0..1000 {
            assert_eq!(limiter.admit("e", client("192.0.2.1")), Ok(()));
        }
    }

    #[test]
    fn idle_clients_are_forgotten() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let limiter = RateLimiter::new(600, clock.clone());
        for index in 0..=255u8 {
            let _ = limiter.admit("e", client(&format!("198.51.100.{index}")));
        }
        assert_eq!(limiter.tracked_keys(), 256);
        limiter.forget_idle();
        assert_eq!(
            limiter.tracked_keys(),
            256,
            "budgets still refilling are kept"
        );
        clock.advance_seconds(1);
        limiter.forget_idle();
        assert_eq!(limiter.tracked_keys(), 0);
    }
}
