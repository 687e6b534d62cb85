//! `POST /v2/account-members/tokens` (§6): a member proves who they are and gets one account
//! management authentication token per account they belong to, by password (§6.2), one-time
//! code (§6.3), self sign-up (§6.4) or a previous token (§6.6). Checks run in the order of §6.8;
//! login throttling (step 9) is the `LoginGuard` below. Every mechanism's attempt is counted in
//! `accountd_logins_total` by mechanism and outcome, and leaves its `login.*` audit rows.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::extract::ClientAddress;
use super::extract::caller::{Caller, Credentials, TokenFault, actor_of_grant};
use super::extract::{JsonBody, ListParams};
use super::login_guard::{LoginGuard, login_event};
use super::openapi::{
    BadRequest, Busy, Conflict, Envelope, Forbidden, NotFound, PageQuery, TooManyRequests,
    Unauthorized, Unprocessable,
};
use super::rate_limit::{RateLimited, TokenEndpoint};
use super::response::{BODY_CAPACITY, PageLinks, PageMeta, Results, no_store, paginate};
use super::validation::{Violations, is_valid_email, parse_uuid};
use crate::auth::jwt::{AccountClaims, encode_ancestors};
use crate::auth::password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::auth::throttle::MAX_USERNAME_BYTES;
use crate::error::{ApiError, ApiResult};
use crate::metrics::{LoginMechanism, LoginOutcome};
use crate::state::AppState;
use crate::store::{
    Actor, BearerGrant, NewAuditEvent, NewUser, Page, SelfManagement, SelfSignup, StoreError,
    TokenAccount, UsernameFormat, fold_case,
};
use crate::time::Timestamp;

const TOKEN_TYPE: &str = "account_management_authentication_token";
/// About what one item of a token list serializes to, for sizing the body (see `mint_tokens`).
const TOKEN_ITEM_BYTES: usize = 768;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Password,
    Passwordless,
    SelfSignup,
    Oidc,
    Switch,
}

impl Mechanism {
    fn counted_as(self) -> LoginMechanism {
        match self {
            Self::Password => LoginMechanism::Password,
            Self::Passwordless => LoginMechanism::Passwordless,
            Self::SelfSignup => LoginMechanism::SelfSignup,
            Self::Oidc => LoginMechanism::Oidc,
            Self::Switch => LoginMechanism::Switch,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "password" => Some(Self::Password),
            "passwordless" => Some(Self::Passwordless),
            "self_signup" => Some(Self::SelfSignup),
            "oidc" => Some(Self::Oidc),
            "account_management_authentication_token" => Some(Self::Switch),
            _ => None,
        }
    }
}

