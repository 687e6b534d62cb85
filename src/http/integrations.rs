//! Integrations (docs/events.md#integrations): webhook destinations that observe events, and the
//! log of every delivery attempt. Admins only: the secret keys are shown to them because receivers
//! need them. A URL the destination policy refuses (an internal address, plain http, user-info)
//! answers `422` once the body is otherwise valid.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{Admin, Ids, JsonBody, ListParams, path_id};
use super::openapi::{
    BadRequest, Conflict, Envelope, Forbidden, ListQuery, NotFound, PageQuery, Unauthorized,
    Unprocessable,
};
use super::response::{Linked, List, Reference, SelfLink, Single, TimestampsMeta};
use super::validation::{Body, Input, Presence};
use crate::auth::secret::random_bytes;
use crate::error::{ApiError, ApiResult};
use crate::events::EventKey;
use crate::events::webhook::is_webhook_url;
use crate::outbound::NOT_ALLOWED;
use crate::state::AppState;
use crate::store::{Entity, Integration, IntegrationLog, IntegrationPatch, NewIntegration};
use crate::time::Timestamp;

const WEBHOOK: &str = "webhook";
const MAX_OBSERVES: usize = 50;
const MAX_URL_CHARS: usize = 2048;
const SECRET_KEY_CHARS: std::ops::RangeInclusive<usize> = 16..=255;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(all_logs))
        .routes(routes!(read, update, remove))
        .routes(routes!(logs))
}

