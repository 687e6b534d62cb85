//! Probes for orchestrators: liveness never touches the database, readiness does
//! (docs/operations.md#health-and-readiness).

use std::time::Duration;

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

/// How long readiness waits for the database: a probe must get its answer within a second.
const READINESS_DEADLINE: Duration = Duration::from_millis(900);

/// Anyone: `200` when every database pool answers, `503` otherwise, and `503` while the server
/// drains before it stops.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "Every database pool answers"),
        (status = 503, description = "A database pool does not answer within the deadline, or the server is draining"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        )
            .into_response();
    }
    let answered = tokio::time::timeout(READINESS_DEADLINE, state.store.ping())
        .await
        .unwrap_or_else(|_| {
            Err(crate::store::StoreError::Unavailable(
                "no answer within the readiness deadline".to_owned(),
            ))
        });
    match answered {
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
