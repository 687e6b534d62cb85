//! The browser-facing OpenID Connect endpoints (§21) and the `oidc` mechanism of the token
//! endpoint (§6.5). accountd plays two roles here: towards the storefront it is an authorization
//! server (login endpoint, its own single-use codes, PKCE S256); towards the merchant's identity
//! provider it is a relying party (its own state, nonce and PKCE, the code exchange, ID-token
//! validation). The storefront never sees the provider's tokens.
//!
//! Nobody authenticates to these endpoints: the browser calls them. Errors are the OAuth error
//! object, or redirects to the storefront once its `redirect_uri` is known to be registered, so
//! nothing here can redirect anywhere else.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::Ids;
use super::openapi::TooManyRequests;
use super::rate_limit::{OidcBrowserEndpoints, RateLimited};
use super::validation::{is_valid_email, parse_uuid};
use crate::auth::secret::{Secret, constant_time_eq, sha256};
use crate::error::{ApiError, ApiResult};
use crate::oidc::id_token::{self, Expected};
use crate::oidc::{
    Discovery, ProviderError, is_valid_code_challenge, is_valid_code_verifier, random_token,
    s256_challenge,
};
use crate::state::AppState;
use crate::store::{
    Entity, LoginClaim, NewAuditEvent, NewOidcCode, NewOidcLogin, OidcCode, OidcIdentity,
    OidcLogin, OidcProfile, StoreError,
};
use crate::time::Timestamp;

/// The only `client_id` storefronts use towards accountd (§13 `meta.client_id`).
pub const CLIENT_ID: &str = "account-management";
/// What accountd always asks the provider for (§21.3).
const PROVIDER_SCOPE: &str = "openid email profile";
/// A login waits this long for the provider's callback (§21.2).
const LOGIN_SECONDS: i64 = 600;
/// accountd's codes are redeemed within this (§21.4).
const CODE_SECONDS: i64 = 300;
const MAX_STATE_CHARS: usize = 2048;
/// Every provider call of one callback together, kept below the 30 s request timeout so the
/// storefront gets a redirect rather than a `408`.
const CALLBACK_BUDGET: Duration = Duration::from_secs(25);
/// Field limits of user authentication info (§17), which the claims are truncated to (§21.4).
const MAX_NAME_CHARS: usize = 255;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_SUBJECT_CHARS: usize = 255;
const MAX_ISSUER_CHARS: usize = 2048;
/// Parameters a storefront may pass through to the provider unchanged (§21.3).
const FORWARDED: [&str; 3] = ["prompt", "display", "ui_locales"];

/// The OAuth error object of the browser-facing endpoints (§21.3).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct OAuthErrorDoc {
    #[schema(example = "invalid_request")]
    error: String,
    error_description: String,
    /// The same text, for clients that read the camelCase name.
    #[schema(rename = "errorDescription")]
    error_description_camel: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(callback))
        .routes(routes!(discovery))
}

/// `{base}/oidc-idp/stores/{storeId}/authentication-realms/{realmId}`: accountd's issuer towards
/// storefronts, and the prefix of its discovery document (§21.5).
fn issuer_url(state: &AppState) -> String {
    state.url(&format!(
        "/oidc-idp/stores/{}/authentication-realms/{}",
        state.deployment.store_id, state.deployment.realm_id
    ))
}

fn login_url(state: &AppState) -> String {
    state.url(&format!(
        "/oidc-idp/login/stores/{}/authentication-realms/{}",
        state.deployment.store_id, state.deployment.realm_id
    ))
}

/// The profile's `authorization-endpoint` link (§19).
pub fn authorization_endpoint(state: &AppState, profile_id: Uuid) -> String {
    format!(
        "{}?elasticpath_commerce_cloud_profile_id={profile_id}",
        login_url(state)
    )
}

/// The profile's `callback-endpoint` link, registered at the provider as the redirect URI (§19).
pub fn callback_endpoint(state: &AppState, profile_id: Uuid) -> String {
    state.url(&format!(
        "/oidc-idp/callback/stores/{}/authentication-realms/{}/oidc-profiles/{profile_id}",
        state.deployment.store_id, state.deployment.realm_id
    ))
}

/// The `client-discovery-url` link (§19).
pub fn client_discovery_url(state: &AppState) -> String {
    format!("{}/.well-known/openid-configuration", issuer_url(state))
}

/// The OAuth error object of §21.3, for answers that cannot safely redirect.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
    /// The reference sends the description twice, once in camel case.
    #[serde(rename = "errorDescription")]
    error_description_camel: &'a str,
}

