//! Per-address rate limits (§23): `POST /oauth/access_token`, `POST /v2/account-members/tokens`
//! and the OTP request endpoint each allow `ACCOUNTD_RATE_LIMIT_PER_MINUTE` requests per client
//! address per minute (`0` disables). Counts live in this process: each replica may keep its
//! own (§23). The check is an extractor placed first in the handler, so floods are limited
//! before any bearer token is looked up (§4.10).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::extract::client::ClientAddress;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::Timestamp;

const WINDOW_MILLIS: i64 = 60_000;
/// Past this many tracked (endpoint, address) pairs, windows that have ended are swept.
const SWEEP_AT: usize = 10_000;

/// (endpoint, client address) → (window start in minutes, requests admitted in it).
type Windows = HashMap<(&'static str, IpAddr), (i64, u32)>;

/// One fixed one-minute window per (endpoint, address).
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<Windows>,
}

impl RateLimiter {
    /// Counts the request, or answers how many seconds remain until the window ends.
    pub fn admit(
        &self,
        endpoint: &'static str,
        address: IpAddr,
        limit: u32,
        now: Timestamp,
    ) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let window = now.millis().div_euclid(WINDOW_MILLIS);
        let Ok(mut windows) = self.windows.lock() else {
            // A poisoned lock means a panic mid-update; admitting is safer than refusing all.
            return Ok(());
        };
        if windows.len() > SWEEP_AT {
            windows.retain(|_, (start, _)| *start == window);
        }
        let entry = windows.entry((endpoint, address)).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let window_end = (window + 1) * WINDOW_MILLIS;
            let wait = (window_end - now.millis()).max(1);
            return Err(u64::try_from((wait + 999) / 1000).unwrap_or(1));
        }
        // Refused requests are not counted (§23), so only admitted ones increment.
        entry.1 += 1;
        Ok(())
    }
}

/// An endpoint with its own per-address limit.
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
            .admit(
                E::NAME,
                client.0,
                state.config.rate_limit_per_minute,
                state.clock.now(),
            )
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

    #[test]
    fn a_full_window_refuses_until_it_ends_and_refusals_do_not_count() {
        let limiter = RateLimiter::default();
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Timestamp::from_millis(120_000 + 15_500);
        for _ in 0..3 {
            assert_eq!(limiter.admit("e", address, 3, start), Ok(()));
        }
        assert_eq!(limiter.admit("e", address, 3, start), Err(45));
        assert_eq!(limiter.admit("e", address, 3, start), Err(45));
        // Other endpoints and addresses have their own windows.
        assert_eq!(limiter.admit("f", address, 3, start), Ok(()));
        assert_eq!(
            limiter.admit("e", "192.0.2.2".parse().unwrap(), 3, start),
            Ok(())
        );
        assert_eq!(
            limiter.admit("e", address, 3, Timestamp::from_millis(180_000)),
            Ok(())
        );
        assert_eq!(limiter.admit("e", address, 0, start), Ok(()), "0 disables");
    }
}
