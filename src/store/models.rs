//! The records the store reads and writes, free of sqlx and of HTTP. Patches carry the fields a
//! partial update (`PUT`) sent: `None` keeps a value, `Some(None)` clears a nullable one.

use uuid::Uuid;

use crate::auth::secret::Secret;
use crate::query::filter::Expr;
use crate::time::Timestamp;

/// Ids fixed at first start (docs/operations.md#first-start) that every token and link refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub store_id: Uuid,
    pub realm_id: Uuid,
    pub auth_settings_id: Uuid,
    pub membership_settings_id: Uuid,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// Whether account holders may edit their own records (docs/self-management.md).
    SelfManagement { Disabled => "disabled", UpdateOnly => "update_only" }
);
string_enum!(
    /// Who may give a user an email another user already has.
    DuplicateEmailPolicy { Allowed => "allowed", ApiOnly => "api_only", Disallowed => "disallowed" }
);
string_enum!(
    UsernameFormat { Any => "any", Email => "email" }
);
string_enum!(
    GrantType { ClientCredentials => "client_credentials", Implicit => "implicit" }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub id: Uuid,
    pub enable_self_signup: bool,
    pub auto_create_account_for_account_members: bool,
    pub account_member_self_management: SelfManagement,
    pub token_timeout_secs: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct AuthSettingsPatch {
    pub enable_self_signup: Option<bool>,
    pub auto_create_account_for_account_members: Option<bool>,
    pub account_member_self_management: Option<SelfManagement>,
    pub token_timeout_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipSettings {
    pub id: Uuid,
    pub membership_limit: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm {
    pub id: Uuid,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub duplicate_email_policy: DuplicateEmailPolicy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct RealmPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub duplicate_email_policy: Option<DuplicateEmailPolicy>,
}

/// A JWT signing key kept in the database when none is configured.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredJwtKey {
    pub kid: String,
    /// The HMAC secret, or the private key of a key pair as PKCS#8 DER.
    pub secret: Vec<u8>,
    pub active: bool,
    pub algorithm: crate::auth::signing_key::JwtAlgorithm,
    /// Set when the key is retired by a rotation: the token timeout of that moment plus a
    /// minute later, when no token it signed can still be valid. `None` for the active key and
    /// for keys retired before retirement had an end (those verify until removed).
    pub verifies_until: Option<Timestamp>,
}

impl std::fmt::Debug for StoredJwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredJwtKey")
            .field("kid", &self.kid)
            .field("active", &self.active)
            .field("algorithm", &self.algorithm)
            .field("verifies_until", &self.verifies_until)
            .finish_non_exhaustive()
    }
}

/// What first start should create (docs/operations.md#first-start); everything happens in one
/// transaction.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub configured_store_id: Option<Uuid>,
    /// Candidate ids for records that may not exist yet; ignored where a record exists.
    pub new_store_id: Uuid,
    pub new_realm_id: Uuid,
    pub new_auth_settings_id: Uuid,
    pub new_membership_settings_id: Uuid,
    /// A key to persist if the database has none and none is configured.
    pub generated_jwt_key: Option<StoredJwtKey>,
    pub bootstrap_key: BootstrapPlan,
    pub now: Timestamp,
}

#[derive(Debug, Clone)]
pub enum BootstrapPlan {
    /// Upsert the configured key named `bootstrap`, keeping its id and bearer tokens.
    Configured {
        client_id: String,
        secret_hash: [u8; 32],
    },
    /// Create this key only if no application key exists at all.
    GenerateIfNone {
        client_id: String,
        secret_hash: [u8; 32],
    },
}

