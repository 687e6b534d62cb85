//! A deadline on the database: the longest a request waits on it in all, waiting for connections
//! included, whatever the database does (a stopped server keeps its connections open and
//! answers nothing, which no pool timeout or `statement_timeout` catches). Inside a request (see
//! [`within_request`]) the deadline is the request's budget, spent by each store call in turn,
//! so a request of several calls waits no longer than one of a single call; elsewhere (the
//! dispatcher, the janitor) it applies to each call. Past it a call fails as
//! [`StoreError::Unavailable`], which the API answers with `503`; the call's future is dropped,
//! so its connection closes rather than going back mid-statement. Migrations and backups are
//! maintenance, not requests, and run without it.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::auth::throttle::LoginKeys;
use crate::time::Timestamp;

/// The store behind the deadline.
pub struct Bounded<S> {
    inner: S,
    deadline: Duration,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, deadline: Duration) -> Self {
        Self { inner, deadline }
    }

    async fn bounded<T>(&self, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        spend(self.deadline, call).await
    }
}

/// Runs `call` within what is left of the request's budget (or `deadline` outside a request),
/// and counts the time it took against that budget.
async fn spend<T>(
    deadline: Duration,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let spent = REQUEST_WAIT.try_with(Cell::get).unwrap_or(Duration::ZERO);
    let remaining = deadline.saturating_sub(spent);
    let started = Instant::now();
    let outcome = tokio::time::timeout(remaining, call).await;
    let _ = REQUEST_WAIT.try_with(|wait| wait.set(wait.get() + started.elapsed()));
    outcome.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!(
            "no answer within the database deadline of {deadline:?}"
        )))
    })
}

tokio::task_local! {
    /// How long the current request has waited on the database so far.
    static REQUEST_WAIT: Cell<Duration>;
}

/// Runs one request with a database budget of its own (see the module documentation).
pub async fn within_request<F: Future>(request: F) -> F::Output {
    REQUEST_WAIT.scope(Cell::new(Duration::ZERO), request).await
}

#[async_trait]
impl<S: Store> DeploymentStore for Bounded<S> {
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }

    async fn initialise(&self, plan: &FirstStart) -> StoreResult<Initialised> {
        self.bounded(self.inner.initialise(plan)).await
    }

    async fn jwt_keys(&self) -> StoreResult<Vec<StoredJwtKey>> {
        self.bounded(self.inner.jwt_keys()).await
    }

    async fn rotate_jwt_key(
        &self,
        key: &StoredJwtKey,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.rotate_jwt_key(key, now, audit))
            .await
    }

    async fn remove_jwt_key(
        &self,
        kid: &str,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<bool> {
        self.bounded(self.inner.remove_jwt_key(kid, now, audit))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.bounded(self.inner.ping()).await
    }

    async fn backup_into(&self, path: &std::path::Path) -> StoreResult<()> {
        self.inner.backup_into(path).await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        self.inner.pool_stats()
    }

    fn batch_stats(&self) -> Vec<BatchStats> {
        self.inner.batch_stats()
    }
}

#[async_trait]
impl<S: Store> ApplicationKeyStore for Bounded<S> {
    async fn find_client(&self, client_id: &str) -> StoreResult<Option<ClientCredentials>> {
        self.bounded(self.inner.find_client(client_id)).await
    }

    async fn issue_bearer_token(&self, token: &NewBearerToken, now: Timestamp) -> StoreResult<()> {
        self.bounded(self.inner.issue_bearer_token(token, now))
            .await
    }

