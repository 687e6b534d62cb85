//! The throttle and the audit trail around one password or one-time-code attempt, and the audit
//! rows of every other login. An attempt is admitted (and reserved) before any argon2id work, or
//! refused with `429`; once its outcome is known it is recorded exactly once: a failure on all
//! three keys, a success that resets the pair key, or a release that counts for nothing (the
//! hash queue was full, the database failed). Unknown usernames and profiles go through the same
//! steps as real ones.
//!
//! Who a login row names: a success names the member whose credentials were proved (class
//! `account_holder`); a failure or a refusal names the caller as its bearer token makes it (a
//! shopper, with no id, or an admin and its application key), since no member was proved.

use serde_json::{Value, json};
use uuid::Uuid;

use super::throttle::LoginKeys;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ClientAddress;
use crate::metrics::LoginMechanism;
use crate::state::AppState;
use crate::store::{
    Actor, LoginAdmission, LoginOutcomeKind, LoginReservation, NewAuditEvent, fold_case,
};

/// A login's audit row: `login.succeeded`, `login.failed` or `login.throttled`, about the
/// mechanism, from the client's address.
pub fn login_event(
    event_type: &'static str,
    actor: Actor,
    mechanism: LoginMechanism,
    client: ClientAddress,
    detail: Value,
) -> NewAuditEvent {
    NewAuditEvent::new(event_type, actor)
        .subject(format!("{} login", mechanism.label()))
        .client_address(client.0.to_string())
        .detail(detail)
}

/// Facts about one attempt, for its audit rows.
struct Attempt<'a> {
    state: &'a AppState,
    mechanism: LoginMechanism,
    caller: Actor,
    client: ClientAddress,
    detail: Value,
}

impl Attempt<'_> {
    fn event(&self, event_type: &'static str, actor: Actor) -> NewAuditEvent {
        login_event(
            event_type,
            actor,
            self.mechanism,
            self.client,
            self.detail.clone(),
        )
    }
}

/// An admitted attempt, holding its reservation until one of the three endings consumes it.
/// Dropped without an ending (the client went away mid-hash), the reservation times out and
/// counts as a failure, so walking away cannot be used to guess for free.
#[must_use = "an admitted attempt must end in failed, succeeded or release"]
pub struct LoginGuard<'a> {
    attempt: Attempt<'a>,
    reservation: LoginReservation,
}

impl<'a> LoginGuard<'a> {
    /// Checks the attempt's keys and reserves it, or answers `429` (recording the refusal in
    /// the audit trail once per key and lock period, in the same transaction as the decision).
    pub async fn admit(
        state: &'a AppState,
        client: ClientAddress,
        caller: Actor,
        mechanism: LoginMechanism,
        profile_id: Uuid,
        username: &str,
    ) -> ApiResult<Self> {
        let keys = LoginKeys::new(profile_id, &fold_case(username), &client.bucket_key());
        let attempt = Attempt {
            state,
            mechanism,
            caller,
            client,
            detail: json!({
                "mechanism": mechanism.label(),
                "password_profile_id": profile_id,
                "username": username,
            }),
        };
        let refusal = attempt.event("login.throttled", caller);
        match state
            .store
            .begin_login_attempt(&keys, state.clock.now(), &refusal)
            .await?
        {
            LoginAdmission::Reserved(reservation) => Ok(Self {
                attempt,
                reservation,
            }),
            LoginAdmission::Throttled { retry_after } => {
                Err(ApiError::too_many_requests(retry_after))
            }
        }
    }

    /// Counts the failure and answers the one `authentication failed`, whatever went wrong.
    pub async fn failed(self) -> ApiError {
        let event = self.attempt.event("login.failed", self.attempt.caller);
        if let Err(error) = self.finish(LoginOutcomeKind::Failed, Some(&event)).await {
            return error.into();
        }
        ApiError::authentication_failed()
    }

    pub async fn succeeded(self, member_id: Uuid) -> ApiResult<()> {
        let event = self
            .attempt
            .event("login.succeeded", Actor::account_holder(member_id));
        self.finish(LoginOutcomeKind::Succeeded, Some(&event))
            .await?;
        Ok(())
    }

    /// The attempt ended without an answer about the credentials (`503`, `500`): it counts
    /// for nothing. A failure to record that is logged: the reservation then times out.
    pub async fn release(self) {
        if let Err(error) = self.finish(LoginOutcomeKind::Released, None).await {
            tracing::warn!(%error, "releasing a login reservation failed");
        }
    }

    async fn finish(
        &self,
        outcome: LoginOutcomeKind,
        event: Option<&NewAuditEvent>,
    ) -> Result<(), crate::store::StoreError> {
        let state = self.attempt.state;
        state
            .store
            .finish_login_attempt(self.reservation, outcome, state.clock.now(), event)
            .await
    }
}