#[derive(Debug, Clone)]
pub struct Initialised {
    pub deployment: Deployment,
    pub jwt_keys: Vec<StoredJwtKey>,
    /// True when the generated bootstrap key was stored by this start, so its secret is shown.
    pub generated_bootstrap_key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationKey {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    pub managed_by_configuration: bool,
    pub reserved_rate_limit: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewApplicationKey {
    pub name: String,
    pub client_id: String,
    pub secret_hash: [u8; 32],
    pub reserved_rate_limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationKeyPatch {
    pub name: Option<String>,
    pub reserved_rate_limit: Option<i64>,
}

/// The stored credential of an application key, for `POST /oauth/access_token`.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub application_key_id: Uuid,
    pub secret_hash: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NewBearerToken {
    pub token_hash: [u8; 32],
    pub application_key_id: Uuid,
    pub grant_type: GrantType,
    pub expires_at: Timestamp,
}

/// A valid bearer token's grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BearerGrant {
    pub application_key_id: Uuid,
    pub grant_type: GrantType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordProfile {
    pub id: Uuid,
    pub name: String,
    pub username_format: UsernameFormat,
    pub enable_one_time_password_token: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewPasswordProfile {
    pub name: String,
    pub username_format: UsernameFormat,
    pub enable_one_time_password_token: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PasswordProfilePatch {
    pub name: Option<String>,
    pub username_format: Option<UsernameFormat>,
    pub enable_one_time_password_token: Option<bool>,
}

/// A user authentication info; the account member is the same record (docs/README.md#domain-model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub given_name: Option<Option<String>>,
    pub middle_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
}

impl UserPatch {
    /// The user after the patch, or `None` when nothing would change.
    pub fn apply(&self, user: &User) -> Option<User> {
        let mut next = user.clone();
        set(&mut next.name, &self.name);
        set(&mut next.email, &self.email);
        set(&mut next.given_name, &self.given_name);
        set(&mut next.middle_name, &self.middle_name);
        set(&mut next.family_name, &self.family_name);
        (next != *user).then_some(next)
    }
}

/// Who changes a user's email, which decides whether the realm's duplicate email policy lets
/// the email be one another user already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedBy {
    /// An Admin call to user authentication info.
    Admin,
    /// The user: self sign-up, a first OIDC login, self-management.
    User,
}

impl DuplicateEmailPolicy {
    pub fn requires_unique_email(self, changed_by: ChangedBy) -> bool {
        match self {
            Self::Allowed => false,
            Self::ApiOnly => changed_by == ChangedBy::User,
            Self::Disallowed => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordProfileInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub password_profile_id: Uuid,
    pub username: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewPasswordProfileInfo {
    pub user_id: Uuid,
    pub password_profile_id: Uuid,
    pub username: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct PasswordProfileInfoPatch {
    pub username: Option<String>,
    /// A new argon2id hash; setting it revokes the member's earlier account tokens
    /// (docs/decisions.md#tokens-valid-after).
    pub password_hash: Option<String>,
}

/// What a password login needs to know about a username in a profile.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub user_id: Uuid,
    pub password_profile_info_id: Uuid,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    pub registration_id: Option<String>,
    pub external_ref: Option<String>,
    pub parent_id: Option<Uuid>,
    /// Root first, parent last; empty for a root account.
    pub ancestors: Vec<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub legal_name: Option<String>,
    pub registration_id: Option<String>,
    pub external_ref: Option<String>,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub legal_name: Option<Option<String>>,
    pub registration_id: Option<Option<String>>,
    pub external_ref: Option<Option<String>>,
}

impl AccountPatch {
    pub fn apply(&self, account: &Account) -> Option<Account> {
        let mut next = account.clone();
        set(&mut next.name, &self.name);
        set(&mut next.legal_name, &self.legal_name);
        set(&mut next.registration_id, &self.registration_id);
        set(&mut next.external_ref, &self.external_ref);
        (next != *account).then_some(next)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: Uuid,
    pub account_id: Uuid,
    pub account_member_id: Uuid,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One account a member may get a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAccount {
    pub account_id: Uuid,
    pub account_name: String,
    pub ancestors: Vec<Uuid>,
}

/// A page of a list and the number of records the whole filtered list has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// A list request after its query string was parsed: the filter is syntactically valid, but
/// whether its fields and operators are allowed is up to the list
/// (docs/http-conventions.md#filtering).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Vec<Expr>,
    pub sort: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *target = value.clone();
    }
}

string_enum!(
    /// What an OTP code is for ; both log in the same way (docs/login.md#one-time-codes).
    OtpPurpose { ResetPassword => "reset_password", PasswordlessAuthentication => "passwordless_authentication" }
);

/// A self sign-up (docs/login.md#self-sign-up): the user, its password profile info and, when the
/// settings say so at commit time, an account named after the member with a membership
/// (docs/decisions.md#self-sign-up-in-one-transaction).
#[derive(Debug, Clone)]
pub struct SelfSignup {
    pub password_profile_id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub user: NewUser,
}

/// A new OTP code for the password profile info matching `username_lower` in a profile, if any.
/// `code` is the plain text, which only the outbox row receives
/// (docs/events.md#one-time-codes-in-the-outbox).
#[derive(Debug, Clone)]
pub struct NewOtp {
    pub password_profile_id: Uuid,
    pub username_lower: String,
    pub purpose: OtpPurpose,
    pub code: crate::auth::secret::Secret,
    pub code_hash: String,
}

/// What an OTP request did. The HTTP answer is `202` whatever this says
/// (docs/decisions.md#one-time-codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpIssue {
    /// Issued; `deliveries` integrations will receive it.
    Issued {
        deliveries: usize,
    },
    UnknownUsername,
    /// Five codes were issued for this username in the last hour.
    RateCapped,
}

/// An exchange attempt reserved against the outstanding code of a username
/// (docs/login.md#one-time-codes): the attempt is already counted, so concurrent guesses can never
/// exceed the limit.
#[derive(Debug, Clone)]
pub struct OtpAttempt {
    pub code_id: Uuid,
    pub user_id: Uuid,
    pub code_hash: String,
}

/// A webhook destination (docs/events.md#integrations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub integration_type: String,
    /// Event keys as listed, aliases included.
    pub observes: Vec<String>,
    pub url: String,
    pub secret_key: String,
    /// Whether deliveries carry the key in clear (`X-Moltin-Secret-Key`, the envelope's
    /// `configuration.secret_key`) besides the signatures.
    pub send_secret_key: bool,
    pub managed_by_configuration: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub observes: Vec<String>,
    pub url: String,
    pub secret_key: String,
    pub send_secret_key: bool,
}

#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub observes: Option<Vec<String>>,
    pub url: Option<String>,
    pub secret_key: Option<String>,
    pub send_secret_key: Option<bool>,
}

impl IntegrationPatch {
    /// The integration after the patch, or `None` when nothing would change.
    pub fn apply(&self, integration: &Integration) -> Option<Integration> {
        let mut next = integration.clone();
        set(&mut next.name, &self.name);
        set(&mut next.description, &self.description);
        set(&mut next.enabled, &self.enabled);
        set(&mut next.observes, &self.observes);
        set(&mut next.url, &self.url);
        set(&mut next.secret_key, &self.secret_key);
        set(&mut next.send_secret_key, &self.send_secret_key);
        (next != *integration).then_some(next)
    }
}

/// An integration defined in configuration (docs/events.md#integrations-from-configuration); its id
/// is the UUID v5 of its name in the namespace of the store id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredIntegration {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub secret_key: String,
    pub observes: Vec<String>,
    pub send_secret_key: bool,
}

/// One delivery attempt as `/v2/integrations/{id}/logs` shows it (docs/events.md#integrations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationLog {
    pub id: Uuid,
    pub integration_id: Uuid,
    pub event_id: Uuid,
    pub triggered_by: String,
    pub attempt: i64,
    pub succeeded: bool,
    pub status_code: Option<i64>,
    pub body: Option<String>,
    pub error_detail: Option<String>,
    pub created_at: Timestamp,
}

/// A delivery a dispatcher leased: everything one webhook attempt needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    /// The lease this claim holds; recording the outcome needs it.
    pub claim: Uuid,
    pub event_id: Uuid,
    pub triggered_by: String,
    /// The number of this attempt, from 1.
    pub attempt: i64,
    /// The event payload as JSON text, without the OTP code.
    pub payload: String,
    /// The plain OTP code of an OTP event, until scrubbed.
    pub secret: Option<String>,
    /// Set on OTP events: deliveries stop when the code expires.
    pub expires_at: Option<Timestamp>,
    pub integration: DeliveryTarget,
}

