//! Integrations (docs/events.md#integrations): webhook destinations that observe events, and the
//! log of every delivery attempt. Admins only: the secret keys are shown to them because receivers
//! need them. A URL the destination policy refuses (an internal address, plain http, user-info)
//! answers `422` once the body is otherwise valid.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Array, Boolean, Choices, Object, OneOf, Text, string_schema, text};
use super::body::{Failure, NullIgnored, Nullable, Optional, Required, Rule, request_body};
use super::extract::{Admin, Ids, JsonBody, ListParams, path_id};
use super::openapi::{
    BadRequest, Conflict, Forbidden, ListQuery, NotFound, PageQuery, Unauthorized, Unprocessable,
};
use super::response::{BODY_CAPACITY, Linked, List, Reference, SelfLink, Single, TimestampsMeta};

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
const MIN_SECRET_KEY_CHARS: usize = 16;
const MAX_SECRET_KEY_CHARS: usize = 255;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(all_logs))
        .routes(routes!(read, update, remove))
        .routes(routes!(logs))
        .routes(routes!(send_test_event))
}

request_body! {
    /// An integration as created (docs/events.md#integrations).
    pub struct IntegrationCreate {
        type: ["integration"],
        name: Required<Text<1, 255>>,
        description: Nullable<Text<0, 1024>>,
        /// `true` when left out.
        enabled: Optional<Boolean>,
        integration_type: Optional<OneOf<IntegrationType>>,
        /// Event keys (docs/events.md#event-catalogue), e.g. `account-member.event.created`.
        observes: Required<Array<EventKeyName, 1, MAX_OBSERVES>>,
        configuration: Required<Object<ConfigurationCreate>>,
    }
}

request_body! {
    /// Where and how deliveries are sent.
    pub struct ConfigurationCreate {
        /// `https`, to a globally reachable address, without user-info (other URLs need
        /// `ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true`; otherwise `422 destination is not allowed`).
        url: Required<WebhookUrl>,
        /// Generated (32 random bytes, hex-encoded) when left out.
        secret_key: NullIgnored<Text<MIN_SECRET_KEY_CHARS, MAX_SECRET_KEY_CHARS>>,
        /// Whether deliveries carry the secret key in clear, in `X-Moltin-Secret-Key` and the
        /// envelope's `configuration.secret_key` (default `true`, as Elastic Path does); the
        /// signature headers are sent either way.
        send_secret_key: NullIgnored<Boolean>,
    }
}

request_body! {
    /// An integration as updated: absent fields keep their value, `null` clears the description.
    pub struct IntegrationUpdate {
        type: ["integration"],
        name: Optional<Text<1, 255>>,
        description: Nullable<Text<0, 1024>>,
        enabled: Optional<Boolean>,
        integration_type: Optional<OneOf<IntegrationType>>,
        /// Event keys (docs/events.md#event-catalogue), e.g. `account-member.event.created`.
        observes: Optional<Array<EventKeyName, 1, MAX_OBSERVES>>,
        configuration: NullIgnored<Object<ConfigurationUpdate>>,
    }
}

request_body! {
    /// Where and how deliveries are sent; absent members keep their value.
    pub struct ConfigurationUpdate {
        /// `https`, to a globally reachable address, without user-info (other URLs need
        /// `ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true`; otherwise `422 destination is not allowed`).
        url: NullIgnored<WebhookUrl>,
        secret_key: NullIgnored<Text<MIN_SECRET_KEY_CHARS, MAX_SECRET_KEY_CHARS>>,
        /// Whether deliveries carry the secret key in clear (see the create body).
        send_secret_key: NullIgnored<Boolean>,
    }
}

/// The one kind of integration there is.
pub struct IntegrationType;

impl Choices for IntegrationType {
    const ALL: &'static [&'static str] = &[WEBHOOK];

    fn parse(text: &str) -> Option<Self> {
        (text == WEBHOOK).then_some(Self)
    }
}

/// An event key in either of its forms (`oneof`), kept as sent.
pub struct EventKeyName;

impl Rule for EventKeyName {
    type Value = String;

    fn read(value: &Value) -> Result<String, Failure> {
        let key = text(value, 0, usize::MAX)?;
        if EventKey::parse(key).is_none() {
            return Err("oneof".into());
        }
        Ok(key.to_owned())
    }

    fn schema() -> Schema {
        let names = EventKey::ALL
            .into_iter()
            .flat_map(|key| [Some(key.canonical()), key.alias()])
            .flatten();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names))
            .into()
    }
}