/// A token request (§6); which fields are needed depends on `authentication_mechanism`.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only: the body is checked in the order of §6.8.
pub struct TokenRequest {
    #[schema(rename = "type", example = "account_management_authentication_token")]
    kind: String,
    /// `password`, `passwordless`, `self_signup`, `oidc` or `account_management_authentication_token`.
    #[schema(example = "password")]
    authentication_mechanism: String,
    #[schema(nullable = false)]
    password_profile_id: Option<Uuid>,
    #[schema(nullable = false)]
    username: Option<String>,
    #[schema(write_only, nullable = false)]
    password: Option<String>,
    /// passwordless: the code the webhook delivered.
    #[schema(write_only, nullable = false)]
    one_time_password_token: Option<String>,
    /// self_signup: the new member's name and email, and optional name parts.
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    email: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    /// oidc: accountd's code from the storefront callback, the `redirect_uri` used to start the
    /// login, and the PKCE verifier.
    #[schema(nullable = false)]
    oauth_authorization_code: Option<String>,
    #[schema(nullable = false)]
    oauth_redirect_uri: Option<String>,
    #[schema(write_only, nullable = false)]
    oauth_code_verifier: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenList {
    meta: TokenListMeta,
    data: Vec<TokenItem>,
    links: PageLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenListMeta {
    account_member_id: Uuid,
    page: PageMeta,
    results: Results,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenItem {
    #[serde(rename = "type")]
    kind: &'static str,
    account_name: String,
    account_id: Uuid,
    token: String,
    expires: Timestamp,
}

/// Admins, shoppers and account holders alike; only the switch mechanism reads the account
/// token header, so a stale token in a storefront cookie never blocks a fresh login (§6.1).
#[utoipa::path(
    post, path = "/v2/account-members/tokens", tag = "authentication",
    summary = "Log a member in: one account token per account",
    description = "Mechanisms: password, account_management_authentication_token (switch; needs \\
        the EP-Account-Management-Authentication-Token header). Answers 201 with one token per \\
        membership, ordered by account name then id.",
    params(PageQuery),
    request_body = Envelope<TokenRequest>,
    responses(
        (status = 201, body = TokenList),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable, TooManyRequests, Busy,
    ),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    limit: RateLimited<TokenEndpoint>,
    credentials: Credentials,
    RawQuery(query): RawQuery,
    body: JsonBody,
) -> ApiResult<Response> {
    let request = prepare(&state, query.as_deref(), body);
    // A switch with a well-formed account token checks its bearer token in the same statement
    // as its reads; every other request checks it first, as the extractor order of §4.10 says.
    let one_statement = matches!(&request, Ok(request) if request.mechanism == Mechanism::Switch)
        && credentials.holder_check(state.clock.now()).is_some();
    let grant = if one_statement {
        None
    } else {
        Some(credentials.bearer(&state).await?)
    };
    let TokenCall {
        params,
        mechanism,
        data,
    } = request?;
    let login = Login {
        state: &state,
        client: limit.client,
        mechanism: mechanism.counted_as(),
    };
    let answer = if mechanism == Mechanism::Switch {
        match switch(&login, grant.as_ref(), &credentials, &params).await {
            // A bearer token refused inside the switch's statement: no login was attempted.
            Err(SwitchError::NotAttempted(error)) => return Err(error),
            Err(SwitchError::Attempted(error)) => Err(error),
            Ok(response) => Ok(response),
        }
    } else {
        let Some(grant) = &grant else {
            return Err(ApiError::internal("the bearer token was checked above"));
        };
        let caller = actor_of_grant(grant);
        let member_id = match mechanism {
            Mechanism::Password => password(&login, caller, &data).await,
            Mechanism::Passwordless => passwordless(&login, caller, &data).await,
            Mechanism::SelfSignup => self_signup(&login, &data).await,
            Mechanism::Oidc => oidc(&login, caller, &data).await,
            Mechanism::Switch => Err(ApiError::internal("a switch presents no credentials")),
        };
        match member_id {
            Ok(member_id) => issue(&state, member_id, &params).await,
            Err(error) => Err(error),
        }
    };
    state.metrics.count_login(
        login.mechanism,
        LoginOutcome::of_status(answer.as_ref().err().map(ApiError::status)),
    );
    answer
}

/// One login request: where it comes from and how it logs in, for its audit rows and metrics.
struct Login<'a> {
    state: &'a AppState,
    client: ClientAddress,
    mechanism: LoginMechanism,
}

impl Login<'_> {
    fn event(&self, event_type: &'static str, actor: Actor, detail: Value) -> NewAuditEvent {
        login_event(event_type, actor, self.mechanism, self.client, detail)
    }

    /// Records a refusal that no login guard saw: a switch's token.
    async fn refused(&self, caller: Actor, detail: Value) -> ApiResult<()> {
        let event = self.event("login.failed", caller, detail);
        self.state
            .store
            .append_audit_event(&event, self.state.clock.now())
            .await?;
        Ok(())
    }
}

/// A token request that passed the checks common to every mechanism.
struct TokenCall {
    params: ListParams,
    mechanism: Mechanism,
    data: Map<String, Value>,
}