#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub integration_type: String,
    pub enabled: bool,
    pub url: String,
    pub secret_key: String,
    pub send_secret_key: bool,
}

/// What became of one leased delivery.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    /// An attempt was made: logged, and the delivery succeeded, is retried at `retry_at`, or
    /// (with `retry_at` `None` after a failure) has failed for good.
    Attempted {
        succeeded: bool,
        status_code: Option<i64>,
        body: Option<String>,
        error_detail: Option<String>,
        retry_at: Option<Timestamp>,
    },
    /// No attempt: the integration is disabled or the OTP code expired
    /// (docs/events.md#one-time-codes-in-the-outbox).
    Stopped,
}

/// An external OpenID Connect identity provider of the realm (docs/oidc.md#oidc-profiles). The
/// client secret is kept because accountd presents it to the provider; it is never returned or
/// logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProfile {
    pub id: Uuid,
    pub name: String,
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The discovery document's `issuer` when `discovery_url` was last set.
    pub issuer: String,
    /// Accept identities whose provider says `email_verified: false`.
    pub allow_unverified_email: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewOidcProfile {
    pub name: String,
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub issuer: String,
    pub allow_unverified_email: bool,
}

/// `discovery_url` and `issuer` change together: the handler fetches the new document first.
#[derive(Debug, Clone, Default)]
pub struct OidcProfilePatch {
    pub name: Option<String>,
    pub discovery: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub allow_unverified_email: Option<bool>,
}

