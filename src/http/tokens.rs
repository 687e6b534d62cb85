//! `POST /v2/account-members/tokens` (§6): a member proves who they are and gets one account
//! management authentication token per account they belong to. Checks run in the order of §6.8.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::extract::caller::{ACCOUNT_TOKEN_HEADER, verify_account_token};
use super::extract::{Bearer, JsonBody, ListParams};
use super::openapi::{BadRequest, Busy, Envelope, PageQuery, Unauthorized, Unprocessable};
use super::response::{PageLinks, PageMeta, Results, no_store, paginate};
use super::validation::{Violations, parse_uuid};
use crate::auth::jwt::{AccountClaims, encode_ancestors};
use crate::auth::password::MAX_PASSWORD_BYTES;
use crate::error::{ApiError, ApiResult};
use crate::metrics::LoginOutcome;
use crate::state::AppState;
use crate::store::fold_case;
use crate::time::Timestamp;

const TOKEN_TYPE: &str = "account_management_authentication_token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Password,
    Switch,
}

impl Mechanism {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "password" => Some(Self::Password),
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
    #[schema(example = "password")]
    authentication_mechanism: String,
    #[schema(nullable = false)]
    password_profile_id: Option<Uuid>,
    #[schema(nullable = false)]
    username: Option<String>,
    #[schema(write_only, nullable = false)]
    password: Option<String>,
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
        BadRequest, Unauthorized, Unprocessable, Busy,
    ),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _bearer: Bearer,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    // Only the page parameters mean something here; the links repeat nothing else.
    let all = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let params = ListParams {
        limit: all.limit,
        offset: all.offset,
        ..ListParams::default()
    };
    let body = body.parse()?;
    let Some(Value::Object(data)) = body.get("data") else {
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
    let member_id = match mechanism {
        Some(Mechanism::Password) => {
            let outcome = password(&state, data).await;
            state.metrics.count_login(LoginOutcome::of_status(
                outcome.as_ref().err().map(ApiError::status),
            ));
            outcome?
        }
        Some(Mechanism::Switch) => switch(&state, &headers).await?,
        None => return Err(ApiError::internal("mechanism checked above")),
    };
    issue(&state, member_id, &params).await
}

/// §6.2: username and password against a password profile.
async fn password(state: &AppState, data: &Map<String, Value>) -> ApiResult<Uuid> {
    let mut violations = Violations::default();
    let profile_id = match required_text(data, "password_profile_id", &mut violations) {
        Some(text) => match parse_uuid(text) {
            Some(id) => Some(id),
            None => {
                violations.push("password_profile_id", "must_be_uuid");
                None
            }
        },
        None => None,
    };
    let username = required_text(data, "username", &mut violations);
    let password = required_text(data, "password", &mut violations);
    if let Some(message) = violations.message() {
        return Err(ApiError::unprocessable(message));
    }
    let (Some(profile_id), Some(username), Some(password)) = (profile_id, username, password)
    else {
        return Err(ApiError::internal("fields checked above"));
    };
    if password.len() > MAX_PASSWORD_BYTES {
        // D15: refused without spending a hash on it.
        return Err(ApiError::authentication_failed());
    }
    let candidate = state
        .store
        .find_login(profile_id, &fold_case(username))
        .await?;
    let verification = state
        .hasher
        .verify(
            password.to_owned(),
            candidate.as_ref().map(|found| found.password_hash.clone()),
        )
        .await?;
    let Some(found) = candidate.filter(|_| verification.matches) else {
        return Err(ApiError::authentication_failed());
    };
    if verification.needs_rehash {
        // §23: a hash made with older parameters is replaced on the next successful login.
        let upgraded = state.hasher.hash(password.to_owned()).await?;
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

/// §6.6: a valid, live account token re-issues tokens for every current membership.
async fn switch(state: &AppState, headers: &HeaderMap) -> ApiResult<Uuid> {
    let mut values = headers.get_all(ACCOUNT_TOKEN_HEADER).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::bad_request(
            "Validation failed: field 'EPAccountManagementAuthenticationToken' on the 'required' tag.",
        ));
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_account_token());
    }
    let token = value
        .to_str()
        .map_err(|_| ApiError::invalid_account_token())?;
    let claims = verify_account_token(token.trim(), state).await?;
    Ok(claims.sub)
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
    let settings = state.store.auth_settings().await?;
    let accounts = state
        .store
        .token_accounts(member_id, params.limit, params.offset)
        .await?;
    let iat = state.clock.now().seconds();
    let exp = iat.saturating_add(settings.token_timeout_secs);
    let expires = Timestamp::from_seconds(exp);
    let mut data = Vec::with_capacity(accounts.items.len());
    for account in accounts.items {
        let claims = AccountClaims {
            sub: member_id,
            scope: account.account_id,
            store_id: state.deployment.store_id,
            realm_id: state.deployment.realm_id,
            account_member_self_management: settings
                .account_member_self_management
                .as_str()
                .to_owned(),
            ancestors: encode_ancestors(&account.ancestors),
            iat,
            exp,
            jti: Uuid::new_v4(),
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
            account_member_id: member_id,
            page,
            results: Results {
                total: accounts.total,
            },
        },
        data,
        links,
    };
    Ok(no_store((StatusCode::CREATED, Json(list)).into_response()))
}
