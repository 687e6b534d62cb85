//! Password profiles: username/password login methods of the realm. Every caller class may
//! read them (storefronts need the id to log in); only Admins write.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Boolean, OneOf, Text};
use super::body::{Optional, Required, request_body};
use super::extract::{Admin, Caller, Ids, JsonBody, ListParams, path_id};
use super::openapi::{BadRequest, Forbidden, ListQuery, NotFound, Unauthorized};
use super::realms::{check_realm, realm_url};
use super::response::{FlatTimestamps, Linked, List, SelfLink, Single};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{
    Entity, NewPasswordProfile, PasswordProfile, PasswordProfilePatch, UsernameFormat,
};

/// The collection under the realm.
const COLLECTION: &str = "/password-profiles";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// A password profile as created.
    pub struct PasswordProfileCreate {
        type: ["password_profile"],
        name: Required<Text<1, 255>>,
        /// `any` when left out.
        username_format: Optional<OneOf<UsernameFormat>>,
        /// `false` when left out.
        enable_one_time_password_token: Optional<Boolean>,
    }
}

request_body! {
    /// A password profile as updated: absent fields keep their value.
    pub struct PasswordProfileUpdate {
        type: ["password_profile"],
        name: Optional<Text<1, 255>>,
        username_format: Optional<OneOf<UsernameFormat>>,
        enable_one_time_password_token: Optional<Boolean>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PasswordProfileData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    username_format: &'static str,
    enable_one_time_password_token: bool,
    meta: FlatTimestamps,
    links: SelfLink,
}

impl Linked for PasswordProfileData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl PasswordProfileData {
    fn new(state: &AppState, profile: PasswordProfile) -> Self {
        Self {
            links: SelfLink::new(realm_url(state, &format!("{COLLECTION}/{}", profile.id))),
            id: profile.id,
            kind: "password_profile",
            name: profile.name,
            username_format: profile.username_format.as_str(),
            enable_one_time_password_token: profile.enable_one_time_password_token,
            meta: FlatTimestamps {
                created_at: profile.created_at,
                updated_at: profile.updated_at,
            },
        }
    }
}

/// Every caller class.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/password-profiles", tag = "realm",
    summary = "List password profiles",
    description = "No filters. Sort: created_at, id, name, updated_at.",
    params(("realm_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = List<PasswordProfileData>), BadRequest, Unauthorized, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Ids(raw_realm_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state
        .store
        .list_password_profiles(&params.to_query()?)
        .await?;
    Ok(List::of_page(
        page,
        |profile| PasswordProfileData::new(&state, profile),
        &realm_url(&state, COLLECTION),
        &params,
    )
    .ok())
}

/// Every caller class.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}", tag = "realm",
    summary = "Get a password profile",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    responses((status = 200, body = Single<PasswordProfileData>), Unauthorized, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let profile = state
        .store
        .password_profile(path_id(Entity::PasswordProfile, &raw_id)?)
        .await?;
    Ok(Single::ok(PasswordProfileData::new(&state, profile)))
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/authentication-realms/{realm_id}/password-profiles", tag = "realm",
    summary = "Create a password profile",
    params(("realm_id" = Uuid, Path)),
    request_body = PasswordProfileCreate,
    responses((status = 201, body = Single<PasswordProfileData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_realm_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let body = PasswordProfileCreate::parse(&body.parse()?)?;
    let profile = NewPasswordProfile {
        name: body.name,
        username_format: body.username_format.unwrap_or(UsernameFormat::Any),
        enable_one_time_password_token: body.enable_one_time_password_token.unwrap_or(false),
    };
    let created = state
        .store
        .create_password_profile(
            &profile,
            state.clock.now(),
            &admin.audit.event("password_profile.created"),
        )
        .await?;
    Ok(Single::created(PasswordProfileData::new(&state, created)))
}

/// Admins only.
#[utoipa::path(
    put, path = "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}", tag = "realm",
    summary = "Update a password profile",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    request_body = PasswordProfileUpdate,
    responses((status = 200, body = Single<PasswordProfileData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let id = path_id(Entity::PasswordProfile, &raw_id)?;
    state.store.password_profile(id).await?;
    let body = PasswordProfileUpdate::parse(&body.parse()?)?;
    let patch = PasswordProfilePatch {
        name: body.name,
        username_format: body.username_format,
        enable_one_time_password_token: body.enable_one_time_password_token,
    };
    let updated = state
        .store
        .update_password_profile(
            id,
            &patch,
            state.clock.now(),
            &admin.audit.event("password_profile.updated"),
        )
        .await?;
    Ok(Single::ok(PasswordProfileData::new(&state, updated)))
}

/// Admins only. The profile's password profile infos go with it.
#[utoipa::path(
    delete, path = "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}", tag = "realm",
    summary = "Delete a password profile and its logins",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
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
        .delete_password_profile(
            path_id(Entity::PasswordProfile, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("password_profile.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
