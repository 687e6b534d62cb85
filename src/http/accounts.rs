//! Accounts: Admins manage them; an account holder reads only the account its token is
//! scoped to, and every other id answers `404` so nothing leaks
//! (docs/authentication.md#account-holder-scope).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::rules::{Id, Text};
use super::body::{Nullable, Optional, Required, request_body};
use super::extract::caller::HolderOr;
use super::extract::{Admin, Ids, JsonBody, ListParams, Reader, path_id};
use super::openapi::{BadRequest, Conflict, Forbidden, ListQuery, NotFound, Unauthorized};
use super::response::{List, Single};
use super::validation::parse_uuid;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Account, AccountPatch, Entity, NewAccount};
pub use crate::wire::AccountData;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// An account as created.
    pub struct AccountCreate {
        type: ["account"],
        name: Required<Text<1, 255>>,
        legal_name: Nullable<Text<0, 255>>,
        registration_id: Nullable<Text<0, 63>>,
        external_ref: Nullable<Text<0, 2048>>,
        /// The parent account; it cannot change afterwards.
        parent_id: Nullable<Id>,
    }
}

request_body! {
    /// An account as updated: absent fields keep their value, `null` clears a nullable one.
    pub struct AccountUpdate {
        type: ["account"],
        name: Optional<Text<1, 255>>,
        legal_name: Nullable<Text<0, 255>>,
        registration_id: Nullable<Text<0, 63>>,
        external_ref: Nullable<Text<0, 2048>>,
        /// Immutable: accepted only when it repeats the current parent.
        parent_id: Nullable<Id>,
    }
}

/// Admins see every account; an account holder sees only its token's account.
#[utoipa::path(
    get, path = "/v2/accounts", tag = "accounts",
    summary = "List accounts",
    description = "Filters: id (eq, in, lt, le, gt, ge), parent_id (eq, in), created_at and updated_at (eq, lt, le, gt, ge), \
        name, legal_name, registration_id, external_ref (eq, like, ilike). Sort: created_at, id, name, updated_at.",
    params(ListQuery),
    responses((status = 200, body = List<AccountData>), BadRequest, Unauthorized, Forbidden),
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
        Reader::AccountHolder(holder) => Some(holder.account_id()),
    };
    let page = state.store.list_accounts(&params.to_query()?, only).await?;
    Ok(List::of_page(
        page,
        |account| AccountData::new(&state.links, account),
        &state.url("/v2/accounts"),
        &params,
    )
    .ok())
}

/// Admins any account; an account holder only its token's account.
#[utoipa::path(
    get, path = "/v2/accounts/{account_id}", tag = "accounts",
    summary = "Get an account",
    params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Single<AccountData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    caller: HolderOr<Reader>,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let reader = match caller {
        HolderOr::Holder(holder) => {
            // The storefront's hottest read: bearer check, token liveness and the read in one
            // statement (docs/account-tokens.md#one-statement-for-the-hot-reads); `confirm` answers
            // in the order of checks (docs/http-conventions.md#order-of-checks).
            let id = parse_uuid(&raw_id);
            let view = state
                .store
                .account_as_holder(holder.check(), id.unwrap_or_default())
                .await?;
            holder.confirm(view.bearer, view.live)?;
            return match (id, view.account) {
                (Some(id), Some(account)) if id == holder.check().token_account_id => {
                    Ok(Single::ok(AccountData::new(&state.links, account)))
                }
                _ => Err(ApiError::not_found(Entity::Account)),
            };
        }
        HolderOr::Other(reader) => reader,
    };
    let account = visible_account(&state, &reader, &raw_id).await?;
    Ok(Single::ok(AccountData::new(&state.links, account)))
}

/// The account in the path, which must exist and, for an account holder, be its token's account:
/// any other id answers `404` (docs/authentication.md#account-holder-scope).
pub async fn visible_account(
    state: &AppState,
    reader: &Reader,
    raw_id: &str,
) -> ApiResult<Account> {
    let id = path_id(Entity::Account, raw_id)?;
    if let Reader::AccountHolder(holder) = reader {
        if holder.account_id() != id {
            return Err(ApiError::not_found(Entity::Account));
        }
    }
    Ok(state.store.account(id).await?)
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/accounts", tag = "accounts",
    summary = "Create an account",
    request_body = AccountCreate,
    responses((status = 201, body = Single<AccountData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = AccountCreate::parse(&body.parse()?)?;
    let account = NewAccount {
        name: body.name,
        legal_name: body.legal_name.flatten(),
        registration_id: body.registration_id.flatten(),
        external_ref: body.external_ref.flatten(),
        parent_id: body.parent_id.flatten(),
    };
    let created = state
        .store
        .create_account(
            &account,
            state.clock.now(),
            &admin.audit.event("account.created"),
        )
        .await?;
    Ok(Single::created(AccountData::new(&state.links, created)))
}

/// Admins only; account holders get `403`
/// (docs/decisions.md#account-holders-read-never-write-accounts).
#[utoipa::path(
    put, path = "/v2/accounts/{account_id}", tag = "accounts",
    summary = "Update an account",
    params(("account_id" = Uuid, Path)),
    request_body = AccountUpdate,
    responses((status = 200, body = Single<AccountData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let id = path_id(Entity::Account, &raw_id)?;
    let current = state.store.account(id).await?;
    let mut body = AccountUpdate::read(&body.parse()?)?;
    if matches!(body.fields.parent_id, Ok(Some(parent)) if parent != current.parent_id) {
        body.reject("parent_id", "immutable");
    }
    let body = body.finish()?;
    let patch = AccountPatch {
        name: body.name,
        legal_name: body.legal_name,
        registration_id: body.registration_id,
        external_ref: body.external_ref,
    };
    let updated = state
        .store
        .update_account(
            id,
            &patch,
            state.clock.now(),
            &admin.audit.event("account.updated"),
        )
        .await?;
    Ok(Single::ok(AccountData::new(&state.links, updated)))
}

/// Admins only. Refused while the account has children; its memberships go with it.
#[utoipa::path(
    delete, path = "/v2/accounts/{account_id}", tag = "accounts",
    summary = "Delete an account",
    params(("account_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let id = path_id(Entity::Account, &raw_id)?;
    state
        .store
        .delete_account(id, state.clock.now(), &admin.audit.event("account.deleted"))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