impl OAuthError {
    fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    /// A failure of accountd itself, before it knows where the browser may be sent.
    fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "OIDC request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "there was a problem processing your request".into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody {
            error: self.error,
            error_description: &self.description,
            error_description_camel: &self.description,
        };
        browser_headers((self.status, Json(body)).into_response())
    }
}

/// Nothing these endpoints answer may be cached, and a code in a URL must not leak onward
/// through `Referer`.
fn browser_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A redirect to `target` with `params` appended to its query, `?` or `&` as the URI needs; the
/// registered URI itself is kept byte for byte.
fn redirect(status: StatusCode, target: &str, params: &[(&str, &str)]) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let separator = match target.find('?') {
        None => "?",
        Some(_) if target.ends_with('?') || target.ends_with('&') => "",
        Some(_) => "&",
    };
    let location = format!("{target}{separator}{query}");
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response = status.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            browser_headers(response)
        }
        Err(_) => {
            OAuthError::server_error("redirect location is not a header value").into_response()
        }
    }
}

/// A redirect to the storefront carrying an OAuth `error` (and its `state`, when there is one).
fn error_redirect(
    status: StatusCode,
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect(status, redirect_uri, &params)
}

/// The query of a browser request, form-decoded (`+` is a space here, §4.1). A parameter sent
/// twice is ambiguous, and OAuth forbids it; it reads as [`Param::Repeated`].
struct BrowserQuery(HashMap<String, Vec<String>>);

enum Param<'a> {
    Absent,
    One(&'a str),
    Repeated,
}

impl BrowserQuery {
    fn parse(raw: Option<&str>) -> Option<Self> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).ok()?;
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in pairs {
            values.entry(name).or_default().push(value);
        }
        Some(Self(values))
    }

    fn get(&self, name: &str) -> Param<'_> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Param::Absent,
            Some([one]) => Param::One(one),
            Some(_) => Param::Repeated,
        }
    }

    fn one(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Param::One(value) => Some(value),
            Param::Absent | Param::Repeated => None,
        }
    }
}

fn deployment_matches(state: &AppState, raw_store_id: &str, raw_realm_id: &str) -> bool {
    parse_uuid(raw_store_id) == Some(state.deployment.store_id)
        && parse_uuid(raw_realm_id) == Some(state.deployment.realm_id)
}

/// The login (authorization) endpoint of §21.3; the browser calls it. Checks that cannot
/// redirect answer `400`; once the storefront's `redirect_uri` is known to be registered,
/// failures go back to it (`307`). Success stores a login record and sends the browser to the
/// provider (`303`).
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
async fn login(
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

/// The provider's redirect back (§21.4); the browser calls it. The login record named by
/// `state` is claimed once; then the provider's code is exchanged, the ID token validated, and
/// the browser sent to the storefront with accountd's own code (`303`).
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
async fn callback(
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
        // The provider's own error goes to the storefront as it came (§21.4).
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
        verify_at_provider(state, &profile, &login, provider_code, now),
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

/// Why the provider's side of a callback failed: `server_error` or `access_denied` (§21.4).
enum Refusal {
    Unavailable(String),
    Denied(String),
}

impl Refusal {
    fn reason(&self) -> &str {
        match self {
            Self::Unavailable(reason) | Self::Denied(reason) => reason,
        }
    }
}

impl From<ProviderError> for Refusal {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unavailable(_) => Self::Unavailable(error.to_string()),
            ProviderError::Refused(_)
            | ProviderError::DestinationRefused
            | ProviderError::IssuerMismatch => Self::Denied(error.to_string()),
        }
    }
}

impl From<id_token::IdTokenError> for Refusal {
    fn from(error: id_token::IdTokenError) -> Self {
        Self::Denied(error.to_string())
    }
}

