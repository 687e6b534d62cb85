//! `GET|HEAD /v2/account-members/tokens/verify`: forward auth for gateways (nginx
//! `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz`). A valid, live account token is
//! answered with identity headers the gateway copies to the upstream; anything else with `401`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use uuid::Uuid;

use super::NO_BEARER;
use crate::auth::secret::sha256;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::caller::{
    TokenFault, account_token_header, accountd_bearer_token, verify_offline,
};
use crate::http::openapi::Unauthorized;
use crate::http::response::no_store;
use crate::state::AppState;
use crate::store::HolderCheck;
use crate::time::Timestamp;

pub const ACCOUNT_ID: HeaderName = HeaderName::from_static("x-account-id");
pub const ACCOUNT_MEMBER_ID: HeaderName = HeaderName::from_static("x-account-member-id");
pub const ACCOUNT_NAME: HeaderName = HeaderName::from_static("x-account-name");
pub const TOKEN_EXPIRES: HeaderName = HeaderName::from_static("x-account-token-expires");

/// Everything but RFC 3986's unreserved characters is percent-encoded in `X-Account-Name`, so
/// any UTF-8 name travels as a plain ASCII header value.
const NAME_ENCODING: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Identity {
    data: IdentityData,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct IdentityData {
    /// Always `account_token_identity`.
    #[serde(rename = "type")]
    #[schema(example = "account_token_identity")]
    kind: &'static str,
    account_id: Uuid,
    account_member_id: Uuid,
    account_name: String,
    /// The token's `exp` (RFC 3339, milliseconds always `.000`).
    expires: Timestamp,
}

/// Anyone holding an account token: the bearer token is optional, and checked only when
/// `Authorization` carries an accountd bearer token (any other value is the gateway's business).
#[utoipa::path(
    get, path = "/v2/account-members/tokens/verify", tag = "authentication",
    summary = "Forward auth: verify an account token for a gateway",
    description = "Checks the EP-Account-Management-Authentication-Token header fully, liveness \
        included. `200` carries `X-Account-Id`, `X-Account-Member-Id`, `X-Account-Name` \
        (percent-encoded UTF-8) and `X-Account-Token-Expires` (RFC 3339); `HEAD` answers the \
        same without a body. `401` otherwise, with no identity headers. Not rate-limited per \
        address.",
    responses(
        (status = 200, body = Identity, headers(
            ("X-Account-Id" = String, description = "The token's account (`scope`)"),
            ("X-Account-Member-Id" = String, description = "The token's member (`sub`)"),
            ("X-Account-Name" = String, description = "The account's name, percent-encoded UTF-8"),
            ("X-Account-Token-Expires" = String, description = "The token's expiry, RFC 3339"),
        )),
        Unauthorized,
    ),
    security(("account_token" = []), ("bearer" = [], "account_token" = []))
)]
pub async fn verify(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Refusals are not cached either: the next request may carry a fresh token.
    no_store(identify(&state, &headers).await.into_response())
}

async fn identify(state: &AppState, headers: &HeaderMap) -> ApiResult<Response> {
    let now = state.clock.now();
    let bearer = accountd_bearer_token(headers).map(|token| sha256(token.as_bytes()));
    let verdict = match account_token_header(headers) {
        None => None,
        Some(None) => Some(Err(TokenFault::Invalid)),
        Some(Some(token)) => Some(verify_offline(token, state).await),
    };
    let claims = match verdict {
        Some(Ok(claims)) => claims,
        verdict => {
            // The bearer token is checked first when there is one, as on every other route.
            if let Some(hash) = &bearer {
                state
                    .store
                    .find_bearer_token(hash, now)
                    .await?
                    .ok_or_else(ApiError::invalid_bearer)?;
            }
            return Err(match verdict {
                Some(Err(fault)) => fault.error(),
                _ => ApiError::invalid_account_token(),
            });
        }
    };
    // The same one-statement read as the token-checked account read: bearer, liveness and the
    // account's name together.
    let check = HolderCheck {
        bearer_hash: bearer.unwrap_or(NO_BEARER),
        now,
        member_id: claims.sub,
        token_account_id: claims.scope,
        iat: claims.iat,
    };
    let view = state.store.account_as_holder(&check, claims.scope).await?;
    if bearer.is_some() && view.bearer.is_none() {
        return Err(ApiError::invalid_bearer());
    }
    let account = match view.account {
        Some(account) if view.live => account,
        _ => return Err(ApiError::invalid_account_token()),
    };
    let expires = Timestamp::from_seconds(claims.exp);
    let identity = [
        (ACCOUNT_ID, claims.scope.to_string()),
        (ACCOUNT_MEMBER_ID, claims.sub.to_string()),
        (
            ACCOUNT_NAME,
            utf8_percent_encode(&account.name, NAME_ENCODING).to_string(),
        ),
        (TOKEN_EXPIRES, expires.to_string()),
    ];
    let body = Identity {
        data: IdentityData {
            kind: "account_token_identity",
            account_id: claims.scope,
            account_member_id: claims.sub,
            account_name: account.name,
            expires,
        },
    };
    let mut response = Json(body).into_response();
    for (name, value) in identity {
        // Every value is ASCII by construction (UUIDs, percent-encoding, RFC 3339).
        if let Ok(value) = HeaderValue::try_from(value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
