//! `POST /oauth/introspect` (RFC 7662): whether an account token is active right now, for
//! services that must know about revocations. The token is validated in full, liveness included;
//! an inactive token is answered with `{"active":false}` and nothing that would tell why.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use uuid::Uuid;

use super::NO_BEARER;
use crate::auth::jwt::AccountClaims;
use crate::auth::secret::{constant_time_eq, sha256};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::body::read_body;
use crate::http::extract::caller::verify_offline;
use crate::http::extract::client::ClientAddress;
use crate::http::openapi::{ErrorEnvelope, TooManyRequests};
use crate::http::response::no_store;
use crate::state::AppState;
use crate::store::HolderCheck;

/// The per-address budget that failed client authentications spend.
const FAILURE_BUDGET: &str = "introspection_client_authentication";

/// The form fields (RFC 7662, section 2.1): the body is read into this, and the OpenAPI
/// document describes it from the same definition.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct IntrospectionRequest {
    /// The account token to introspect.
    token: String,
    /// Ignored: only account tokens are introspected.
    #[schema(nullable = false)]
    #[serde(default)]
    #[allow(dead_code)] // Accepted and ignored, as RFC 7662 allows.
    token_type_hint: Option<String>,
}

/// An active token's answer: `active` and every other member; an inactive one is exactly
/// `{"active":false}`.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    active: bool,
    /// Always `account_management_authentication_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    token_type: Option<&'static str>,
    /// The account member.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sub: Option<Uuid>,
    /// The account the token is scoped to (not an OAuth scope list).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    scope: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    account_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    account_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    store_id: Option<Uuid>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iat: Option<i64>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    jti: Option<Uuid>,
}

impl Introspection {
    fn inactive() -> Self {
        Self::default()
    }

    fn active(claims: &AccountClaims, account_name: String) -> Self {
        Self {
            active: true,
            token_type: Some("account_management_authentication_token"),
            sub: Some(claims.sub),
            scope: Some(claims.scope),
            account_id: Some(claims.scope),
            account_name: Some(account_name),
            store_id: Some(claims.store_id),
            iat: Some(claims.iat),
            exp: Some(claims.exp),
            jti: Some(claims.jti),
        }
    }
}

/// How the caller authenticates.
enum ClientAuthentication {
    /// Any accountd bearer token, implicit ones included: its SHA-256.
    Bearer([u8; 32]),
    /// HTTP Basic with an application key's client id and secret.
    Basic {
        client_id: String,
        secret: String,
    },
    Missing,
}

/// Callers holding any accountd bearer token (`implicit` included), or an application key's
/// client id and secret as HTTP Basic.
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "authentication",
    summary = "Introspect an account token (RFC 7662)",
    description = "Form-encoded `token=<account token>`. The token is validated fully, liveness \
        included (member, account, membership, revocations). Active: the claims plus \
        `account_id` and `account_name`; anything else, a malformed token included: exactly \
        `{\"active\":false}`. The caller authenticates with a bearer token or HTTP Basic \
        `client_id:client_secret`; failed authentication is rate-limited per address.",
    request_body(content((IntrospectionRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, body = Introspection),
        (status = 401, description = "Missing or wrong caller credentials", body = ErrorEnvelope),
        TooManyRequests,
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn introspect(
    State(state): State<AppState>,
    client: ClientAddress,
    request: Request,
) -> Response {
    no_store(answer(&state, client, request).await.into_response())
}

async fn answer(state: &AppState, client: ClientAddress, request: Request) -> ApiResult<Response> {
    // An address that spent its budget of failures is refused before its credentials are
    // looked at: otherwise a correct guess would still stand out from the refusals.
    state
        .rate_limiter
        .check_failures(FAILURE_BUDGET, client)
        .map_err(ApiError::too_many_requests)?;
    let authentication = client_authentication(request.headers());
    let body = read_body(request, state).await?;
    // A body without a token (or not a form at all) is introspected as no token: inactive.
    let token = serde_urlencoded::from_bytes::<IntrospectionRequest>(&body)
        .ok()
        .map(|request| request.token);
    let verdict = evaluate(state, &authentication, token.as_deref()).await?;
    match verdict {
        Some(introspection) => Ok(Json(introspection).into_response()),
        None => {
            state
                .rate_limiter
                .record_failure(FAILURE_BUDGET, client)
                .map_err(ApiError::too_many_requests)?;
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid client credentials",
            ))
        }
    }
}

