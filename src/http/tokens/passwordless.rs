//! The `passwordless` mechanism: a one-time code the webhook delivered, exchanged for tokens
//! behind the same login guard as passwords.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::Login;
use super::fields::Fields;
use super::password::admit;
use crate::error::{ApiError, ApiResult};
use crate::store::{Actor, fold_case};

/// A one-time code exchanged for tokens (docs/login.md#one-time-codes). Every failure (OTP
/// disabled, unknown username, no outstanding code, expired, used, superseded or dead code, wrong
/// code) is the same `400` after the same argon2id work
/// (docs/decisions.md#same-answer-for-wrong-credentials).
pub(super) async fn passwordless(
    login: &Login<'_>,
    caller: Actor,
    data: &Map<String, Value>,
) -> ApiResult<Uuid> {
    let state = login.state;
    let mut fields = Fields::new(data);
    let profile_id = fields.profile_id();
    let username = fields.required_text("username");
    let code = fields.required_text("one_time_password_token");
    let (profile_id, username, code) = fields.finish((profile_id, username, code))?;
    let (hasher, guard) = admit(login, caller, profile_id, username).await?;
    let code = code.trim().to_lowercase();
    let checked = async {
        // The attempt is counted on the code before the hash is checked, so concurrent
        // guesses cannot exceed five per code; an attempt that then meets a full hash queue
        // (503) is spent all the same.
        let attempt = state
            .store
            .reserve_otp_attempt(profile_id, &fold_case(username), state.clock.now())
            .await?;
        let verification = hasher
            .verify(code, attempt.as_ref().map(|found| found.code_hash.clone()))
            .await?;
        let Some(attempt) = attempt.filter(|_| verification.matches) else {
            return Ok(None);
        };
        // Single use: of two exchanges of one code, only one consumes it.
        let consumed = state
            .store
            .consume_otp(attempt.code_id, state.clock.now())
            .await?;
        Ok::<_, ApiError>(consumed.then_some(attempt.user_id))
    }
    .await;
    match checked {
        Ok(Some(member_id)) => {
            guard.succeeded(member_id).await?;
            Ok(member_id)
        }
        Ok(None) => Err(guard.failed().await),
        Err(error) => {
            guard.release().await;
            Err(error)
        }
    }
}