/// The relying-party half of the callback: code exchange, ID-token validation, UserInfo when
/// the token lacks `email`, and the identity the claims describe.
async fn verify_at_provider(
    state: &AppState,
    profile: &OidcProfile,
    login: &OidcLogin,
    provider_code: &str,
    now: Timestamp,
) -> Result<OidcIdentity, Refusal> {
    let discovery: Discovery = state
        .oidc
        .discover(&profile.discovery_url, now, false)
        .await
        .map_err(|error| match error {
            // Another issuer's document, or one accountd may not fetch, is a refusal.
            ProviderError::IssuerMismatch | ProviderError::DestinationRefused => {
                Refusal::Denied(error.to_string())
            }
            other => Refusal::Unavailable(other.to_string()),
        })?;
    let tokens = state
        .oidc
        .exchange_code(
            &discovery.token_endpoint,
            &profile.client_id,
            &profile.client_secret,
            provider_code,
            &callback_endpoint(state, profile.id),
            &login.code_verifier,
        )
        .await?;
    let (algorithm, kid) = id_token::header(&tokens.id_token)?;
    let mut keys = state.oidc.keys(&discovery.jwks_uri, now, false).await?;
    if id_token::candidate_keys(&keys, algorithm, kid.as_deref()).is_empty() {
        // A key the cached set lacks: the provider may have rotated its keys (§19).
        keys = state.oidc.keys(&discovery.jwks_uri, now, true).await?;
    }
    let expected = Expected {
        issuer: &discovery.issuer,
        client_id: &profile.client_id,
        nonce: &login.nonce,
        now,
    };
    let mut claims = id_token::verify(
        &tokens.id_token,
        algorithm,
        &id_token::candidate_keys(&keys, algorithm, kid.as_deref()),
        &expected,
    )?;
    if !claims.get("email").is_some_and(Value::is_string) {
        if let (Some(endpoint), Some(access_token)) =
            (&discovery.userinfo_endpoint, &tokens.access_token)
        {
            let userinfo = state.oidc.userinfo(endpoint, access_token).await?;
            // UserInfo speaks for the ID token's subject only (OpenID Connect Core §5.3.2).
            if userinfo.get("sub") != claims.get("sub") {
                return Err(Refusal::Denied(
                    "the UserInfo sub differs from the ID token's".into(),
                ));
            }
            // The email comes from UserInfo, so its verification does too.
            claims.remove("email_verified");
            for (name, value) in userinfo {
                claims.entry(name).or_insert(value);
            }
        }
    }
    if says_email_unverified(&claims) && !profile.allow_unverified_email {
        return Err(Refusal::Denied(
            "the provider says the email is not verified".into(),
        ));
    }
    identity_from_claims(profile.id, &claims).map_err(|reason| Refusal::Denied(reason.into()))
}

/// Whether the claims say explicitly that the email is not verified. Some providers send the
/// claim as a string; an absent claim says nothing and is accepted.
fn says_email_unverified(claims: &Map<String, Value>) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(verified)) => !verified,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// The user data of §21.4: `email` required and valid, `name` from `name`, else the name parts,
/// else the email; everything truncated to the limits of §17.
fn identity_from_claims(
    oidc_profile_id: Uuid,
    claims: &Map<String, Value>,
) -> Result<OidcIdentity, &'static str> {
    let text = |name: &str| -> Option<String> {
        // U+0000 cannot be stored (§4.2) and means nothing in a name.
        let value = claims.get(name)?.as_str()?.replace('\0', "");
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|issuer| issuer.chars().count() <= MAX_ISSUER_CHARS)
        .ok_or("the issuer is too long")?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|subject| subject.chars().count() <= MAX_SUBJECT_CHARS && !subject.contains('\0'))
        .ok_or("the subject is too long")?;
    let email = text("email")
        .map(|email| truncate(&email, MAX_EMAIL_CHARS))
        .filter(|email| is_valid_email(email))
        .ok_or("no valid email in the ID token or UserInfo")?;
    let given_name = text("given_name").map(|value| truncate(&value, MAX_NAME_CHARS));
    let middle_name = text("middle_name").map(|value| truncate(&value, MAX_NAME_CHARS));
    let family_name = text("family_name").map(|value| truncate(&value, MAX_NAME_CHARS));
    let parts: Vec<&str> = [given_name.as_deref(), family_name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let name = text("name")
        .or_else(|| (!parts.is_empty()).then(|| parts.join(" ")))
        .unwrap_or_else(|| email.clone());
    Ok(OidcIdentity {
        oidc_profile_id,
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        name: truncate(&name, MAX_NAME_CHARS),
        email,
        given_name,
        middle_name,
        family_name,
    })
}

fn truncate(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}

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

