//! The JWT signing keys a running server holds (docs/account-tokens.md#signing-keys). Configured
//! keys are fixed for the life of the process; persisted keys can be rotated with `accountd keys
//! rotate` while replicas run, so a server reloads them every minute and at once (at most once a
//! second) when a token names a kid it does not know. Readers never wait: the key set is swapped
//! atomically.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;

use super::jwt::{AccountClaims, Expected, JwtKeys, TokenRejection};
use super::secret::{random_alphanumeric, random_bytes};
use crate::store::{Actor, NewAuditEvent, Store, StoreResult, StoredJwtKey};
use crate::time::Timestamp;

/// Generated secrets are printable so `accountd keys export` can hand them on verbatim.
const GENERATED_SECRET_CHARS: usize = 43;
/// An unknown kid triggers at most one reload per this interval, so forged kids cannot make
/// every request query the database.
const RELOAD_COOLDOWN_MILLIS: i64 = 1_000;

pub struct KeyRing {
    current: ArcSwap<JwtKeys>,
    persisted: bool,
    last_reload: AtomicI64,
}

impl KeyRing {
    pub fn new(keys: JwtKeys, persisted: bool) -> Self {
        Self {
            current: ArcSwap::from_pointee(keys),
            persisted,
            last_reload: AtomicI64::new(i64::MIN),
        }
    }

    pub fn active_kid(&self) -> String {
        self.current.load().active_kid().to_owned()
    }

    pub fn is_persisted(&self) -> bool {
        self.persisted
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
        if !self.persisted {
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
        if !self.persisted {
            return Ok(());
        }
        let stored = store.jwt_keys().await?;
        match keys_from_stored(&stored) {
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

/// The key set of the persisted keys, signing with the active one.
pub fn keys_from_stored(stored: &[StoredJwtKey]) -> Option<JwtKeys> {
    let active = stored.iter().find(|key| key.active)?;
    let keys: Vec<(String, Vec<u8>)> = stored
        .iter()
        .map(|key| (key.kid.clone(), key.secret.clone()))
        .collect();
    JwtKeys::new(&keys, &active.kid)
}

/// A new random key: a 16-hex-digit kid and a 43-character (about 256-bit) printable secret.
pub fn generate_key() -> StoredJwtKey {
    StoredJwtKey {
        kid: hex::encode(random_bytes::<8>()),
        secret: random_alphanumeric(GENERATED_SECRET_CHARS).into_bytes(),
        active: true,
    }
}

/// `accountd keys rotate`: a new active persisted key, recorded in the audit trail (as the
/// system's doing) in the same transaction.
pub async fn rotate(store: &dyn Store, now: Timestamp) -> StoreResult<StoredJwtKey> {
    let key = generate_key();
    let event = NewAuditEvent::new("jwt_key.created", Actor::SYSTEM)
        .subject(format!("jwt_key:{}", key.kid))
        .detail(serde_json::json!({"kid": key.kid, "active": true}));
    store.rotate_jwt_key(&key, now, &event).await?;
    Ok(key)
}

/// `accountd keys remove <kid>`: `false` when there is no such key; recorded in the audit trail
/// (as the system's doing) in the same transaction.
pub async fn remove(store: &dyn Store, kid: &str, now: Timestamp) -> StoreResult<bool> {
    let event = NewAuditEvent::new("jwt_key.deleted", Actor::SYSTEM)
        .subject(format!("jwt_key:{kid}"))
        .detail(serde_json::json!({"kid": kid}));
    store.remove_jwt_key(kid, now, &event).await
}
