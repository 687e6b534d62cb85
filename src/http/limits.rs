//! Request size limits, checked before anything else a route does (rate limits, bearer tokens,
//! parsing): the request target, the header block, and the body. Bodies are capped at 1 MiB,
//! and at 64 KiB on the routes anyone can reach with a public client id, which have no use for
//! more; a declared `Content-Length` over the limit is refused without reading a byte.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;

/// The body limit of every route not listed in [`SMALL_BODY_ROUTES`].
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The body limit of [`SMALL_BODY_ROUTES`].
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Routes (all `POST`) that anyone holding a storefront's public client id can call: their
/// bodies are a few hundred bytes, and an attacker must not be able to park a megabyte on each
/// before any credential is checked. These bodies are read whole before the handler runs, so
/// the limit holds whatever the framing (a declared length or chunks).
pub const SMALL_BODY_ROUTES: &[&str] = &[
    "/oauth/access_token",
    "/oauth/introspect",
    "/v2/account-members/tokens",
    "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}/one-time-password-token-request",
];
/// Longest request target (path and query) answered by the router; longer ones get `414`.
pub const MAX_TARGET_BYTES: usize = 16 * 1024;
/// Largest header block answered by the router; larger ones get `431`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Largest request head hyper reads at all (its read buffer); past it hyper answers a bare
/// `431` and closes. Above both limits so that heads just over them get the errors envelope,
/// and above hyper's own 64 KiB request-target cap.
pub const TRANSPORT_HEAD_BYTES: usize = 96 * 1024;

/// The middleware: `414`, `431` and `413` in the errors envelope, in that order.
pub async fn enforce(request: Request, next: Next) -> Response {
    if target_bytes(&request) > MAX_TARGET_BYTES {
        return ApiError::new(StatusCode::URI_TOO_LONG, "request line too long").into_response();
    }
    if header_bytes(request.headers()) > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
        .into_response();
    }
    let small = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| SMALL_BODY_ROUTES.contains(&route.as_str()));
    let limit = if small {
        SMALL_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    };
    if declared_length(request.headers()).is_some_and(|length| length > limit as u64) {
        return ApiError::payload_too_large().into_response();
    }
    if !small {
        // The extractors enforce MAX_BODY_BYTES as they read (`DefaultBodyLimit`).
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            let request = Request::from_parts(parts, Body::from(collected.to_bytes()));
            next.run(request).await
        }
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            ApiError::payload_too_large().into_response()
        }
        // The client went away or sent a malformed body: nobody reads this answer.
        Err(_) => ApiError::unparseable_body().into_response(),
    }
}

fn target_bytes(request: &Request) -> usize {
    let uri = request.uri();
    uri.authority()
        .map_or(0, |authority| authority.as_str().len())
        + uri
            .path_and_query()
            .map_or(0, |target| target.as_str().len())
}

/// The header block as it was sent: each `name: value` line with its line break.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_block_counts_names_values_and_line_breaks() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", "12345".parse().unwrap());
        assert_eq!(header_bytes(&headers), 3 + 5 + 4);
    }

    #[test]
    fn the_small_body_routes_are_post_routes_of_the_router() {
        let document = crate::http::openapi_document();
        for route in SMALL_BODY_ROUTES {
            let item = document
                .paths
                .paths
                .get(*route)
                .unwrap_or_else(|| panic!("{route} is not a route"));
            assert!(item.post.is_some(), "{route} has no POST");
        }
    }
}
