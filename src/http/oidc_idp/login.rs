//! The login (authorization) endpoint: checks the storefront's request, stores a login record
//! and sends the browser to the identity provider.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::oauth_error::{OAuthError, OAuthErrorDoc};
use super::query::{BrowserQuery, Param};
use super::redirect::{error_redirect, redirect};
use super::{CLIENT_ID, callback_endpoint, deployment_matches};
use crate::auth::secret::{Secret, sha256};
use crate::http::extract::Ids;
use crate::http::openapi::TooManyRequests;
use crate::http::rate_limit::{OidcBrowserEndpoints, RateLimited};
use crate::http::validation::parse_uuid;
use crate::oidc::{is_valid_code_challenge, random_token, s256_challenge};
use crate::state::AppState;
use crate::store::{NewOidcLogin, OidcLogin, StoreError};

/// What accountd always asks the provider for (docs/oidc.md#login-endpoint).
const PROVIDER_SCOPE: &str = "openid email profile";
/// A login waits this long for the provider's callback (docs/oidc.md#login-endpoint).
const LOGIN_SECONDS: i64 = 600;
const MAX_STATE_CHARS: usize = 2048;
/// Parameters a storefront may pass through to the provider unchanged
/// (docs/oidc.md#login-endpoint).
const FORWARDED: [&str; 3] = ["prompt", "display", "ui_locales"];