/// The answer, or `None` when the caller failed to authenticate.
async fn evaluate(
    state: &AppState,
    authentication: &ClientAuthentication,
    token: Option<&str>,
) -> ApiResult<Option<Introspection>> {
    let now = state.clock.now();
    let bearer_hash = match authentication {
        ClientAuthentication::Missing => return Ok(None),
        ClientAuthentication::Basic { client_id, secret } => {
            if !application_key_matches(state, client_id, secret).await? {
                return Ok(None);
            }
            None
        }
        ClientAuthentication::Bearer(hash) => Some(*hash),
    };
    let claims = match token.map(str::trim).filter(|token| !token.is_empty()) {
        Some(token) => verify_offline(token, state).await.ok(),
        None => None,
    };
    let Some(claims) = claims else {
        if let Some(hash) = &bearer_hash {
            if state.store.find_bearer_token(hash, now).await?.is_none() {
                return Ok(None);
            }
        }
        return Ok(Some(Introspection::inactive()));
    };
    // One statement: the caller's bearer token, the token's liveness and the account's name.
    let check = HolderCheck {
        bearer_hash: bearer_hash.unwrap_or(NO_BEARER),
        now,
        member_id: claims.sub,
        token_account_id: claims.scope,
        iat: claims.iat,
    };
    let view = state.store.account_as_holder(&check, claims.scope).await?;
    if bearer_hash.is_some() && view.bearer.is_none() {
        return Ok(None);
    }
    Ok(Some(match view.account {
        Some(account) if view.live => Introspection::active(&claims, account.name),
        _ => Introspection::inactive(),
    }))
}

/// The application key's secret, compared as its SHA-256 in constant time; an unknown client id
/// costs the same work.
async fn application_key_matches(
    state: &AppState,
    client_id: &str,
    secret: &str,
) -> ApiResult<bool> {
    // U+0000 cannot be stored, so no client has it; PostgreSQL would refuse to even look.
    let stored = if client_id.contains('\0') {
        None
    } else {
        state.store.find_client(client_id).await?
    };
    let presented = sha256(secret.as_bytes());
    Ok(match stored {
        Some(client) => constant_time_eq(&presented, &client.secret_hash),
        None => {
            let _ = constant_time_eq(&presented, &[0u8; 32]);
            false
        }
    })
}

/// `Authorization: Bearer …` or `Basic …` (RFC 6749, section 2.3.1: id and secret form-encoded, then
/// joined by `:` and base64-encoded).
fn client_authentication(headers: &HeaderMap) -> ClientAuthentication {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return ClientAuthentication::Missing;
    };
    let Some((scheme, credentials)) = value.trim().split_once(' ') else {
        return ClientAuthentication::Missing;
    };
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty() {
        return ClientAuthentication::Bearer(sha256(credentials.as_bytes()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return ClientAuthentication::Missing;
    }
    let decoded = STANDARD
        .decode(credentials)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some((client_id, secret)) = decoded.as_deref().and_then(|text| text.split_once(':')) else {
        return ClientAuthentication::Missing;
    };
    match (form_decode(client_id), form_decode(secret)) {
        (Some(client_id), Some(secret)) if !client_id.is_empty() => {
            ClientAuthentication::Basic { client_id, secret }
        }
        _ => ClientAuthentication::Missing,
    }
}

fn form_decode(value: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&value.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_other_schemes_ignored() {
        // "my%20id:s%3Acret+x" in base64.
        let encoded = STANDARD.encode("my%20id:s%3Acret+x");
        let header = Box::leak(format!("Basic {encoded}").into_boxed_str());
        match client_authentication(&with(header)) {
            ClientAuthentication::Basic { client_id, secret } => {
                assert_eq!(client_id, "my id");
                assert_eq!(secret, "s:cret x");
            }
            _ => panic!("not basic"),
        }
        assert!(matches!(
            client_authentication(&with("Basic !!!")),
            ClientAuthentication::Missing
        ));
        assert!(matches!(
            client_authentication(&with("Digest abc")),
            ClientAuthentication::Missing
        ));
        assert!(matches!(
            client_authentication(&with("bearer abc")),
            ClientAuthentication::Bearer(_)
        ));
        assert!(matches!(
            client_authentication(&HeaderMap::new()),
            ClientAuthentication::Missing
        ));
    }

    #[test]
    fn an_inactive_answer_is_exactly_active_false() {
        assert_eq!(
            serde_json::to_value(Introspection::inactive()).unwrap(),
            serde_json::json!({"active": false})
        );
    }
}
