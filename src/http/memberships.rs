//! Account memberships (§11): the links between accounts and members. Admins manage them; an
//! account holder reads the memberships of its token's account (§8.2).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use uuid::Uuid;

use super::accounts::account_id;
use super::extract::{Admin, Ids, JsonBody, ListParams, Reader};
use super::response::{List, Single};
use super::validation::{Body, Input, Presence, parse_uuid};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Entity;
pub use crate::wire::MembershipData;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/accounts/{account_id}/account-memberships",
            get(list).post(create),
        )
        .route(
            "/v2/accounts/{account_id}/account-memberships/{membership_id}",
            get(read).put(update).delete(remove),
        )
}

fn membership_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw).ok_or_else(|| ApiError::not_found(Entity::Membership))
}

/// The account in the path, which must exist and, for an account holder, be its token's account.
async fn visible_account(state: &AppState, reader: &Reader, raw_id: &str) -> ApiResult<Uuid> {
    let id = account_id(raw_id)?;
    if let Reader::AccountHolder(holder) = reader {
        if holder.account_id() != id {
            return Err(ApiError::not_found(Entity::Account));
        }
    }
    state.store.account(id).await?;
    Ok(id)
}

/// Admins any account; an account holder its token's account (including other members).
async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Ids(raw_account_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let account = visible_account(&state, &reader, &raw_account_id).await?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    if params.include.is_some() {
        return Err(ApiError::bad_request(
            "Could not parse the supplied include",
        ));
    }
    let page = state
        .store
        .list_memberships(account, &params.to_query()?)
        .await?;
    let data = page
        .items
        .iter()
        .map(|membership| MembershipData::new(&state.links, membership))
        .collect();
    let url = state.url(&format!("/v2/accounts/{account}/account-memberships"));
    Ok(List::new(data, &url, &params, page.total).ok())
}

/// Admins any membership; an account holder those of its token's account.
async fn read(
    State(state): State<AppState>,
    reader: Reader,
    Ids((raw_account_id, raw_membership_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    let account = visible_account(&state, &reader, &raw_account_id).await?;
    let id = membership_id(&raw_membership_id)?;
    let membership = state.store.membership(account, id).await?;
    Ok(Single::ok(MembershipData::new(&state.links, &membership)))
}

/// Admins only.
async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_account_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let account = account_id(&raw_account_id)?;
    state.store.account(account).await?;
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account_membership"]);
    let member = fields.uuid("account_member_id", Presence::Required);
    fields.finish()?;
    let Input::Value(member) = member else {
        return Err(ApiError::internal("account_member_id checked above"));
    };
    let created = state
        .store
        .create_membership(account, member, state.clock.now())
        .await?;
    Ok(Single::created(MembershipData::new(&state.links, &created)))
}

/// Admins only. Changes nothing: Elastic Path uses this PUT only for custom fields (§11).
async fn update(
    State(state): State<AppState>,
    _admin: Admin,
    Ids((raw_account_id, raw_membership_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    let account = account_id(&raw_account_id)?;
    state.store.account(account).await?;
    let id = membership_id(&raw_membership_id)?;
    let membership = state.store.membership(account, id).await?;
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account_membership"]);
    match fields.uuid("account_member_id", Presence::Optional) {
        Input::Value(member) if member != membership.account_member_id => {
            fields.reject("account_member_id", "immutable");
        }
        _ => {}
    }
    fields.finish()?;
    Ok(Single::ok(MembershipData::new(&state.links, &membership)))
}

/// Admins only. Tokens scoped to the pair stop working at once (D8).
async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    Ids((raw_account_id, raw_membership_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    let account = account_id(&raw_account_id)?;
    state.store.account(account).await?;
    let id = membership_id(&raw_membership_id)?;
    state
        .store
        .delete_membership(account, id, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
