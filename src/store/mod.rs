//! The storage seam. Handlers talk to `dyn Store`; [`connect`] picks PostgreSQL or SQLite once,
//! from the URL scheme. Both backends run the same SQL (`sql/`, compiled once per backend) over
//! portable column types: UUIDs as `uuid`/16-byte BLOB, timestamps as epoch milliseconds, text
//! compared byte-wise. What genuinely differs is the `Backend` trait (`backend.rs`), implemented
//! in `postgres.rs` and `sqlite.rs`.
//!
//! Every write that an API request or a command makes takes the `NewAuditEvent` describing it
//! (its `audit` parameter) and writes that row in the transaction of the change, with the
//! change's events: a write that fails leaves neither.

pub mod audit;
mod backend;
mod batch;
mod bulk_rows;
mod deadline;
pub mod lean_pool;
pub mod models;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use uuid::Uuid;

pub use audit::{Actor, ActorClass, AuditEvent, MAX_AUDIT_TEXT_BYTES, NewAuditEvent};
pub use deadline::within_request;
pub use models::*;

use crate::auth::throttle::LoginKeys;
use crate::time::Timestamp;

pub type StoreResult<T> = Result<T, StoreError>;

/// A record the store looked for and did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Account,
    ParentAccount,
    AccountMember,
    Membership,
    Realm,
    PasswordProfile,
    UserInfo,
    PasswordProfileInfo,
    ApplicationKey,
    Integration,
    OidcProfile,
    OidcProfileInfo,
}

/// Uniqueness and state conflicts, each with its own `409` wording
/// (docs/http-conventions.md#not-found-and-conflict-wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    MembershipExists,
    RegistrationIdTaken,
    AccountHasChildren,
    UsernameTaken,
    ProfileInfoExists,
    EmailTaken,
    ApplicationKeyNameTaken,
    ApplicationKeyManaged,
    /// The active JWT key cannot be removed; rotate first.
    ActiveJwtKey,
    IntegrationManaged,
    /// A disabled integration receives no deliveries, test events included.
    IntegrationDisabled,
    OidcIdentityTaken,
}

/// Limits that answer `422`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    AccountMemberships,
    MemberMemberships,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0:?} not found")]
    NotFound(Entity),
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    #[error("limit reached: {0:?}")]
    Limit(Limit),
    #[error("the filter names a field or operator this list does not offer")]
    InvalidFilter,
    #[error("the sort names a field this list does not offer")]
    InvalidSort,
    #[error("the configured store id differs from the one this database was created with")]
    StoreIdMismatch,
    #[error(
        "unsupported database URL {0:?}: use sqlite://… (embedded) or postgres://… (production)"
    )]
    UnsupportedUrl(String),
    /// The database did not answer in time, or the connection to it failed: the request may
    /// succeed again in a moment, so callers answer `503`, never `500`.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Sealed(#[from] crate::auth::sealing::SealError),
    #[error("{0}")]
    Unsupported(&'static str),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            Self::Unavailable(error.to_string())
        } else {
            Self::Database(error)
        }
    }
}

/// Whether a database error says the database is away or overloaded (the connection broke, a
/// timeout passed, the server is shutting down or starting) rather than that the statement was
/// wrong: the former deserve a `503` and a retry, the latter are bugs.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            let code = code.as_ref();
            // PostgreSQL: connection exceptions (08…), shutdown and start-up (57P01-57P03),
            // a statement cancelled by statement_timeout (57014), too many connections (53300).
            // SQLite: busy (5) and locked (6) past the busy timeout.
            code.starts_with("08")
                || matches!(
                    code,
                    "57P01" | "57P02" | "57P03" | "57014" | "53300" | "5" | "6"
                )
        }),
        _ => false,
    }
}

/// Renders the resource objects that event payloads carry, exactly as the corresponding GET
/// returns them (docs/events.md#event-catalogue). The store decides *when* an event happens, inside
/// the transaction of the change; the wire format (`crate::wire`, which implements this for
/// `Links`) decides *how* the object looks, so the store never builds URLs itself.
pub trait EventPayloads: Send + Sync + 'static {
    fn account(&self, account: &Account) -> serde_json::Value;
    fn account_member(&self, user: &User) -> serde_json::Value;
    fn membership(&self, membership: &Membership) -> serde_json::Value;
}

