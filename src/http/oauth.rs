//! `POST /oauth/access_token` (docs/authentication.md#the-access-token-endpoint): bearer tokens for
//! an application key. Anyone may call it; `client_credentials` (id + secret) makes an Admin token,
//! `implicit` (id only) a Shopper one.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::extract::body::read_body;
use super::openapi::ErrorEnvelope;
use super::rate_limit::{AccessTokenEndpoint, RateLimited};
use super::response::no_store;
use crate::auth::secret::{constant_time_eq, new_bearer_token, sha256};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{GrantType, NewBearerToken};

pub const BEARER_LIFETIME_SECS: i64 = 3600;

/// The fields of a token request (docs/authentication.md#the-access-token-endpoint).
#[derive(Debug, utoipa::ToSchema)]
// Not a `request_body!` table: the body is a form or JSON (sniffed by its first byte), flat rather
// than wrapped in `data`, and answers with its own messages, so the handler reads it.
#[allow(dead_code)] // Describes the body for the OpenAPI document; the handler reads it.
pub struct AccessTokenRequest {
    #[schema(example = "client_credentials")]
    grant_type: String,
    client_id: String,
    /// Required for `client_credentials`, ignored for `implicit`.
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AccessToken {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    expires: i64,
    identifier: &'static str,
}

/// Anyone: no bearer token is needed to get one.
#[utoipa::path(
    post, path = "/oauth/access_token", tag = "authentication",
    summary = "Get a bearer token",
    description = "Form-encoded (or JSON when the body starts with `{`). `client_credentials` \\
        gives an Admin token, `implicit` a storefront token. No bearer token needed.",
    request_body(content(
        (AccessTokenRequest = "application/x-www-form-urlencoded"),
        (AccessTokenRequest = "application/json"),
    )),
    responses(
        (status = 200, body = AccessToken),
        (status = 400, description = "A field is missing or invalid", body = ErrorEnvelope),
        (status = 401, description = "Unknown client or wrong secret", body = ErrorEnvelope),
        (status = 429, description = "The per-address rate limit; wait `Retry-After`", body = ErrorEnvelope),
    )
)]
pub async fn access_token(
    State(state): State<AppState>,
    _limit: RateLimited<AccessTokenEndpoint>,
    request: Request,
) -> ApiResult<Response> {
    let body = read_body(request, &state).await?;
    let fields = parse_fields(&body)?;
    let field = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    };

    let grant_type = field("grant_type")
        .and_then(GrantType::parse)
        .ok_or_else(|| {
            ApiError::bad_request("grant_type must be client_credentials or implicit")
        })?;
    let client_id =
        field("client_id").ok_or_else(|| ApiError::bad_request("client_id is required"))?;
    let client_secret = match grant_type {
        GrantType::ClientCredentials => Some(
            field("client_secret")
                .ok_or_else(|| ApiError::bad_request("client_secret is required"))?,
        ),
        GrantType::Implicit => None,
    };

    // U+0000 cannot be stored, so no client has it; PostgreSQL would refuse to even look.
    let client = if client_id.contains('\0') {
        None
    } else {
        state.store.find_client(client_id).await?
    };
    let application_key_id = match (client, client_secret) {
        (Some(client), Some(secret)) => {
            let presented = sha256(secret.as_bytes());
            constant_time_eq(&presented, &client.secret_hash).then_some(client.application_key_id)
        }
        (Some(client), None) => Some(client.application_key_id),
        (None, secret) => {
            // Same work as a known client, so timing does not tell the two apart.
            let presented = sha256(secret.unwrap_or_default().as_bytes());
            let _ = constant_time_eq(&presented, &[0u8; 32]);
            None
        }
    }
    .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "invalid client credentials"))?;

    let token = new_bearer_token();
    let now = state.clock.now();
    let expires_at = now.plus_seconds(BEARER_LIFETIME_SECS);
    state
        .store
        .issue_bearer_token(
            &NewBearerToken {
                token_hash: sha256(token.as_bytes()),
                application_key_id,
                grant_type,
                expires_at,
            },
            now,
        )
        .await?;
    let response = AccessToken {
        access_token: token,
        token_type: "Bearer",
        expires_in: BEARER_LIFETIME_SECS,
        expires: expires_at.seconds(),
        identifier: grant_type.as_str(),
    };
    Ok(no_store(Json(response).into_response()))
}

/// JSON if the first non-blank byte is `{`, form fields otherwise, whatever `Content-Type` says:
/// Elastic Path's own curl examples send form fields labelled as JSON
/// (docs/authentication.md#the-access-token-endpoint).
fn parse_fields(body: &[u8]) -> ApiResult<HashMap<String, String>> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'{') {
        let value: Value =
            serde_json::from_slice(body).map_err(|_| ApiError::unparseable_body())?;
        let Value::Object(members) = value else {
            return Err(ApiError::unparseable_body());
        };
        Ok(members
            .into_iter()
            .filter_map(|(key, value)| match value {
                Value::String(text) => Some((key, text)),
                _ => None,
            })
            .collect())
    } else {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(|pairs| pairs.into_iter().collect())
            .map_err(|_| ApiError::unparseable_body())
    }
}