/// accountd's discovery document for storefronts (§21.5); anyone may read it. It names no token
/// endpoint: codes are redeemed only through `POST /v2/account-members/tokens`.
#[utoipa::path(
    get, path = "/oidc-idp/stores/{store_id}/authentication-realms/{realm_id}/.well-known/openid-configuration", tag = "authentication",
    summary = "accountd's discovery document for storefronts",
    params(("store_id" = Uuid, Path), ("realm_id" = Uuid, Path)),
    responses(
        (status = 200, body = DiscoveryDocument),
        (status = 400, description = "Unknown store or realm: the OAuth error object", body = OAuthErrorDoc),
    )
)]
async fn discovery(
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

/// §6.5: redeems accountd's code for the member it stands for. Steps 1–3 failing, or the
/// profile having been deleted, is `400 authentication failed`; a taken email under the realm's
/// policy is `409`. `signed_in` is the sign-in's audit row, written with the member's changes;
/// `refused` is written when a real code is refused (it is burnt then), not for codes that do
/// not exist, which anyone can make up.
pub async fn redeem(
    state: &AppState,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    signed_in: &NewAuditEvent,
    refused: &NewAuditEvent,
) -> ApiResult<Uuid> {
    let now = state.clock.now();
    // Redeeming removes the code first, so a wrong verifier or redirect URI also burns it.
    let Some(record) = state
        .store
        .redeem_oidc_code(&sha256(code.as_bytes()), now)
        .await?
    else {
        return Err(ApiError::authentication_failed());
    };
    let refuse = || async {
        state.store.append_audit_event(refused, now).await?;
        Ok::<_, ApiError>(ApiError::authentication_failed())
    };
    if !constant_time_eq(redirect_uri.as_bytes(), record.redirect_uri.as_bytes()) {
        return Err(refuse().await?);
    }
    let challenge_matches = is_valid_code_verifier(code_verifier)
        && constant_time_eq(
            s256_challenge(code_verifier).as_bytes(),
            record.code_challenge.as_bytes(),
        );
    if !challenge_matches {
        return Err(refuse().await?);
    }
    match state
        .store
        .sign_in_oidc_identity(&record.identity, now, signed_in)
        .await
    {
        Ok(signed_in) => Ok(signed_in.user_id),
        Err(StoreError::NotFound(Entity::OidcProfile)) => Err(refuse().await?),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn only_an_explicit_false_says_the_email_is_unverified() {
        assert!(says_email_unverified(&claims(
            json!({"email_verified": false})
        )));
        assert!(says_email_unverified(&claims(
            json!({"email_verified": "false"})
        )));
        assert!(!says_email_unverified(&claims(
            json!({"email_verified": true})
        )));
        assert!(!says_email_unverified(&claims(
            json!({"email_verified": "true"})
        )));
        assert!(!says_email_unverified(&claims(json!({}))));
        assert!(!says_email_unverified(&claims(
            json!({"email_verified": null})
        )));
    }

    #[test]
    fn the_name_falls_back_to_the_parts_then_the_email() {
        let id = Uuid::new_v4();
        let base = json!({"iss": "https://idp", "sub": "s", "email": "a@b.com"});
        let mut with_name = base.clone();
        with_name["name"] = json!("Ann Smith");
        assert_eq!(
            identity_from_claims(id, &claims(with_name)).unwrap().name,
            "Ann Smith"
        );
        let mut with_parts = base.clone();
        with_parts["given_name"] = json!("Ann");
        with_parts["family_name"] = json!("Smith");
        let identity = identity_from_claims(id, &claims(with_parts)).unwrap();
        assert_eq!(identity.name, "Ann Smith");
        assert_eq!(identity.given_name.as_deref(), Some("Ann"));
        assert_eq!(
            identity_from_claims(id, &claims(base)).unwrap().name,
            "a@b.com"
        );
    }

    #[test]
    fn long_values_are_truncated_and_bad_emails_refused() {
        let id = Uuid::new_v4();
        let long = "x".repeat(300);
        let identity = identity_from_claims(
            id,
            &claims(json!({"iss": "i", "sub": "s", "email": "a@b.com", "name": long})),
        )
        .unwrap();
        assert_eq!(identity.name.chars().count(), 255);
        assert!(
            identity_from_claims(
                id,
                &claims(json!({"iss": "i", "sub": "s", "email": "not-an-email"}))
            )
            .is_err()
        );
        assert!(identity_from_claims(id, &claims(json!({"iss": "i", "sub": "s"}))).is_err());
        assert!(
            identity_from_claims(
                id,
                &claims(json!({"iss": "i", "sub": "s".repeat(256), "email": "a@b.com"}))
            )
            .is_err()
        );
    }

    #[test]
    fn redirects_append_to_an_existing_query() {
        let response = redirect(
            StatusCode::SEE_OTHER,
            "https://shop.example.com/cb?x=1",
            &[("code", "a b"), ("state", "s&t")],
        );
        assert_eq!(
            response.headers().get(header::LOCATION).unwrap(),
            "https://shop.example.com/cb?x=1&code=a+b&state=s%26t"
        );
        let response = redirect(
            StatusCode::SEE_OTHER,
            "https://shop.example.com/cb",
            &[("a", "1")],
        );
        assert_eq!(
            response.headers().get(header::LOCATION).unwrap(),
            "https://shop.example.com/cb?a=1"
        );
    }
}
