//! Who is calling: the bearer token (§5.4), the optional account token (§7.4), and the caller
//! class they make (§5.1). Handlers name the class they need in their signature, so a missing
//! check shows in review.

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
/// account token's structure, signature, claims and expiry (§7.4 steps 1–5). What needs the
/// database — the bearer lookup and the token's liveness — happens in [`Credentials::caller`],
/// or, on the hot paths, in the same SQL statement as the read they serve (§7.4 implementation
/// freedom). Either way the answers come in the order of §4.10.
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
    /// The bearer token's grant (§5.4), or `401`.
    pub async fn bearer(&self, state: &AppState) -> Result<BearerGrant, ApiError> {
        let hash = self.bearer_hash.ok_or_else(ApiError::invalid_bearer)?;
        state
            .store
            .find_bearer_token(&hash, state.clock.now())
            .await?
            .ok_or_else(ApiError::invalid_bearer)
    }

    /// The caller class, with every check done: bearer, then the account token with liveness.
    pub async fn caller(&self, state: &AppState) -> Result<Caller, ApiError> {
        self.caller_and_grant(state).await.map(|(caller, _)| caller)
    }

    /// The caller class and the bearer grant it rests on.
    async fn caller_and_grant(&self, state: &AppState) -> Result<(Caller, BearerGrant), ApiError> {
        let grant = self.bearer(state).await?;
        let caller = match &self.account_token {
            None => match grant.grant_type {
                GrantType::ClientCredentials => Caller::Admin,
                GrantType::Implicit => Caller::Shopper,
            },
            Some(Err(fault)) => return Err(fault.error()),
            Some(Ok(claims)) => {
                require_live(claims, state).await?;
                Caller::AccountHolder(AccountHolder {
                    claims: claims.clone(),
                })
            }
        };
        Ok((caller, grant))
    }

    /// Admins and account holders; shoppers get `403` (§8.2).
    pub async fn reader(&self, state: &AppState) -> Result<Reader, ApiError> {
        match self.caller(state).await? {
            Caller::Admin => Ok(Reader::Admin),
            Caller::AccountHolder(holder) => Ok(Reader::AccountHolder(holder)),
            Caller::Shopper => Err(ApiError::forbidden()),
        }
    }

    /// For a one-statement read: present when there is a bearer token and an account token
    /// that passed offline; the statement then settles the bearer and the liveness.
    pub fn holder_check(&self, now: Timestamp) -> Option<(HolderCheck, &AccountClaims)> {
        let bearer_hash = self.bearer_hash?;
        let Some(Ok(claims)) = &self.account_token else {
            return None;
        };
        let check = HolderCheck {
            bearer_hash,
            now,
            member_id: claims.sub,
            token_account_id: claims.scope,
            iat: claims.iat,
        };
        Some((check, claims))
    }

    /// Whether the request carries the account token header at all.
    pub fn has_account_token(&self) -> bool {
        self.account_token.is_some()
    }

    /// The account token's offline verdict, if the header was sent.
    pub fn account_token(&self) -> Option<Result<&AccountClaims, TokenFault>> {
        self.account_token
            .as_ref()
            .map(|verdict| verdict.as_ref().map_err(|fault| *fault))
    }
}

/// The account token header: `None` when absent, `Some(None)` when unusable (sent twice, not
/// text), `Some(Some(token))` otherwise. The name is case-insensitive; one value only (§8.1).
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

/// `Authorization: Bearer <token>` when the token has the form accountd issues (40 lowercase hex
/// characters): the routes that take other services' credentials in `Authorization`
/// (forward auth behind a gateway) check only those.
pub fn accountd_bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers).filter(|token| {
        token.len() == 40
            && token
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
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

/// The caller class of §5.1. Admin privileges never combine with an account token (D9).
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

/// Steps 1–5 of §7.4: structure, header, signature, claims and expiry, without the database
/// (but for a key-ring reload when a kid is unknown).
pub async fn verify_offline(token: &str, state: &AppState) -> Result<AccountClaims, TokenFault> {
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

/// Step 6 of §7.4: member, account and membership exist, the token is not revoked, and it is
/// not older than the membership it names.
async fn require_live(claims: &AccountClaims, state: &AppState) -> Result<(), ApiError> {
    let live = state
        .store
        .account_token_is_live(claims.sub, claims.scope, claims.iat)
        .await?;
    if live {
        Ok(())
    } else {
        Err(ApiError::invalid_account_token())
    }
}

/// Admin only: any other class gets `403` (§5.5). Carries the audit facts of the request, for
/// the admin's writes.
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

/// Admins and account holders, for the scoped reads of §8.2; shoppers get `403`.
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