/// The page parameters, the envelope, `type` and `authentication_mechanism` (§6.8).
fn prepare(state: &AppState, query: Option<&str>, body: JsonBody) -> ApiResult<TokenCall> {
    // Only the page parameters mean something here; the links repeat nothing else.
    let all = ListParams::parse(query, state.config.page_length)?;
    let params = ListParams {
        limit: all.limit,
        offset: all.offset,
        ..ListParams::default()
    };
    let mut body = body.parse()?;
    let Some(Value::Object(data)) = body.get_mut("data").map(Value::take) else {
        return Err(ApiError::unprocessable(
            "Validation failed: field 'Data' on the 'required' tag.",
        ));
    };
    let mut violations = Violations::default();
    if data.get("type").and_then(Value::as_str) != Some(TOKEN_TYPE) {
        violations.push("type", "account_token_type");
    }
    let mechanism = data
        .get("authentication_mechanism")
        .and_then(Value::as_str)
        .and_then(Mechanism::parse);
    if mechanism.is_none() {
        violations.push("authentication_mechanism", "is_invalid");
    }
    if let Some(message) = violations.message() {
        return Err(ApiError::unprocessable(message));
    }
    let mechanism = mechanism.ok_or_else(|| ApiError::internal("mechanism checked above"))?;
    Ok(TokenCall {
        params,
        mechanism,
        data,
    })
}

/// `password_profile_id`: present, non-empty and a UUID (§6.8).
fn profile_id_field(data: &Map<String, Value>, violations: &mut Violations) -> Option<Uuid> {
    let text = required_text(data, "password_profile_id", violations)?;
    let id = parse_uuid(text);
    if id.is_none() {
        violations.push("password_profile_id", "must_be_uuid");
    }
    id
}

/// §6.2: username and password against a password profile.
async fn password(login: &Login<'_>, caller: Actor, data: &Map<String, Value>) -> ApiResult<Uuid> {
    let (state, client) = (login.state, login.client);
    let mut violations = Violations::default();
    let profile_id = profile_id_field(data, &mut violations);
    let username = required_text(data, "username", &mut violations);
    let password = required_text(data, "password", &mut violations);
    if let Some(message) = violations.message() {
        return Err(ApiError::unprocessable(message));
    }
    let (Some(profile_id), Some(username), Some(password)) = (profile_id, username, password)
    else {
        return Err(ApiError::internal("fields checked above"));
    };
    refuse_impossible_username(username)?;
    let hasher = state.hasher.for_client(client.bucket());
    // Overloaded: say so before the throttle and user look-ups, which a refused hash would waste.
    hasher.refuse_if_full()?;
    let guard = LoginGuard::admit(
        state,
        client,
        caller,
        LoginMechanism::Password,
        profile_id,
        username,
    )
    .await?;
    if password.len() > MAX_PASSWORD_BYTES {
        // Refused without spending a hash on it, but counted like any wrong password.
        return Err(guard.failed().await);
    }
    let checked = async {
        let candidate = state
            .store
            .find_login(profile_id, &fold_case(username))
            .await?;
        let verification = hasher
            .verify(
                password.to_owned(),
                candidate.as_ref().map(|found| found.password_hash.clone()),
            )
            .await?;
        Ok::<_, ApiError>((candidate, verification))
    }
    .await;
    let (candidate, verification) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            guard.release().await;
            return Err(error);
        }
    };
    let Some(found) = candidate.filter(|_| verification.matches) else {
        return Err(guard.failed().await);
    };
    guard.succeeded(found.user_id).await?;
    if verification.needs_rehash {
        // A hash made with older parameters is replaced on the next successful login.
        let upgraded = hasher.hash(password.to_owned()).await?;
        state
            .store
            .upgrade_password_hash(
                found.password_profile_info_id,
                &found.password_hash,
                &upgraded,
            )
            .await?;
    }
    Ok(found.user_id)
}

/// A username longer than any that can be stored fails like a wrong password, before any
/// store work: it costs no hash and writes no throttle or audit row, so long usernames cannot
/// be used to fill the disk.
fn refuse_impossible_username(username: &str) -> ApiResult<()> {
    if username.len() > MAX_USERNAME_BYTES {
        return Err(ApiError::authentication_failed());
    }
    Ok(())
}

