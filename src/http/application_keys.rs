//! Application keys (§5.2): the `client_id`/`client_secret` pairs bearer tokens are issued for.
//! Admins only. Secrets are generated here, shown once in the create response and stored as
//! SHA-256 digests; the key configuration manages cannot be changed through the API.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use super::extract::{Admin, Ids, JsonBody, ListParams};
use super::response::{Linked, List, SelfLink, Single};
use super::validation::{Body, Presence, parse_uuid};
use crate::auth::secret::{random_alphanumeric, sha256};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{ApplicationKey, ApplicationKeyPatch, Entity, NewApplicationKey};
use crate::time::Timestamp;
use crate::wire::Links;

/// 42 alphanumeric characters: about 250 bits, above the 240 §5.2 asks for.
const GENERATED_CHARS: usize = 42;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/application-keys", get(list).post(create))
        .route(
            "/v2/application-keys/{application_key_id}",
            get(read).put(update).delete(remove),
        )
}

#[derive(Debug, Serialize)]
struct ApplicationKeyData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    client_id: String,
    /// Only in the create response.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    reserved_rate_limit: i64,
    meta: KeyMeta,
    links: SelfLink,
}

#[derive(Debug, Serialize)]
struct KeyMeta {
    timestamps: KeyTimestamps,
}

#[derive(Debug, Serialize)]
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

fn key_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw).ok_or_else(|| ApiError::not_found(Entity::ApplicationKey))
}

/// Admins only.
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
    let data = page
        .items
        .into_iter()
        .map(|key| ApplicationKeyData::new(&state.links, key, None))
        .collect();
    Ok(List::new(
        data,
        &state.url("/v2/application-keys"),
        &params,
        page.total,
    )
    .ok())
}

/// Admins only. The answer carries the secret, this once.
async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["application_key"]);
    let name = fields.text("name", Presence::Required, 1, 255);
    let limit = fields.integer("reserved_rate_limit", Presence::Optional, 0, i64::MAX);
    fields.finish()?;
    let secret = random_alphanumeric(GENERATED_CHARS);
    let key = NewApplicationKey {
        name: name.value().unwrap_or_default(),
        client_id: random_alphanumeric(GENERATED_CHARS),
        secret_hash: sha256(secret.as_bytes()),
        reserved_rate_limit: limit.value().unwrap_or(0),
    };
    let created = state
        .store
        .create_application_key(&key, state.clock.now())
        .await?;
    let data = ApplicationKeyData::new(&state.links, created, Some(secret));
    Ok(super::response::no_store(Single::created(data)))
}

/// Admins only.
async fn read(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let key = state.store.application_key(key_id(&raw_id)?).await?;
    Ok(Single::ok(ApplicationKeyData::new(&state.links, key, None)))
}

/// Admins only; the configured bootstrap key answers `409`.
async fn update(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let id = key_id(&raw_id)?;
    state.store.application_key(id).await?;
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["application_key"]);
    let name = fields.text("name", Presence::Optional, 1, 255);
    let limit = fields.integer("reserved_rate_limit", Presence::Optional, 0, i64::MAX);
    fields.finish()?;
    let patch = ApplicationKeyPatch {
        name: name.value(),
        reserved_rate_limit: limit.value(),
    };
    let updated = state
        .store
        .update_application_key(id, &patch, state.clock.now())
        .await?;
    Ok(Single::ok(ApplicationKeyData::new(
        &state.links,
        updated,
        None,
    )))
}

/// Admins only; the configured bootstrap key answers `409`. Bearer tokens issued for the key
/// stop working at once.
async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    state.store.delete_application_key(key_id(&raw_id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
