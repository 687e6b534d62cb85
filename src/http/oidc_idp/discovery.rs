//! accountd's discovery document for storefronts.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::oauth_error::{OAuthError, OAuthErrorDoc};
use super::{deployment_matches, issuer_url, login_url};
use crate::http::extract::Ids;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    response_types_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 1],
    code_challenge_methods_supported: [&'static str; 1],
    scopes_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
}

/// accountd's discovery document for storefronts (docs/oidc.md#discovery-document); anyone may read
/// it. It names no token endpoint: codes are redeemed only through `POST
/// /v2/account-members/tokens`.
#[utoipa::path(
    get, path = "/oidc-idp/stores/{store_id}/authentication-realms/{realm_id}/.well-known/openid-configuration", tag = "authentication",
    summary = "accountd's discovery document for storefronts",
    params(("store_id" = Uuid, Path), ("realm_id" = Uuid, Path)),
    responses(
        (status = 200, body = DiscoveryDocument),
        (status = 400, description = "Unknown store or realm: the OAuth error object", body = OAuthErrorDoc),
    )
)]
pub(super) async fn discovery(
    State(state): State<AppState>,
    Ids((raw_store_id, raw_realm_id)): Ids<(String, String)>,
) -> Response {
    if !deployment_matches(&state, &raw_store_id, &raw_realm_id) {
        return OAuthError::invalid_request("unknown store or authentication realm")
            .into_response();
    }
    Json(DiscoveryDocument {
        issuer: issuer_url(&state),
        authorization_endpoint: login_url(&state),
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code"],
        code_challenge_methods_supported: ["S256"],
        scopes_supported: ["openid", "email", "profile"],
        subject_types_supported: ["public"],
    })
    .into_response()
}