/// §6.3: a one-time code exchanged for tokens. Every failure (OTP disabled, unknown username,
/// no outstanding code, expired, used, superseded or dead code, wrong code) is the same `400`
/// after the same argon2id work (D5).
async fn passwordless(
    login: &Login<'_>,
    caller: Actor,
    data: &Map<String, Value>,
) -> ApiResult<Uuid> {
    let (state, client) = (login.state, login.client);
    let mut violations = Violations::default();
    let profile_id = profile_id_field(data, &mut violations);
    let username = required_text(data, "username", &mut violations);
    let code = required_text(data, "one_time_password_token", &mut violations);
    if let Some(message) = violations.message() {
        return Err(ApiError::unprocessable(message));
    }
    let (Some(profile_id), Some(username), Some(code)) = (profile_id, username, code) else {
        return Err(ApiError::internal("fields checked above"));
    };
    refuse_impossible_username(username)?;
    let hasher = state.hasher.for_client(client.bucket());
    // Overloaded (503) comes first, as for passwords; then a lock comes before any other
    // answer, since codes count on the same keys as passwords.
    hasher.refuse_if_full()?;
    let guard = LoginGuard::admit(
        state,
        client,
        caller,
        LoginMechanism::Passwordless,
        profile_id,
        username,
    )
    .await?;
    let code = code.trim().to_lowercase();
    let checked = async {
        // The attempt is counted on the code before the hash is checked, so concurrent
        // guesses cannot exceed five per code; an attempt that then meets a full hash queue
        // (503) is spent all the same.
        let attempt = state
            .store
            .reserve_otp_attempt(profile_id, &fold_case(username), state.clock.now())
            .await?;
        let verification = hasher
            .verify(code, attempt.as_ref().map(|found| found.code_hash.clone()))
            .await?;
        let Some(attempt) = attempt.filter(|_| verification.matches) else {
            return Ok(None);
        };
        // Single use: of two exchanges of one code, only one consumes it.
        let consumed = state
            .store
            .consume_otp(attempt.code_id, state.clock.now())
            .await?;
        Ok::<_, ApiError>(consumed.then_some(attempt.user_id))
    }
    .await;
    match checked {
        Ok(Some(member_id)) => {
            guard.succeeded(member_id).await?;
            Ok(member_id)
        }
        Ok(None) => Err(guard.failed().await),
        Err(error) => {
            guard.release().await;
            Err(error)
        }
    }
}

/// §6.4: a shopper registers and logs in with one call (D13).
async fn self_signup(login: &Login<'_>, data: &Map<String, Value>) -> ApiResult<Uuid> {
    let (state, client) = (login.state, login.client);
    let settings = state.store.auth_settings().await?;
    if !settings.enable_self_signup {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "self signup is disabled",
        ));
    }
    let mut violations = Violations::default();
    let profile_id = profile_id_field(data, &mut violations);
    // The username rule depends on the profile; an unknown profile is the 404 of step 11.
    let profile = match profile_id {
        Some(id) => match state.store.password_profile(id).await {
            Ok(profile) => Some(profile),
            Err(StoreError::NotFound(_)) => None,
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let username = bounded_text(data, "username", 255, &mut violations);
    let username = username.filter(|username| {
        let email_only = profile
            .as_ref()
            .is_some_and(|profile| profile.username_format == UsernameFormat::Email);
        let fits = !email_only || is_valid_email(username);
        if !fits {
            violations.push("username", "email");
        }
        fits
    });
    let password = required_text(data, "password", &mut violations).filter(|password| {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            violations.push("password", "min");
            false
        } else if password.len() > MAX_PASSWORD_BYTES {
            violations.push("password", "max");
            false
        } else {
            true
        }
    });
    let name = bounded_text(data, "name", 255, &mut violations);
    let email = bounded_text(data, "email", 254, &mut violations).filter(|email| {
        let valid = is_valid_email(email);
        if !valid {
            violations.push("email", "email");
        }
        valid
    });
    let given_name = optional_text(data, "given_name", 255, &mut violations);
    let middle_name = optional_text(data, "middle_name", 255, &mut violations);
    let family_name = optional_text(data, "family_name", 255, &mut violations);
    if let Some(message) = violations.message() {
        return Err(ApiError::unprocessable(message));
    }
    let (Some(profile_id), Some(username), Some(password), Some(name), Some(email)) =
        (profile_id, username, password, name, email)
    else {
        return Err(ApiError::internal("fields checked above"));
    };
    // Step 10 before step 11: a full hash queue answers 503 even for an unknown profile, whose
    // 404 then comes from the store.
    let password_hash = state
        .hasher
        .for_client(client.bucket())
        .hash(password.to_owned())
        .await?;
    let signup = SelfSignup {
        password_profile_id: profile_id,
        username: username.to_owned(),
        password_hash,
        user: NewUser {
            name: name.to_owned(),
            email: email.to_owned(),
            given_name,
            middle_name,
            family_name,
        },
    };
    // The store names the new member as the actor once it exists.
    let audit = login.event(
        "login.succeeded",
        Actor::SHOPPER,
        json!({
            "mechanism": login.mechanism.label(),
            "password_profile_id": profile_id,
            "username": username,
        }),
    );
    Ok(state
        .store
        .self_signup(&signup, state.clock.now(), &audit)
        .await?)
}

