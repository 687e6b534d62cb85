//! Probes for orchestrators: liveness never touches the database, readiness does (§25).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Anyone: `200` while the process serves requests.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process serves requests"))
)]
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Anyone: `200` when the database answers, `503` otherwise.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers"),
        (status = 503, description = "The database does not answer"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}