    async fn find_bearer_token(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<BearerGrant>> {
        self.bounded(self.inner.find_bearer_token(token_hash, now))
            .await
    }

    async fn purge_expired_bearer_tokens(&self, now: Timestamp, batch: i64) -> StoreResult<u64> {
        self.bounded(self.inner.purge_expired_bearer_tokens(now, batch))
            .await
    }

    async fn create_application_key(
        &self,
        key: &NewApplicationKey,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<ApplicationKey> {
        self.bounded(self.inner.create_application_key(key, now, audit))
            .await
    }

    async fn application_key(&self, id: Uuid) -> StoreResult<ApplicationKey> {
        self.bounded(self.inner.application_key(id)).await
    }

    async fn list_application_keys(&self, query: &ListQuery) -> StoreResult<Page<ApplicationKey>> {
        self.bounded(self.inner.list_application_keys(query)).await
    }

    async fn update_application_key(
        &self,
        id: Uuid,
        patch: &ApplicationKeyPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<ApplicationKey> {
        self.bounded(self.inner.update_application_key(id, patch, now, audit))
            .await
    }

    async fn delete_application_key(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_application_key(id, now, audit))
            .await
    }
}

#[async_trait]
impl<S: Store> SettingsStore for Bounded<S> {
    async fn auth_settings(&self) -> StoreResult<AuthSettings> {
        self.bounded(self.inner.auth_settings()).await
    }

    async fn update_auth_settings(
        &self,
        patch: &AuthSettingsPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<AuthSettings> {
        self.bounded(self.inner.update_auth_settings(patch, now, audit))
            .await
    }

    async fn membership_settings(&self) -> StoreResult<MembershipSettings> {
        self.bounded(self.inner.membership_settings()).await
    }

    async fn update_membership_settings(
        &self,
        membership_limit: Option<i64>,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<MembershipSettings> {
        self.bounded(
            self.inner
                .update_membership_settings(membership_limit, now, audit),
        )
        .await
    }

    async fn realm(&self) -> StoreResult<Realm> {
        self.bounded(self.inner.realm()).await
    }

    async fn update_realm(
        &self,
        patch: &RealmPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Realm> {
        self.bounded(self.inner.update_realm(patch, now, audit))
            .await
    }
}

#[async_trait]
impl<S: Store> PasswordProfileStore for Bounded<S> {
    async fn create_password_profile(
        &self,
        profile: &NewPasswordProfile,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfile> {
        self.bounded(self.inner.create_password_profile(profile, now, audit))
            .await
    }

    async fn password_profile(&self, id: Uuid) -> StoreResult<PasswordProfile> {
        self.bounded(self.inner.password_profile(id)).await
    }

    async fn list_password_profiles(
        &self,
        query: &ListQuery,
    ) -> StoreResult<Page<PasswordProfile>> {
        self.bounded(self.inner.list_password_profiles(query)).await
    }

    async fn update_password_profile(
        &self,
        id: Uuid,
        patch: &PasswordProfilePatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfile> {
        self.bounded(self.inner.update_password_profile(id, patch, now, audit))
            .await
    }

    async fn delete_password_profile(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_password_profile(id, now, audit))
            .await
    }
}

#[async_trait]
impl<S: Store> UserStore for Bounded<S> {
    async fn create_user(
        &self,
        user: &NewUser,
        changed_by: ChangedBy,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<User> {
        self.bounded(self.inner.create_user(user, changed_by, now, audit))
            .await
    }

    async fn user(&self, id: Uuid) -> StoreResult<User> {
        self.bounded(self.inner.user(id)).await
    }

    async fn list_users(&self, query: &ListQuery, only: Option<Uuid>) -> StoreResult<Page<User>> {
        self.bounded(self.inner.list_users(query, only)).await
    }

    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        changed_by: ChangedBy,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<User> {
        self.bounded(self.inner.update_user(id, patch, changed_by, now, audit))
            .await
    }

    async fn delete_user(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_user(id, now, audit)).await
    }

    async fn list_unassigned_members(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<User>> {
        self.bounded(self.inner.list_unassigned_members(account_id, query))
            .await
    }

    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        self.bounded(self.inner.users_by_ids(ids)).await
    }

    async fn revoke_account_tokens(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.revoke_account_tokens(id, now, audit))
            .await
    }

    async fn create_password_profile_info(
        &self,
        info: &NewPasswordProfileInfo,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfileInfo> {
        self.bounded(self.inner.create_password_profile_info(info, now, audit))
            .await
    }

    async fn password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<PasswordProfileInfo> {
        self.bounded(self.inner.password_profile_info(user_id, id))
            .await
    }

    async fn list_password_profile_infos(
        &self,
        user_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<PasswordProfileInfo>> {
        self.bounded(self.inner.list_password_profile_infos(user_id, query))
            .await
    }

    async fn update_password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &PasswordProfileInfoPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfileInfo> {
        self.bounded(
            self.inner
                .update_password_profile_info(user_id, id, patch, now, audit),
        )
        .await
    }

    async fn delete_password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(
            self.inner
                .delete_password_profile_info(user_id, id, now, audit),
        )
        .await
    }

    async fn upgrade_password_hash(
        &self,
        password_profile_info_id: Uuid,
        current_hash: &str,
        upgraded_hash: &str,
    ) -> StoreResult<()> {
        self.bounded(self.inner.upgrade_password_hash(
            password_profile_info_id,
            current_hash,
            upgraded_hash,
        ))
        .await
    }

    async fn find_login(
        &self,
        password_profile_id: Uuid,
        username_lower: &str,
    ) -> StoreResult<Option<LoginCandidate>> {
        self.bounded(self.inner.find_login(password_profile_id, username_lower))
            .await
    }

    async fn self_signup(
        &self,
        signup: &SelfSignup,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Uuid> {
        self.bounded(self.inner.self_signup(signup, now, audit))
            .await
    }
}

#[async_trait]
impl<S: Store> OtpStore for Bounded<S> {
    async fn issue_otp(
        &self,
        otp: &NewOtp,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OtpIssue> {
        self.bounded(self.inner.issue_otp(otp, now, audit)).await
    }

    async fn reserve_otp_attempt(
        &self,
        password_profile_id: Uuid,
        username_lower: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OtpAttempt>> {
        self.bounded(
            self.inner
                .reserve_otp_attempt(password_profile_id, username_lower, now),
        )
        .await
    }

    async fn consume_otp(&self, code_id: Uuid, now: Timestamp) -> StoreResult<bool> {
        self.bounded(self.inner.consume_otp(code_id, now)).await
    }
}

#[async_trait]
impl<S: Store> IntegrationStore for Bounded<S> {
    async fn create_integration(
        &self,
        integration: &NewIntegration,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Integration> {
        self.bounded(self.inner.create_integration(integration, now, audit))
            .await
    }

    async fn integration(&self, id: Uuid) -> StoreResult<Integration> {
        self.bounded(self.inner.integration(id)).await
    }

    async fn list_integrations(&self, query: &ListQuery) -> StoreResult<Page<Integration>> {
        self.bounded(self.inner.list_integrations(query)).await
    }

    async fn update_integration(
        &self,
        id: Uuid,
        patch: &IntegrationPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Integration> {
        self.bounded(self.inner.update_integration(id, patch, now, audit))
            .await
    }

    async fn delete_integration(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_integration(id, now, audit))
            .await
    }

    async fn sync_configured_integrations(
        &self,
        integrations: &[ConfiguredIntegration],
        now: Timestamp,
    ) -> StoreResult<()> {
        self.bounded(self.inner.sync_configured_integrations(integrations, now))
            .await
    }

    async fn list_integration_logs(
        &self,
        integration_id: Option<Uuid>,
        query: &ListQuery,
    ) -> StoreResult<Page<IntegrationLog>> {
        self.bounded(self.inner.list_integration_logs(integration_id, query))
            .await
    }
}

#[async_trait]
impl<S: Store> OutboxStore for Bounded<S> {
    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.inner.outbox_signal()
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        self.bounded(self.inner.claim_deliveries(now, lease_until, limit))
            .await
    }

    async fn record_delivery(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.bounded(self.inner.record_delivery(delivery, outcome, now))
            .await
    }

    async fn scrub_expired_codes(&self, now: Timestamp) -> StoreResult<u64> {
        self.bounded(self.inner.scrub_expired_codes(now)).await
    }

    async fn purge_outbox(&self, now: Timestamp) -> StoreResult<u64> {
        self.bounded(self.inner.purge_outbox(now)).await
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        self.bounded(self.inner.outbox_backlog()).await
    }
}

#[async_trait]
impl<S: Store> AccountStore for Bounded<S> {
    async fn create_account(
        &self,
        account: &NewAccount,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Account> {
        self.bounded(self.inner.create_account(account, now, audit))
            .await
    }

    async fn account(&self, id: Uuid) -> StoreResult<Account> {
        self.bounded(self.inner.account(id)).await
    }

    async fn list_accounts(
        &self,
        query: &ListQuery,
        only: Option<Uuid>,
    ) -> StoreResult<Page<Account>> {
        self.bounded(self.inner.list_accounts(query, only)).await
    }

    async fn update_account(
        &self,
        id: Uuid,
        patch: &AccountPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Account> {
        self.bounded(self.inner.update_account(id, patch, now, audit))
            .await
    }

    async fn delete_account(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_account(id, now, audit))
            .await
    }

    async fn accounts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Account>> {
        self.bounded(self.inner.accounts_by_ids(ids)).await
    }

    async fn account_as_holder(
        &self,
        check: &HolderCheck,
        account_id: Uuid,
    ) -> StoreResult<HolderAccount> {
        self.bounded(self.inner.account_as_holder(check, account_id))
            .await
    }
}

#[async_trait]
impl<S: Store> MembershipStore for Bounded<S> {
    async fn create_membership(
        &self,
        account_id: Uuid,
        account_member_id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Membership> {
        self.bounded(
            self.inner
                .create_membership(account_id, account_member_id, now, audit),
        )
        .await
    }

    async fn membership(&self, account_id: Uuid, id: Uuid) -> StoreResult<Membership> {
        self.bounded(self.inner.membership(account_id, id)).await
    }

    async fn list_memberships(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<Membership>> {
        self.bounded(self.inner.list_memberships(account_id, query))
            .await
    }

    async fn delete_membership(
        &self,
        account_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_membership(account_id, id, now, audit))
            .await
    }

    async fn list_member_memberships(
        &self,
        account_member_id: Uuid,
        query: &ListQuery,
        only_account: Option<Uuid>,
    ) -> StoreResult<Page<Membership>> {
        self.bounded(
            self.inner
                .list_member_memberships(account_member_id, query, only_account),
        )
        .await
    }

    async fn token_accounts(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<TokenAccount>> {
        self.bounded(self.inner.token_accounts(account_member_id, limit, offset))
            .await
    }

    async fn token_issue(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Option<TokenIssue>> {
        self.bounded(self.inner.token_issue(account_member_id, limit, offset))
            .await
    }

    async fn switch_as_holder(
        &self,
        check: &HolderCheck,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Option<HolderSwitch>> {
        self.bounded(self.inner.switch_as_holder(check, limit, offset))
            .await
    }

    async fn account_token_is_live(
        &self,
        account_member_id: Uuid,
        account_id: Uuid,
        iat: i64,
    ) -> StoreResult<bool> {
        self.bounded(
            self.inner
                .account_token_is_live(account_member_id, account_id, iat),
        )
        .await
    }
}

#[async_trait]
impl<S: Store> SecurityStore for Bounded<S> {
    async fn begin_login_attempt(
        &self,
        keys: &LoginKeys,
        now: Timestamp,
        refusal: &NewAuditEvent,
    ) -> StoreResult<LoginAdmission> {
        self.bounded(self.inner.begin_login_attempt(keys, now, refusal))
            .await
    }

    async fn finish_login_attempt(
        &self,
        reservation: LoginReservation,
        outcome: LoginOutcomeKind,
        now: Timestamp,
        audit: Option<&NewAuditEvent>,
    ) -> StoreResult<()> {
        self.bounded(
            self.inner
                .finish_login_attempt(reservation, outcome, now, audit),
        )
        .await
    }

    async fn clear_lockout(
        &self,
        account_member_id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.clear_lockout(account_member_id, now, audit))
            .await
    }

    async fn purge_login_throttles(&self, now: Timestamp, batch: i64) -> StoreResult<u64> {
        self.bounded(self.inner.purge_login_throttles(now, batch))
            .await
    }

    async fn purge_audit_events(&self, before: Timestamp, batch: i64) -> StoreResult<u64> {
        self.bounded(self.inner.purge_audit_events(before, batch))
            .await
    }

    async fn append_audit_event(&self, event: &NewAuditEvent, now: Timestamp) -> StoreResult<()> {
        self.bounded(self.inner.append_audit_event(event, now))
            .await
    }

    async fn list_audit_events(&self, query: &ListQuery) -> StoreResult<Page<AuditEvent>> {
        self.bounded(self.inner.list_audit_events(query)).await
    }
}

#[async_trait]
impl<S: Store> OidcStore for Bounded<S> {
    async fn create_oidc_profile(
        &self,
        profile: &NewOidcProfile,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfile> {
        self.bounded(self.inner.create_oidc_profile(profile, now, audit))
            .await
    }

    async fn oidc_profile(&self, id: Uuid) -> StoreResult<OidcProfile> {
        self.bounded(self.inner.oidc_profile(id)).await
    }

    async fn list_oidc_profiles(&self, query: &ListQuery) -> StoreResult<Page<OidcProfile>> {
        self.bounded(self.inner.list_oidc_profiles(query)).await
    }

    async fn update_oidc_profile(
        &self,
        id: Uuid,
        patch: &OidcProfilePatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfile> {
        self.bounded(self.inner.update_oidc_profile(id, patch, now, audit))
            .await
    }

    async fn delete_oidc_profile(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_oidc_profile(id, now, audit))
            .await
    }

    async fn create_oidc_profile_info(
        &self,
        info: &NewOidcProfileInfo,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfileInfo> {
        self.bounded(self.inner.create_oidc_profile_info(info, now, audit))
            .await
    }

    async fn oidc_profile_info(&self, user_id: Uuid, id: Uuid) -> StoreResult<OidcProfileInfo> {
        self.bounded(self.inner.oidc_profile_info(user_id, id))
            .await
    }

    async fn list_oidc_profile_infos(
        &self,
        user_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<OidcProfileInfo>> {
        self.bounded(self.inner.list_oidc_profile_infos(user_id, query))
            .await
    }

    async fn update_oidc_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &OidcProfileInfoPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfileInfo> {
        self.bounded(
            self.inner
                .update_oidc_profile_info(user_id, id, patch, now, audit),
        )
        .await
    }

    async fn delete_oidc_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        self.bounded(self.inner.delete_oidc_profile_info(user_id, id, now, audit))
            .await
    }

    async fn create_oidc_login(&self, login: &NewOidcLogin, now: Timestamp) -> StoreResult<()> {
        self.bounded(self.inner.create_oidc_login(login, now)).await
    }

    async fn claim_oidc_login(
        &self,
        state_hash: &[u8; 32],
        oidc_profile_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<LoginClaim> {
        self.bounded(
            self.inner
                .claim_oidc_login(state_hash, oidc_profile_id, now),
        )
        .await
    }

    async fn create_oidc_code(&self, code: &NewOidcCode, now: Timestamp) -> StoreResult<()> {
        self.bounded(self.inner.create_oidc_code(code, now)).await
    }

    async fn purge_oidc_records(&self, now: Timestamp, batch: i64) -> StoreResult<u64> {
        self.bounded(self.inner.purge_oidc_records(now, batch))
            .await
    }

    async fn redeem_oidc_code(
        &self,
        code_hash: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<OidcCode>> {
        self.bounded(self.inner.redeem_oidc_code(code_hash, now))
            .await
    }

    async fn sign_in_oidc_identity(
        &self,
        identity: &OidcIdentity,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcSignIn> {
        self.bounded(self.inner.sign_in_oidc_identity(identity, now, audit))
            .await
    }
}

#[async_trait]
impl<S: Store> SealedSecretStore for Bounded<S> {
    async fn sealed_secrets(&self) -> StoreResult<SealedSecrets> {
        self.bounded(self.inner.sealed_secrets()).await
    }

    /// Maintenance, like migrations: as long as it takes.
    async fn rewrap_secrets(&self) -> StoreResult<Rewrapped> {
        self.inner.rewrap_secrets().await
    }
}

/// Maintenance, like migrations: an import batch or an export page takes as long as it takes.
#[async_trait]
impl<S: Store> MovingStore for Bounded<S> {
    async fn import_batch(
        &self,
        records: &[ImportRecord],
        options: ImportWrite,
        now: Timestamp,
    ) -> StoreResult<Vec<ImportOutcome>> {
        self.inner.import_batch(records, options, now).await
    }

    async fn export_accounts(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportAccount>> {
        self.inner.export_accounts(after, limit).await
    }

    async fn export_members(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportMember>> {
        self.inner.export_members(after, limit).await
    }

    async fn export_memberships(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportMembership>> {
        self.inner.export_memberships(after, limit).await
    }

    async fn password_profile_names(&self) -> StoreResult<Vec<(Uuid, String)>> {
        self.inner.password_profile_names().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn slow_call(millis: u64) -> StoreResult<u64> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }

    #[tokio::test(start_paused = true)]
    async fn a_requests_calls_share_one_budget() {
        let deadline = Duration::from_millis(100);
        let (first, second) = within_request(async {
            (
                spend(deadline, slow_call(60)).await,
                spend(deadline, slow_call(60)).await,
            )
        })
        .await;
        assert_eq!(first.ok(), Some(60));
        assert!(matches!(second, Err(StoreError::Unavailable(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn outside_a_request_each_call_has_the_whole_deadline() {
        let deadline = Duration::from_millis(100);
        assert_eq!(spend(deadline, slow_call(60)).await.ok(), Some(60));
        assert_eq!(spend(deadline, slow_call(60)).await.ok(), Some(60));
        assert!(spend(deadline, slow_call(150)).await.is_err());
    }
}
