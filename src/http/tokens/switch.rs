//! The switch (`account_management_authentication_token`): a valid, live account token re-issues
//! tokens for every current membership, checked in one statement where it can be.

use axum::response::Response;
use serde_json::{Value, json};

use super::Login;
use super::mint::{Freshness, Minting, issue_past_end, mint_tokens};
use crate::error::ApiError;
use crate::http::extract::ListParams;
use crate::http::extract::caller::{
    BearerCaller, HolderOr, HolderRefusal, TokenFault, actor_of_grant,
};
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
    caller: HolderOr<BearerCaller>,
    params: &ListParams,
) -> Result<Response, SwitchError> {
    let state = login.state;
    let holder = match caller {
        HolderOr::Holder(holder) => holder,
        HolderOr::Other(caller) => return Err(refuse_unusable_token(login, caller).await),
    };
    let check = holder.check();
    let detail = json!({
        "mechanism": login.mechanism.label(),
        "account_id": check.token_account_id,
    });
    // The new tokens are as fresh as the credential check the presented one descends from.
    let freshness = Freshness::CarriedOver(holder.claims().auth_time);
    let view = state
        .store
        .switch_as_holder(check, params.limit, params.offset)
        .await?;
    let response = match view {
        Some(view) => {
            let confirmed = holder.confirm(view.bearer, view.live);
            settle(login, confirmed, &detail).await?;
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
            let confirmed = holder.confirm_step_by_step(state).await;
            settle(login, confirmed, &detail).await?;
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

/// A refused holder as the switch answers it: a refused bearer token is no login attempt; a
/// token no longer live is a failed one, in the audit trail under the bearer token's caller.
async fn settle(
    login: &Login<'_>,
    confirmed: Result<BearerGrant, HolderRefusal>,
    detail: &Value,
) -> Result<(), SwitchError> {
    match confirmed {
        Ok(_) => Ok(()),
        Err(HolderRefusal::Bearer) => Err(SwitchError::NotAttempted(ApiError::invalid_bearer())),
        Err(HolderRefusal::NotLive(bearer)) => {
            login
                .refused(actor_of_grant(&bearer), detail.clone())
                .await?;
            Err(SwitchError::Attempted(ApiError::invalid_account_token()))
        }
        Err(HolderRefusal::Failed(error)) => Err(SwitchError::Attempted(error)),
    }
}

/// A switch without a usable account token: `400` without the header, `401` for one that
/// failed offline. Only a token accountd signed is worth an audit row (an expired one): forged
/// or garbled ones cost an attacker nothing to send, and would fill the trail with noise.
async fn refuse_unusable_token(login: &Login<'_>, caller: BearerCaller) -> SwitchError {
    let Some(fault) = caller.account_token else {
        return SwitchError::Attempted(ApiError::bad_request(
            "Validation failed: field 'EPAccountManagementAuthenticationToken' on the 'required' tag.",
        ));
    };
    if fault == TokenFault::Expired {
        let refused = login
            .refused(
                actor_of_grant(&caller.grant),
                json!({"mechanism": login.mechanism.label()}),
            )
            .await;
        if let Err(error) = refused {
            return SwitchError::Attempted(error);
        }
    }
    SwitchError::Attempted(fault.error())
}
