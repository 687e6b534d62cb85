//! Account members: the users of the realm seen from the accounts side. Admins read them
//! all; an account holder reads only itself (docs/authentication.md#account-holder-scope). Created
//! and deleted through user authentication info, so there is no write here (`405`).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{Admin, Ids, ListParams, Reader, path_id};
use super::memberships::{bad_include, distinct};
use super::openapi::{BadRequest, Forbidden, IncludeQuery, ListQuery, NotFound, Unauthorized};
use super::response::{List, Single};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Entity, StoreError};
use crate::time::Timestamp;
pub use crate::wire::AccountMemberData;
use crate::wire::{AccountData, Included, Linked, MembershipData, SelfLink};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(memberships))
        .routes(routes!(revoke_tokens))
        .routes(routes!(lockout, clear_lockout))
}

/// Admins see every member; an account holder sees only itself.
#[utoipa::path(
    get, path = "/v2/account-members", tag = "account members",
    summary = "List account members",
    description = "Filters: email, name (eq, like, ilike); given_name, middle_name, family_name \
        (eq, like, ilike, is_null). Sort: created_at, email, id, name, updated_at.",
    params(ListQuery),
    responses((status = 200, body = List<AccountMemberData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
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
    Ok(List::of_page(
        page,
        |user| AccountMemberData::new(&state.links, user),
        &state.url("/v2/account-members"),
        &params,
    )
    .ok())
}

/// Admins any member; an account holder only itself, even among its account's members.
#[utoipa::path(
    get, path = "/v2/account-members/{account_member_id}", tag = "account members",
    summary = "Get an account member",
    params(("account_member_id" = Uuid, Path)),
    responses((status = 200, body = Single<AccountMemberData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    reader: Reader,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let id = visible_member(&state, &reader, &raw_id).await?;
    let user = state.store.user(id).await?;
    Ok(Single::ok(AccountMemberData::new(&state.links, user)))
}

/// The member in the path: any for an Admin, only itself for an account holder; must exist.
async fn visible_member(state: &AppState, reader: &Reader, raw_id: &str) -> ApiResult<Uuid> {
    let id = path_id(Entity::AccountMember, raw_id)?;
    if let Reader::AccountHolder(holder) = reader {
        if holder.member_id() != id {
            return Err(ApiError::not_found(Entity::AccountMember));
        }
    }
    state.store.user(id).await.map_err(|error| match error {
        StoreError::NotFound(_) => ApiError::not_found(Entity::AccountMember),
        other => other.into(),
    })?;
    Ok(id)
}

/// The reverse lookup: Admins see all of a member's memberships; an account holder only
/// its own membership in its token's account (docs/authentication.md#account-holder-scope).
#[utoipa::path(
    get, path = "/v2/account-members/{account_member_id}/account-memberships", tag = "account members",
    summary = "List a member's memberships",
    description = "Filter: account_member_id (eq, like). Sort: created_at, id, updated_at. \
        include=account adds included.accounts.",
    params(("account_member_id" = Uuid, Path), ListQuery, IncludeQuery),
    responses((status = 200, body = List<MembershipData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn memberships(
    State(state): State<AppState>,
    reader: Reader,
    Ids(raw_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let member = visible_member(&state, &reader, &raw_id).await?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let include_accounts = match params.include.as_deref() {
        None => false,
        Some("account" | "accounts") => true,
        Some(_) => return Err(bad_include()),
    };
    let only_account = match &reader {
        Reader::Admin => None,
        Reader::AccountHolder(holder) => Some(holder.account_id()),
    };
    let page = state
        .store
        .list_member_memberships(member, &params.to_query()?, only_account)
        .await?;
    let included = if include_accounts {
        let ids = distinct(page.items.iter().map(|membership| membership.account_id));
        let mut accounts = state.store.accounts_by_ids(&ids).await?;
        accounts.sort_by_key(|account| ids.iter().position(|id| *id == account.id));
        Some(Included {
            accounts: Some(
                accounts
                    .into_iter()
                    .map(|account| AccountData::new(&state.links, account))
                    .collect(),
            ),
            account_members: None,
        })
    } else {
        None
    };
    let data = page
        .items
        .iter()
        .map(|membership| MembershipData::new(&state.links, membership))
        .collect();
    let url = state.url(&format!("/v2/account-members/{member}/account-memberships"));
    Ok(List::new(data, &url, &params, page.total).with_included(included))
}

/// Admins only: every account token the member holds stops working at once
/// (docs/decisions.md#tokens-valid-after).
#[utoipa::path(
    delete, path = "/v2/account-members/{account_member_id}/tokens", tag = "account members",
    summary = "Revoke a member's account tokens",
    params(("account_member_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn revoke_tokens(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let member = path_id(Entity::AccountMember, &raw_id)?;
    state
        .store
        .revoke_account_tokens(
            member,
            state.clock.now(),
            &admin.audit.event("account_member.tokens_revoked"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Whether a member's password logins are locked now, and until when.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LockoutData {
    #[serde(rename = "type")]
    #[schema(example = "account_member_lockout")]
    kind: &'static str,
    /// Whether a backoff on any of the member's usernames holds now, at any address.
    locked: bool,
    /// When the last of those locks ends; `null` when none holds.
    locked_until: Option<Timestamp>,
    links: SelfLink,
}

impl Linked for LockoutData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

/// Admins only: whether the member is locked out now (docs/login.md#throttling): a backoff of one
/// of its usernames at some address. Address locks are not the member's and are not shown.
#[utoipa::path(
    get, path = "/v2/account-members/{account_member_id}/lockout", tag = "account members",
    summary = "Whether a member's logins are locked out",
    params(("account_member_id" = Uuid, Path)),
    responses((status = 200, body = Single<LockoutData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn lockout(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let id = visible_member(&state, &Reader::Admin, &raw_id).await?;
    let locked_until = state
        .store
        .member_locked_until(id, state.clock.now())
        .await?;
    Ok(Single::ok(LockoutData {
        kind: "account_member_lockout",
        locked: locked_until.is_some(),
        locked_until,
        links: SelfLink::new(state.url(&format!("/v2/account-members/{id}/lockout"))),
    }))
}

/// Admins only: clears the login throttle on every username key of the member's password
/// logins (docs/login.md#throttling). Address keys are not affected.
#[utoipa::path(
    delete, path = "/v2/account-members/{account_member_id}/lockout", tag = "account members",
    summary = "Clear a member's login lockout",
    params(("account_member_id" = Uuid, Path)),
    responses((status = 204, description = "Cleared"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn clear_lockout(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    state
        .store
        .clear_lockout(
            path_id(Entity::AccountMember, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("account_member.lockout_cleared"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
