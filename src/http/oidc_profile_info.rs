//! User authentication OIDC profile info (docs/oidc.md#identity-links): links a user to an identity
//! (`issuer`, `subject`) at one OIDC profile. First logins create these themselves; Admins use this
//! resource to pre-link existing users, which is the only way an OIDC login reaches an existing
//! user (accountd never links by email). Admin only.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Id, Text};
use super::body::{Optional, Required, request_body};
use super::extract::{Admin, Ids, JsonBody, ListParams, Reader, path_id};
use super::openapi::{BadRequest, Conflict, Forbidden, ListQuery, NotFound, Unauthorized};
use super::profile_info::{collection_url, path_user};
use super::realms::check_realm;
use super::response::{FlatTimestamps, Linked, List, SelfLink, Single};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{Entity, NewOidcProfileInfo, OidcProfileInfo, OidcProfileInfoPatch};

const TYPE: &str = "user_authentication_oidc_profile_info";
const COLLECTION: &str = "user-authentication-oidc-profile-info";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// An identity link as created (docs/oidc.md#identity-links).
    pub struct OidcProfileInfoCreate {
        type: [TYPE, "user-authentication-oidc-profile-info"],
        oidc_profile_id: Required<Id>,
        issuer: Required<Text<1, 2048>>,
        subject: Required<Text<1, 255>>,
    }
}

request_body! {
    /// An identity link as updated: absent fields keep their value.
    pub struct OidcProfileInfoUpdate {
        type: [TYPE, "user-authentication-oidc-profile-info"],
        /// Immutable: accepted only when it repeats the current profile.
        oidc_profile_id: Optional<Id>,
        issuer: Optional<Text<1, 2048>>,
        subject: Optional<Text<1, 255>>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InfoData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    oidc_profile_id: Uuid,
    issuer: String,
    subject: String,
    meta: FlatTimestamps,
    links: SelfLink,
}

impl Linked for InfoData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl InfoData {
    fn new(state: &AppState, info: OidcProfileInfo) -> Self {
        Self {
            links: SelfLink::new(format!(
                "{}/{}",
                collection_url(state, info.user_id, COLLECTION),
                info.id
            )),
            id: info.id,
            kind: TYPE,
            oidc_profile_id: info.oidc_profile_id,
            issuer: info.issuer,
            subject: info.subject,
            meta: FlatTimestamps {
                created_at: info.created_at,
                updated_at: info.updated_at,
            },
        }
    }
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info", tag = "realm",
    summary = "List a user's OIDC identities",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = List<InfoData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Ids((raw_realm_id, raw_user_id)): Ids<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state
        .store
        .list_oidc_profile_infos(user, &params.to_query()?)
        .await?;
    Ok(List::of_page(
        page,
        |info| InfoData::new(&state, info),
        &collection_url(&state, user, COLLECTION),
        &params,
    )
    .ok())
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info/{info_id}", tag = "realm",
    summary = "Get an OIDC identity link",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ("info_id" = Uuid, Path)),
    responses((status = 200, body = Single<InfoData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn read(
    State(state): State<AppState>,
    _admin: Admin,
    Ids((raw_realm_id, raw_user_id, raw_id)): Ids<(String, String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    let info = state
        .store
        .oidc_profile_info(user, path_id(Entity::OidcProfileInfo, &raw_id)?)
        .await?;
    Ok(Single::ok(InfoData::new(&state, info)))
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info", tag = "realm",
    summary = "Link a user to an OIDC identity",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = OidcProfileInfoCreate,
    responses((status = 201, body = Single<InfoData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_user_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    let body = OidcProfileInfoCreate::parse(&body.parse()?)?;
    let info = NewOidcProfileInfo {
        user_id: user,
        oidc_profile_id: body.oidc_profile_id,
        issuer: body.issuer,
        subject: body.subject,
    };
    let created = state
        .store
        .create_oidc_profile_info(
            &info,
            state.clock.now(),
            &admin.audit.event("oidc_profile_info.created"),
        )
        .await?;
    Ok(Single::created(InfoData::new(&state, created)))
}

/// Admins only. `oidc_profile_id` cannot change.
#[utoipa::path(
    put, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info/{info_id}", tag = "realm",
    summary = "Update an OIDC identity link",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ("info_id" = Uuid, Path)),
    request_body = OidcProfileInfoUpdate,
    responses((status = 200, body = Single<InfoData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_user_id, raw_id)): Ids<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    let current = state
        .store
        .oidc_profile_info(user, path_id(Entity::OidcProfileInfo, &raw_id)?)
        .await?;
    let mut body = OidcProfileInfoUpdate::read(&body.parse()?)?;
    if matches!(body.fields.oidc_profile_id, Ok(Some(profile)) if profile != current.oidc_profile_id)
    {
        body.reject("oidc_profile_id", "immutable");
    }
    let body = body.finish()?;
    let patch = OidcProfileInfoPatch {
        issuer: body.issuer,
        subject: body.subject,
    };
    let updated = state
        .store
        .update_oidc_profile_info(
            user,
            current.id,
            &patch,
            state.clock.now(),
            &admin.audit.event("oidc_profile_info.updated"),
        )
        .await?;
    Ok(Single::ok(InfoData::new(&state, updated)))
}

/// Admins only.
#[utoipa::path(
    delete, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info/{info_id}", tag = "realm",
    summary = "Remove an OIDC identity link",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ("info_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_user_id, raw_id)): Ids<(String, String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    state
        .store
        .delete_oidc_profile_info(
            user,
            path_id(Entity::OidcProfileInfo, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("oidc_profile_info.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
