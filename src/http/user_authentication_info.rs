//! User authentication info: the users of the realm, which are also the account members.
//! Admins manage them; an account holder reads its own record and, while self-management is
//! `update_only`, edits it (docs/self-management.md).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Email, Text};
use super::body::{Nullable, Optional, Required, request_body};
use super::extract::{
    AccountHolder, Admin, AuditedCaller, Caller, Ids, JsonBody, ListParams, Reader, path_id,
};
use super::openapi::{BadRequest, Conflict, Forbidden, ListQuery, NotFound, Unauthorized};
use super::realms::{check_realm, realm_url};
use super::response::{Linked, List, SelfLink, Single};
use super::self_management::{RequestedChange, require_fresh_credentials, require_self_management};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{ChangedBy, Entity, NewUser, User, UserPatch};
use crate::time::Timestamp;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// A user authentication info as created.
    pub struct UserCreate {
        type: ["user_authentication_info"],
        name: Required<Text<1, 255>>,
        email: Required<Email<254>>,
        given_name: Nullable<Text<0, 255>>,
        middle_name: Nullable<Text<0, 255>>,
        family_name: Nullable<Text<0, 255>>,
    }
}

request_body! {
    /// A user authentication info as updated: absent fields keep their value, `null` clears a
    /// name part.
    pub struct UserUpdate {
        type: ["user_authentication_info"],
        name: Optional<Text<1, 255>>,
        email: Optional<Email<254>>,
        given_name: Nullable<Text<0, 255>>,
        middle_name: Nullable<Text<0, 255>>,
        family_name: Nullable<Text<0, 255>>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UserData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    email: String,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    meta: UserMeta,
    links: SelfLink,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UserMeta {
    created_at: Timestamp,
    updated_at: Timestamp,
    creation_status: &'static str,
}

impl Linked for UserData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl UserData {
    fn new(state: &AppState, user: User) -> Self {
        Self {
            links: SelfLink::new(realm_url(
                state,
                &format!("/user-authentication-info/{}", user.id),
            )),
            id: user.id,
            kind: "user_authentication_info",
            name: user.name,
            email: user.email,
            given_name: user.given_name,
            middle_name: user.middle_name,
            family_name: user.family_name,
            // Users are created in one transaction, so the reference's IN_PROGRESS never shows.
            meta: UserMeta {
                created_at: user.created_at,
                updated_at: user.updated_at,
                creation_status: "COMPLETE",
            },
        }
    }
}

/// The user id in a path as an account holder may use it: only its own
/// (docs/authentication.md#account-holder-scope).
pub fn own_user_id(holder: &AccountHolder, raw: &str) -> ApiResult<Uuid> {
    let id = path_id(Entity::UserInfo, raw)?;
    if id != holder.member_id() {
        return Err(ApiError::not_found(Entity::UserInfo));
    }
    Ok(id)
}

/// Admins every user; an account holder only its own record.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/user-authentication-info", tag = "realm",
    summary = "List users",
    description = "Filters: email, name (eq, like, ilike); given_name, middle_name, family_name \\
        (eq, like, ilike, is_null); created_at, updated_at (eq, lt, le, gt, ge). \\
        Sort: created_at, email, id, name, updated_at.",
    params(("realm_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = List<UserData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Ids(raw_realm_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let only = match &reader {
        Reader::Admin => None,
        Reader::AccountHolder(holder) => Some(holder.member_id()),
    };
    let page = state.store.list_users(&params.to_query()?, only).await?;
    let url = realm_url(&state, "/user-authentication-info");
    Ok(List::of_page(page, |user| UserData::new(&state, user), &url, &params).ok())
}

/// Admins any user; an account holder only itself.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}", tag = "realm",
    summary = "Get a user",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = Single<UserData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    reader: Reader,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let id = match &reader {
        Reader::Admin => path_id(Entity::UserInfo, &raw_id)?,
        Reader::AccountHolder(holder) => own_user_id(holder, &raw_id)?,
    };
    let user = state.store.user(id).await?;
    Ok(Single::ok(UserData::new(&state, user)))
}

/// Admins only. Creates the account member with it.
#[utoipa::path(
    post, path = "/v2/authentication-realms/{realm_id}/user-authentication-info", tag = "realm",
    summary = "Create a user (and its account member)",
    params(("realm_id" = Uuid, Path)),
    request_body = UserCreate,
    responses((status = 201, body = Single<UserData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_realm_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let body = UserCreate::parse(&body.parse()?)?;
    let user = NewUser {
        name: body.name,
        email: body.email,
        given_name: body.given_name.flatten(),
        middle_name: body.middle_name.flatten(),
        family_name: body.family_name.flatten(),
    };
    let created = state
        .store
        .create_user(
            &user,
            ChangedBy::Admin,
            state.clock.now(),
            &admin.audit.event("user_authentication_info.created"),
        )
        .await?;
    Ok(Single::created(UserData::new(&state, created)))
}

/// Admins, or the user itself while self-management is `update_only` (docs/self-management.md).
#[utoipa::path(
    put, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}", tag = "realm",
    summary = "Update a user (Admin, or the user itself under self-management)",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = UserUpdate,
    responses((status = 200, body = Single<UserData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn update(
    State(state): State<AppState>,
    audited: AuditedCaller,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    let AuditedCaller { caller, audit } = audited;
    let by_admin = match &caller {
        Caller::Admin => true,
        Caller::AccountHolder(_) => false,
        Caller::Shopper => return Err(ApiError::forbidden()),
    };
    check_realm(&state, &raw_realm_id)?;
    let id = match &caller {
        Caller::AccountHolder(holder) => own_user_id(holder, &raw_id)?,
        _ => path_id(Entity::UserInfo, &raw_id)?,
    };
    let current = state.store.user(id).await?;
    let parsed = body.parse();
    if let Caller::AccountHolder(holder) = &caller {
        require_self_management(&state).await?;
        let change = RequestedChange::of(parsed.as_ref().ok());
        require_fresh_credentials(&state, holder, change.changes("email", &current.email))?;
    }
    let body = UserUpdate::parse(&parsed?)?;
    let patch = UserPatch {
        name: body.name,
        email: body.email,
        given_name: body.given_name,
        middle_name: body.middle_name,
        family_name: body.family_name,
    };
    let changed_by = if by_admin {
        ChangedBy::Admin
    } else {
        ChangedBy::User
    };
    let updated = state
        .store
        .update_user(
            id,
            &patch,
            changed_by,
            state.clock.now(),
            &audit.event("user_authentication_info.updated"),
        )
        .await?;
    Ok(Single::ok(UserData::new(&state, updated)))
}

/// Admins only. The member, its password profile infos and memberships go with it, and its
/// account tokens stop working at once.
#[utoipa::path(
    delete, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}", tag = "realm",
    summary = "Delete a user, its member, logins and memberships",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    state
        .store
        .delete_user(
            path_id(Entity::UserInfo, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("user_authentication_info.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
