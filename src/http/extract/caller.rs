//! Who is calling: the bearer token (docs/authentication.md#bearer-tokens), the optional account
//! token (docs/account-tokens.md#validation-steps), and the caller class they make
//! (docs/authentication.md#caller-classes). Handlers name the class they need in their signature,
//! so a missing check shows in review.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::auth::jwt::{AccountClaims, Expected, TokenRejection};
use crate::auth::secret::sha256;
use crate::error::ApiError;
use crate::http::audit::AuditOrigin;
use crate::state::AppState;
use crate::store::{Actor, BearerGrant, GrantType, HolderCheck};
use crate::time::Timestamp;

pub const ACCOUNT_TOKEN_HEADER: &str = "ep-account-management-authentication-token";

/// The credentials a request presents, checked offline only: the bearer token's digest, and the
/// account token's structure, signature, claims and expiry
/// (docs/account-tokens.md#validation-steps, steps 1–5). What needs the database — the bearer
/// lookup and the token's liveness — happens in [`Credentials::caller`], or, on the hot paths, in
/// the same SQL statement as the read they serve
/// (docs/account-tokens.md#one-statement-for-the-hot-reads). Either way the answers come in the
/// order of checks (docs/http-conventions.md#order-of-checks).
#[derive(Debug, Clone)]
pub struct Credentials {
    bearer_hash: Option<[u8; 32]>,
    /// `None` without the header; otherwise the offline verdict.
    account_token: Option<Result<AccountClaims, TokenFault>>,
}

/// Why an account token failed offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    Invalid,
    Expired,
}

impl TokenFault {
    pub fn error(self) -> ApiError {
        match self {
            Self::Invalid => ApiError::invalid_account_token(),
            Self::Expired => ApiError::expired_account_token(),
        }
    }
}

impl FromRequestParts<AppState> for Credentials {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let bearer_hash = bearer_token(&parts.headers).map(|token| sha256(token.as_bytes()));
        let account_token = match account_token_header(&parts.headers) {
            None => None,
            Some(None) => Some(Err(TokenFault::Invalid)),
            Some(Some(token)) => Some(verify_offline(token, state).await),
        };
        Ok(Self {
            bearer_hash,
            account_token,
        })
    }
}

impl Credentials {
    /// What the credentials present, offline: a holder whose checks a statement can finish, or
    /// the rest, to be checked step by step.
    fn presented(self, now: Timestamp) -> Presented {
        let Some(bearer_hash) = self.bearer_hash else {
            return Presented::StepByStep(StepByStep::NoBearer);
        };
        let account_token = match self.account_token {
            None => None,
            Some(Err(fault)) => Some(fault),
            Some(Ok(claims)) => {
                let check = HolderCheck {
                    bearer_hash,
                    now,
                    member_id: claims.sub,
                    token_account_id: claims.scope,
                    iat: claims.iat,
                };
                return Presented::Holder(PendingHolder { check, claims });
            }
        };
        Presented::StepByStep(StepByStep::Bearer {
            bearer_hash,
            account_token,
        })
    }

    /// The caller class and the bearer grant it rests on, with every check done in the order
    /// every extractor answers in: bearer token, account token (offline, then liveness), class.
    async fn caller_and_grant(self, state: &AppState) -> Result<(Caller, BearerGrant), ApiError> {
        let step_by_step = match self.presented(state.clock.now()) {
            Presented::Holder(holder) => {
                let grant = holder.confirm_step_by_step(state).await?;
                let holder = AccountHolder {
                    claims: holder.claims,
                };
                return Ok((Caller::AccountHolder(holder), grant));
            }
            Presented::StepByStep(step_by_step) => step_by_step.bearer_caller(state).await?,
        };
        let grant = step_by_step.grant;
        Ok((step_by_step.class()?, grant))
    }
}

/// The credentials as the order of checks sees them once the offline checks are done.
// The holder is the hot case: boxing it would allocate on every storefront request.
#[allow(clippy::large_enum_variant)]
enum Presented {
    /// A bearer token and an account token that passed offline.
    Holder(PendingHolder),
    StepByStep(StepByStep),
}

