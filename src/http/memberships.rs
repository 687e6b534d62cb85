//! Account memberships: the links between accounts and members. Admins manage them; an
//! account holder reads the memberships of its token's account
//! (docs/authentication.md#account-holder-scope).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::accounts::visible_account;
use super::body::rules::Id;
use super::body::{Optional, Required, request_body};
use super::extract::list::include_param;
use super::extract::{Admin, Ids, JsonBody, ListParams, Reader, path_id};
use super::openapi::{
    BadRequest, Conflict, Forbidden, IncludeQuery, ListQuery, NotFound, Unauthorized, Unprocessable,
};
use super::response::{List, Single};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Entity, Membership};
pub use crate::wire::MembershipData;
use crate::wire::{AccountMemberData, Included};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(unassigned))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// A membership as created.
    pub struct MembershipCreate {
        type: ["account_membership"],
        account_member_id: Required<Id>,
    }
}

request_body! {
    /// A membership as updated: nothing changes; `account_member_id` may only repeat the member.
    pub struct MembershipUpdate {
        type: ["account_membership"],
        account_member_id: Optional<Id>,
    }
}

/// Admins any account; an account holder its token's account (including other members).
#[utoipa::path(
    get, path = "/v2/accounts/{account_id}/account-memberships", tag = "accounts",
    summary = "List an account's memberships",
    description = "Filter: account_member_id (eq, like). Sort: created_at, id, updated_at. \
        include=account_member adds included.account_members.",
    params(("account_id" = Uuid, Path), ListQuery, IncludeQuery),
    responses((status = 200, body = List<MembershipData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Ids(raw_account_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let account = visible_account(&state, &reader, &raw_account_id).await?.id;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let include = wants_members(params.include.as_deref())?;
    let page = state
        .store
        .list_memberships(account, &params.to_query()?)
        .await?;
    let data = page
        .items
        .iter()
        .map(|membership| MembershipData::new(&state.links, membership))
        .collect();
    let included = match include {
        true => Some(included_members(&state, &page.items).await?),
        false => None,
    };
    let url = state.url(&format!("/v2/accounts/{account}/account-memberships"));
    Ok(List::new(data, &url, &params, page.total).with_included(included))
}

/// `include=account_member`, or the SDK's spelling `account_members`
/// (docs/http-conventions.md#includes).
fn wants_members(include: Option<&str>) -> ApiResult<bool> {
    match include {
        None => Ok(false),
        Some("account_member" | "account_members") => Ok(true),
        Some(_) => Err(bad_include()),
    }
}

pub fn bad_include() -> ApiError {
    ApiError::bad_request("Could not parse the supplied include")
}

/// Ids in the order they first appear, each once.
pub fn distinct(ids: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// The members of `memberships`, each once, in the order they first appear.
async fn included_members(state: &AppState, memberships: &[Membership]) -> ApiResult<Included> {
    let ids = distinct(
        memberships
            .iter()
            .map(|membership| membership.account_member_id),
    );
    let mut users = state.store.users_by_ids(&ids).await?;
    users.sort_by_key(|user| ids.iter().position(|id| *id == user.id));
    Ok(Included {
        account_members: Some(
            users
                .into_iter()
                .map(|user| AccountMemberData::new(&state.links, user))
                .collect(),
        ),
        accounts: None,
    })
}

/// Admins any membership; an account holder those of its token's account.
#[utoipa::path(
    get, path = "/v2/accounts/{account_id}/account-memberships/{membership_id}", tag = "accounts",
    summary = "Get a membership",
    params(("account_id" = Uuid, Path), ("membership_id" = Uuid, Path), IncludeQuery),
    responses((status = 200, body = Single<MembershipData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    reader: Reader,
    Ids((raw_account_id, raw_membership_id)): Ids<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let account = visible_account(&state, &reader, &raw_account_id).await?.id;
    let id = path_id(Entity::Membership, &raw_membership_id)?;
    let membership = state.store.membership(account, id).await?;
    let include = include_param(query.as_deref())?;
    let included = match wants_members(include.as_deref())? {
        true => Some(included_members(&state, std::slice::from_ref(&membership)).await?),
        false => None,
    };
    Ok(Single::new(MembershipData::new(&state.links, &membership)).with_included(included))
}

/// Admins only: the list exposes other people's names and emails
/// (docs/authentication.md#permission-matrix). Items are account members without a membership in
/// the account.
#[utoipa::path(
    get, path = "/v2/accounts/{account_id}/account-memberships/unassigned-account-members", tag = "accounts",
    summary = "List members outside an account",
    description = "Filters: email, name (eq, like, ilike). Sort as account members.",
    params(("account_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = List<AccountMemberData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn unassigned(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_account_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let account = visible_account(&state, &Reader::Admin, &raw_account_id)
        .await?
        .id;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state
        .store
        .list_unassigned_members(account, &params.to_query()?)
        .await?;
    let url = state.url(&format!(
        "/v2/accounts/{account}/account-memberships/unassigned-account-members"
    ));
    Ok(List::of_page(
        page,
        |user| AccountMemberData::new(&state.links, user),
        &url,
        &params,
    )
    .ok())
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/accounts/{account_id}/account-memberships", tag = "accounts",
    summary = "Add a member to an account",
    params(("account_id" = Uuid, Path)),
    request_body = MembershipCreate,
    responses((status = 201, body = Single<MembershipData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_account_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let account = visible_account(&state, &Reader::Admin, &raw_account_id)
        .await?
        .id;
    let member = MembershipCreate::parse(&body.parse()?)?.account_member_id;
    let created = state
        .store
        .create_membership(
            account,
            member,
            state.clock.now(),
            &admin.audit.event("membership.created"),
        )
        .await?;
    Ok(Single::created(MembershipData::new(&state.links, &created)))
}

/// Admins only. Changes nothing: Elastic Path uses this PUT only for custom fields.
#[utoipa::path(
    put, path = "/v2/accounts/{account_id}/account-memberships/{membership_id}", tag = "accounts",
    summary = "Update a membership (no-op)",
    params(("account_id" = Uuid, Path), ("membership_id" = Uuid, Path)),
    request_body = MembershipUpdate,
    responses((status = 200, body = Single<MembershipData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_account_id, raw_membership_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    let account = visible_account(&state, &Reader::Admin, &raw_account_id)
        .await?
        .id;
    let id = path_id(Entity::Membership, &raw_membership_id)?;
    let membership = state.store.membership(account, id).await?;
    let mut body = MembershipUpdate::read(&body.parse()?)?;
    if matches!(body.fields.account_member_id, Ok(Some(member)) if member != membership.account_member_id)
    {
        body.reject("account_member_id", "immutable");
    }
    body.finish()?;
    // Nothing changes, but the request succeeded: it is recorded like every other write.
    state
        .store
        .append_audit_event(&admin.audit.event("membership.updated"), state.clock.now())
        .await?;
    Ok(Single::ok(MembershipData::new(&state.links, &membership)))
}

/// Admins only. Tokens scoped to the pair stop working at once (docs/decisions.md#live-tokens).
#[utoipa::path(
    delete, path = "/v2/accounts/{account_id}/account-memberships/{membership_id}", tag = "accounts",
    summary = "Remove a membership",
    params(("account_id" = Uuid, Path), ("membership_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_account_id, raw_membership_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    let account = visible_account(&state, &Reader::Admin, &raw_account_id)
        .await?
        .id;
    let id = path_id(Entity::Membership, &raw_membership_id)?;
    state
        .store
        .delete_membership(
            account,
            id,
            state.clock.now(),
            &admin.audit.event("membership.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
