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

/// Implements one store trait for `Bounded<S>`. A method written as a signature ending in `;`
/// calls the inner store's method of that name within the deadline; a method written with a body
/// (maintenance, and what never waits on the database) is taken as it stands.
macro_rules! bounded {
    (impl $store:ident { $($methods:tt)* }) => {
        bounded!(@methods $store [] $($methods)*);
    };
    (@methods $store:ident [$($done:tt)*]) => {
        #[async_trait]
        impl<S: Store> $store for Bounded<S> {
            $($done)*
        }
    };
    (@methods $store:ident [$($done:tt)*]
        async fn $name:ident(&self $(, $arg:ident: $type:ty)* $(,)?) -> $output:ty;
        $($rest:tt)*
    ) => {
        bounded!(@methods $store [$($done)*
            async fn $name(&self $(, $arg: $type)*) -> $output {
                self.bounded(self.inner.$name($($arg),*)).await
            }
        ] $($rest)*);
    };
    (@methods $store:ident [$($done:tt)*]
        async fn $name:ident $params:tt -> $output:ty { $($body:tt)* }
        $($rest:tt)*
    ) => {
        bounded!(@methods $store [$($done)*
            async fn $name $params -> $output { $($body)* }
        ] $($rest)*);
    };
    (@methods $store:ident [$($done:tt)*]
        fn $name:ident $params:tt -> $output:ty { $($body:tt)* }
        $($rest:tt)*
    ) => {
        bounded!(@methods $store [$($done)*
            fn $name $params -> $output { $($body)* }
        ] $($rest)*);
    };
}

