//! What other services of a merchant's stack use to trust account tokens without holding a
//! signing secret: the public keys, introspection, and forward auth for gateways. None of
//! them is rate-limited per address (gateways call them for every request), except failed client
//! authentication on introspection.

pub mod forward_auth;
pub mod introspection;
pub mod jwks;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// A bearer digest no bearer token has (finding a SHA-256 preimage of zeros is infeasible): what
/// the one-statement holder read gets when the caller presents no bearer token, so that only
/// its liveness and account answers count.
const NO_BEARER: [u8; 32] = [0; 32];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks::jwks))
        .routes(routes!(introspection::introspect))
        .routes(routes!(forward_auth::verify))
}
