//! The `password` mechanism: a username and password against a password profile, behind the
//! login guard and on the hash pool.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::Login;
use super::fields::Fields;
use crate::auth::login_guard::LoginGuard;
use crate::auth::password::{ClientHasher, MAX_PASSWORD_BYTES};
use crate::auth::throttle::MAX_USERNAME_BYTES;
use crate::error::{ApiError, ApiResult};
use crate::store::{Actor, LoginCandidate, fold_case};

/// Username and password against a password profile (docs/login.md#password).
pub(super) async fn password(
    login: &Login<'_>,
    caller: Actor,
    data: &Map<String, Value>,
) -> ApiResult<Uuid> {
    let state = login.state;
    let mut fields = Fields::new(data);
    let profile_id = fields.profile_id();
    let username = fields.required_text("username");
    let password = fields.required_text("password");
    let (profile_id, username, password) = fields.finish((profile_id, username, password))?;
    let (hasher, guard) = admit(login, caller, profile_id, username).await?;
    if password.len() > MAX_PASSWORD_BYTES {
        // Refused without spending a hash on it, but counted like any wrong password.
        return Err(guard.failed().await);
    }
    let checked = async {
        let candidate = state
            .store
            .find_login(profile_id, &fold_case(username))
            .await?;
        let verification = hasher
            .verify(
                password.to_owned(),
                candidate.as_ref().map(|found| found.password_hash.clone()),
            )
            .await?;
        Ok::<_, ApiError>((candidate, verification))
    }
    .await;
    let (candidate, verification) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            guard.release().await;
            return Err(error);
        }
    };
    let Some(found) = candidate.filter(|_| verification.matches) else {
        return Err(guard.failed().await);
    };
    guard.succeeded(found.user_id).await?;
    if verification.needs_rehash {
        replace_hash(login, &hasher, &found, password).await;
    }
    Ok(found.user_id)
}

/// Replaces a hash made with older parameters or in a legacy format by accountd's argon2id
/// (docs/login.md#legacy-password-hashes). The login has succeeded already: a busy pool or a
/// failed write leaves the old hash for the next login instead of refusing this one.
async fn replace_hash(
    login: &Login<'_>,
    hasher: &ClientHasher<'_>,
    found: &LoginCandidate,
    password: &str,
) {
    let replaced = async {
        let upgraded = hasher.hash(password.to_owned()).await?;
        login
            .state
            .store
            .upgrade_password_hash(
                found.password_profile_info_id,
                &found.password_hash,
                &upgraded,
            )
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = replaced {
        tracing::warn!(
            ?error,
            "a password hash was left for the next login to replace"
        );
    }
}

/// What a password and a one-time code go through before their own check, in this order:
/// a username longer than any that can be stored fails like a wrong password before any store
/// work (no hash, no throttle or audit row, so long usernames cannot fill the disk); an
/// overloaded hash pool answers `503` before the throttle and user look-ups a refused hash would
/// waste; then the login guard admits the attempt or answers `429` (codes count on the same keys
/// as passwords).
pub(super) async fn admit<'a>(
    login: &Login<'a>,
    caller: Actor,
    profile_id: Uuid,
    username: &str,
) -> ApiResult<(ClientHasher<'a>, LoginGuard<'a>)> {
    if username.len() > MAX_USERNAME_BYTES {
        return Err(ApiError::authentication_failed());
    }
    let hasher = login.state.hasher.for_client(login.client.bucket());
    hasher.refuse_if_full()?;
    let guard = LoginGuard::admit(
        login.state,
        login.client,
        caller,
        login.mechanism,
        profile_id,
        username,
    )
    .await?;
    Ok((hasher, guard))
}
