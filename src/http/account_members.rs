//! Account members (§10): the users of the realm seen from the accounts side. Admins read them
//! all; an account holder reads only itself (§8.2). Created and deleted through user
//! authentication info, so there is no write here (`405`).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use uuid::Uuid;

use super::extract::{Ids, ListParams, Reader};
use super::response::{List, Single};
use super::validation::parse_uuid;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Entity, StoreError};
pub use crate::wire::AccountMemberData;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/account-members", get(list))
        .route("/v2/account-members/{account_member_id}", get(read))
}

pub fn account_member_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw).ok_or_else(|| ApiError::not_found(Entity::AccountMember))
}

/// Admins see every member; an account holder sees only itself.
async fn list(
    State(state): State<AppState>,
    reader: Reader,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let only = match &reader {
        Reader::Admin => None,
        Reader::AccountHolder(holder) => Some(holder.member_id()),
    };
    let page = state.store.list_users(&params.to_query()?, only).await?;
    let data = page
        .items
        .into_iter()
        .map(|user| AccountMemberData::new(&state.links, user))
        .collect();
    Ok(List::new(data, &state.url("/v2/account-members"), &params, page.total).ok())
}

/// Admins any member; an account holder only itself, even among its account's members.
async fn read(
    State(state): State<AppState>,
    reader: Reader,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let id = account_member_id(&raw_id)?;
    if let Reader::AccountHolder(holder) = &reader {
        if holder.member_id() != id {
            return Err(ApiError::not_found(Entity::AccountMember));
        }
    }
    let user = state.store.user(id).await.map_err(|error| match error {
        StoreError::NotFound(_) => ApiError::not_found(Entity::AccountMember),
        other => other.into(),
    })?;
    Ok(Single::ok(AccountMemberData::new(&state.links, user)))
}
