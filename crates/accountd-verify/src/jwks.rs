//! accountd's public keys from its JWK Set: fetched at first use, kept while the answer's
//! `Cache-Control: max-age` allows (within bounds), and fetched again when a token names a `kid`
//! the set lacks. Fetches are bounded: at most one per refetch interval, and concurrent misses
//! wait for the fetch in flight instead of starting their own. A failed fetch keeps the keys
//! already held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;

use crate::error::{FetchError, VerifyError};
use crate::fetch;
use crate::keys::VerificationKey;

/// The shortest and longest time a fetched set is used before it is fetched again, whatever its
/// `max-age` says: a set that asks not to be cached must not make every request fetch, and a
/// retired key must not stay trusted for days.
const FRESHNESS_BOUNDS_SECONDS: (i64, i64) = (30, 3_600);

/// How long a set without a usable `max-age` stays fresh: what accountd sends.
const DEFAULT_FRESHNESS_SECONDS: i64 = 300;

/// The most keys read from one set; accountd publishes the signing key and the retired ones
/// whose tokens may still be valid, a handful at most.
const MAX_KEYS: usize = 64;

/// The keys of one fetch.
struct KeySet {
    keys: HashMap<String, Arc<VerificationKey>>,
    /// Epoch milliseconds from which the set is fetched again before use; `i64::MIN` before
    /// the first successful fetch.
    fresh_until: i64,
}

/// What the last fetch attempt did, and when.
#[derive(Default)]
struct Attempts {
    last_at: Option<i64>,
    last_error: Option<FetchError>,
}

pub(crate) struct JwksCache {
    url: reqwest::Url,
    client: reqwest::Client,
    refetch_interval_millis: i64,
    keys: RwLock<Arc<KeySet>>,
    /// Held for the whole of a fetch: concurrent misses queue on it and find the new keys.
    attempts: tokio::sync::Mutex<Attempts>,
    /// Fetch attempts finished, successful or not; a waiter that sees it move knows a fetch
    /// happened while it waited.
    finished: AtomicU64,
    failed: AtomicU64,
}

