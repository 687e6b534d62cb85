//! Liveness through accountd's `POST /oauth/introspect` (RFC 7662): whether the token's member,
//! account and membership still exist and its member's tokens were not revoked since it was
//! issued (docs/account-tokens.md#liveness). Answers are cached for a short, bounded time under
//! the SHA-256 of the token, never the token itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::cache::ExpiringMap;
use crate::config::{Introspection, IntrospectionCredentials};
use crate::error::FetchError;
use crate::fetch;

/// What accountd answered about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Active {
        member_id: Uuid,
        account_id: Uuid,
        account_name: String,
    },
    Inactive,
}

pub(crate) struct Introspector {
    url: reqwest::Url,
    authorization: String,
    ttl_millis: i64,
    client: reqwest::Client,
    cache: Mutex<ExpiringMap<Answer>>,
    calls: AtomicU64,
    hits: AtomicU64,
}

impl Introspector {
    pub(crate) fn new(config: &Introspection, url: reqwest::Url, client: reqwest::Client) -> Self {
        let capacity = if config.cache_ttl.is_zero() {
            0
        } else {
            config.cache_entries
        };
        Self {
            url,
            authorization: authorization(&config.credentials),
            ttl_millis: crate::clock::millis(config.cache_ttl),
            client,
            cache: Mutex::new(ExpiringMap::new(capacity)),
            calls: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// Requests sent to accountd, and answers taken from the cache.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::SeqCst),
            self.hits.load(Ordering::SeqCst),
        )
    }

    /// accountd's answer about `token`, from the cache while it is fresh.
    pub(crate) async fn ask(
        &self,
        token: &str,
        now: impl Fn() -> i64,
    ) -> Result<Answer, FetchError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&digest, now());
        if let Some(answer) = cached {
            self.hits.fetch_add(1, Ordering::SeqCst);
            return Ok(answer);
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let asked_at = now();
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .form(&[("token", token)]);
        let (_, body) = fetch::json(request).await?;
        let answer = read_answer(&body)?;
        // The answer is as old as the question: it is reused until the TTL after it was asked.
        let deadline = asked_at.saturating_add(self.ttl_millis);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest, answer.clone(), deadline, now());
        Ok(answer)
    }
}

/// The `Authorization` header: HTTP Basic with the id and secret form-encoded first (RFC 6749,
/// section 2.3.1), as accountd decodes them, or the bearer token.
fn authorization(credentials: &IntrospectionCredentials) -> String {
    match credentials {
        IntrospectionCredentials::ApplicationKey {
            client_id,
            client_secret,
        } => {
            let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
            let pair = format!("{}:{}", encode(client_id), encode(client_secret));
            format!("Basic {}", STANDARD.encode(pair))
        }
        IntrospectionCredentials::BearerToken(token) => format!("Bearer {token}"),
    }
}

/// An RFC 7662 answer as accountd gives it: `{"active":false}`, or `active` with `sub`, `scope`
/// and `account_name`.
fn read_answer(body: &Value) -> Result<Answer, FetchError> {
    let not_accountd = FetchError::Body("not an introspection answer");
    match body.get("active").and_then(Value::as_bool) {
        Some(false) => Ok(Answer::Inactive),
        Some(true) => {
            let uuid = |name: &str| {
                body.get(name)
                    .and_then(Value::as_str)
                    .and_then(|text| Uuid::parse_str(text).ok())
            };
            let account_name = body.get("account_name").and_then(Value::as_str);
            match (uuid("sub"), uuid("scope"), account_name) {
                (Some(member_id), Some(account_id), Some(account_name)) => Ok(Answer::Active {
                    member_id,
                    account_id,
                    account_name: account_name.to_owned(),
                }),
                _ => Err(not_accountd),
            }
        }
        None => Err(not_accountd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let header = authorization(&IntrospectionCredentials::ApplicationKey {
            client_id: "my id".to_owned(),
            client_secret: "s:cret+x".to_owned(),
        });
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my%20id:s%3Acret%2Bx");
        assert_eq!(
            authorization(&IntrospectionCredentials::BearerToken("abc".to_owned())),
            "Bearer abc"
        );
    }

    #[test]
    fn answers_are_read_strictly() {
        let member = Uuid::new_v4();
        let account = Uuid::new_v4();
        assert_eq!(
            read_answer(&json!({"active": false})).unwrap(),
            Answer::Inactive
        );
        assert_eq!(
            read_answer(&json!({
                "active": true, "sub": member, "scope": account, "account_name": "Acme",
            }))
            .unwrap(),
            Answer::Active {
                member_id: member,
                account_id: account,
                account_name: "Acme".to_owned()
            }
        );
        for body in [
            json!({}),
            json!({"active": "true"}),
            json!({"active": true}),
            json!({"active": true, "sub": "x", "scope": account, "account_name": "A"}),
            json!({"active": true, "sub": member, "scope": account}),
            json!([]),
        ] {
            assert!(read_answer(&body).is_err(), "{body}");
        }
    }
}