/// Opens the database named by `url`, choosing the backend by scheme. `payloads` renders the
/// objects of the events the store writes to its outbox. Secrets are kept in plain text; see
/// [`connect_sealed`].
pub async fn connect(
    url: &str,
    payloads: std::sync::Arc<dyn EventPayloads>,
) -> StoreResult<std::sync::Arc<dyn Store>> {
    connect_with(url, payloads, &ConnectOptions::default()).await
}

/// How the store treats its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The longest a request waits on the database for one store call, waiting for a
    /// connection included; past it the call fails as [`StoreError::Unavailable`]. PostgreSQL
    /// also cancels statements past it on the server (`statement_timeout`).
    pub db_timeout: std::time::Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            db_timeout: std::time::Duration::from_secs(3),
        }
    }
}

/// [`connect`] with `options`; secrets are kept in plain text (see [`connect_sealed`]).
pub async fn connect_with(
    url: &str,
    payloads: std::sync::Arc<dyn EventPayloads>,
    options: &ConnectOptions,
) -> StoreResult<std::sync::Arc<dyn Store>> {
    connect_sealed(
        url,
        payloads,
        options,
        crate::auth::sealing::Sealer::plain_text(),
    )
    .await
}

/// [`connect_with`], with `sealer` encrypting the secrets the store writes (JWT keys, OIDC
/// client secrets, integration secret keys) and opening those it reads.
pub async fn connect_sealed(
    url: &str,
    payloads: std::sync::Arc<dyn EventPayloads>,
    options: &ConnectOptions,
    sealer: crate::auth::sealing::Sealer,
) -> StoreResult<std::sync::Arc<dyn Store>> {
    let sealer = std::sync::Arc::new(sealer);
    let deadline = options.db_timeout;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = postgres::connect(url, payloads, options, sealer).await?;
        Ok(std::sync::Arc::new(deadline::Bounded::new(store, deadline)))
    } else if url.starts_with("sqlite:") {
        let store = sqlite::connect(url, payloads, options, sealer).await?;
        Ok(std::sync::Arc::new(deadline::Bounded::new(store, deadline)))
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::UnsupportedUrl(scheme.to_owned()))
    }
}

#[async_trait]
pub trait DeploymentStore {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Creates the first-start records that are missing, in one transaction, and returns them.
    async fn initialise(&self, plan: &FirstStart) -> StoreResult<Initialised>;
    /// The JWT signing keys kept in the database (none when keys are configured).
    async fn jwt_keys(&self) -> StoreResult<Vec<StoredJwtKey>>;
    /// Adds `key` as the active key; the others stay, to verify the tokens they signed.
    async fn rotate_jwt_key(
        &self,
        key: &StoredJwtKey,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
    /// Removes an inactive key: tokens it signed stop working. `false` when there is no such
    /// key; the active key cannot be removed (a conflict).
    async fn remove_jwt_key(
        &self,
        kid: &str,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<bool>;
    /// Answers when the database does: the readiness probe.
    async fn ping(&self) -> StoreResult<()>;
    /// Writes a consistent copy of the whole database to `path` (a new file) while the server
    /// runs: SQLite only; PostgreSQL has `pg_dump`.
    async fn backup_into(&self, path: &std::path::Path) -> StoreResult<()>;
    /// Which backend this is, for logs and test output.
    fn backend(&self) -> &'static str;
    /// Connections of each pool, for `/metrics`: never waits and never touches the database.
    fn pool_stats(&self) -> Vec<PoolStats>;
    /// The batched hot statements (PostgreSQL), for `/metrics`; empty where nothing is batched.
    fn batch_stats(&self) -> Vec<BatchStats>;
}

/// How one batched statement has been doing: `requests / statements` is its mean batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    /// `account_read` or `switch`.
    pub statement: &'static str,
    pub statements: u64,
    pub requests: u64,
    /// Workers replaced after a panic.
    pub worker_restarts: u64,
}

/// A snapshot of one connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `primary` where reads and writes share a pool (PostgreSQL), plus `lean` for the hot
    /// statements there; `read` and `write` on SQLite.
    pub name: &'static str,
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: usize,
    pub max: u32,
    /// Reads run a second time because their connection had died (the lean pool only).
    pub retries: u64,
}