/// Links a user to an identity (`issuer`, `subject`) at one OIDC profile
/// (docs/oidc.md#identity-links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProfileInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub oidc_profile_id: Uuid,
    pub issuer: String,
    pub subject: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewOidcProfileInfo {
    pub user_id: Uuid,
    pub oidc_profile_id: Uuid,
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, Default)]
pub struct OidcProfileInfoPatch {
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

/// A login waiting for the provider's callback (docs/oidc.md#login-endpoint), found by the SHA-256
/// of the `state` accountd sent to the provider.
#[derive(Debug, Clone)]
pub struct NewOidcLogin {
    pub state_hash: [u8; 32],
    pub login: OidcLogin,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcLogin {
    pub oidc_profile_id: Uuid,
    /// The storefront's, matched byte for byte against the realm's `redirect_uris`.
    pub redirect_uri: String,
    /// The storefront's `state`, returned unchanged.
    pub client_state: String,
    /// The storefront's S256 challenge, checked when accountd's code is redeemed.
    pub code_challenge: String,
    /// accountd's own nonce and PKCE verifier towards the provider.
    pub nonce: String,
    pub code_verifier: Secret,
    /// `ep_report_callback_replay_error`: a replayed callback redirects instead of `400`.
    pub report_replay: bool,
}

/// What the callback finds for a `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginClaim {
    /// Unused and unexpired: now marked used.
    Claimed(OidcLogin),
    /// Used before: a replayed callback.
    Replayed(OidcLogin),
    /// Never issued, for another profile, or expired.
    Unknown,
}

/// A verified identity at a provider, with the user data taken from its claims
/// (docs/oidc.md#user-data-from-claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub oidc_profile_id: Uuid,
    pub issuer: String,
    pub subject: String,
    pub name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub family_name: Option<String>,
}

/// accountd's authorization code for the storefront (docs/oidc.md#the-code-for-the-storefront),
/// found by its SHA-256.
#[derive(Debug, Clone)]
pub struct NewOidcCode {
    pub code_hash: [u8; 32],
    pub code: OidcCode,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcCode {
    pub identity: OidcIdentity,
    pub redirect_uri: String,
    pub code_challenge: String,
}

/// The member an OIDC login signed in, and whether this login created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OidcSignIn {
    pub user_id: Uuid,
    pub created: bool,
}