/// A required string of at most `max` characters.
fn bounded_text<'a>(
    data: &'a Map<String, Value>,
    key: &str,
    max: usize,
    violations: &mut Violations,
) -> Option<&'a str> {
    let text = required_text(data, key, violations)?;
    if text.chars().count() > max {
        violations.push(key, "max");
        return None;
    }
    Some(text)
}

/// An optional, nullable string of at most `max` characters.
fn optional_text(
    data: &Map<String, Value>,
    key: &str,
    max: usize,
    violations: &mut Violations,
) -> Option<String> {
    match data.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.contains('\0') => {
            violations.push(key, "string");
            None
        }
        Some(Value::String(text)) if text.chars().count() > max => {
            violations.push(key, "max");
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            violations.push(key, "string");
            None
        }
    }
}

/// §6.5: accountd's code from the OIDC callback, with the storefront's PKCE verifier.
async fn oidc(login: &Login<'_>, caller: Actor, data: &Map<String, Value>) -> ApiResult<Uuid> {
    let mut violations = Violations::default();
    let code = required_text(data, "oauth_authorization_code", &mut violations);
    let redirect_uri = required_text(data, "oauth_redirect_uri", &mut violations);
    let code_verifier = required_text(data, "oauth_code_verifier", &mut violations);
    if let Some(message) = violations.message() {
        return Err(ApiError::unprocessable(message));
    }
    let (Some(code), Some(redirect_uri), Some(code_verifier)) = (code, redirect_uri, code_verifier)
    else {
        return Err(ApiError::internal("fields checked above"));
    };
    let detail = json!({"mechanism": login.mechanism.label()});
    // The store names the member signed in as the actor once it knows which one.
    let signed_in = login.event("login.succeeded", Actor::SHOPPER, detail.clone());
    let refused = login.event("login.failed", caller, detail);
    super::oidc_idp::redeem(
        login.state,
        code,
        redirect_uri,
        code_verifier,
        &signed_in,
        &refused,
    )
    .await
}

/// How a switch ended when it issued nothing.
enum SwitchError {
    /// The bearer token was refused: no login was attempted, and none is counted.
    NotAttempted(ApiError),
    /// The attempt failed: the presented account token was refused, or the server failed.
    Attempted(ApiError),
}

impl From<ApiError> for SwitchError {
    fn from(error: ApiError) -> Self {
        Self::Attempted(error)
    }
}

impl From<StoreError> for SwitchError {
    fn from(error: StoreError) -> Self {
        Self::Attempted(error.into())
    }
}

