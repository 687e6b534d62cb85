//! What the password and OIDC profile-info resources share: both are collections under one
//! user (`…/user-authentication-info/{user_id}/<collection>`), check that user the same way and
//! answer their lists the same way. Their bodies, rules and callers differ and stay in
//! `password_profile_info.rs` and `oidc_profile_info.rs`.

use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use super::extract::{ListParams, Reader, path_id};
use super::response::List;
use super::user_authentication_info::own_user_id;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{Entity, Page};

/// The user in the path: any for an Admin, only its own for an account holder; must exist.
pub async fn path_user(state: &AppState, reader: &Reader, raw: &str) -> ApiResult<Uuid> {
    let id = match reader {
        Reader::Admin => path_id(Entity::UserInfo, raw)?,
        Reader::AccountHolder(holder) => own_user_id(holder, raw)?,
    };
    state.store.user(id).await?;
    Ok(id)
}

/// The path of a user's `collection` (`user-authentication-password-profile-info`, …).
pub fn collection_path(state: &AppState, user: Uuid, collection: &str) -> String {
    format!(
        "/v2/authentication-realms/{}/user-authentication-info/{user}/{collection}",
        state.deployment.realm_id
    )
}

/// One page of a user's infos as the list response, each rendered by `data`.
pub fn list_response<T, D: Serialize>(
    state: &AppState,
    user: Uuid,
    collection: &str,
    params: &ListParams,
    page: Page<T>,
    data: impl Fn(T) -> D,
) -> Response {
    let items = page.items.into_iter().map(data).collect();
    let url = state.url(&collection_path(state, user, collection));
    List::new(items, &url, params, page.total).ok()
}