/// Credentials that make no account holder, whatever the database says.
enum StepByStep {
    /// No bearer token: `401` whatever else was sent.
    NoBearer,
    /// A bearer token, and why the account token header could not be used when it was sent.
    Bearer {
        bearer_hash: [u8; 32],
        account_token: Option<TokenFault>,
    },
}

impl StepByStep {
    /// The bearer token checked (`401`).
    async fn bearer_caller(self, state: &AppState) -> Result<BearerCaller, ApiError> {
        let (bearer_hash, account_token) = match self {
            Self::NoBearer => return Err(ApiError::invalid_bearer()),
            Self::Bearer {
                bearer_hash,
                account_token,
            } => (bearer_hash, account_token),
        };
        let grant = find_bearer(&bearer_hash, state)
            .await?
            .ok_or_else(ApiError::invalid_bearer)?;
        Ok(BearerCaller {
            grant,
            account_token,
        })
    }
}

/// The bearer token's grant (docs/authentication.md#bearer-tokens), if it is valid now.
async fn find_bearer(hash: &[u8; 32], state: &AppState) -> Result<Option<BearerGrant>, ApiError> {
    Ok(state
        .store
        .find_bearer_token(hash, state.clock.now())
        .await?)
}

/// A valid bearer token without a usable account token: `account_token` says why the header
/// could not be used when it was sent (the token endpoint answers that only for a switch).
#[derive(Debug, Clone)]
pub struct BearerCaller {
    pub grant: BearerGrant,
    pub account_token: Option<TokenFault>,
}

impl BearerCaller {
    /// Admin or shopper by the bearer grant; an account token that failed offline is `401`.
    fn class(self) -> Result<Caller, ApiError> {
        if let Some(fault) = self.account_token {
            return Err(fault.error());
        }
        Ok(match self.grant.grant_type {
            GrantType::ClientCredentials => Caller::Admin,
            GrantType::Implicit => Caller::Shopper,
        })
    }
}

/// A bearer token and an account token that passed the offline checks
/// (docs/account-tokens.md#validation-steps): an account holder once the bearer token and the
/// token's liveness are confirmed, which the hot paths do in the same statement as the read they
/// serve (docs/account-tokens.md#one-statement-for-the-hot-reads).
#[derive(Debug, Clone)]
pub struct PendingHolder {
    check: HolderCheck,
    claims: AccountClaims,
}

/// Why a pending holder was not confirmed.
#[derive(Debug)]
pub enum HolderRefusal {
    /// The bearer token is unknown or expired: `401`.
    Bearer,
    /// The bearer token is valid, the account token no longer live: `401`.
    NotLive(BearerGrant),
    /// The checks could not be made.
    Failed(ApiError),
}

impl From<HolderRefusal> for ApiError {
    fn from(refusal: HolderRefusal) -> Self {
        match refusal {
            HolderRefusal::Bearer => ApiError::invalid_bearer(),
            HolderRefusal::NotLive(_) => ApiError::invalid_account_token(),
            HolderRefusal::Failed(error) => error,
        }
    }
}

impl PendingHolder {
    /// What the statement that serves the request needs to settle the bearer and liveness.
    pub fn check(&self) -> &HolderCheck {
        &self.check
    }

    pub fn claims(&self) -> &AccountClaims {
        &self.claims
    }

    /// The order of checks applied to what the serving statement found: the bearer token
    /// first, then the token's liveness. Both hot paths and the step-by-step checks end here.
    pub fn confirm(
        &self,
        bearer: Option<BearerGrant>,
        live: bool,
    ) -> Result<BearerGrant, HolderRefusal> {
        let bearer = bearer.ok_or(HolderRefusal::Bearer)?;
        if live {
            Ok(bearer)
        } else {
            Err(HolderRefusal::NotLive(bearer))
        }
    }