/// §6.6: a valid, live account token re-issues tokens for every current membership. The
/// bearer check, the liveness check, the settings and the page of accounts come from one
/// statement; a page past the member's last account falls back to the step-by-step checks.
/// A token accountd signed that is refused (expired, or no longer live) is a failed login in the
/// audit trail; a switch that issues tokens is a successful one, naming the member.
async fn switch(
    login: &Login<'_>,
    grant: Option<&BearerGrant>,
    credentials: &Credentials,
    params: &ListParams,
) -> Result<Response, SwitchError> {
    let state = login.state;
    let Some((check, claims)) = credentials.holder_check(state.clock.now()) else {
        return Err(match credentials.account_token() {
            None => SwitchError::Attempted(ApiError::bad_request(
                "Validation failed: field 'EPAccountManagementAuthenticationToken' on the 'required' tag.",
            )),
            Some(Err(fault)) => {
                // Only a token accountd signed is worth a row: forged or garbled ones cost an
                // attacker nothing to send, and would fill the trail with noise.
                if fault == TokenFault::Expired {
                    // Not the one-statement path: the bearer token was checked already.
                    let caller = grant.map_or(Actor::SHOPPER, actor_of_grant);
                    login
                        .refused(caller, json!({"mechanism": login.mechanism.label()}))
                        .await?;
                }
                SwitchError::Attempted(fault.error())
            }
            Some(Ok(_)) => SwitchError::NotAttempted(ApiError::invalid_bearer()),
        });
    };
    let detail = json!({
        "mechanism": login.mechanism.label(),
        "account_id": check.token_account_id,
    });
    // The new tokens are as fresh as the credential check the presented one descends from.
    let freshness = Freshness::CarriedOver(claims.auth_time);
    let view = state
        .store
        .switch_as_holder(&check, params.limit, params.offset)
        .await?;
    let response = match view {
        Some(view) => {
            let Some(bearer) = view.bearer else {
                return Err(SwitchError::NotAttempted(ApiError::invalid_bearer()));
            };
            if !view.live {
                login.refused(actor_of_grant(&bearer), detail).await?;
                return Err(SwitchError::Attempted(ApiError::invalid_account_token()));
            }
            let minting = Minting {
                member_id: check.member_id,
                token_timeout_secs: view.token_timeout_secs,
                self_management: view.self_management,
                freshness,
            };
            mint_tokens(state, &minting, params, view.accounts)?
        }
        None => {
            // A page past the member's last account: the checks step by step, the bearer
            // first.
            let bearer = match credentials.bearer(state).await {
                Ok(bearer) => bearer,
                Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
                    return Err(SwitchError::NotAttempted(error));
                }
                Err(error) => return Err(SwitchError::Attempted(error)),
            };
            match credentials.caller(state).await {
                Ok(Caller::AccountHolder(_)) => {}
                Ok(Caller::Admin | Caller::Shopper) => {
                    return Err(ApiError::internal("an account token was presented").into());
                }
                Err(error) if error.status() == StatusCode::UNAUTHORIZED => {
                    login.refused(actor_of_grant(&bearer), detail).await?;
                    return Err(SwitchError::Attempted(error));
                }
                Err(error) => return Err(SwitchError::Attempted(error)),
            }
            // The switch statement already found the page empty: no need to ask again.
            issue_past_end(state, check.member_id, freshness, params).await?
        }
    };
    let succeeded = login.event(
        "login.succeeded",
        Actor::account_holder(check.member_id),
        detail,
    );
    state
        .store
        .append_audit_event(&succeeded, state.clock.now())
        .await?;
    Ok(response)
}

/// A non-empty string field of the token request; the token endpoint's own tags (§6.8).
fn required_text<'a>(
    data: &'a Map<String, Value>,
    key: &str,
    violations: &mut Violations,
) -> Option<&'a str> {
    match data.get(key) {
        None | Some(Value::Null) => {
            violations.push(key, "cannot_be_empty");
            None
        }
        Some(Value::String(text)) if text.is_empty() => {
            violations.push(key, "cannot_be_empty");
            None
        }
        Some(Value::String(text)) if text.contains('\0') => {
            violations.push(key, "string");
            None
        }
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            violations.push(key, "string");
            None
        }
    }
}