#[async_trait]
pub trait ApplicationKeyStore {
    async fn find_client(&self, client_id: &str) -> StoreResult<Option<ClientCredentials>>;
    /// Stores a bearer token and marks its key as used.
    async fn issue_bearer_token(&self, token: &NewBearerToken, now: Timestamp) -> StoreResult<()>;
    async fn find_bearer_token(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<BearerGrant>>;
    /// Deletes bearer tokens that expired before `now`; returns how many.
    async fn purge_expired_bearer_tokens(&self, now: Timestamp, batch: i64) -> StoreResult<u64>;
    async fn create_application_key(
        &self,
        key: &NewApplicationKey,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<ApplicationKey>;
    async fn application_key(&self, id: Uuid) -> StoreResult<ApplicationKey>;
    async fn list_application_keys(&self, query: &ListQuery) -> StoreResult<Page<ApplicationKey>>;
    /// Refused with a conflict for the key that configuration manages
    /// (docs/authentication.md#application-keys).
    async fn update_application_key(
        &self,
        id: Uuid,
        patch: &ApplicationKeyPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<ApplicationKey>;
    /// Deletes the key and, with it, every bearer token issued for it.
    async fn delete_application_key(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait SettingsStore {
    async fn auth_settings(&self) -> StoreResult<AuthSettings>;
    async fn update_auth_settings(
        &self,
        patch: &AuthSettingsPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<AuthSettings>;
    async fn membership_settings(&self) -> StoreResult<MembershipSettings>;
    async fn update_membership_settings(
        &self,
        membership_limit: Option<i64>,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<MembershipSettings>;
    async fn realm(&self) -> StoreResult<Realm>;
    async fn update_realm(
        &self,
        patch: &RealmPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Realm>;
}

#[async_trait]
pub trait PasswordProfileStore {
    async fn create_password_profile(
        &self,
        profile: &NewPasswordProfile,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfile>;
    async fn password_profile(&self, id: Uuid) -> StoreResult<PasswordProfile>;
    async fn list_password_profiles(&self, query: &ListQuery)
    -> StoreResult<Page<PasswordProfile>>;
    async fn update_password_profile(
        &self,
        id: Uuid,
        patch: &PasswordProfilePatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfile>;
    async fn delete_password_profile(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore {
    async fn create_user(
        &self,
        user: &NewUser,
        changed_by: ChangedBy,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<User>;
    async fn user(&self, id: Uuid) -> StoreResult<User>;
    /// `only` narrows the list to one user (an account holder sees only itself).
    async fn list_users(&self, query: &ListQuery, only: Option<Uuid>) -> StoreResult<Page<User>>;
    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        changed_by: ChangedBy,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<User>;
    /// Cascades (docs/README.md#domain-model) and emits a membership deletion per membership, then
    /// the member's.
    async fn delete_user(&self, id: Uuid, now: Timestamp, audit: &NewAuditEvent)
    -> StoreResult<()>;
    /// Members with no membership in `account_id`: the candidates to add to it.
    async fn list_unassigned_members(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<User>>;
    /// The users among `ids` that exist, in no particular order (for `include`).
    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>>;
    /// Moves the member's "tokens valid after" instant to `now`
    /// (docs/decisions.md#tokens-valid-after).
    async fn revoke_account_tokens(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;

    async fn create_password_profile_info(
        &self,
        info: &NewPasswordProfileInfo,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfileInfo>;
    async fn password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<PasswordProfileInfo>;
    async fn list_password_profile_infos(
        &self,
        user_id: Uuid,
        query: &ListQuery,
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
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
    /// Replaces a password hash made with outdated parameters, unless the password changed
    /// meanwhile (`current_hash` no longer matches). Not a password change: tokens stay valid.
    async fn upgrade_password_hash(
        &self,
        password_profile_info_id: Uuid,
        current_hash: &str,
        upgraded_hash: &str,
    ) -> StoreResult<()>;
    /// The login record for a username (already lower-cased) in a profile, if any.
    async fn find_login(
        &self,
        password_profile_id: Uuid,
        username_lower: &str,
    ) -> StoreResult<Option<LoginCandidate>>;
    /// Self sign-up (docs/login.md#self-sign-up) in one transaction with its events and its audit
    /// row, whose actor becomes the new member; returns the new member's id. `404` for an unknown
    /// profile, `409` for a taken username or (by policy) email.
    async fn self_signup(
        &self,
        signup: &SelfSignup,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Uuid>;
}

/// One-time password codes (docs/login.md#one-time-codes).
#[async_trait]
pub trait OtpStore {
    /// Issues a code for the username, superseding any outstanding one, and writes its event, in
    /// one transaction with the request's audit row; for an unknown username or over the hourly
    /// cap only the audit row is written.
    async fn issue_otp(
        &self,
        otp: &NewOtp,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OtpIssue>;
    /// Reserves one exchange attempt against the outstanding, unexpired code of a username in
    /// a profile that allows OTP codes; `None` when there is nothing to try
    /// (docs/login.md#one-time-codes).
    async fn reserve_otp_attempt(
        &self,
        password_profile_id: Uuid,
        username_lower: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OtpAttempt>>;
    /// Consumes a code whose hash matched; `false` when it was used, superseded or invalidated
    /// meanwhile, or expired.
    async fn consume_otp(&self, code_id: Uuid, now: Timestamp) -> StoreResult<bool>;
}

/// The integrations resource, those defined in configuration, and their logs (docs/events.md).
#[async_trait]
pub trait IntegrationStore {
    async fn create_integration(
        &self,
        integration: &NewIntegration,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Integration>;
    async fn integration(&self, id: Uuid) -> StoreResult<Integration>;
    async fn list_integrations(&self, query: &ListQuery) -> StoreResult<Page<Integration>>;
    /// `409` for an integration managed by configuration. Disabling drops pending deliveries.
    async fn update_integration(
        &self,
        id: Uuid,
        patch: &IntegrationPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Integration>;
    /// `409` for an integration managed by configuration. Pending deliveries go with it.
    async fn delete_integration(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
    /// Upserts the configured integrations and deletes configured ones no longer listed.
    async fn sync_configured_integrations(
        &self,
        integrations: &[ConfiguredIntegration],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Delivery attempts, newest first; of one integration or of all.
    async fn list_integration_logs(
        &self,
        integration_id: Option<Uuid>,
        query: &ListQuery,
    ) -> StoreResult<Page<IntegrationLog>>;
    /// Queues one `integration.test` event with `payload` for integration `id` alone, through
    /// the outbox as every event goes (docs/events.md#test-events); its envelope id. `404` for
    /// an unknown integration, `409` for a disabled one.
    async fn queue_test_event(
        &self,
        id: Uuid,
        payload: &serde_json::Value,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Uuid>;
}

/// The dispatcher's side of the transactional outbox (docs/events.md#delivery-and-retries).
#[async_trait]
pub trait OutboxStore {
    /// Notified after every commit that wrote deliveries, so the dispatcher of this process
    /// starts at once instead of at its next poll.
    fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// Leases up to `limit` due deliveries until `lease_until`. Rows another dispatcher holds
    /// are skipped (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's single writer makes the
    /// claim atomic), so no attempt runs twice at the same time.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Logs an attempt and moves the delivery on, in one transaction; scrubs the OTP code of
    /// the event once none of its deliveries is pending.
    async fn record_delivery(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Stops the deliveries of expired OTP codes and scrubs the codes from the outbox; returns
    /// how many codes were scrubbed.
    async fn scrub_expired_codes(&self, now: Timestamp) -> StoreResult<u64>;
    /// Forgets logs, finished events and spent OTP codes older than their retention.
    async fn purge_outbox(&self, now: Timestamp) -> StoreResult<u64>;
    /// Deliveries still pending, for `/metrics`.
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog>;
}

#[async_trait]
pub trait AccountStore {
    async fn create_account(
        &self,
        account: &NewAccount,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Account>;
    async fn account(&self, id: Uuid) -> StoreResult<Account>;
    async fn list_accounts(
        &self,
        query: &ListQuery,
        only: Option<Uuid>,
    ) -> StoreResult<Page<Account>>;
    async fn update_account(
        &self,
        id: Uuid,
        patch: &AccountPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Account>;
    /// Emits a membership deletion per membership, then the account's.
    async fn delete_account(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
    /// The accounts among `ids` that exist, in no particular order (for `include`).
    async fn accounts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Account>>;
    /// A token-checked account read in one statement: the caller decides in the order of checks
    /// (docs/http-conventions.md#order-of-checks) from what comes back.
    async fn account_as_holder(
        &self,
        check: &HolderCheck,
        account_id: Uuid,
    ) -> StoreResult<HolderAccount>;
}

#[async_trait]
pub trait MembershipStore {
    async fn create_membership(
        &self,
        account_id: Uuid,
        account_member_id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Membership>;
    async fn membership(&self, account_id: Uuid, id: Uuid) -> StoreResult<Membership>;
    async fn list_memberships(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<Membership>>;
    async fn delete_membership(
        &self,
        account_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
    /// A member's memberships across accounts (the reverse lookup); `only_account` narrows it to
    /// one account (an account holder sees only its token's membership).
    async fn list_member_memberships(
        &self,
        account_member_id: Uuid,
        query: &ListQuery,
        only_account: Option<Uuid>,
    ) -> StoreResult<Page<Membership>>;
    /// The accounts a member gets tokens for, by account name (byte-wise), then id
    /// (docs/decisions.md#token-list-order).
    async fn token_accounts(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<TokenAccount>>;
    /// The settings tokens are minted with and a page of the member's token accounts, in one
    /// statement; `None` when the page is past the end (the caller then asks step by step).
    async fn token_issue(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Option<TokenIssue>>;
    /// The switch mechanism's reads in one statement; `None` when the page is past the end of
    /// the member's accounts (the caller then asks step by step).
    async fn switch_as_holder(
        &self,
        check: &HolderCheck,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Option<HolderSwitch>>;
    /// Liveness (docs/account-tokens.md#liveness): member and account exist, a membership links
    /// them, and `iat` is neither before the member's revocation instant nor before the second that
    /// membership was created (so a membership deleted and created again does not revive the old
    /// one's tokens).
    async fn account_token_is_live(
        &self,
        account_member_id: Uuid,
        account_id: Uuid,
        iat: i64,
    ) -> StoreResult<bool>;
}

/// Whether a login attempt may go ahead (and is now reserved) or is refused by a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAdmission {
    /// The attempt counts as pending until [`SecurityStore::finish_login_attempt`].
    Reserved(LoginReservation),
    /// Refused; the first refusal of a key's lock period was written to the audit trail.
    Throttled { retry_after: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginReservation(pub Uuid);

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcomeKind {
    /// Wrong credentials: a failure on all three keys.
    Failed,
    /// The right credentials: the pair key starts afresh.
    Succeeded,
    /// Neither (the hash queue was full, the database failed): counts for nothing.
    Released,
}

#[async_trait]
pub trait SecurityStore {
    /// Checks the pair, username and address keys of an attempt (see `auth::throttle`) and, when
    /// none is locked, reserves the attempt in the same transaction, so that concurrent attempts
    /// are decided one after the other.
    /// A refusal that is the first of its key's lock period writes `refusal` to the audit trail
    /// in the same transaction.
    async fn begin_login_attempt(
        &self,
        keys: &LoginKeys,
        now: Timestamp,
        refusal: &NewAuditEvent,
    ) -> StoreResult<LoginAdmission>;
    /// Records the outcome of a reserved attempt, and `audit` with it. A reservation that
    /// already timed out (and so was counted as a failure) is left as it was counted.
    async fn finish_login_attempt(
        &self,
        reservation: LoginReservation,
        outcome: LoginOutcomeKind,
        now: Timestamp,
        audit: Option<&NewAuditEvent>,
    ) -> StoreResult<()>;
    /// Clears the pair and username keys of every password login of the member; address keys
    /// are left alone.
    async fn clear_lockout(
        &self,
        account_member_id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;
    /// Counts timed-out reservations as failures, and forgets failures no window counts any
    /// more and keys that hold nothing, at most `batch` rows of each kind per call.
    async fn purge_login_throttles(&self, now: Timestamp, batch: i64) -> StoreResult<u64>;
    /// Deletes at most `batch` audit events created before `before`, oldest first.
    async fn purge_audit_events(&self, before: Timestamp, batch: i64) -> StoreResult<u64>;
    /// An event that records no change of its own (a switch, a refused code). Its commit may
    /// skip the durable flush (docs/operations.md#audit-trail): such rows are the only ones a
    /// crash of the database server can lose.
    async fn append_audit_event(&self, event: &NewAuditEvent, now: Timestamp) -> StoreResult<()>;
    async fn list_audit_events(&self, query: &ListQuery) -> StoreResult<Page<AuditEvent>>;
}

/// OpenID Connect login (docs/oidc.md): providers, the identities linked to users, and the two
/// short-lived single-use records of the browser flow (pending logins and accountd's codes).
#[async_trait]
pub trait OidcStore {
    async fn create_oidc_profile(
        &self,
        profile: &NewOidcProfile,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfile>;
    async fn oidc_profile(&self, id: Uuid) -> StoreResult<OidcProfile>;
    async fn list_oidc_profiles(&self, query: &ListQuery) -> StoreResult<Page<OidcProfile>>;
    async fn update_oidc_profile(
        &self,
        id: Uuid,
        patch: &OidcProfilePatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfile>;
    /// Its OIDC profile infos, pending logins and unredeemed codes go with it
    /// (docs/README.md#domain-model).
    async fn delete_oidc_profile(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;

    async fn create_oidc_profile_info(
        &self,
        info: &NewOidcProfileInfo,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfileInfo>;
    async fn oidc_profile_info(&self, user_id: Uuid, id: Uuid) -> StoreResult<OidcProfileInfo>;
    async fn list_oidc_profile_infos(
        &self,
        user_id: Uuid,
        query: &ListQuery,
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
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()>;

    /// Stores a pending login (and drops expired ones).
    async fn create_oidc_login(&self, login: &NewOidcLogin, now: Timestamp) -> StoreResult<()>;
    /// Atomically marks the login for `state_hash` through `oidc_profile_id` used.
    async fn claim_oidc_login(
        &self,
        state_hash: &[u8; 32],
        oidc_profile_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<LoginClaim>;
    /// Stores one of accountd's codes (and drops expired ones).
    async fn create_oidc_code(&self, code: &NewOidcCode, now: Timestamp) -> StoreResult<()>;
    /// Deletes at most `batch` expired login records and as many expired codes; answers the
    /// larger of the two counts, so a caller repeating until it is below `batch` empties both.
    async fn purge_oidc_records(&self, now: Timestamp, batch: i64) -> StoreResult<u64>;
    /// Atomically removes an unexpired code and returns what it stood for.
    async fn redeem_oidc_code(
        &self,
        code_hash: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<OidcCode>>;
    /// Signs the identity in (docs/oidc.md#the-code-for-the-storefront), in one transaction with
    /// its events and its audit row, whose actor becomes the member signed in: a known identity
    /// updates its user's name, email and name parts; a new one creates a user, its OIDC profile
    /// info and, when auto-create is on, an account and membership. `NotFound(OidcProfile)` when
    /// the profile has gone meanwhile.
    async fn sign_in_oidc_identity(
        &self,
        identity: &OidcIdentity,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcSignIn>;
}

/// The secrets kept at rest (JWT keys, OIDC client secrets, integration secret keys) as a
/// whole: what they are sealed with, and moving them to the current master key.
#[async_trait]
pub trait SealedSecretStore {
    /// The master key ids the stored secrets are sealed with, and how many are plain text.
    async fn sealed_secrets(&self) -> StoreResult<SealedSecrets>;
    /// Seals every secret under the store's current master key, opening those sealed with its
    /// previous one; one transaction, so a secret that cannot be opened changes nothing.
    async fn rewrap_secrets(&self) -> StoreResult<Rewrapped>;
}

/// Bulk moves (docs/moving-in.md): the import's batches and the export's pages. Maintenance, like
/// migrations: not bound by the request deadline.
#[async_trait]
pub trait MovingStore {
    /// Writes `records` in one transaction with their events and one audit row per record
    /// created (neither with `quiet_events`); records that match existing ones change nothing. A rule a
    /// record breaks rejects it alone; a database error fails the whole batch, which the caller
    /// then retries record by record. `dry_run` rolls the transaction back. The commit need not
    /// reach the disk before this returns: [`MovingStore::finish_import`] makes it, and every
    /// batch before it, durable.
    async fn import_batch(
        &self,
        records: &[ImportRecord],
        options: ImportWrite,
        now: Timestamp,
    ) -> StoreResult<Vec<ImportOutcome>>;
    /// Accounts after `after`, parents before their children.
    async fn export_accounts(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportAccount>>;
    /// Members after `after`, oldest first, each with its oldest login.
    async fn export_members(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportMember>>;
    /// Memberships after `after`, oldest first.
    async fn export_memberships(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportMembership>>;
    /// Every password profile's id and name, for `--password-profile` and the default profile.
    async fn password_profile_names(&self) -> StoreResult<Vec<(Uuid, String)>>;
    /// Brings what the database plans an import batch's look-ups by up to date with the rows
    /// written so far, for the tables `grown` names: called as a run's writes double.
    async fn refresh_import_statistics(&self, grown: ImportedTables) -> StoreResult<()>;
    /// Writes an import run's summary audit row with a commit that waits until it, and with it
    /// every batch committed before it, is on disk.
    async fn finish_import(&self, summary: &NewAuditEvent, now: Timestamp) -> StoreResult<()>;
}

/// The tables of an import's records: accounts, members (with their logins), memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportedTables {
    pub accounts: bool,
    pub members: bool,
    pub memberships: bool,
}

/// How an import batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportWrite {
    pub dry_run: bool,
    pub quiet_events: bool,
}

/// Summaries of recent activity for the console (docs/console.md#dashboard).
#[async_trait]
pub trait OverviewStore {
    /// Logins recorded in the audit trail since `since`, a row per minute that had any, oldest
    /// first. `throttled` counts refusals as the trail records them: the first of each lock
    /// period of a key.
    async fn login_minutes(&self, since: Timestamp) -> StoreResult<Vec<LoginMinute>>;
    /// Webhook delivery attempts that failed since `since`.
    async fn failed_deliveries_since(&self, since: Timestamp) -> StoreResult<u64>;
    /// The latest end of a backoff on any of the member's usernames, at any address, that still
    /// holds at `now`, or `None`. The username-wide lock under distributed guessing is a count
    /// over a window, not a stored end, and is not reported here.
    async fn member_locked_until(
        &self,
        account_member_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>>;
}

/// Everything the application needs from storage.
pub trait Store:
    DeploymentStore
    + ApplicationKeyStore
    + SettingsStore
    + PasswordProfileStore
    + UserStore
    + AccountStore
    + MembershipStore
    + SecurityStore
    + OtpStore
    + IntegrationStore
    + OutboxStore
    + OidcStore
    + SealedSecretStore
    + MovingStore
    + OverviewStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: DeploymentStore
        + ApplicationKeyStore
        + SettingsStore
        + PasswordProfileStore
        + UserStore
        + AccountStore
        + MembershipStore
        + SecurityStore
        + OtpStore
        + IntegrationStore
        + OutboxStore
        + OidcStore
        + SealedSecretStore
        + MovingStore
        + OverviewStore
        + Send
        + Sync
        + 'static
{
}

/// The Unicode lower-case form that usernames and emails are compared through
/// (docs/decisions.md#case-insensitive-usernames, docs/http-conventions.md#filtering); accountd
/// computes it so both databases agree whatever their locale.
pub fn fold_case(value: &str) -> String {
    value.to_lowercase()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    fn migration_names(backend: &str) -> BTreeSet<String> {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect()
    }

    #[test]
    fn connection_failures_and_timeouts_are_unavailable_and_bad_statements_are_not() {
        use super::{StoreError, is_unavailable};
        let reset = || {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            ))
        };
        assert!(is_unavailable(&reset()));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolClosed));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("a bug".into())));
        assert!(matches!(
            StoreError::from(reset()),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let postgres = migration_names("postgres");
        assert!(!postgres.is_empty());
        assert_eq!(postgres, migration_names("sqlite"));
    }
}
