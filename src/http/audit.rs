//! The security audit trail (docs/operations.md#audit-trail) as the API shows it, and where a
//! request's audit facts come from. Every change is recorded by the store transaction that makes it
//! (so a write that fails leaves no row): the caller extractor decides the actor and hands handlers
//! an [`AuditOrigin`], and each handler names its event type (`account.created`, …) when it passes
//! the event to the store. Logins are recorded by the login guard and the token endpoint. An event
//! never carries a password, code or token: only ids, paths and outcomes.

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::request::Parts;
use axum::response::Response;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use uuid::Uuid;

use super::extract::client::client_address;
use super::extract::{Admin, ListParams};
use super::openapi::{BadRequest, Forbidden, ListQuery, Unauthorized};
use super::response::List;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{Actor, AuditEvent, NewAuditEvent};
use crate::time::Timestamp;

/// Who is making a request and from where, as its caller extractor found them: the raw material
/// of the audit row of the change the handler makes.
#[derive(Debug, Clone)]
pub struct AuditOrigin {
    actor: Actor,
    client_address: IpAddr,
    path: String,
}

impl AuditOrigin {
    pub fn new(actor: Actor, parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| {
                peer.ip()
            });
        Self {
            actor,
            client_address: client_address(peer, &parts.headers, &state.config.trusted_proxies),
            path: parts.uri.path().to_owned(),
        }
    }

    pub fn actor(&self) -> Actor {
        self.actor
    }

    /// The audit event of this request's change; its subject is the request path.
    pub fn event(&self, event_type: &'static str) -> NewAuditEvent {
        NewAuditEvent::new(event_type, self.actor)
            .subject(self.path.clone())
            .client_address(self.client_address.to_string())
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    event_type: String,
    actor: AuditActor,
    subject: Option<String>,
    client_address: Option<String>,
    detail: serde_json::Value,
    meta: AuditMeta,
}

/// Who acted: the caller class and its id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AuditActor {
    /// `admin`, `shopper`, `account_holder` or `system`.
    #[schema(example = "admin")]
    class: &'static str,
    /// The application key of an admin, the member of an account holder; `null` for a shopper
    /// (implicit client ids are public) and the system.
    id: Option<Uuid>,
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
            actor: AuditActor {
                class: event.actor.class.as_str(),
                id: event.actor.id,
            },
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
