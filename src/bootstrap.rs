//! First start (docs/operations.md#first-start): the store id, the preset realm and settings, the
//! JWT signing key and the bootstrap application key, created together in one transaction by
//! whichever replica gets there first; later starts and other replicas read what exists.

use uuid::Uuid;

use crate::auth::jwt::JwtKeys;
use crate::auth::keyring::{KeyPlan, generate_key, rotate};
use crate::auth::secret::{Secret, random_alphanumeric, sha256};
use crate::config::Config;
use crate::store::{BootstrapPlan, Deployment, FirstStart, Store, StoreError};
use crate::time::Timestamp;

/// Length of generated client ids and secrets: about 250 bits each
/// (docs/authentication.md#application-keys).
const GENERATED_KEY_CHARS: usize = 42;
/// Below this a configured bootstrap secret is accepted but warned about
/// (docs/authentication.md#application-keys).
const WEAK_BOOTSTRAP_SECRET_CHARS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no usable JWT signing key: the configured or stored active key is missing")]
    NoSigningKey,
    #[error("the new JWT signing key cannot be encoded")]
    KeyGeneration,
}

/// What first start produced.
pub struct Bootstrapped {
    pub deployment: Deployment,
    pub keys: JwtKeys,
    /// Which keys the server holds, for its key ring's reloads.
    pub key_plan: KeyPlan,
    /// The application key this start generated, to be shown once; `None` when configured or
    /// when one already existed.
    pub generated_client: Option<(String, Secret)>,
}

pub async fn run(
    store: &dyn Store,
    config: &Config,
    now: Timestamp,
) -> Result<Bootstrapped, BootstrapError> {
    let key_plan = KeyPlan::from_config(config);
    let generated_jwt_key = if key_plan.signs_with_persisted() {
        Some(generate_key(key_plan.algorithm).map_err(|_| BootstrapError::KeyGeneration)?)
    } else {
        None
    };
    let (bootstrap_key, generated) = match &config.bootstrap_key {
        Some(key) => {
            if key.client_secret.expose().chars().count() < WEAK_BOOTSTRAP_SECRET_CHARS {
                tracing::warn!(
                    "ACCOUNTD_CLIENT_SECRET is shorter than {WEAK_BOOTSTRAP_SECRET_CHARS} characters"
                );
            }
            let plan = BootstrapPlan::Configured {
                client_id: key.client_id.clone(),
                secret_hash: sha256(key.client_secret.expose().as_bytes()),
            };
            (plan, None)
        }
        None => {
            let client_id = random_alphanumeric(GENERATED_KEY_CHARS);
            let secret = Secret::new(random_alphanumeric(GENERATED_KEY_CHARS));
            let plan = BootstrapPlan::GenerateIfNone {
                client_id: client_id.clone(),
                secret_hash: sha256(secret.expose().as_bytes()),
            };
            (plan, Some((client_id, secret)))
        }
    };
    let plan = FirstStart {
        configured_store_id: config.store_id,
        new_store_id: Uuid::new_v4(),
        new_realm_id: Uuid::new_v4(),
        new_auth_settings_id: Uuid::new_v4(),
        new_membership_settings_id: Uuid::new_v4(),
        generated_jwt_key,
        bootstrap_key,
        now,
    };
    let initialised = store.initialise(&plan).await?;
    let mut stored = initialised.jwt_keys;
    let active_algorithm = stored
        .iter()
        .find(|key| key.active)
        .map(|key| key.algorithm);
    if key_plan.signs_with_persisted()
        && active_algorithm.is_some_and(|algorithm| algorithm != key_plan.algorithm)
    {
        // ACCOUNTD_JWT_ALG changed: a key of the new algorithm signs from now on, and the old
        // one verifies the tokens it signed until they expire, as after `accountd keys rotate`.
        let key = rotate(store, key_plan.algorithm, now).await?;
        tracing::info!(kid = %key.kid, alg = %key_plan.algorithm, "new JWT signing key for ACCOUNTD_JWT_ALG");
        stored = store.jwt_keys().await?;
    }
    let keys = key_plan
        .assemble(&stored)
        .ok_or(BootstrapError::NoSigningKey)?;
    Ok(Bootstrapped {
        deployment: initialised.deployment,
        keys,
        key_plan,
        generated_client: generated.filter(|_| initialised.generated_bootstrap_key),
    })
}
