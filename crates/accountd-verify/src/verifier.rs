//! The verifier: the offline steps against the configured keys, then, when configured, liveness
//! through introspection.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::http::HeaderMap;
use uuid::Uuid;

use crate::claims::{self, Claims, Expected};
use crate::clock::{Clock, millis, unix_millis};
use crate::config::{Algorithm, Endpoints, VerifierBuilder};
use crate::error::VerifyError;
use crate::extract::account_token_header;
use crate::identity::AccountIdentity;
use crate::introspection::{Answer, Introspector};
use crate::jwks::JwksCache;
use crate::keys::VerificationKey;

/// Verifies account tokens. Cheap to clone: clones share the keys, the JWK Set cache and the
/// introspection cache.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    store_id: Uuid,
    realm_id: Uuid,
    hs256: HashMap<String, Arc<VerificationKey>>,
    /// The JWK Set and the algorithms its keys are accepted for.
    jwks: Option<(JwksCache, Vec<Algorithm>)>,
    introspection: Option<Introspector>,
    clock: Arc<dyn Clock>,
}

/// Counters of the requests a verifier made to accountd, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifierStats {
    /// Fetches of the JWK Set attempted.
    pub jwks_fetches: u64,
    /// Fetches of the JWK Set that failed.
    pub jwks_fetch_failures: u64,
    /// Introspection requests sent.
    pub introspections: u64,
    /// Introspection answers taken from the cache.
    pub introspection_cache_hits: u64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("store_id", &self.inner.store_id)
            .field("realm_id", &self.inner.realm_id)
            .field("hs256_kids", &self.inner.hs256.keys().collect::<Vec<_>>())
            .field(
                "jwks_algorithms",
                &self.inner.jwks.as_ref().map(|(_, algorithms)| algorithms),
            )
            .field("introspection", &self.inner.introspection.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts the configuration of a verifier for the deployment whose store id (its
    /// `ACCOUNTD_STORE_ID`, or the `store_id` claim of any of its tokens) and preset realm id
    /// (`GET /v2/authentication-realms`) are given: tokens of another deployment are refused.
    pub fn builder(store_id: Uuid, realm_id: Uuid) -> VerifierBuilder {
        VerifierBuilder::new(store_id, realm_id)
    }

    pub(crate) fn new(config: VerifierBuilder, endpoints: Endpoints) -> Self {
        let hs256 = config
            .hs256_keys
            .iter()
            .filter_map(|key| {
                let verification = VerificationKey::hmac(&key.secret)?;
                Some((key.kid.clone(), Arc::new(verification)))
            })
            .collect();
        let jwks = config
            .jwks
            .zip(endpoints.jwks)
            .map(|((_, algorithms), url)| {
                let interval = millis(config.refetch_interval);
                (
                    JwksCache::new(url, endpoints.client.clone(), interval),
                    algorithms,
                )
            });
        let introspection =
            config
                .introspection
                .zip(endpoints.introspection)
                .map(|(introspection, url)| {
                    Introspector::new(&introspection, url, endpoints.client.clone())
                });
        Self {
            inner: Arc::new(Inner {
                store_id: config.store_id,
                realm_id: config.realm_id,
                hs256,
                jwks,
                introspection,
                clock: config.clock,
            }),
        }
    }

    /// Verifies `token`: offline (structure, an accepted algorithm, the key its `kid` names,
    /// the signature, the claims, the expiry), then, when introspection is configured, whether
    /// accountd still holds it live.
    pub async fn verify(&self, token: &str) -> Result<AccountIdentity, VerifyError> {
        let claims = self.check_offline(token).await?;
        let Some(introspector) = &self.inner.introspection else {
            return Ok(self.identity(claims, None));
        };
        let answer = introspector
            .ask(token, || self.now())
            .await
            .map_err(|error| {
                tracing::warn!(%error, "introspection failed");
                VerifyError::IntrospectionUnavailable(error)
            })?;
        match answer {
            Answer::Active {
                member_id,
                account_id,
                account_name,
            } if member_id == claims.sub && account_id == claims.scope => {
                Ok(self.identity(claims, Some(account_name)))
            }
            // An active answer about another member or account is not about this token.
            Answer::Active { .. } => Err(VerifyError::IntrospectionUnavailable(
                crate::error::FetchError::Body("the answer is about another member or account"),
            )),
            Answer::Inactive => Err(VerifyError::Inactive),
        }
    }

    /// The offline steps only, even when introspection is configured: for reads where a
    /// token's staleness until `exp` is acceptable.
    pub async fn verify_offline(&self, token: &str) -> Result<AccountIdentity, VerifyError> {
        let claims = self.check_offline(token).await?;
        Ok(self.identity(claims, None))
    }

    /// Verifies the account token header of a request: missing is [`VerifyError::Missing`],
    /// sent twice or not text is [`VerifyError::Malformed`]; surrounding spaces are ignored.
    pub async fn verify_headers(
        &self,
        headers: &HeaderMap,
    ) -> Result<AccountIdentity, VerifyError> {
        match account_token_header(headers) {
            None => Err(VerifyError::Missing),
            Some(None) => Err(VerifyError::Malformed),
            Some(Some(token)) => self.verify(token).await,
        }
    }

    /// Fetches the JWK Set now (or waits for the fetch in flight), whatever the refetch bound:
    /// for a service that wants its keys before it takes traffic. Without a JWK Set, nothing
    /// to do.
    pub async fn refresh_keys(&self) -> Result<(), VerifyError> {
        match &self.inner.jwks {
            Some((cache, _)) => cache
                .refresh(|| self.now())
                .await
                .map_err(VerifyError::KeysUnavailable),
            None => Ok(()),
        }
    }

    /// What this verifier has asked accountd so far.
    pub fn stats(&self) -> VerifierStats {
        let (jwks_fetches, jwks_fetch_failures) = self
            .inner
            .jwks
            .as_ref()
            .map_or((0, 0), |(cache, _)| cache.fetches());
        let (introspections, introspection_cache_hits) = self
            .inner
            .introspection
            .as_ref()
            .map_or((0, 0), Introspector::counts);
        VerifierStats {
            jwks_fetches,
            jwks_fetch_failures,
            introspections,
            introspection_cache_hits,
        }
    }

    fn now(&self) -> i64 {
        unix_millis(self.inner.clock.now())
    }

    fn accepts(&self, algorithm: Algorithm) -> bool {
        match algorithm {
            Algorithm::Hs256 => !self.inner.hs256.is_empty(),
            Algorithm::EdDsa | Algorithm::Es256 => self
                .inner
                .jwks
                .as_ref()
                .is_some_and(|(_, algorithms)| algorithms.contains(&algorithm)),
        }
    }

    async fn check_offline(&self, token: &str) -> Result<Claims, VerifyError> {
        let parts = claims::split(token, |algorithm| self.accepts(algorithm))?;
        let key = match (self.inner.hs256.get(&parts.kid), &self.inner.jwks) {
            (Some(key), _) => Arc::clone(key),
            (None, Some((cache, _))) => cache.key(&parts.kid, || self.now()).await?,
            (None, None) => return Err(VerifyError::UnknownKey),
        };
        // The key decides the algorithm, never the token: an HS256 token whose HMAC was keyed
        // with a published public key names that key pair's kid, and is refused here.
        if key.algorithm() != parts.algorithm {
            return Err(VerifyError::AlgorithmMismatch);
        }
        if !key.accepts(parts.signing_input.as_bytes(), &parts.signature) {
            return Err(VerifyError::BadSignature);
        }
        let expected = Expected {
            store_id: self.inner.store_id,
            realm_id: self.inner.realm_id,
            now_millis: self.now(),
        };
        claims::check(parts.payload, &expected)
    }

    fn identity(&self, claims: Claims, account_name: Option<String>) -> AccountIdentity {
        AccountIdentity {
            account_id: claims.scope,
            account_member_id: claims.sub,
            confirmed_live: account_name.is_some(),
            account_name,
            expires: claims.expires,
            issued_at: claims.issued_at,
            auth_time: claims.authenticated_at,
            store_id: claims.store_id,
            jti: claims.jti,
            ancestors: claims.ancestors,
        }
    }
}
