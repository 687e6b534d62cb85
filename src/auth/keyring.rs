//! The JWT signing keys a running server holds (docs/account-tokens.md#signing-keys). Configured
//! keys (HMAC secrets from the environment, PKCS#8 PEM files) are fixed for the life of the
//! process; persisted keys can be rotated with `accountd keys rotate` while replicas run, so a
//! server reloads them every minute and at once (at most once a second) when a token names a kid
//! it does not know. Readers never wait: the key set is swapped atomically.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;

use super::jwt::{AccountClaims, Expected, JwtKeys, KeyEntry, TokenRejection};
use super::signing_key::{JwtAlgorithm, KeyError, KeyMaterial};
use crate::config::{Config, JwtKeySource};
use crate::store::{Actor, NewAuditEvent, Store, StoreResult, StoredJwtKey};
use crate::time::Timestamp;

/// An unknown kid triggers at most one reload per this interval, so forged kids cannot make
/// every request query the database.
const RELOAD_COOLDOWN_MILLIS: i64 = 1_000;

/// Which keys a server holds, from its configuration: the configured ones, the one that signs,
/// and whether the database's keys take part.
#[derive(Debug, Clone)]
pub struct KeyPlan {
    pub algorithm: JwtAlgorithm,
    /// HMAC secrets from the environment and key pairs from PEM files, verifying for the life of
    /// the process.
    configured: Vec<KeyEntry>,
    /// The configured key that signs; `None` when the active persisted key does.
    configured_signer: Option<String>,
    /// Whether the persisted keys verify: when one of them signs, and under an asymmetric
    /// algorithm (whose PEM keys may replace persisted ones whose tokens are still out).
    uses_persisted: bool,
}

impl KeyPlan {
    pub fn from_config(config: &Config) -> Self {
        let mut configured: Vec<KeyEntry> = config.jwt_private_keys.clone();
        let mut hmac_signer = None;
        if let JwtKeySource::Configured { keys, active_kid } = &config.jwt_keys {
            configured.extend(keys.iter().map(|(kid, secret)| KeyEntry {
                kid: kid.clone(),
                material: KeyMaterial::Hmac(secret.expose().as_bytes().to_vec()),
                verifies_until: None,
            }));
            hmac_signer = Some(active_kid.clone());
        }
        let configured_signer = match config.jwt_algorithm {
            // Existing HMAC keys keep verifying under an asymmetric algorithm, but never sign.
            JwtAlgorithm::Hs256 => hmac_signer,
            JwtAlgorithm::EdDsa | JwtAlgorithm::Es256 => {
                config.jwt_private_keys.first().map(|key| key.kid.clone())
            }
        };
        Self {
            algorithm: config.jwt_algorithm,
            uses_persisted: configured_signer.is_none() || config.jwt_algorithm.is_asymmetric(),
            configured,
            configured_signer,
        }
    }

    /// Whether new tokens are signed by the persisted active key (which first start generates
    /// and `accountd keys rotate` replaces).
    pub fn signs_with_persisted(&self) -> bool {
        self.configured_signer.is_none()
    }

    pub fn uses_persisted(&self) -> bool {
        self.uses_persisted
    }

    /// The key set from the configured keys and `stored`; `None` without a signing key.
    pub fn assemble(&self, stored: &[StoredJwtKey]) -> Option<JwtKeys> {
        let mut entries = self.configured.clone();
        let mut active = self.configured_signer.clone();
        if self.uses_persisted {
            for key in stored {
                match KeyMaterial::from_stored(key.algorithm, &key.secret) {
                    Ok(material) => {
                        if key.active && active.is_none() {
                            active = Some(key.kid.clone());
                        }
                        entries.push(KeyEntry {
                            kid: key.kid.clone(),
                            material,
                            verifies_until: key.verifies_until,
                        });
                    }
                    Err(error) => tracing::error!(kid = %key.kid, %error, "skipping a JWT key"),
                }
            }
        }
        JwtKeys::from_entries(&entries, active.as_deref()?)
    }
}

pub struct KeyRing {
    current: ArcSwap<JwtKeys>,
    plan: KeyPlan,
    last_reload: AtomicI64,
}

impl KeyRing {
    pub fn new(keys: JwtKeys, plan: KeyPlan) -> Self {
        Self {
            current: ArcSwap::from_pointee(keys),
            plan,
            last_reload: AtomicI64::new(i64::MIN),
        }
    }

    pub fn active_kid(&self) -> String {
        self.current.load().active_kid().to_owned()
    }

    /// Whether the database's keys take part, so that rotations reach this server.
    pub fn is_persisted(&self) -> bool {
        self.plan.uses_persisted()
    }

    /// The public keys still verifying at `now`, as an RFC 7517 JWK Set.
    pub fn jwks(&self, now: Timestamp) -> serde_json::Value {
        self.current.load().jwks(now)
    }

