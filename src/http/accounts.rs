//! Accounts: Admins manage them; an account holder reads only the account its token is
//! scoped to, and every other id answers `404` so nothing leaks
//! (docs/authentication.md#account-holder-scope).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::caller::HolderOr;
use super::extract::{Admin, Ids, JsonBody, ListParams, Reader, path_id};
use super::openapi::{
    BadRequest, Conflict, Envelope, Forbidden, ListQuery, NotFound, Unauthorized,
};
use super::response::{List, Single};
use super::validation::{Body, Input, Presence, parse_uuid};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{AccountPatch, Entity, NewAccount};
pub use crate::wire::AccountData;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

/// An account as written: all fields optional on update; `parent_id` only on create.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct AccountWrite {
    #[schema(rename = "type", example = "account")]
    kind: String,
    #[schema(min_length = 1, max_length = 255, nullable = false)]
    name: Option<String>,
    #[schema(max_length = 255)]
    legal_name: Option<String>,
    #[schema(max_length = 63)]
    registration_id: Option<String>,
    #[schema(max_length = 2048)]
    external_ref: Option<String>,
    parent_id: Option<Uuid>,
}

/// Admins see every account; an account holder sees only its token's account.
#[utoipa::path(
    get, path = "/v2/accounts", tag = "accounts",
    summary = "List accounts",
    description = "Filters: id (eq, in, lt, le, gt, ge), created_at and updated_at (eq, lt, le, gt, ge), \
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
    let data = page
        .items
        .into_iter()
        .map(|account| AccountData::new(&state.links, account))
        .collect();
    Ok(List::new(data, &state.url("/v2/accounts"), &params, page.total).ok())
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
    let id = path_id(Entity::Account, &raw_id)?;
    if let Reader::AccountHolder(holder) = &reader {
        if holder.account_id() != id {
            return Err(ApiError::not_found(Entity::Account));
        }
    }
    let account = state.store.account(id).await?;
    Ok(Single::ok(AccountData::new(&state.links, account)))
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/accounts", tag = "accounts",
    summary = "Create an account",
    request_body = Envelope<AccountWrite>,
    responses((status = 201, body = Single<AccountData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account"]);
    let name = fields.text("name", Presence::Required, 1, 255);
    let legal_name = fields.text("legal_name", Presence::Nullable, 0, 255);
    let registration_id = fields.text("registration_id", Presence::Nullable, 0, 63);
    let external_ref = fields.text("external_ref", Presence::Nullable, 0, 2048);
    let parent_id = fields.uuid("parent_id", Presence::Nullable);
    fields.finish()?;
    let account = NewAccount {
        name: name.value().unwrap_or_default(),
        legal_name: legal_name.value(),
        registration_id: registration_id.value(),
        external_ref: external_ref.value(),
        parent_id: parent_id.value(),
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
    request_body = Envelope<AccountWrite>,
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
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account"]);
    let name = fields.text("name", Presence::Optional, 1, 255);
    let legal_name = fields.text("legal_name", Presence::Nullable, 0, 255);
    let registration_id = fields.text("registration_id", Presence::Nullable, 0, 63);
    let external_ref = fields.text("external_ref", Presence::Nullable, 0, 2048);
    match fields.uuid("parent_id", Presence::Nullable) {
        Input::Value(parent) if Some(parent) != current.parent_id => {
            fields.reject("parent_id", "immutable");
        }
        Input::Null if current.parent_id.is_some() => fields.reject("parent_id", "immutable"),
        _ => {}
    }
    fields.finish()?;
    let patch = AccountPatch {
        name: name.value(),
        legal_name: legal_name.patch(),
        registration_id: registration_id.patch(),
        external_ref: external_ref.patch(),
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
