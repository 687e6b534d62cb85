//! Application keys (docs/authentication.md#application-keys): the `client_id`/`client_secret`
//! pairs bearer tokens are issued for. Admins only. Secrets are generated here, shown once in the
//! create response and stored as SHA-256 digests; the key configuration manages cannot be changed
//! through the API.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Integer, Text};
use super::body::{Optional, Required, request_body};
use super::extract::{Admin, Ids, JsonBody, ListParams, path_id};
use super::openapi::{BadRequest, Conflict, Forbidden, ListQuery, NotFound, Unauthorized};
use super::response::{Linked, List, SelfLink, Single};
use crate::auth::secret::{random_alphanumeric, sha256};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{ApplicationKey, ApplicationKeyPatch, Entity, NewApplicationKey};
use crate::time::Timestamp;
use crate::wire::Links;

/// 42 alphanumeric characters: about 250 bits (docs/authentication.md#application-keys).
const GENERATED_CHARS: usize = 42;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// An application key as created (docs/authentication.md#application-keys).
    pub struct ApplicationKeyCreate {
        type: ["application_key"],
        name: Required<Text<1, 255>>,
        /// `0` when left out.
        reserved_rate_limit: Optional<Integer<0, { i64::MAX }>>,
    }
}

request_body! {
    /// An application key as updated: absent fields keep their value.
    pub struct ApplicationKeyUpdate {
        type: ["application_key"],
        name: Optional<Text<1, 255>>,
        reserved_rate_limit: Optional<Integer<0, { i64::MAX }>>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ApplicationKeyData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    client_id: String,
    /// Only in the create response.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret: Option<String>,
    reserved_rate_limit: i64,
    meta: KeyMeta,
    links: SelfLink,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KeyMeta {
    timestamps: KeyTimestamps,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KeyTimestamps {
    created_at: Timestamp,
    updated_at: Timestamp,
    last_used_at: Option<Timestamp>,
}

impl Linked for ApplicationKeyData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl ApplicationKeyData {
    fn new(links: &Links, key: ApplicationKey, client_secret: Option<String>) -> Self {
        Self {
            links: SelfLink::new(links.url(&format!("/v2/application-keys/{}", key.id))),
            id: key.id,
            kind: "application_key",
            name: key.name,
            client_id: key.client_id,
            client_secret,
            reserved_rate_limit: key.reserved_rate_limit,
            meta: KeyMeta {
                timestamps: KeyTimestamps {
                    created_at: key.created_at,
                    updated_at: key.updated_at,
                    last_used_at: key.last_used_at,
                },
            },
        }
    }
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/application-keys", tag = "application keys",
    summary = "List application keys",
    description = "No filters. Sort: created_at, name, id, updated_at.",
    params(ListQuery),
    responses((status = 200, body = List<ApplicationKeyData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state
        .store
        .list_application_keys(&params.to_query()?)
        .await?;
    Ok(List::of_page(
        page,
        |key| ApplicationKeyData::new(&state.links, key, None),
        &state.url("/v2/application-keys"),
        &params,
    )
    .ok())
}

/// Admins only. The answer carries the secret, this once.
#[utoipa::path(
    post, path = "/v2/application-keys", tag = "application keys",
    summary = "Create an application key (the secret is shown once)",
    request_body = ApplicationKeyCreate,
    responses((status = 201, body = Single<ApplicationKeyData>), BadRequest, Unauthorized, Forbidden, Conflict),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = ApplicationKeyCreate::parse(&body.parse()?)?;
    let secret = random_alphanumeric(GENERATED_CHARS);
    let key = NewApplicationKey {
        name: body.name,
        client_id: random_alphanumeric(GENERATED_CHARS),
        secret_hash: sha256(secret.as_bytes()),
        reserved_rate_limit: body.reserved_rate_limit.unwrap_or(0),
    };
    let created = state
        .store
        .create_application_key(
            &key,
            state.clock.now(),
            &admin.audit.event("application_key.created"),
        )
        .await?;
    let data = ApplicationKeyData::new(&state.links, created, Some(secret));
    Ok(super::response::no_store(Single::created(data)))
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/application-keys/{application_key_id}", tag = "application keys",
    summary = "Get an application key",
    params(("application_key_id" = Uuid, Path)),
    responses((status = 200, body = Single<ApplicationKeyData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn read(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let key = state
        .store
        .application_key(path_id(Entity::ApplicationKey, &raw_id)?)
        .await?;
    Ok(Single::ok(ApplicationKeyData::new(&state.links, key, None)))
}

/// Admins only; the configured bootstrap key answers `409`.
#[utoipa::path(
    put, path = "/v2/application-keys/{application_key_id}", tag = "application keys",
    summary = "Rename an application key",
    params(("application_key_id" = Uuid, Path)),
    request_body = ApplicationKeyUpdate,
    responses((status = 200, body = Single<ApplicationKeyData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let id = path_id(Entity::ApplicationKey, &raw_id)?;
    state.store.application_key(id).await?;
    let body = ApplicationKeyUpdate::parse(&body.parse()?)?;
    let patch = ApplicationKeyPatch {
        name: body.name,
        reserved_rate_limit: body.reserved_rate_limit,
    };
    let updated = state
        .store
        .update_application_key(
            id,
            &patch,
            state.clock.now(),
            &admin.audit.event("application_key.updated"),
        )
        .await?;
    Ok(Single::ok(ApplicationKeyData::new(
        &state.links,
        updated,
        None,
    )))
}

/// Admins only; the configured bootstrap key answers `409`. Bearer tokens issued for the key
/// stop working at once.
#[utoipa::path(
    delete, path = "/v2/application-keys/{application_key_id}", tag = "application keys",
    summary = "Delete an application key and its bearer tokens",
    params(("application_key_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    state
        .store
        .delete_application_key(
            path_id(Entity::ApplicationKey, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("application_key.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
