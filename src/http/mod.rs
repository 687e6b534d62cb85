//! The HTTP API: one module per resource, each owning its routes, assembled here with the
//! layers every request passes through (request id, tracing span, panic and timeout guards,
//! size limits); and the management listener's router (`/metrics` and the probes).

pub mod account_members;
pub mod accounts;
pub mod application_keys;
pub mod audit;
pub mod body;
pub mod connection;
pub mod cors;
pub mod downstream;
pub mod extract;
pub mod health;
pub mod integrations;
pub mod limits;
pub mod memberships;
pub mod metrics;
pub mod oauth;
pub mod oidc_idp;
pub mod oidc_profile_info;
pub mod oidc_profiles;
pub mod one_time_passwords;
pub mod openapi;
pub mod password_profile_info;
pub mod password_profiles;
pub mod profile_info;
pub mod rate_limit;
pub mod realms;
pub mod response;
pub mod self_management;
pub mod server;
pub mod settings;
pub mod tokens;
pub mod user_authentication_info;
pub mod validation;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ConsoleListener;
use crate::console;
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

/// The API listener's router: every documented route, and the admin console beside them when
/// `ACCOUNTD_CONSOLE=true`.
pub fn router(state: AppState) -> Router {
    let api = api_router(state.clone());
    match state.config.console {
        ConsoleListener::Api => console::router(state, api.clone()).fallback_service(api),
        ConsoleListener::Off | ConsoleListener::Management => api,
    }
}

/// Every documented route in the API's layers: what the API listener serves, and what the
/// console calls in-process.
fn api_router(state: AppState) -> Router {
    let (routes, _document) = openapi::publish(documented_routes());
    with_api_layers(routes, state)
}

/// Wraps `routes` in what every API request passes through: the fallbacks for unknown routes
/// and methods, and the layers (request id, span, metrics, panic guard, CORS, timeout, size
/// limits, database budget), in the order the API listener applies them.
pub fn with_api_layers(routes: Router<AppState>, state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            close_while_draining,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        .layer(middleware::from_fn(limits::enforce))
        .layer(middleware::from_fn(database_budget))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES));
    telemetry::traced(
        routes
            .fallback(|| async { ApiError::route_not_found() })
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
            .layer(layers)
            .with_state(state),
    )
}

/// Every route, each with its OpenAPI annotation: a route cannot be added without being
/// documented, because the router and the document come from the same list.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(oauth::access_token))
        .routes(routes!(tokens::create))
        .routes(routes!(audit::list))
        .merge(accounts::router())
        .merge(application_keys::router())
        .merge(account_members::router())
        .merge(memberships::router())
        .merge(settings::router())
        .merge(realms::router())
        .merge(password_profiles::router())
        .merge(user_authentication_info::router())
        .merge(password_profile_info::router())
        .merge(one_time_passwords::router())
        .merge(integrations::router())
        .merge(oidc_profiles::router())
        .merge(oidc_profile_info::router())
        .merge(oidc_idp::router())
        .merge(downstream::router())
}

/// The management listener's router: `/metrics`, which the API listener must not serve (its
/// gauges would tell outsiders what the API hides), the probes, so an orchestrator can use
/// either listener, and the admin console when `ACCOUNTD_CONSOLE=management`. It is not part of
/// the API's OpenAPI document.
pub fn management_router(state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        .layer(middleware::from_fn(limits::enforce))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES));
    let management = telemetry::traced(
        Router::new()
            .route("/metrics", get(metrics::scrape))
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .fallback(|| async { ApiError::route_not_found() })
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
            .layer(layers)
            .with_state(state.clone()),
    );
    match state.config.console {
        ConsoleListener::Management => {
            management.merge(console::router(state.clone(), api_router(state)))
        }
        ConsoleListener::Off | ConsoleListener::Api => management,
    }
}

/// The OpenAPI document of every route, as `GET /v2/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::publish(documented_routes()).1
}

/// A handler that panics answers the generic 500; the panic text may hold anything, so it is
/// neither logged nor sent.
fn panic_response(_panic: Box<dyn std::any::Any + Send>) -> Response {
    ApiError::internal("a handler panicked").into_response()
}

/// While the server drains before it stops, every HTTP/1 answer closes its connection, so a
/// client's next request opens a new connection, which the load balancer sends to another
/// replica. (HTTP/2 connections get a GOAWAY instead, and a `Connection` header is not allowed
/// there.)
async fn close_while_draining(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let http1 = request.version() < axum::http::Version::HTTP_2;
    let mut response = next.run(request).await;
    if http1 && state.lifecycle.is_draining() {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Each request's store calls share one database deadline (see `store::within_request`).
async fn database_budget(request: Request, next: Next) -> Response {
    crate::store::within_request(next.run(request)).await
}

/// A request, its body included, gets `request_timeout` (30 s) from its head to its answer.
async fn request_timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request_timeout().into_response(),
    }
}
