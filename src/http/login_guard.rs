//! The throttle and the audit trail around one password or one-time-code attempt. An attempt is
//! admitted (and reserved) before any argon2id work, or refused with `429`; once its outcome is
//! known it is recorded exactly once: a failure on all three keys, a success that resets the
//! pair key, or a release that counts for nothing (the hash queue was full, the database
//! failed). Unknown usernames and profiles go through the same steps as real ones.

use serde_json::{Value, json};
use uuid::Uuid;

use super::audit;
use super::extract::ClientAddress;
use crate::auth::throttle::LoginKeys;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{LoginAdmission, LoginOutcomeKind, LoginReservation, NewAuditEvent, fold_case};

/// Facts about one attempt, for its audit rows.
struct Attempt<'a> {
    state: &'a AppState,
    mechanism: &'static str,
    address: String,
    detail: Value,
}

impl Attempt<'_> {
    async fn audit(&self, event_type: &str, member_id: Option<Uuid>) {
        let event = NewAuditEvent {
            event_type: event_type.to_owned(),
            actor: member_id.map(|id| format!("account_member:{id}")),
            subject: Some(format!("{} login", self.mechanism)),
            client_address: Some(self.address.clone()),
            detail: self.detail.clone(),
        };
        audit::record(self.state, event).await;
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
    /// the audit trail once per key and lock period).
    pub async fn admit(
        state: &'a AppState,
        client: ClientAddress,
        mechanism: &'static str,
        profile_id: Uuid,
        username: &str,
    ) -> ApiResult<Self> {
        let keys = LoginKeys::new(profile_id, &fold_case(username), &client.bucket_key());
        let attempt = Attempt {
            state,
            mechanism,
            address: client.0.to_string(),
            detail: json!({
                "mechanism": mechanism,
                "password_profile_id": profile_id,
                "username": username,
            }),
        };
        match state
            .store
            .begin_login_attempt(&keys, state.clock.now())
            .await?
        {
            LoginAdmission::Reserved(reservation) => Ok(Self {
                attempt,
                reservation,
            }),
            LoginAdmission::Throttled {
                retry_after,
                first_of_period,
            } => {
                if first_of_period {
                    attempt.audit("login.throttled", None).await;
                }
                Err(ApiError::too_many_requests(retry_after))
            }
        }
    }

    /// Counts the failure and answers the one `authentication failed`, whatever went wrong.
    pub async fn failed(self) -> ApiError {
        if let Err(error) = self.finish(LoginOutcomeKind::Failed).await {
            return error.into();
        }
        self.attempt.audit("login.failed", None).await;
        ApiError::authentication_failed()
    }

    pub async fn succeeded(self, member_id: Uuid) -> ApiResult<()> {
        self.finish(LoginOutcomeKind::Succeeded).await?;
        self.attempt.audit("login.succeeded", Some(member_id)).await;
        Ok(())
    }

    /// The attempt ended without an answer about the credentials (`503`, `500`): it counts
    /// for nothing. A failure to record that is logged: the reservation then times out.
    pub async fn release(self) {
        if let Err(error) = self.finish(LoginOutcomeKind::Released).await {
            tracing::warn!(%error, "releasing a login reservation failed");
        }
    }

    async fn finish(&self, outcome: LoginOutcomeKind) -> Result<(), crate::store::StoreError> {
        let state = self.attempt.state;
        state
            .store
            .finish_login_attempt(self.reservation, outcome, state.clock.now())
            .await
    }
}
