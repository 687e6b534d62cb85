//! What the password and OIDC profile-info resources share: both are collections under one
//! user (`…/user-authentication-info/{user_id}/<collection>`) and check that user the same way.
//! Their bodies, rules and callers differ and stay in `password_profile_info.rs` and
//! `oidc_profile_info.rs`.

use uuid::Uuid;

use super::extract::{Reader, path_id};
use super::realms::realm_url;
use super::user_authentication_info::own_user_id;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::Entity;

/// The user in the path: any for an Admin, only its own for an account holder; must exist.
pub async fn path_user(state: &AppState, reader: &Reader, raw: &str) -> ApiResult<Uuid> {
    let id = match reader {
        Reader::Admin => path_id(Entity::UserInfo, raw)?,
        Reader::AccountHolder(holder) => own_user_id(holder, raw)?,
    };
    state.store.user(id).await?;
    Ok(id)
}

/// The absolute URL of a user's `collection` (`user-authentication-password-profile-info`, …).
pub fn collection_url(state: &AppState, user: Uuid, collection: &str) -> String {
    realm_url(
        state,
        &format!("/user-authentication-info/{user}/{collection}"),
    )
}
