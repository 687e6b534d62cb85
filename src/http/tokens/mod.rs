//! `POST /v2/account-members/tokens` (docs/account-tokens.md#the-token-endpoint): a member proves
//! who they are and gets one account management authentication token per account they belong to, by
//! password (docs/login.md#password), one-time code (docs/login.md#one-time-codes), self sign-up
//! (docs/login.md#self-sign-up), OpenID Connect (docs/oidc.md#the-code-for-the-storefront) or a
//! previous token (docs/account-tokens.md#switching-accounts). Checks run in the order of checks at
//! the token endpoint (docs/account-tokens.md#order-of-checks-at-the-token-endpoint); login
//! throttling (step 9) is `auth::login_guard`. Every mechanism's attempt is counted in
//! `accountd_logins_total` by mechanism and outcome, and leaves its `login.*` audit rows.
//!
//! One mechanism a file; `request.rs` reads what every request carries, `fields.rs` the
//! endpoint's field vocabulary, `mint.rs` the token list every mechanism answers with.

mod fields;
mod mint;
mod oidc;
mod password;
mod passwordless;
mod request;
mod self_signup;
mod switch;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use crate::auth::login_guard::login_event;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::caller::{BearerCaller, HolderOr, actor_of_grant};
use crate::http::extract::{ClientAddress, JsonBody};
use crate::http::openapi::{
    BadRequest, Busy, Conflict, Envelope, Forbidden, NotFound, PageQuery, TooManyRequests,
    Unauthorized, Unprocessable,
};
use crate::http::rate_limit::{RateLimited, TokenEndpoint};
use crate::metrics::{LoginMechanism, LoginOutcome};
use crate::state::AppState;
use crate::store::{Actor, NewAuditEvent};
use mint::TokenList;
use request::{CredentialCheck, Mechanism, TokenCall, TokenRequest, prepare};
use switch::SwitchError;

const TOKEN_TYPE: &str = "account_management_authentication_token";

/// Admins, shoppers and account holders alike; only the switch mechanism reads the account
/// token header, so a stale token in a storefront cookie never blocks a fresh login
/// (docs/account-tokens.md#the-token-endpoint).
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
    caller: HolderOr<BearerCaller>,
    RawQuery(query): RawQuery,
    body: JsonBody,
) -> ApiResult<Response> {
    // A switch with an account token that passed offline has its bearer token checked in the
    // same statement as its reads; every other request has it checked before anything else
    // (docs/http-conventions.md#order-of-checks).
    let TokenCall {
        params,
        mechanism,
        data,
    } = match prepare(&state, query.as_deref(), body) {
        Ok(call) => call,
        Err(error) => {
            caller.grant(&state).await?;
            return Err(error);
        }
    };
    let login = Login {
        state: &state,
        client: limit.client,
        mechanism: mechanism.counted_as(),
    };
    let answer = match mechanism {
        Mechanism::Switch => match switch::switch(&login, caller, &params).await {
            // A bearer token refused inside the switch's statement: no login was attempted.
            Err(SwitchError::NotAttempted(error)) => return Err(error),
            Err(SwitchError::Attempted(error)) => Err(error),
            Ok(response) => Ok(response),
        },
        Mechanism::Credentials(check) => {
            let caller = actor_of_grant(&caller.grant(&state).await?);
            let member_id = match check {
                CredentialCheck::Password => password::password(&login, caller, &data).await,
                CredentialCheck::Passwordless => {
                    passwordless::passwordless(&login, caller, &data).await
                }
                CredentialCheck::SelfSignup => self_signup::self_signup(&login, &data).await,
                CredentialCheck::Oidc => oidc::oidc(&login, caller, &data).await,
            };
            match member_id {
                Ok(member_id) => mint::issue(&state, member_id, &params).await,
                Err(error) => Err(error),
            }
        }
    };
    state.metrics.count_login(
        login.mechanism,
        LoginOutcome::of_status(answer.as_ref().err().map(ApiError::status)),
    );
    answer
}

/// One login request: where it comes from and how it logs in, for its audit rows and metrics.
pub(super) struct Login<'a> {
    pub(super) state: &'a AppState,
    pub(super) client: ClientAddress,
    pub(super) mechanism: LoginMechanism,
}

impl Login<'_> {
    pub(super) fn event(
        &self,
        event_type: &'static str,
        actor: Actor,
        detail: Value,
    ) -> NewAuditEvent {
        login_event(event_type, actor, self.mechanism, self.client, detail)
    }

    /// Records a refusal that no login guard saw: a switch's token.
    pub(super) async fn refused(&self, caller: Actor, detail: Value) -> ApiResult<()> {
        let event = self.event("login.failed", caller, detail);
        self.state
            .store
            .append_audit_event(&event, self.state.clock.now())
            .await?;
        Ok(())
    }
}
