//! The storage seam. Handlers talk to `dyn Store`; [`connect`] picks PostgreSQL or SQLite once,
//! from the URL scheme. Both backends run the same SQL (`sql/`, compiled once per backend) over
//! portable column types: UUIDs as `uuid`/16-byte BLOB, timestamps as epoch milliseconds, text
//! compared byte-wise. What genuinely differs lives in `postgres.rs` and `sqlite.rs`.

pub mod models;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use uuid::Uuid;

pub use models::*;

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
}

/// Uniqueness and state conflicts, each with its own `409` wording (§4.9.2).
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
}

/// Limits that answer `422` (§11, §12).
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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
}

/// Opens the database named by `url`, choosing the backend by scheme.
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::connect(url).await?))
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
    /// Answers when the database does: the readiness probe.
    async fn ping(&self) -> StoreResult<()>;
    /// Which backend this is, for logs and test output.
    fn backend(&self) -> &'static str;
    /// Connections of each pool, for `/metrics`: never waits and never touches the database.
    fn pool_stats(&self) -> Vec<PoolStats>;
}

/// A snapshot of one connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `primary` where reads and writes share a pool (PostgreSQL); `read` and `write` otherwise.
    pub name: &'static str,
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: usize,
    pub max: u32,
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
    async fn purge_expired_bearer_tokens(&self, now: Timestamp) -> StoreResult<u64>;
    async fn create_application_key(
        &self,
        key: &NewApplicationKey,
        now: Timestamp,
    ) -> StoreResult<ApplicationKey>;
    async fn application_key(&self, id: Uuid) -> StoreResult<ApplicationKey>;
    async fn list_application_keys(&self, query: &ListQuery) -> StoreResult<Page<ApplicationKey>>;
    /// Refused with a conflict for the key that configuration manages (§5.2).
    async fn update_application_key(
        &self,
        id: Uuid,
        patch: &ApplicationKeyPatch,
        now: Timestamp,
    ) -> StoreResult<ApplicationKey>;
    /// Deletes the key and, with it, every bearer token issued for it.
    async fn delete_application_key(&self, id: Uuid) -> StoreResult<()>;
}

#[async_trait]
pub trait SettingsStore {
    async fn auth_settings(&self) -> StoreResult<AuthSettings>;
    async fn update_auth_settings(
        &self,
        patch: &AuthSettingsPatch,
        now: Timestamp,
    ) -> StoreResult<AuthSettings>;
    async fn membership_settings(&self) -> StoreResult<MembershipSettings>;
    async fn update_membership_settings(
        &self,
        membership_limit: Option<i64>,
        now: Timestamp,
    ) -> StoreResult<MembershipSettings>;
    async fn realm(&self) -> StoreResult<Realm>;
    async fn update_realm(&self, patch: &RealmPatch, now: Timestamp) -> StoreResult<Realm>;
}

#[async_trait]
pub trait PasswordProfileStore {
    async fn create_password_profile(
        &self,
        profile: &NewPasswordProfile,
        now: Timestamp,
    ) -> StoreResult<PasswordProfile>;
    async fn password_profile(&self, id: Uuid) -> StoreResult<PasswordProfile>;
    async fn list_password_profiles(&self, query: &ListQuery)
    -> StoreResult<Page<PasswordProfile>>;
    async fn update_password_profile(
        &self,
        id: Uuid,
        patch: &PasswordProfilePatch,
        now: Timestamp,
    ) -> StoreResult<PasswordProfile>;
    async fn delete_password_profile(&self, id: Uuid) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore {
    async fn create_user(
        &self,
        user: &NewUser,
        changed_by: ChangedBy,
        now: Timestamp,
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
    ) -> StoreResult<User>;
    async fn delete_user(&self, id: Uuid) -> StoreResult<()>;
    /// Members with no membership in `account_id`: the candidates to add to it (§11).
    async fn list_unassigned_members(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<User>>;
    /// The users among `ids` that exist, in no particular order (for `include`).
    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>>;
    /// Moves the member's "tokens valid after" instant to `now` (D8b).
    async fn revoke_account_tokens(&self, id: Uuid, now: Timestamp) -> StoreResult<()>;

    async fn create_password_profile_info(
        &self,
        info: &NewPasswordProfileInfo,
        now: Timestamp,
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
    ) -> StoreResult<PasswordProfileInfo>;
    async fn delete_password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
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
}

#[async_trait]
pub trait AccountStore {
    async fn create_account(&self, account: &NewAccount, now: Timestamp) -> StoreResult<Account>;
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
    ) -> StoreResult<Account>;
    async fn delete_account(&self, id: Uuid) -> StoreResult<()>;
    /// The accounts among `ids` that exist, in no particular order (for `include`).
    async fn accounts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Account>>;
}

#[async_trait]
pub trait MembershipStore {
    async fn create_membership(
        &self,
        account_id: Uuid,
        account_member_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Membership>;
    async fn membership(&self, account_id: Uuid, id: Uuid) -> StoreResult<Membership>;
    async fn list_memberships(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<Membership>>;
    async fn delete_membership(&self, account_id: Uuid, id: Uuid) -> StoreResult<()>;
    /// A member's memberships across accounts (the reverse lookup); `only_account` narrows it to
    /// one account (an account holder sees only its token's membership).
    async fn list_member_memberships(
        &self,
        account_member_id: Uuid,
        query: &ListQuery,
        only_account: Option<Uuid>,
    ) -> StoreResult<Page<Membership>>;
    /// The accounts a member gets tokens for, by account name (byte-wise), then id (D4).
    async fn token_accounts(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<TokenAccount>>;
    /// Step 6 of §7.4: member and account exist, a membership links them, and `iat` is not
    /// before the member's revocation instant.
    async fn account_token_is_live(
        &self,
        account_member_id: Uuid,
        account_id: Uuid,
        iat: i64,
    ) -> StoreResult<bool>;
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
        + Send
        + Sync
        + 'static
{
}

/// The Unicode lower-case form that usernames and emails are compared through (D6, §4.6);
/// accountd computes it so both databases agree whatever their locale.
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
    fn both_backends_have_the_same_migrations() {
        let postgres = migration_names("postgres");
        assert!(!postgres.is_empty());
        assert_eq!(postgres, migration_names("sqlite"));
    }
}