    pub fn mint(&self, claims: &AccountClaims) -> Result<String, serde_json::Error> {
        self.current.load().mint(claims)
    }

    /// Verifies offline; a kid this process does not know reloads persisted keys once.
    pub async fn verify(
        &self,
        token: &str,
        expected: &Expected,
        store: &dyn Store,
    ) -> Result<AccountClaims, TokenRejection> {
        match self.current.load().verify(token, expected) {
            Err(TokenRejection::UnknownKey) if self.reload_allowed(expected.now) => {
                if let Err(error) = self.reload(store).await {
                    tracing::warn!(%error, "reloading the JWT keys failed");
                }
                self.current.load().verify(token, expected)
            }
            verdict => verdict,
        }
    }

    fn reload_allowed(&self, now: Timestamp) -> bool {
        if !self.plan.uses_persisted() {
            return false;
        }
        let last = self.last_reload.load(Ordering::Relaxed);
        now.millis().saturating_sub(last) >= RELOAD_COOLDOWN_MILLIS
            && self
                .last_reload
                .compare_exchange(last, now.millis(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Takes up the persisted keys as they are now; configured keys never change.
    pub async fn reload(&self, store: &dyn Store) -> StoreResult<()> {
        if !self.plan.uses_persisted() {
            return Ok(());
        }
        let stored = store.jwt_keys().await?;
        match self.plan.assemble(&stored) {
            Some(keys) => {
                self.current.store(Arc::new(keys));
                Ok(())
            }
            None => {
                tracing::error!("the database holds no active JWT key; keeping the current keys");
                Ok(())
            }
        }
    }
}

/// A new random key of `algorithm`, to persist as the active one: a key pair's kid is its
/// thumbprint, an HMAC secret's 16 random hex digits.
pub fn generate_key(algorithm: JwtAlgorithm) -> Result<StoredJwtKey, KeyError> {
    let material = KeyMaterial::generate(algorithm);
    Ok(StoredJwtKey {
        kid: material.new_kid(),
        secret: material.to_stored()?,
        active: true,
        algorithm,
        verifies_until: None,
    })
}

/// `accountd keys rotate`: a new active persisted key of `algorithm`, recorded in the audit
/// trail (as the system's doing) in the same transaction. The previous key is retired: it keeps
/// verifying until the tokens it signed have expired.
pub async fn rotate(
    store: &dyn Store,
    algorithm: JwtAlgorithm,
    now: Timestamp,
) -> StoreResult<StoredJwtKey> {
    let key = generate_key(algorithm)
        .map_err(|_| crate::store::StoreError::Unsupported("the new key cannot be encoded"))?;
    let event = NewAuditEvent::new("jwt_key.created", Actor::SYSTEM)
        .subject(format!("jwt_key:{}", key.kid))
        .detail(serde_json::json!({"kid": key.kid, "active": true, "alg": algorithm.as_str()}));
    store.rotate_jwt_key(&key, now, &event).await?;
    Ok(key)
}

/// What `accountd keys export` prints: under an asymmetric algorithm the public JWK Set, under
/// HS256 the persisted secrets still verifying, as `ACCOUNTD_JWT_KEYS` (and the active kid).
/// `None` when there is nothing to export.
pub fn export(plan: &KeyPlan, stored: &[StoredJwtKey], now: Timestamp) -> Option<String> {
    if plan.algorithm.is_asymmetric() {
        return Some(plan.assemble(stored)?.jwks(now).to_string());
    }
    let secrets: Vec<&StoredJwtKey> = stored
        .iter()
        .filter(|key| key.algorithm == JwtAlgorithm::Hs256)
        .filter(|key| key.verifies_until.is_none_or(|until| now < until))
        .collect();
    if secrets.is_empty() || !plan.signs_with_persisted() {
        return None;
    }
    let list = secrets
        .iter()
        .map(|key| format!("{}={}", key.kid, String::from_utf8_lossy(&key.secret)))
        .collect::<Vec<_>>()
        .join(",");
    let mut text = format!("ACCOUNTD_JWT_KEYS={list}");
    if let Some(active) = secrets.iter().find(|key| key.active) {
        text.push_str(&format!("\nACCOUNTD_JWT_ACTIVE_KID={}", active.kid));
    }
    Some(text)
}

/// `accountd keys remove <kid>`: `false` when there is no such key; recorded in the audit trail
/// (as the system's doing) in the same transaction.
pub async fn remove(store: &dyn Store, kid: &str, now: Timestamp) -> StoreResult<bool> {
    let event = NewAuditEvent::new("jwt_key.deleted", Actor::SYSTEM)
        .subject(format!("jwt_key:{kid}"))
        .detail(serde_json::json!({"kid": kid}));
    store.remove_jwt_key(kid, now, &event).await
}
