//! What an account holder must satisfy to change its own records: the self-management setting,
//! and, for a change that could take the account over (a new password, username or email), a
//! token whose credential check is recent. Both are checked before the body is validated.

use axum::http::StatusCode;
use serde_json::Value;

use super::extract::AccountHolder;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::SelfManagement;

pub const REAUTHENTICATION_REQUIRED: &str = "re-authentication required";

/// Self-management is decided by the current setting, not the token's claim, so turning it off
/// takes effect at once for tokens already issued.
pub async fn require_self_management(state: &AppState) -> ApiResult<()> {
    let settings = state.store.auth_settings().await?;
    match settings.account_member_self_management {
        SelfManagement::UpdateOnly => Ok(()),
        SelfManagement::Disabled => Err(ApiError::forbidden()),
    }
}

/// A sensitive change needs a token whose `auth_time` lies at most
/// `ACCOUNTD_SENSITIVE_ACTION_MAX_AGE` seconds back. A switch copies `auth_time`, so a stolen
/// token stays as stale as it was however often it is switched; a token without the claim is
/// never fresh.
pub fn require_fresh_credentials(
    state: &AppState,
    holder: &AccountHolder,
    sensitive: bool,
) -> ApiResult<()> {
    if !sensitive {
        return Ok(());
    }
    let max_age = i64::try_from(state.config.sensitive_action_max_age).unwrap_or(i64::MAX);
    let now = state.clock.now().seconds();
    let fresh = holder
        .claims
        .auth_time
        .is_some_and(|auth_time| now.saturating_sub(auth_time) <= max_age);
    if fresh {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            REAUTHENTICATION_REQUIRED,
        ))
    }
}

/// What a body asks to change, read before it is validated (an unparseable body or one without
/// a `data` object asks for nothing; its validation answers later).
pub struct RequestedChange<'a>(Option<&'a serde_json::Map<String, Value>>);

impl<'a> RequestedChange<'a> {
    pub fn of(body: Option<&'a Value>) -> Self {
        Self(
            body.and_then(|body| body.get("data"))
                .and_then(Value::as_object),
        )
    }

    /// The body carries the field at all (a `password` is always a change).
    pub fn carries(&self, field: &str) -> bool {
        self.0.is_some_and(|data| data.contains_key(field))
    }

    /// The body carries the field with anything but the stored text; `null` asks for no change.
    pub fn changes(&self, field: &str, stored: &str) -> bool {
        match self.0.and_then(|data| data.get(field)) {
            None | Some(Value::Null) => false,
            Some(Value::String(text)) => text != stored,
            Some(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_new_value_is_a_change() {
        let body = json!({"data": {"username": "same", "email": "new@example.com", "name": "N"}});
        let change = RequestedChange::of(Some(&body));
        assert!(!change.changes("username", "same"));
        assert!(change.changes("email", "old@example.com"));
        assert!(!change.changes("email", "new@example.com"));
        assert!(!change.carries("password"));
        let with_password = json!({"data": {"password": "whatever it is"}});
        assert!(RequestedChange::of(Some(&with_password)).carries("password"));
        let wrong_type = json!({"data": {"email": 7}});
        assert!(RequestedChange::of(Some(&wrong_type)).changes("email", "7"));
        assert!(!RequestedChange::of(None).carries("password"));
        assert!(!RequestedChange::of(Some(&json!([1]))).changes("email", "x"));
    }
}