impl JwksCache {
    pub(crate) fn new(
        url: reqwest::Url,
        client: reqwest::Client,
        refetch_interval_millis: i64,
    ) -> Self {
        Self {
            url,
            client,
            refetch_interval_millis,
            keys: RwLock::new(Arc::new(KeySet {
                keys: HashMap::new(),
                fresh_until: i64::MIN,
            })),
            attempts: tokio::sync::Mutex::new(Attempts::default()),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Fetch attempts made, and how many of them failed.
    pub(crate) fn fetches(&self) -> (u64, u64) {
        (
            self.finished.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The key `kid` names, fetching the set first when it is stale or lacks the kid and the
    /// refetch bound allows. `now` is read when it is needed, after any wait.
    pub(crate) async fn key(
        &self,
        kid: &str,
        now: impl Fn() -> i64,
    ) -> Result<Arc<VerificationKey>, VerifyError> {
        // Read before the keys: a fetch that finishes after this line moves it.
        let seen = self.finished.load(Ordering::SeqCst);
        let set = self.current();
        let found = set.keys.get(kid).cloned();
        if let Some(key) = &found {
            if now() < set.fresh_until {
                return Ok(Arc::clone(key));
            }
        }
        let error = self.refetch(seen, &now).await;
        match self.current().keys.get(kid) {
            Some(key) => Ok(Arc::clone(key)),
            // A kid the set lacks while accountd cannot be reached may be a new key: the token
            // cannot be judged, which is not the token's fault.
            None => Err(match error {
                Some(error) => VerifyError::KeysUnavailable(error),
                None => VerifyError::UnknownKey,
            }),
        }
    }

    /// Fetches now unless another fetch finished since `seen` or the last attempt is within the
    /// refetch interval. The error of the last attempt, if it failed.
    async fn refetch(&self, seen: u64, now: &impl Fn() -> i64) -> Option<FetchError> {
        let mut attempts = self.attempts.lock().await;
        let recent = attempts
            .last_at
            .is_some_and(|last| now().saturating_sub(last) < self.refetch_interval_millis);
        if self.finished.load(Ordering::SeqCst) != seen || recent {
            return attempts.last_error.clone();
        }
        self.fetch_holding(&mut attempts, now).await
    }

    /// Fetches now, or waits for the fetch in flight; the bound does not apply. For a service
    /// that wants its keys before it takes traffic.
    pub(crate) async fn refresh(&self, now: impl Fn() -> i64) -> Result<(), FetchError> {
        let seen = self.finished.load(Ordering::SeqCst);
        let mut attempts = self.attempts.lock().await;
        let error = if self.finished.load(Ordering::SeqCst) != seen {
            attempts.last_error.clone()
        } else {
            self.fetch_holding(&mut attempts, &now).await
        };
        error.map_or(Ok(()), Err)
    }

    async fn fetch_holding(
        &self,
        attempts: &mut Attempts,
        now: &impl Fn() -> i64,
    ) -> Option<FetchError> {
        let outcome = fetch::json(self.client.get(self.url.clone())).await;
        // Recorded once the fetch is over: a fetch whose request was cancelled midway (its
        // client went away) does not count, and the next waiter fetches instead.
        let fetched_at = now();
        attempts.last_at = Some(fetched_at);
        let error = match outcome
            .and_then(|(headers, body)| read_set(&body, fetched_at, freshness_seconds(&headers)))
        {
            Ok(set) => {
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
                None
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "fetching the JWK Set failed; keeping the keys held");
                self.failed.fetch_add(1, Ordering::SeqCst);
                Some(error)
            }
        };
        attempts.last_error = error.clone();
        self.finished.fetch_add(1, Ordering::SeqCst);
        error
    }
}

/// The keys of a JWK Set answer; keys of other types or curves are skipped.
fn read_set(body: &Value, now: i64, fresh_seconds: i64) -> Result<KeySet, FetchError> {
    let listed = body
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(FetchError::Body("not a JWK Set"))?;
    let mut keys = HashMap::new();
    for (kid, key) in listed
        .iter()
        .take(MAX_KEYS)
        .filter_map(VerificationKey::from_jwk)
    {
        // Where two keys share a kid, the first wins, as in accountd.
        keys.entry(kid).or_insert_with(|| Arc::new(key));
    }
    Ok(KeySet {
        keys,
        fresh_until: now.saturating_add(fresh_seconds.saturating_mul(1000)),
    })
}

/// Seconds the answer may be used: its `max-age` within [`FRESHNESS_BOUNDS_SECONDS`];
/// `no-store` and `no-cache` count as zero, an absent or unreadable value as the default.
fn freshness_seconds(headers: &reqwest::header::HeaderMap) -> i64 {
    let (shortest, longest) = FRESHNESS_BOUNDS_SECONDS;
    let mut seconds = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(name, argument)| {
                    (name.trim(), Some(argument.trim().trim_matches('"')))
                });
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                seconds = Some(0);
            } else if name.eq_ignore_ascii_case("max-age") && seconds.is_none() {
                // Digits only; a value too large for i64 is as good as the longest bound.
                seconds = argument
                    .filter(|digits| {
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    })
                    .map(|digits| digits.parse::<i64>().unwrap_or(i64::MAX));
            }
        }
    }
    seconds
        .unwrap_or(DEFAULT_FRESHNESS_SECONDS)
        .clamp(shortest, longest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(freshness_seconds(&headers(&["public, max-age=300"])), 300);
        assert_eq!(freshness_seconds(&headers(&["max-age=\"120\""])), 120);
        assert_eq!(freshness_seconds(&headers(&["MAX-AGE=45"])), 45);
        assert_eq!(freshness_seconds(&headers(&["max-age=0"])), 30);
        assert_eq!(freshness_seconds(&headers(&["max-age=86400"])), 3_600);
        assert_eq!(
            freshness_seconds(&headers(&["max-age=99999999999999999999999"])),
            3_600
        );
        assert_eq!(freshness_seconds(&headers(&["no-store"])), 30);
        assert_eq!(freshness_seconds(&headers(&["max-age=600, no-cache"])), 30);
        assert_eq!(freshness_seconds(&headers(&[])), 300);
        assert_eq!(freshness_seconds(&headers(&["max-age=-5"])), 300);
        assert_eq!(freshness_seconds(&headers(&["max-age=", "public"])), 300);
        assert_eq!(freshness_seconds(&headers(&["public", "max-age=60"])), 60);
    }

    #[test]
    fn a_set_keeps_the_readable_keys_and_the_first_of_a_kid() {
        use base64::Engine;
        let x = |seed: u8| {
            let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
        };
        let body = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": x(1)},
            {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": x(2)},
            {"kty": "oct", "kid": "b", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "c", "x": x(3)},
        ]});
        let set = read_set(&body, 1_000, 300).unwrap();
        let mut kids: Vec<&String> = set.keys.keys().collect();
        kids.sort();
        assert_eq!(kids, ["a", "c"]);
        assert_eq!(set.fresh_until, 301_000);
        use ed25519_dalek::Signer as _;
        let signature = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).sign(b"m");
        assert!(set.keys["a"].accepts(b"m", &signature.to_bytes()));
        for body in [
            serde_json::json!({}),
            serde_json::json!({"keys": {}}),
            serde_json::json!([]),
        ] {
            assert!(read_set(&body, 0, 300).is_err(), "{body}");
        }
        assert!(
            read_set(&serde_json::json!({"keys": []}), 0, 300)
                .unwrap()
                .keys
                .is_empty()
        );
    }
}
