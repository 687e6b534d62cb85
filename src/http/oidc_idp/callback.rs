//! The provider's redirect back: the login record is claimed once, the relying party checks the
//! provider's answer, and the browser goes to the storefront with accountd's own code.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::oauth_error::{OAuthError, OAuthErrorDoc};
use super::query::BrowserQuery;
use super::redirect::{error_redirect, redirect};
use super::{callback_endpoint, deployment_matches};
use crate::auth::secret::sha256;
use crate::http::extract::Ids;
use crate::http::openapi::TooManyRequests;
use crate::http::rate_limit::{OidcBrowserEndpoints, RateLimited};
use crate::http::validation::parse_uuid;
use crate::oidc::random_token;
use crate::oidc::relying_party::{Refusal, verify_at_provider};
use crate::state::AppState;
use crate::store::{LoginClaim, NewOidcCode, OidcCode, StoreError};

/// accountd's codes are redeemed within this (docs/oidc.md#the-code-for-the-storefront).
const CODE_SECONDS: i64 = 300;
/// Every provider call of one callback together, kept below the 30 s request timeout so the
/// storefront gets a redirect rather than a `408`.
const CALLBACK_BUDGET: Duration = Duration::from_secs(25);

/// The provider's redirect back (docs/oidc.md#callback); the browser calls it. The login record
/// named by `state` is claimed once; then the provider's code is exchanged, the ID token validated,
/// and the browser sent to the storefront with accountd's own code (`303`).
#[utoipa::path(
    get, path = "/oidc-idp/callback/stores/{store_id}/authentication-realms/{realm_id}/oidc-profiles/{profile_id}", tag = "authentication",
    summary = "The identity provider's redirect back (browser)",
    params(("store_id" = Uuid, Path), ("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    responses(
        (status = 303, description = "To the storefront with `code` and `state`, or with `error`"),
        (status = 400, description = "Unknown, expired or replayed state: the OAuth error object", body = OAuthErrorDoc),
        TooManyRequests,
    )
)]
pub(super) async fn callback(
    State(state): State<AppState>,
    _limit: RateLimited<OidcBrowserEndpoints>,
    Ids((raw_store_id, raw_realm_id, raw_profile_id)): Ids<(String, String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    match finish_login(
        &state,
        &raw_store_id,
        &raw_realm_id,
        &raw_profile_id,
        raw_query.as_deref(),
    )
    .await
    {
        Ok(response) | Err(response) => response,
    }
}

async fn finish_login(
    state: &AppState,
    raw_store_id: &str,
    raw_realm_id: &str,
    raw_profile_id: &str,
    raw_query: Option<&str>,
) -> Result<Response, Response> {
    let refuse = |error: OAuthError| error.into_response();
    let profile_id = parse_uuid(raw_profile_id)
        .filter(|_| deployment_matches(state, raw_store_id, raw_realm_id))
        .ok_or_else(|| {
            refuse(OAuthError::invalid_request(
                "unknown store, authentication realm or oidc profile",
            ))
        })?;
    let query = BrowserQuery::parse(raw_query)
        .ok_or_else(|| refuse(OAuthError::invalid_request("the query string is malformed")))?;
    let Some(provider_state) = query.one("state") else {
        return Err(refuse(OAuthError::invalid_request(
            "the login is unknown or has expired",
        )));
    };
    let now = state.clock.now();
    let claim = state
        .store
        .claim_oidc_login(&sha256(provider_state.as_bytes()), profile_id, now)
        .await
        .map_err(|error| refuse(OAuthError::server_error(error)))?;
    let (login, replayed) = match claim {
        LoginClaim::Unknown => {
            return Err(refuse(OAuthError::invalid_request(
                "the login is unknown or has expired",
            )));
        }
        LoginClaim::Claimed(login) => (login, false),
        LoginClaim::Replayed(login) => (login, true),
    };
    // The storefront's URI was registered when the login started; an Admin may have removed it
    // since, and then the browser is sent nowhere.
    let realm = state
        .store
        .realm()
        .await
        .map_err(|error| refuse(OAuthError::server_error(error)))?;
    if !realm.redirect_uris.contains(&login.redirect_uri) {
        return Err(refuse(OAuthError::invalid_request(
            "redirect_uri is no longer registered for the authentication realm",
        )));
    }
    if replayed {
        if login.report_replay {
            return Err(error_redirect(
                StatusCode::SEE_OTHER,
                &login.redirect_uri,
                "invalid_request",
                "the login was already completed",
                Some(&login.client_state),
            ));
        }
        return Err(refuse(OAuthError::invalid_request(
            "the login was already completed",
        )));
    }
    let back = |error: &str, description: &str| {
        error_redirect(
            StatusCode::SEE_OTHER,
            &login.redirect_uri,
            error,
            description,
            Some(&login.client_state),
        )
    };
    if let Some(error) = query.one("error") {
        // The provider's own error goes to the storefront as it came (docs/oidc.md#callback).
        let mut params = vec![("error", error)];
        if let Some(description) = query.one("error_description") {
            params.push(("error_description", description));
        }
        params.push(("state", &login.client_state));
        return Err(redirect(
            StatusCode::SEE_OTHER,
            &login.redirect_uri,
            &params,
        ));
    }
    let Some(provider_code) = query.one("code") else {
        return Err(back(
            "access_denied",
            "the identity provider returned no code",
        ));
    };
    let profile = match state.store.oidc_profile(profile_id).await {
        Ok(profile) => profile,
        Err(StoreError::NotFound(_)) => {
            return Err(back("access_denied", "the oidc profile no longer exists"));
        }
        Err(error) => {
            tracing::error!(%error, "reading an OIDC profile failed");
            return Err(back(
                "server_error",
                "there was a problem processing your request",
            ));
        }
    };
    let verified = tokio::time::timeout(
        CALLBACK_BUDGET,
        verify_at_provider(
            &state.oidc,
            &profile,
            &login,
            provider_code,
            &callback_endpoint(state, profile.id),
            now,
        ),
    )
    .await
    .unwrap_or(Err(Refusal::Unavailable(
        "the identity provider took too long".into(),
    )));
    let identity = match verified {
        Ok(identity) => identity,
        Err(refusal) => {
            tracing::warn!(profile_id = %profile.id, reason = %refusal.reason(), "OIDC callback refused");
            return Err(match refusal {
                Refusal::Unavailable(_) => {
                    back("server_error", "the identity provider could not be reached")
                }
                Refusal::Denied(_) => back(
                    "access_denied",
                    "the identity provider's answer could not be verified",
                ),
            });
        }
    };
    let code = random_token();
    let record = NewOidcCode {
        code_hash: sha256(code.as_bytes()),
        code: OidcCode {
            identity,
            redirect_uri: login.redirect_uri.clone(),
            code_challenge: login.code_challenge.clone(),
        },
        expires_at: now.plus_seconds(CODE_SECONDS),
    };
    if let Err(error) = state.store.create_oidc_code(&record, now).await {
        tracing::error!(%error, "storing an OIDC code failed");
        return Err(back(
            "server_error",
            "there was a problem processing your request",
        ));
    }
    Ok(redirect(
        StatusCode::SEE_OTHER,
        &login.redirect_uri,
        &[("code", &code), ("state", &login.client_state)],
    ))
}