/// An integration as written (docs/events.md#integrations).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct IntegrationWrite {
    #[schema(rename = "type", example = "integration")]
    kind: String,
    #[schema(min_length = 1, max_length = 255)]
    name: Option<String>,
    #[schema(max_length = 1024)]
    description: Option<String>,
    enabled: Option<bool>,
    #[schema(example = "webhook")]
    integration_type: Option<String>,
    /// Event keys (docs/events.md#event-catalogue), e.g. `account-member.event.created`.
    observes: Option<Vec<String>>,
    configuration: Option<ConfigurationWrite>,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct ConfigurationWrite {
    /// `https`, to a globally reachable address, without user-info (other URLs need
    /// `ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true`; otherwise `422 destination is not allowed`).
    url: String,
    #[schema(min_length = 16, max_length = 255)]
    secret_key: Option<String>,
    /// Whether deliveries carry the secret key in clear, in `X-Moltin-Secret-Key` and the
    /// envelope's `configuration.secret_key` (default `true`, as Elastic Path does); the
    /// signature headers are sent either way.
    send_secret_key: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct IntegrationData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    description: Option<String>,
    enabled: bool,
    integration_type: String,
    observes: Vec<String>,
    configuration: Configuration,
    meta: TimestampsMeta,
    links: SelfLink,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Configuration {
    url: String,
    secret_key: String,
    send_secret_key: bool,
}

impl Linked for IntegrationData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl IntegrationData {
    fn new(state: &AppState, integration: Integration) -> Self {
        Self {
            links: SelfLink::new(state.url(&format!("/v2/integrations/{}", integration.id))),
            id: integration.id,
            kind: "integration",
            name: integration.name,
            description: integration.description,
            enabled: integration.enabled,
            integration_type: integration.integration_type,
            observes: integration.observes,
            configuration: Configuration {
                url: integration.url,
                secret_key: integration.secret_key,
                send_secret_key: integration.send_secret_key,
            },
            meta: TimestampsMeta::new(integration.created_at, integration.updated_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LogData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    event_id: Uuid,
    triggered_by: String,
    attempt: i64,
    succeeded: bool,
    status_code: Option<i64>,
    body: Option<String>,
    error_detail: Option<String>,
    meta: LogMeta,
    relationships: LogRelationships,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LogMeta {
    timestamps: CreatedAt,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatedAt {
    created_at: Timestamp,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LogRelationships {
    integration: Reference,
}

impl From<IntegrationLog> for LogData {
    fn from(log: IntegrationLog) -> Self {
        Self {
            id: log.id,
            kind: "integration_log",
            event_id: log.event_id,
            triggered_by: log.triggered_by,
            attempt: log.attempt,
            succeeded: log.succeeded,
            status_code: log.status_code,
            body: log.body,
            error_detail: log.error_detail,
            meta: LogMeta {
                timestamps: CreatedAt {
                    created_at: log.created_at,
                },
            },
            relationships: LogRelationships {
                integration: Reference::new("integration", log.integration_id),
            },
        }
    }
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/integrations", tag = "integrations",
    summary = "List integrations",
    params(ListQuery),
    responses((status = 200, body = List<IntegrationData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    params.refuse_filter()?;
    let page = state.store.list_integrations(&params.to_query()?).await?;
    let data = page
        .items
        .into_iter()
        .map(|integration| IntegrationData::new(&state, integration))
        .collect();
    Ok(List::new(data, &state.url("/v2/integrations"), &params, page.total).ok())
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/integrations/{integration_id}", tag = "integrations",
    summary = "Get an integration",
    params(("integration_id" = Uuid, Path)),
    responses((status = 200, body = Single<IntegrationData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn read(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let integration = state
        .store
        .integration(path_id(Entity::Integration, &raw_id)?)
        .await?;
    Ok(Single::ok(IntegrationData::new(&state, integration)))
}

/// The fields of a create or update body, in the order of the field table
/// (docs/events.md#integrations).
struct Fields {
    name: Input<String>,
    description: Input<String>,
    enabled: Input<bool>,
    observes: Input<Vec<String>>,
    url: Option<String>,
    secret_key: Option<String>,
    send_secret_key: Option<bool>,
}

fn read_fields(body: &Value, creating: bool) -> ApiResult<Fields> {
    let required = if creating {
        Presence::Required
    } else {
        Presence::Optional
    };
    let mut fields = Body::open(body)?;
    fields.resource_type(&["integration"]);
    let name = fields.text("name", required, 1, 255);
    let description = fields.text("description", Presence::Nullable, 0, 1024);
    let enabled = fields.boolean("enabled", Presence::Optional);
    fields.one_of("integration_type", Presence::Optional, &[WEBHOOK]);
    let observes = match fields.string_array("observes", required, MAX_OBSERVES, |key| {
        EventKey::parse(key).is_none().then_some("oneof")
    }) {
        Input::Value(keys) if keys.is_empty() => {
            fields.reject("observes", "min");
            Input::Invalid
        }
        other => other,
    };
    let configuration = configuration(&mut fields, creating);
    fields.finish()?;
    Ok(Fields {
        name,
        description,
        enabled,
        observes,
        url: configuration.url,
        secret_key: configuration.secret_key,
        send_secret_key: configuration.send_secret_key,
    })
}

#[derive(Default)]
struct ConfigurationFields {
    url: Option<String>,
    secret_key: Option<String>,
    send_secret_key: Option<bool>,
}

/// `configuration.url` (required on create), `configuration.secret_key` and
/// `configuration.send_secret_key` (optional).
fn configuration(fields: &mut Body<'_>, creating: bool) -> ConfigurationFields {
    let config = match fields.raw("configuration") {
        None | Some(Value::Null) => {
            if creating {
                fields.reject("configuration", "required");
            }
            return ConfigurationFields::default();
        }
        Some(Value::Object(config)) => config,
        Some(_) => {
            fields.reject("configuration", "object");
            return ConfigurationFields::default();
        }
    };
    let url = match config.get("url") {
        None | Some(Value::Null) => {
            if creating {
                fields.reject("url", "required");
            }
            None
        }
        Some(Value::String(url)) if url.contains('\0') => {
            fields.reject("url", "string");
            None
        }
        Some(Value::String(url)) if url.chars().count() > MAX_URL_CHARS => {
            fields.reject("url", "max");
            None
        }
        Some(Value::String(url)) if !is_webhook_url(url) => {
            fields.reject("url", "url");
            None
        }
        Some(Value::String(url)) => Some(url.clone()),
        Some(_) => {
            fields.reject("url", "string");
            None
        }
    };
    let secret_key = match config.get("secret_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if key.contains('\0') => {
            fields.reject("secret_key", "string");
            None
        }
        Some(Value::String(key)) if key.chars().count() < *SECRET_KEY_CHARS.start() => {
            fields.reject("secret_key", "min");
            None
        }
        Some(Value::String(key)) if key.chars().count() > *SECRET_KEY_CHARS.end() => {
            fields.reject("secret_key", "max");
            None
        }
        Some(Value::String(key)) => Some(key.clone()),
        Some(_) => {
            fields.reject("secret_key", "string");
            None
        }
    };
    let send_secret_key = match config.get("send_secret_key") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(send)) => Some(*send),
        Some(_) => {
            fields.reject("send_secret_key", "boolean");
            None
        }
    };
    ConfigurationFields {
        url,
        secret_key,
        send_secret_key,
    }
}

/// `422` for a URL the destination policy refuses, its host name resolved now.
async fn check_destination(state: &AppState, url: &str) -> ApiResult<()> {
    state
        .config
        .destinations
        .check_url_and_resolve(url)
        .await
        .map_err(|_| ApiError::unprocessable(NOT_ALLOWED))
}

/// Admins only. Without a `secret_key`, one is generated: 32 random bytes, hex-encoded.
#[utoipa::path(
    post, path = "/v2/integrations", tag = "integrations",
    summary = "Create a webhook integration",
    request_body = Envelope<IntegrationWrite>,
    responses((status = 201, body = Single<IntegrationData>), BadRequest, Unauthorized, Forbidden, Unprocessable),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.parse()?;
    let fields = read_fields(&body, true)?;
    let (Input::Value(name), Input::Value(observes), Some(url)) =
        (fields.name, fields.observes, fields.url)
    else {
        return Err(ApiError::internal("required fields checked above"));
    };
    check_destination(&state, &url).await?;
    let integration = NewIntegration {
        name,
        description: fields.description.value(),
        enabled: fields.enabled.value().unwrap_or(true),
        observes,
        url,
        secret_key: fields
            .secret_key
            .unwrap_or_else(|| hex::encode(random_bytes::<32>())),
        send_secret_key: fields.send_secret_key.unwrap_or(true),
    };
    let created = state
        .store
        .create_integration(
            &integration,
            state.clock.now(),
            &admin.audit.event("integration.created"),
        )
        .await?;
    Ok(Single::created(IntegrationData::new(&state, created)))
}

/// Admins only; integrations from configuration answer `409` once the body is valid.
#[utoipa::path(
    put, path = "/v2/integrations/{integration_id}", tag = "integrations",
    summary = "Update an integration",
    params(("integration_id" = Uuid, Path)),
    request_body = Envelope<IntegrationWrite>,
    responses((status = 200, body = Single<IntegrationData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let id = path_id(Entity::Integration, &raw_id)?;
    state.store.integration(id).await?;
    let body = body.parse()?;
    let fields = read_fields(&body, false)?;
    if let Some(url) = &fields.url {
        check_destination(&state, url).await?;
    }
    let patch = IntegrationPatch {
        name: fields.name.value(),
        description: fields.description.patch(),
        enabled: fields.enabled.value(),
        observes: fields.observes.value(),
        url: fields.url,
        secret_key: fields.secret_key,
        send_secret_key: fields.send_secret_key,
    };
    let updated = state
        .store
        .update_integration(
            id,
            &patch,
            state.clock.now(),
            &admin.audit.event("integration.updated"),
        )
        .await?;
    Ok(Single::ok(IntegrationData::new(&state, updated)))
}

/// Admins only. Pending deliveries go with it; integrations from configuration answer `409`.
#[utoipa::path(
    delete, path = "/v2/integrations/{integration_id}", tag = "integrations",
    summary = "Delete an integration and its pending deliveries",
    params(("integration_id" = Uuid, Path)),
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
        .delete_integration(
            path_id(Entity::Integration, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("integration.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Admins only: the attempts of one integration, newest first.
#[utoipa::path(
    get, path = "/v2/integrations/{integration_id}/logs", tag = "integrations",
    summary = "List an integration's delivery attempts",
    params(("integration_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = List<LogData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn logs(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let id = path_id(Entity::Integration, &raw_id)?;
    state.store.integration(id).await?;
    log_list(
        &state,
        Some(id),
        query.as_deref(),
        &format!("/v2/integrations/{id}/logs"),
    )
    .await
}

/// Admins only: the attempts of every integration, newest first.
#[utoipa::path(
    get, path = "/v2/integrations/logs", tag = "integrations",
    summary = "List every integration's delivery attempts",
    params(PageQuery),
    responses((status = 200, body = List<LogData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn all_logs(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    log_list(&state, None, query.as_deref(), "/v2/integrations/logs").await
}

async fn log_list(
    state: &AppState,
    integration: Option<Uuid>,
    query: Option<&str>,
    path: &str,
) -> ApiResult<Response> {
    let params = ListParams::parse(query, state.config.page_length)?;
    params.refuse_filter()?;
    let page = state
        .store
        .list_integration_logs(integration, &params.to_query()?)
        .await?;
    let data: Vec<LogData> = page.items.into_iter().map(LogData::from).collect();
    Ok(List::new(data, &state.url(path), &params, page.total).ok())
}