/// A webhook URL of at most `MAX_URL_CHARS` characters in the shape `is_webhook_url` accepts
/// (`url`); whether it may be reached is checked once the body is valid.
pub struct WebhookUrl;

impl Rule for WebhookUrl {
    type Value = String;

    fn read(value: &Value) -> Result<String, Failure> {
        let url = text(value, 0, MAX_URL_CHARS)?;
        if !is_webhook_url(url) {
            return Err("url".into());
        }
        Ok(url.to_owned())
    }

    fn schema() -> Schema {
        string_schema(0, MAX_URL_CHARS).into()
    }
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
    Ok(List::of_page(
        page,
        |integration| IntegrationData::new(&state, integration),
        &state.url("/v2/integrations"),
        &params,
    )
    .ok())
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
    request_body = IntegrationCreate,
    responses((status = 201, body = Single<IntegrationData>), BadRequest, Unauthorized, Forbidden, Unprocessable),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = IntegrationCreate::parse(&body.parse()?)?;
    let configuration = body.configuration;
    check_destination(&state, &configuration.url).await?;
    let integration = NewIntegration {
        name: body.name,
        description: body.description.flatten(),
        enabled: body.enabled.unwrap_or(true),
        observes: body.observes,
        url: configuration.url,
        secret_key: configuration
            .secret_key
            .unwrap_or_else(|| hex::encode(random_bytes::<32>())),
        send_secret_key: configuration.send_secret_key.unwrap_or(true),
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
    request_body = IntegrationUpdate,
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
    let body = IntegrationUpdate::parse(&body.parse()?)?;
    let configuration = body.configuration.unwrap_or(ConfigurationUpdate {
        url: None,
        secret_key: None,
        send_secret_key: None,
    });
    if let Some(url) = &configuration.url {
        check_destination(&state, url).await?;
    }
    let patch = IntegrationPatch {
        name: body.name,
        description: body.description,
        enabled: body.enabled,
        observes: body.observes,
        url: configuration.url,
        secret_key: configuration.secret_key,
        send_secret_key: configuration.send_secret_key,
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
    // As `application_keys::remove`: entity, store call and event are all either holds; no helper.
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

/// `{"data": …}` of a request accepted for later: a queued test event has no address of its own.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Accepted<T> {
    data: T,
}

/// A test event as queued: its envelope id, which its deliveries and their log rows carry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TestEventData {
    /// The envelope id, the `event_id` of the log rows of its attempts.
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Always `integration.test`.
    #[schema(example = "integration.test")]
    triggered_by: &'static str,
    /// Always `queued`: the dispatcher delivers it as it delivers every event.
    #[schema(example = "queued")]
    status: &'static str,
    /// What the envelope's `payload` holds.
    payload: Value,
    relationships: LogRelationships,
    meta: LogMeta,
    links: TestEventLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TestEventLinks {
    /// Where its attempts are logged.
    logs: String,
}

/// Admins only: queues one `integration.test` event for this integration alone, delivered by the
/// dispatcher like every event (docs/events.md#test-events). A disabled integration answers
/// `409`.
#[utoipa::path(
    post, path = "/v2/integrations/{integration_id}/test-event", tag = "integrations",
    summary = "Send a test event to an integration",
    description = "Queues one event with triggered_by `integration.test` for this integration \
                   only, whatever it observes, through the outbox; its attempts appear in the \
                   integration's logs under the returned id. No body.",
    params(("integration_id" = Uuid, Path)),
    responses((status = 202, body = Accepted<TestEventData>), Unauthorized, Forbidden, NotFound, Conflict),
    security(("bearer" = []))
)]
async fn send_test_event(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    let id = path_id(Entity::Integration, &raw_id)?;
    let now = state.clock.now();
    let payload = serde_json::json!({
        "type": "integration_test",
        "integration_id": id,
        "created_at": now,
    });
    let event_id = state
        .store
        .queue_test_event(
            id,
            &payload,
            now,
            &admin.audit.event("integration_test_event.created"),
        )
        .await?;
    let data = TestEventData {
        id: event_id,
        kind: "integration_test_event",
        triggered_by: EventKey::IntegrationTest.canonical(),
        status: "queued",
        payload,
        relationships: LogRelationships {
            integration: Reference::new("integration", id),
        },
        meta: LogMeta {
            timestamps: CreatedAt { created_at: now },
        },
        links: TestEventLinks {
            logs: state.url(&format!("/v2/integrations/{id}/logs")),
        },
    };
    Ok(super::response::json(
        StatusCode::ACCEPTED,
        &Accepted { data },
        BODY_CAPACITY,
    ))
}