/// The `201` token list of §6.7: one token per membership, ordered by account name then id, all
/// sharing one `iat` and `exp`.
async fn issue(state: &AppState, member_id: Uuid, params: &ListParams) -> ApiResult<Response> {
    let freshness = Freshness::CredentialsJustChecked;
    if let Some(issue) = state
        .store
        .token_issue(member_id, params.limit, params.offset)
        .await?
    {
        let minting = Minting {
            member_id,
            token_timeout_secs: issue.token_timeout_secs,
            self_management: issue.self_management,
            freshness,
        };
        return mint_tokens(state, &minting, params, issue.accounts);
    }
    issue_past_end(state, member_id, freshness, params).await
}

/// A page past the end of the member's accounts: no rows carry the settings and the total, so
/// they are read step by step.
async fn issue_past_end(
    state: &AppState,
    member_id: Uuid,
    freshness: Freshness,
    params: &ListParams,
) -> ApiResult<Response> {
    let settings = state.store.auth_settings().await?;
    let accounts = state
        .store
        .token_accounts(member_id, params.limit, params.offset)
        .await?;
    let minting = Minting {
        member_id,
        token_timeout_secs: settings.token_timeout_secs,
        self_management: settings.account_member_self_management,
        freshness,
    };
    mint_tokens(state, &minting, params, accounts)
}

/// Who the tokens are for and the settings they carry.
struct Minting {
    member_id: Uuid,
    token_timeout_secs: i64,
    self_management: SelfManagement,
    freshness: Freshness,
}

/// Where a token's `auth_time` comes from.
#[derive(Debug, Clone, Copy)]
enum Freshness {
    /// A password, one-time code, sign-up or OpenID Connect code was accepted just now: the
    /// tokens' own `iat`.
    CredentialsJustChecked,
    /// A switch: the presented token's, unchanged (none for a token minted without it).
    CarriedOver(Option<i64>),
}

fn mint_tokens(
    state: &AppState,
    minting: &Minting,
    params: &ListParams,
    accounts: Page<TokenAccount>,
) -> ApiResult<Response> {
    let iat = state.clock.now().seconds();
    let exp = iat.saturating_add(minting.token_timeout_secs);
    let expires = Timestamp::from_seconds(exp);
    let auth_time = match minting.freshness {
        Freshness::CredentialsJustChecked => Some(iat),
        Freshness::CarriedOver(auth_time) => auth_time,
    };
    let mut data = Vec::with_capacity(accounts.items.len());
    for account in accounts.items {
        let claims = AccountClaims {
            sub: minting.member_id,
            scope: account.account_id,
            store_id: state.deployment.store_id,
            realm_id: state.deployment.realm_id,
            account_member_self_management: minting.self_management.as_str().to_owned(),
            ancestors: encode_ancestors(&account.ancestors),
            iat,
            exp,
            jti: Uuid::new_v4(),
            auth_time,
        };
        let token = state.keys.mint(&claims).map_err(ApiError::internal)?;
        data.push(TokenItem {
            kind: TOKEN_TYPE,
            account_name: account.account_name,
            account_id: account.account_id,
            token,
            expires,
        });
    }
    let (page, links) = paginate(
        &state.url("/v2/account-members/tokens"),
        params,
        accounts.total,
    );
    let list = TokenList {
        meta: TokenListMeta {
            account_member_id: minting.member_id,
            page,
            results: Results {
                total: accounts.total,
            },
        },
        data,
        links,
    };
    // Each token item is about 700 bytes (the JWT alone about 450): sized up front, the body
    // is written without regrowing.
    let capacity = BODY_CAPACITY + list.data.len() * TOKEN_ITEM_BYTES;
    Ok(no_store(super::response::json(
        StatusCode::CREATED,
        &list,
        capacity,
    )))
}
