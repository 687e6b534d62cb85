//! `GET /.well-known/jwks.json`: the public keys that verify account tokens, as an RFC 7517 JWK
//! Set. Retired keys stay in it until the last token they signed has expired.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// How long caches may keep the set. A rotated key signs only once servers reload (within a
/// minute), and verifiers refetch on an unknown `kid`, so five minutes costs nothing.
const CACHE_CONTROL: &str = "public, max-age=300";

/// Anyone: no credentials. Under HS256 the set is empty, since a shared secret is never
/// published.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "authentication",
    summary = "The public keys that verify account tokens (JWK Set)",
    description = "RFC 7517 JWK Set of the Ed25519 (`EdDSA`) or P-256 (`ES256`) keys that sign \
        account tokens, each with `kid`, `alg` and `use: \"sig\"`; retired keys stay until their \
        tokens have expired. `{\"keys\":[]}` under HS256. No credentials needed.",
    responses((status = 200, description = "The JWK Set", content_type = "application/json"))
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let set = state.keys.jwks(state.clock.now());
    let mut response = Json(set).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}