/// The login (authorization) endpoint (docs/oidc.md#login-endpoint); the browser calls it. Checks
/// that cannot redirect answer `400`; once the storefront's `redirect_uri` is known to be
/// registered, failures go back to it (`307`). Success stores a login record and sends the browser
/// to the provider (`303`).
#[utoipa::path(
    get, path = "/oidc-idp/login/stores/{store_id}/authentication-realms/{realm_id}", tag = "authentication",
    summary = "Start an OpenID Connect sign-in (browser)",
    description = "Query: elasticpath_commerce_cloud_profile_id, client_id=account-management, redirect_uri, \\
        response_type=code, scope (with openid), state, code_challenge, code_challenge_method=S256; \\
        optional prompt, display, ui_locales, ep_report_callback_replay_error.",
    params(("store_id" = Uuid, Path), ("realm_id" = Uuid, Path)),
    responses(
        (status = 303, description = "To the identity provider"),
        (status = 307, description = "Back to the storefront with `error`"),
        (status = 400, description = "Not redirectable: the OAuth error object", body = OAuthErrorDoc),
        TooManyRequests,
    )
)]
pub(super) async fn login(
    State(state): State<AppState>,
    _limit: RateLimited<OidcBrowserEndpoints>,
    Ids((raw_store_id, raw_realm_id)): Ids<(String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    match start_login(&state, &raw_store_id, &raw_realm_id, raw_query.as_deref()).await {
        Ok(response) | Err(response) => response,
    }
}

async fn start_login(
    state: &AppState,
    raw_store_id: &str,
    raw_realm_id: &str,
    raw_query: Option<&str>,
) -> Result<Response, Response> {
    let refuse = |error: OAuthError| error.into_response();
    if !deployment_matches(state, raw_store_id, raw_realm_id) {
        return Err(refuse(OAuthError::invalid_request(
            "unknown store or authentication realm",
        )));
    }
    let query = BrowserQuery::parse(raw_query)
        .ok_or_else(|| refuse(OAuthError::invalid_request("the query string is malformed")))?;
    let profile_id = query
        .one("elasticpath_commerce_cloud_profile_id")
        .and_then(parse_uuid)
        .ok_or_else(|| refuse(OAuthError::invalid_request("unknown oidc profile")))?;
    let profile = match state.store.oidc_profile(profile_id).await {
        Ok(profile) => profile,
        Err(StoreError::NotFound(_)) => {
            return Err(refuse(OAuthError::invalid_request("unknown oidc profile")));
        }
        Err(error) => return Err(refuse(OAuthError::server_error(error))),
    };
    if query.one("client_id") != Some(CLIENT_ID) {
        return Err(refuse(OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_client",
            description: format!("client_id must be {CLIENT_ID}").into(),
        }));
    }
    let realm = state
        .store
        .realm()
        .await
        .map_err(|error| refuse(OAuthError::server_error(error)))?;
    // Byte for byte against the registered list: the only place the browser may be sent back to.
    let Some(redirect_uri) = query.one("redirect_uri").filter(|uri| {
        realm
            .redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }) else {
        return Err(refuse(OAuthError::invalid_request(
            "redirect_uri is missing or not registered for the authentication realm",
        )));
    };

    // From here on failures go back to the storefront, with its state when that is usable.
    let client_state = query
        .one("state")
        .filter(|value| (1..=MAX_STATE_CHARS).contains(&value.chars().count()));
    let back = |error: &str, description: &str| {
        error_redirect(
            StatusCode::TEMPORARY_REDIRECT,
            redirect_uri,
            error,
            description,
            client_state,
        )
    };
    if query.one("response_type") != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let scope_has_openid = query
        .one("scope")
        .is_some_and(|scope| scope.split(' ').any(|value| value == "openid"));
    if !scope_has_openid {
        return Err(back("invalid_scope", "scope must contain openid"));
    }
    let Some(client_state) = client_state else {
        return Err(back(
            "invalid_request",
            "state is required and must be at most 2048 characters",
        ));
    };
    let Some(code_challenge) = query
        .one("code_challenge")
        .filter(|challenge| is_valid_code_challenge(challenge))
    else {
        return Err(back(
            "invalid_request",
            "code_challenge must be 43 base64url characters",
        ));
    };
    if query.one("code_challenge_method") != Some("S256") {
        return Err(back(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    let report_replay = match query.get("ep_report_callback_replay_error") {
        Param::Absent => false,
        Param::One("true") => true,
        Param::One("false") => false,
        Param::One(_) | Param::Repeated => {
            return Err(back(
                "invalid_request",
                "ep_report_callback_replay_error must be true or false",
            ));
        }
    };
    let mut forwarded = Vec::new();
    for name in FORWARDED {
        match query.get(name) {
            Param::Absent => {}
            Param::One(value) => forwarded.push((name, value)),
            Param::Repeated => {
                return Err(back("invalid_request", &format!("{name} was sent twice")));
            }
        }
    }

    let now = state.clock.now();
    let discovery = match state
        .oidc
        .discover(&profile.discovery_url, now, false)
        .await
    {
        Ok(discovery) => discovery,
        Err(error) => {
            tracing::warn!(profile_id = %profile.id, %error, "OIDC discovery unavailable at login");
            return Err(back(
                "temporarily_unavailable",
                "the identity provider is unavailable, try again later",
            ));
        }
    };
    let provider_state = random_token();
    let nonce = random_token();
    let code_verifier = random_token();
    let login = NewOidcLogin {
        state_hash: sha256(provider_state.as_bytes()),
        login: OidcLogin {
            oidc_profile_id: profile.id,
            redirect_uri: redirect_uri.to_owned(),
            client_state: client_state.to_owned(),
            code_challenge: code_challenge.to_owned(),
            nonce: nonce.clone(),
            code_verifier: Secret::new(code_verifier.clone()),
            report_replay,
        },
        expires_at: now.plus_seconds(LOGIN_SECONDS),
    };
    if let Err(error) = state.store.create_oidc_login(&login, now).await {
        tracing::error!(%error, "storing an OIDC login failed");
        return Err(back(
            "server_error",
            "there was a problem processing your request",
        ));
    }
    let callback = callback_endpoint(state, profile.id);
    let challenge = s256_challenge(&code_verifier);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", profile.client_id.as_str()),
        ("redirect_uri", callback.as_str()),
        ("scope", PROVIDER_SCOPE),
        ("state", provider_state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend(forwarded);
    Ok(redirect(
        StatusCode::SEE_OTHER,
        &discovery.authorization_endpoint,
        &params,
    ))
}