bounded! {
    impl DeploymentStore {
        async fn migrate(&self) -> StoreResult<()> { self.inner.migrate().await }
        async fn initialise(&self, plan: &FirstStart) -> StoreResult<Initialised>;
        async fn jwt_keys(&self) -> StoreResult<Vec<StoredJwtKey>>;
        async fn rotate_jwt_key(
            &self, key: &StoredJwtKey, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn remove_jwt_key(
            &self, kid: &str, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<bool>;
        async fn ping(&self) -> StoreResult<()>;
        async fn backup_into(&self, path: &std::path::Path) -> StoreResult<()> {
            self.inner.backup_into(path).await
        }
        fn backend(&self) -> &'static str { self.inner.backend() }
        fn pool_stats(&self) -> Vec<PoolStats> { self.inner.pool_stats() }
        fn batch_stats(&self) -> Vec<BatchStats> { self.inner.batch_stats() }
    }
}

bounded! {
    impl ApplicationKeyStore {
        async fn find_client(&self, client_id: &str) -> StoreResult<Option<ClientCredentials>>;
        async fn issue_bearer_token(
            &self, token: &NewBearerToken, now: Timestamp
        ) -> StoreResult<()>;
        async fn find_bearer_token(
            &self, token_hash: &[u8; 32], now: Timestamp
        ) -> StoreResult<Option<BearerGrant>>;
        async fn purge_expired_bearer_tokens(&self, now: Timestamp, batch: i64) -> StoreResult<u64>;
        async fn create_application_key(
            &self, key: &NewApplicationKey, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<ApplicationKey>;
        async fn application_key(&self, id: Uuid) -> StoreResult<ApplicationKey>;
        async fn list_application_keys(
            &self, query: &ListQuery
        ) -> StoreResult<Page<ApplicationKey>>;
        async fn update_application_key(
            &self, id: Uuid, patch: &ApplicationKeyPatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<ApplicationKey>;
        async fn delete_application_key(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
    }
}

bounded! {
    impl SettingsStore {
        async fn auth_settings(&self) -> StoreResult<AuthSettings>;
        async fn update_auth_settings(
            &self, patch: &AuthSettingsPatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<AuthSettings>;
        async fn membership_settings(&self) -> StoreResult<MembershipSettings>;
        async fn update_membership_settings(
            &self, membership_limit: Option<i64>, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<MembershipSettings>;
        async fn realm(&self) -> StoreResult<Realm>;
        async fn update_realm(
            &self, patch: &RealmPatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Realm>;
    }
}

bounded! {
    impl PasswordProfileStore {
        async fn create_password_profile(
            &self, profile: &NewPasswordProfile, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<PasswordProfile>;
        async fn password_profile(&self, id: Uuid) -> StoreResult<PasswordProfile>;
        async fn list_password_profiles(
            &self, query: &ListQuery
        ) -> StoreResult<Page<PasswordProfile>>;
        async fn update_password_profile(
            &self, id: Uuid, patch: &PasswordProfilePatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<PasswordProfile>;
        async fn delete_password_profile(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
    }
}

bounded! {
    impl UserStore {
        async fn create_user(
            &self, user: &NewUser, changed_by: ChangedBy, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<User>;
        async fn user(&self, id: Uuid) -> StoreResult<User>;
        async fn list_users(
            &self, query: &ListQuery, only: Option<Uuid>
        ) -> StoreResult<Page<User>>;
        async fn update_user(
            &self,
            id: Uuid,
            patch: &UserPatch,
            changed_by: ChangedBy,
            now: Timestamp,
            audit: &NewAuditEvent,
        ) -> StoreResult<User>;
        async fn delete_user(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn list_unassigned_members(
            &self, account_id: Uuid, query: &ListQuery
        ) -> StoreResult<Page<User>>;
        async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>>;
        async fn revoke_account_tokens(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn create_password_profile_info(
            &self, info: &NewPasswordProfileInfo, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<PasswordProfileInfo>;
        async fn password_profile_info(
            &self, user_id: Uuid, id: Uuid
        ) -> StoreResult<PasswordProfileInfo>;
        async fn list_password_profile_infos(
            &self, user_id: Uuid, query: &ListQuery
        ) -> StoreResult<Page<PasswordProfileInfo>>;
        async fn update_password_profile_info(
            &self,
            user_id: Uuid,
            id: Uuid,
            patch: &PasswordProfileInfoPatch,
            now: Timestamp,
            audit: &NewAuditEvent,
        ) -> StoreResult<PasswordProfileInfo>;
        async fn delete_password_profile_info(
            &self, user_id: Uuid, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn upgrade_password_hash(
            &self, password_profile_info_id: Uuid, current_hash: &str, upgraded_hash: &str
        ) -> StoreResult<()>;
        async fn find_login(
            &self, password_profile_id: Uuid, username_lower: &str
        ) -> StoreResult<Option<LoginCandidate>>;
        async fn self_signup(
            &self, signup: &SelfSignup, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Uuid>;
    }
}

bounded! {
    impl OtpStore {
        async fn issue_otp(
            &self, otp: &NewOtp, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<OtpIssue>;
        async fn reserve_otp_attempt(
            &self, password_profile_id: Uuid, username_lower: &str, now: Timestamp
        ) -> StoreResult<Option<OtpAttempt>>;
        async fn consume_otp(&self, code_id: Uuid, now: Timestamp) -> StoreResult<bool>;
    }
}

bounded! {
    impl IntegrationStore {
        async fn create_integration(
            &self, integration: &NewIntegration, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Integration>;
        async fn integration(&self, id: Uuid) -> StoreResult<Integration>;
        async fn list_integrations(&self, query: &ListQuery) -> StoreResult<Page<Integration>>;
        async fn update_integration(
            &self, id: Uuid, patch: &IntegrationPatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Integration>;
        async fn delete_integration(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn sync_configured_integrations(
            &self, integrations: &[ConfiguredIntegration], now: Timestamp
        ) -> StoreResult<()>;
        async fn list_integration_logs(
            &self, integration_id: Option<Uuid>, query: &ListQuery
        ) -> StoreResult<Page<IntegrationLog>>;
        async fn queue_test_event(
            &self, id: Uuid, payload: &serde_json::Value, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Uuid>;
    }
}

bounded! {
    impl OutboxStore {
        fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
            self.inner.outbox_signal()
        }
        async fn claim_deliveries(
            &self, now: Timestamp, lease_until: Timestamp, limit: u32
        ) -> StoreResult<Vec<ClaimedDelivery>>;
        async fn record_delivery(
            &self, delivery: &ClaimedDelivery, outcome: &DeliveryOutcome, now: Timestamp
        ) -> StoreResult<()>;
        async fn scrub_expired_codes(&self, now: Timestamp) -> StoreResult<u64>;
        async fn purge_outbox(&self, now: Timestamp) -> StoreResult<u64>;
        async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog>;
    }
}

bounded! {
    impl OverviewStore {
        async fn login_minutes(&self, since: Timestamp) -> StoreResult<Vec<LoginMinute>>;
        async fn failed_deliveries_since(&self, since: Timestamp) -> StoreResult<u64>;
        async fn member_locked_until(
            &self, account_member_id: Uuid, now: Timestamp
        ) -> StoreResult<Option<Timestamp>>;
    }
}

bounded! {
    impl AccountStore {
        async fn create_account(
            &self, account: &NewAccount, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Account>;
        async fn account(&self, id: Uuid) -> StoreResult<Account>;
        async fn list_accounts(
            &self, query: &ListQuery, only: Option<Uuid>
        ) -> StoreResult<Page<Account>>;
        async fn update_account(
            &self, id: Uuid, patch: &AccountPatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Account>;
        async fn delete_account(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn accounts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Account>>;
        async fn account_as_holder(
            &self, check: &HolderCheck, account_id: Uuid
        ) -> StoreResult<HolderAccount>;
    }
}

bounded! {
    impl MembershipStore {
        async fn create_membership(
            &self, account_id: Uuid, account_member_id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<Membership>;
        async fn membership(&self, account_id: Uuid, id: Uuid) -> StoreResult<Membership>;
        async fn list_memberships(
            &self, account_id: Uuid, query: &ListQuery
        ) -> StoreResult<Page<Membership>>;
        async fn delete_membership(
            &self, account_id: Uuid, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn list_member_memberships(
            &self, account_member_id: Uuid, query: &ListQuery, only_account: Option<Uuid>
        ) -> StoreResult<Page<Membership>>;
        async fn token_accounts(
            &self, account_member_id: Uuid, limit: u32, offset: u32
        ) -> StoreResult<Page<TokenAccount>>;
        async fn token_issue(
            &self, account_member_id: Uuid, limit: u32, offset: u32
        ) -> StoreResult<Option<TokenIssue>>;
        async fn switch_as_holder(
            &self, check: &HolderCheck, limit: u32, offset: u32
        ) -> StoreResult<Option<HolderSwitch>>;
        async fn account_token_is_live(
            &self, account_member_id: Uuid, account_id: Uuid, iat: i64
        ) -> StoreResult<bool>;
    }
}

bounded! {
    impl SecurityStore {
        async fn begin_login_attempt(
            &self, keys: &LoginKeys, now: Timestamp, refusal: &NewAuditEvent
        ) -> StoreResult<LoginAdmission>;
        async fn finish_login_attempt(
            &self,
            reservation: LoginReservation,
            outcome: LoginOutcomeKind,
            now: Timestamp,
            audit: Option<&NewAuditEvent>,
        ) -> StoreResult<()>;
        async fn clear_lockout(
            &self, account_member_id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn purge_login_throttles(&self, now: Timestamp, batch: i64) -> StoreResult<u64>;
        async fn purge_audit_events(&self, before: Timestamp, batch: i64) -> StoreResult<u64>;
        async fn append_audit_event(
            &self, event: &NewAuditEvent, now: Timestamp
        ) -> StoreResult<()>;
        async fn list_audit_events(&self, query: &ListQuery) -> StoreResult<Page<AuditEvent>>;
    }
}

bounded! {
    impl OidcStore {
        async fn create_oidc_profile(
            &self, profile: &NewOidcProfile, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<OidcProfile>;
        async fn oidc_profile(&self, id: Uuid) -> StoreResult<OidcProfile>;
        async fn list_oidc_profiles(&self, query: &ListQuery) -> StoreResult<Page<OidcProfile>>;
        async fn update_oidc_profile(
            &self, id: Uuid, patch: &OidcProfilePatch, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<OidcProfile>;
        async fn delete_oidc_profile(
            &self, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn create_oidc_profile_info(
            &self, info: &NewOidcProfileInfo, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<OidcProfileInfo>;
        async fn oidc_profile_info(&self, user_id: Uuid, id: Uuid) -> StoreResult<OidcProfileInfo>;
        async fn list_oidc_profile_infos(
            &self, user_id: Uuid, query: &ListQuery
        ) -> StoreResult<Page<OidcProfileInfo>>;
        async fn update_oidc_profile_info(
            &self,
            user_id: Uuid,
            id: Uuid,
            patch: &OidcProfileInfoPatch,
            now: Timestamp,
            audit: &NewAuditEvent,
        ) -> StoreResult<OidcProfileInfo>;
        async fn delete_oidc_profile_info(
            &self, user_id: Uuid, id: Uuid, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<()>;
        async fn create_oidc_login(&self, login: &NewOidcLogin, now: Timestamp) -> StoreResult<()>;
        async fn claim_oidc_login(
            &self, state_hash: &[u8; 32], oidc_profile_id: Uuid, now: Timestamp
        ) -> StoreResult<LoginClaim>;
        async fn create_oidc_code(&self, code: &NewOidcCode, now: Timestamp) -> StoreResult<()>;
        async fn purge_oidc_records(&self, now: Timestamp, batch: i64) -> StoreResult<u64>;
        async fn redeem_oidc_code(
            &self, code_hash: &[u8; 32], now: Timestamp
        ) -> StoreResult<Option<OidcCode>>;
        async fn sign_in_oidc_identity(
            &self, identity: &OidcIdentity, now: Timestamp, audit: &NewAuditEvent
        ) -> StoreResult<OidcSignIn>;
    }
}

bounded! {
    impl SealedSecretStore {
        async fn sealed_secrets(&self) -> StoreResult<SealedSecrets>;
        // Maintenance, like migrations: as long as it takes.
        async fn rewrap_secrets(&self) -> StoreResult<Rewrapped> {
            self.inner.rewrap_secrets().await
        }
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

    async fn refresh_import_statistics(&self, grown: ImportedTables) -> StoreResult<()> {
        self.inner.refresh_import_statistics(grown).await
    }

    async fn finish_import(&self, summary: &NewAuditEvent, now: Timestamp) -> StoreResult<()> {
        self.inner.finish_import(summary, now).await
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
