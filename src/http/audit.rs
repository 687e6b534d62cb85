//! The security audit trail (§25): who did what, when, from where. Logins are recorded by the
//! token endpoint; every successful write is recorded here, by a middleware that learns the
//! caller from the extractors. An event never carries a password, code or token: only ids,
//! routes and statuses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, RawQuery, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::extract::client::client_address;
use super::extract::{Admin, ListParams};
use super::openapi::{BadRequest, Forbidden, ListQuery, Unauthorized};
use super::response::List;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{AuditEvent, NewAuditEvent};
use crate::time::Timestamp;

/// Filled by the caller extractors, read by [`record_writes`] once the handler has answered.
#[derive(Debug, Clone, Default)]
pub struct ActorSlot(Arc<Mutex<Option<String>>>);

impl ActorSlot {
    pub fn set(&self, actor: String) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(actor);
        }
    }

    fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Appends an event; a failure is logged and never fails the request it describes.
pub async fn record(state: &AppState, event: NewAuditEvent) {
    if let Err(error) = state
        .store
        .append_audit_event(&event, state.clock.now())
        .await
    {
        tracing::error!(%error, event_type = %event.event_type, "an audit event was lost");
    }
}

/// Records every successful write (POST, PUT, DELETE answered 2xx) with its caller.
pub async fn record_writes(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Reads are the bulk of the traffic and never audited: let them through untouched.
    if !matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::DELETE
    ) {
        return next.run(request).await;
    }
    let slot = ActorSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let client = peer.map(|peer| {
        client_address(peer, request.headers(), &state.config.trusted_proxies).to_string()
    });
    let response = next.run(request).await;
    let is_write = matches!(method, Method::POST | Method::PUT | Method::DELETE);
    let Some(route) = route.filter(|_| is_write && response.status().is_success()) else {
        return response;
    };
    // Logins are recorded by the token endpoint itself; bearer tokens are too many to matter.
    if route == "/v2/account-members/tokens" || route == "/oauth/access_token" {
        return response;
    }
    let actor = slot.take();
    let event = NewAuditEvent {
        event_type: write_event_type(&method, &route, actor.as_deref()).to_owned(),
        actor,
        subject: Some(path),
        client_address: client,
        detail: json!({
            "method": method.as_str(),
            "route": route,
            "status": response.status().as_u16(),
        }),
    };
    record(&state, event).await;
    response
}

fn write_event_type(method: &Method, route: &str, actor: Option<&str>) -> &'static str {
    match (method.as_str(), route) {
        ("POST", "/v2/application-keys") => "application_key.created",
        ("PUT", "/v2/application-keys/{application_key_id}") => "application_key.updated",
        ("DELETE", "/v2/application-keys/{application_key_id}") => "application_key.deleted",
        (_, "/v2/settings/account-authentication" | "/v2/settings/account-membership") => {
            "settings.changed"
        }
        ("DELETE", "/v2/account-members/{account_member_id}/tokens") => "tokens.revoked",
        ("DELETE", "/v2/account-members/{account_member_id}/lockout") => "lockout.cleared",
        _ if actor.is_some_and(|actor| actor.starts_with("account_member:")) => {
            "self_service.write"
        }
        _ => "admin.write",
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    event_type: String,
    actor: Option<String>,
    subject: Option<String>,
    client_address: Option<String>,
    detail: serde_json::Value,
    meta: AuditMeta,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AuditMeta {
    timestamps: AuditTimestamps,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AuditTimestamps {
    created_at: Timestamp,
}

impl From<AuditEvent> for AuditEventData {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            kind: "audit_event",
            event_type: event.event_type,
            actor: event.actor,
            subject: event.subject,
            client_address: event.client_address,
            detail: event.detail,
            meta: AuditMeta {
                timestamps: AuditTimestamps {
                    created_at: event.created_at,
                },
            },
        }
    }
}

/// Admins only: the append-only security audit trail, newest first.
#[utoipa::path(
    get, path = "/v2/audit-events", tag = "operations",
    summary = "List security audit events",
    description = "Filters: event_type (eq), created_at (eq, lt, le, gt, ge). Sort: created_at.",
    params(ListQuery),
    responses((status = 200, body = List<AuditEventData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state.store.list_audit_events(&params.to_query()?).await?;
    let data: Vec<AuditEventData> = page.items.into_iter().map(AuditEventData::from).collect();
    Ok(List::new(data, &state.url("/v2/audit-events"), &params, page.total).ok())
}