    /// The same checks, one look-up each, for a request no single statement serves.
    pub async fn confirm_step_by_step(
        &self,
        state: &AppState,
    ) -> Result<BearerGrant, HolderRefusal> {
        let bearer = find_bearer(&self.check.bearer_hash, state)
            .await
            .map_err(HolderRefusal::Failed)?;
        if bearer.is_none() {
            return Err(HolderRefusal::Bearer);
        }
        let live = is_live(&self.claims, state)
            .await
            .map_err(HolderRefusal::Failed)?;
        self.confirm(bearer, live)
    }

    /// The bearer token alone, for a request that does not act as the holder.
    pub async fn bearer(&self, state: &AppState) -> Result<BearerGrant, ApiError> {
        find_bearer(&self.check.bearer_hash, state)
            .await?
            .ok_or_else(ApiError::invalid_bearer)
    }
}

/// The caller of the storefront's hot paths: an account holder to be confirmed by the statement
/// that serves the request, or any other caller as `T` takes it, every check already done. So
/// the order of checks is written once, here, and a handler's signature still says who may
/// call it: `HolderOr<Reader>` is an account holder or an admin.
#[derive(Debug, Clone)]
// The holder is the hot case: boxing it would allocate on every storefront request.
#[allow(clippy::large_enum_variant)]
pub enum HolderOr<T> {
    Holder(PendingHolder),
    Other(T),
}

/// What a hot path accepts when the caller is not a pending account holder.
pub trait FromBearerCaller: Sized {
    fn from_bearer_caller(caller: BearerCaller) -> Result<Self, ApiError>;
}

/// Any valid bearer token: the token endpoint, where only a switch reads the account token.
impl FromBearerCaller for BearerCaller {
    fn from_bearer_caller(caller: BearerCaller) -> Result<Self, ApiError> {
        Ok(caller)
    }
}

/// Admins; shoppers get `403` and an account token that failed offline `401`.
impl FromBearerCaller for Reader {
    fn from_bearer_caller(caller: BearerCaller) -> Result<Self, ApiError> {
        match caller.class()? {
            Caller::Admin => Ok(Self::Admin),
            Caller::AccountHolder(holder) => Ok(Self::AccountHolder(holder)),
            Caller::Shopper => Err(ApiError::forbidden()),
        }
    }
}

impl<T: FromBearerCaller> FromRequestParts<AppState> for HolderOr<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(credentials) = Credentials::from_request_parts(parts, state).await;
        match credentials.presented(state.clock.now()) {
            Presented::Holder(holder) => Ok(Self::Holder(holder)),
            Presented::StepByStep(step_by_step) => {
                let caller = step_by_step.bearer_caller(state).await?;
                Ok(Self::Other(T::from_bearer_caller(caller)?))
            }
        }
    }
}

impl HolderOr<BearerCaller> {
    /// The bearer grant, for a request that does not act as the account holder: a pending
    /// holder's bearer token is checked now, on its own.
    pub async fn grant(self, state: &AppState) -> Result<BearerGrant, ApiError> {
        match self {
            Self::Holder(holder) => holder.bearer(state).await,
            Self::Other(caller) => Ok(caller.grant),
        }
    }
}

/// The account token header: `None` when absent, `Some(None)` when unusable (sent twice, not
/// text), `Some(Some(token))` otherwise. The name is case-insensitive; one value only
/// (docs/authentication.md#the-account-token-header).
fn account_token_header(headers: &HeaderMap) -> Option<Option<&str>> {
    let mut values = headers.get_all(ACCOUNT_TOKEN_HEADER).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return Some(None);
    }
    Some(value.to_str().ok().map(str::trim))
}

/// `Authorization: Bearer <token>`, scheme case-insensitive.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An account holder: a bearer token plus a valid, live account token.
#[derive(Debug, Clone)]
pub struct AccountHolder {
    pub claims: AccountClaims,
}

impl AccountHolder {
    /// The acting member (`sub`).
    pub fn member_id(&self) -> Uuid {
        self.claims.sub
    }

