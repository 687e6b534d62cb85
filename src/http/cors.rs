//! CORS for browser storefronts (docs/http-conventions.md#paths-and-headers): `/v2/*` and
//! `/oauth/access_token` answer preflights and carry `Access-Control-Allow-Origin` for the
//! configured origins. No cookies are used, so credentials are never allowed.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::CorsOrigins;
use crate::state::AppState;

const ALLOWED_HEADERS: [&str; 3] = [
    "authorization",
    "content-type",
    "ep-account-management-authentication-token",
];
const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
const EXPOSED_HEADERS: &str = "Retry-After, X-Request-Id";

pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let in_scope = path.starts_with("/v2/") || path == "/v2" || path == "/oauth/access_token";
    let origin = request.headers().get(header::ORIGIN).cloned();
    let (Some(origin), true) = (origin, in_scope) else {
        return next.run(request).await;
    };
    let allow_origin = allowed_origin(&state.config.cors_origins, &origin);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let (Some(allow_origin), Some(allow_headers)) =
            (allow_origin, allowed_request_headers(request.headers()))
        {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            if let Some(allow_headers) = allow_headers {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
            }
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }
    let mut response = next.run(request).await;
    if let Some(allow_origin) = allow_origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn allowed_origin(origins: &CorsOrigins, origin: &HeaderValue) -> Option<HeaderValue> {
    match origins {
        CorsOrigins::Any => Some(HeaderValue::from_static("*")),
        CorsOrigins::List(list) => list
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes())
            .then(|| origin.clone()),
    }
}

/// `Some(None)` when no headers were requested, `Some(Some(list))` when every requested header
/// is allowed (the fixed ones and any `X-Moltin-*`), `None` when one is not.
fn allowed_request_headers(headers: &HeaderMap) -> Option<Option<HeaderValue>> {
    let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) else {
        return Some(None);
    };
    let requested = requested.to_str().ok()?;
    let mut names = Vec::new();
    for name in requested
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let lower = name.to_ascii_lowercase();
        if !(ALLOWED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-moltin-")) {
            return None;
        }
        names.push(lower);
    }
    HeaderValue::from_str(&names.join(", ")).ok().map(Some)
}
