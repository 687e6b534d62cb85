//! The switch (`account_management_authentication_token`): a valid, live account token re-issues
//! tokens for every current membership, checked in one statement where it can be.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::Login;
use super::mint::{Freshness, Minting, issue_past_end, mint_tokens};
use crate::error::ApiError;
use crate::http::extract::ListParams;
use crate::http::extract::caller::{Caller, Credentials, TokenFault, actor_of_grant};
use crate::store::{Actor, BearerGrant, StoreError};

/// How a switch ended when it issued nothing.
pub(super) enum SwitchError {
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

/// The switch (docs/account-tokens.md#switching-accounts): a valid, live account token re-issues
/// tokens for every current membership. The bearer check, the liveness check, the settings and the
/// page of accounts come from one statement; a page past the member's last account falls back to
/// the step-by-step checks. A token accountd signed that is refused (expired, or no longer live) is
/// a failed login in the audit trail; a switch that issues tokens is a successful one, naming the
/// member.
pub(super) async fn switch(
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