    /// The account the token is scoped to (`scope`).
    pub fn account_id(&self) -> Uuid {
        self.claims.scope
    }
}

/// The caller class (docs/authentication.md#caller-classes). Admin privileges never combine with an
/// account token (docs/decisions.md#account-holders-read-never-write-accounts).
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    Shopper,
    AccountHolder(AccountHolder),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(credentials) = Credentials::from_request_parts(parts, state).await;
        Ok(credentials.caller_and_grant(state).await?.0)
    }
}

/// Who the audit trail names for a bearer grant alone (no account token): the application key
/// of an admin; no one for a shopper, whose implicit client id every storefront publishes.
pub fn actor_of_grant(grant: &BearerGrant) -> Actor {
    match grant.grant_type {
        GrantType::ClientCredentials => Actor::admin(grant.application_key_id),
        GrantType::Implicit => Actor::SHOPPER,
    }
}

/// The actor of a caller: the member of an account holder, else as for its bearer grant.
fn actor_of(caller: &Caller, grant: &BearerGrant) -> Actor {
    match caller {
        Caller::AccountHolder(holder) => Actor::account_holder(holder.member_id()),
        Caller::Admin | Caller::Shopper => actor_of_grant(grant),
    }
}

/// Any caller class, with the audit facts of its request: for handlers that write on behalf of
/// more than one class.
#[derive(Debug, Clone)]
pub struct AuditedCaller {
    pub caller: Caller,
    pub audit: AuditOrigin,
}

impl FromRequestParts<AppState> for AuditedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(credentials) = Credentials::from_request_parts(parts, state).await;
        let (caller, grant) = credentials.caller_and_grant(state).await?;
        let audit = AuditOrigin::new(actor_of(&caller, &grant), parts, state);
        Ok(Self { caller, audit })
    }
}

/// The offline validation steps (docs/account-tokens.md#validation-steps): structure, header,
/// signature, claims and expiry, without the database (but for a key-ring reload when a kid is
/// unknown).
async fn verify_offline(token: &str, state: &AppState) -> Result<AccountClaims, TokenFault> {
    let expected = Expected {
        store_id: state.deployment.store_id,
        realm_id: state.deployment.realm_id,
        now: state.clock.now(),
    };
    state
        .keys
        .verify(token, &expected, state.store.as_ref())
        .await
        .map_err(|rejection| match rejection {
            TokenRejection::Expired => TokenFault::Expired,
            TokenRejection::Invalid | TokenRejection::UnknownKey => TokenFault::Invalid,
        })
}

/// Liveness (docs/account-tokens.md#liveness): member, account and membership exist, the token is
/// not revoked, and it is not older than the membership it names.
async fn is_live(claims: &AccountClaims, state: &AppState) -> Result<bool, ApiError> {
    Ok(state
        .store
        .account_token_is_live(claims.sub, claims.scope, claims.iat)
        .await?)
}

/// Admin only: any other class gets `403` (docs/authentication.md#permission-matrix). Carries the
/// audit facts of the request, for the admin's writes.
#[derive(Debug, Clone)]
pub struct Admin {
    pub audit: AuditOrigin,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(credentials) = Credentials::from_request_parts(parts, state).await;
        match credentials.caller_and_grant(state).await? {
            (Caller::Admin, grant) => Ok(Self {
                audit: AuditOrigin::new(actor_of_grant(&grant), parts, state),
            }),
            (Caller::Shopper | Caller::AccountHolder(_), _) => Err(ApiError::forbidden()),
        }
    }
}

/// Admins and account holders, for the scoped reads (docs/authentication.md#account-holder-scope);
/// shoppers get `403`.
#[derive(Debug, Clone)]
pub enum Reader {
    Admin,
    AccountHolder(AccountHolder),
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(Self::Admin),
            Caller::AccountHolder(holder) => Ok(Self::AccountHolder(holder)),
            Caller::Shopper => Err(ApiError::forbidden()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("bEaReR abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