/// What a request holding an account token proves, for the one-statement reads of the hot paths
/// (docs/account-tokens.md#one-statement-for-the-hot-reads: bearer check, liveness and read in one
/// SQL statement).
#[derive(Debug, Clone, Copy)]
pub struct HolderCheck {
    pub bearer_hash: [u8; 32],
    pub now: Timestamp,
    pub member_id: Uuid,
    pub token_account_id: Uuid,
    pub iat: i64,
}

/// The bearer's grant (if valid), whether the account token is live, and the account read.
#[derive(Debug, Clone)]
pub struct HolderAccount {
    pub bearer: Option<BearerGrant>,
    pub live: bool,
    pub account: Option<Account>,
}

/// The switch mechanism (docs/account-tokens.md#switching-accounts) in one statement: bearer,
/// liveness, the settings tokens are minted with, and the page of the member's accounts.
#[derive(Debug, Clone)]
pub struct HolderSwitch {
    pub bearer: Option<BearerGrant>,
    pub live: bool,
    pub token_timeout_secs: i64,
    pub self_management: SelfManagement,
    pub accounts: Page<TokenAccount>,
}

/// What a member's tokens are minted from (docs/account-tokens.md#the-token-list): the settings and
/// the page of accounts, read in one statement.
#[derive(Debug, Clone)]
pub struct TokenIssue {
    pub token_timeout_secs: i64,
    pub self_management: SelfManagement,
    pub accounts: Page<TokenAccount>,
}

/// Webhook deliveries not yet done (docs/events.md#delivery-and-retries): how many, and since when
/// the oldest waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub pending: u64,
    pub oldest_created_at: Option<Timestamp>,
}

/// One minute of logins, as the audit trail recorded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginMinute {
    pub started_at: Timestamp,
    pub succeeded: u64,
    pub failed: u64,
    pub throttled: u64,
}

/// The secrets at rest, as [`crate::store::SealedSecretStore::sealed_secrets`] finds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedSecrets {
    /// Each master key id some secret is sealed with, once.
    pub key_ids: Vec<String>,
    /// Secrets stored in plain text.
    pub plain_text: u64,
}

/// What a rewrap did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Secrets moved from another master key to the current one.
    pub resealed: u64,
    /// Plain-text secrets sealed for the first time.
    pub sealed: u64,
    /// Secrets already under the current key.
    pub unchanged: u64,
}

/// One record of an import file, its fields already checked as the admin API checks them
/// (docs/moving-in.md#the-file-format). `line` names it in audit rows and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub line: u64,
    pub kind: ImportKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportKind {
    Account {
        external_ref: String,
        name: String,
        legal_name: Option<String>,
        registration_id: Option<String>,
        parent_external_ref: Option<String>,
    },
    Member {
        email: String,
        name: String,
        login: Option<ImportLogin>,
    },
    Membership {
        account_external_ref: String,
        member_email: String,
    },
}

/// A member's login under one password profile. The hash is stored as given: a legacy format
/// accountd verifies, or [`NO_PASSWORD`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLogin {
    pub password_profile_id: Uuid,
    pub username: String,
    pub password_hash: String,
}

/// The stored hash of a login imported without a password: no format matches it, so no password
/// logs in until a reset or an admin sets one; one-time codes work.
pub const NO_PASSWORD: &str = "!";

/// What became of one import record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    /// It matched an existing record, which is left as it is.
    Unchanged,
    Rejected(String),
}

/// Where an export page starts: after this (rank, created_at, id); rank orders accounts parents
/// first and is 0 for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportCursor {
    pub rank: i64,
    pub created_at: i64,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportAccount {
    pub cursor: ExportCursor,
    pub id: Uuid,
    pub external_ref: Option<String>,
    pub name: String,
    pub legal_name: Option<String>,
    pub registration_id: Option<String>,
    pub parent_id: Option<Uuid>,
    pub parent_external_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMember {
    pub cursor: ExportCursor,
    pub email: String,
    pub name: String,
    /// The member's oldest login, if any.
    pub login: Option<ImportLogin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMembership {
    pub cursor: ExportCursor,
    pub account_id: Uuid,
    pub account_external_ref: Option<String>,
    pub member_email: String,
}
