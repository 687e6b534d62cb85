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
use crate::http::audit::ActorSlot;
use crate::state::AppState;
use crate::store::{BearerGrant, GrantType};

pub const ACCOUNT_TOKEN_HEADER: &str = "ep-account-management-authentication-token";

/// A valid bearer token of either grant; nothing about the account token.
#[derive(Debug, Clone, Copy)]
pub struct Bearer(pub BearerGrant);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::invalid_bearer)?;
        let grant = state
            .store
            .find_bearer_token(&sha256(token.as_bytes()), state.clock.now())
            .await?
            .ok_or_else(ApiError::invalid_bearer)?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.set(format!("application_key:{}", grant.application_key_id));
        }
        Ok(Self(grant))
    }
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
        let Bearer(grant) = Bearer::from_request_parts(parts, state).await?;
        if let Some(holder) = account_holder(&parts.headers, state).await? {
            if let Some(slot) = parts.extensions.get::<ActorSlot>() {
                slot.set(format!("account_member:{}", holder.member_id()));
            }
            return Ok(Self::AccountHolder(holder));
        }
        Ok(match grant.grant_type {
            GrantType::ClientCredentials => Self::Admin,
            GrantType::Implicit => Self::Shopper,
        })
    }
}

/// Validates the account token header if present: `Ok(None)` when there is none.
pub async fn account_holder(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<AccountHolder>, ApiError> {
    let mut values = headers.get_all(ACCOUNT_TOKEN_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_account_token());
    }
    let token = value
        .to_str()
        .map_err(|_| ApiError::invalid_account_token())?;
    let claims = verify_account_token(token.trim(), state).await?;
    Ok(Some(AccountHolder { claims }))
}

/// Steps 1–6 of §7.4: the signature and claims offline, then liveness in the database.
pub async fn verify_account_token(
    token: &str,
    state: &AppState,
) -> Result<AccountClaims, ApiError> {
    let expected = Expected {
        store_id: state.deployment.store_id,
        realm_id: state.deployment.realm_id,
        now: state.clock.now(),
    };
    let claims = state
        .keys
        .verify(token, &expected, state.store.as_ref())
        .await
        .map_err(|rejection| match rejection {
            TokenRejection::Expired => ApiError::expired_account_token(),
            TokenRejection::Invalid | TokenRejection::UnknownKey => {
                ApiError::invalid_account_token()
            }
        })?;
    let live = state
        .store
        .account_token_is_live(claims.sub, claims.scope, claims.iat)
        .await?;
    if !live {
        return Err(ApiError::invalid_account_token());
    }
    Ok(claims)
}

/// Admin only: any other class gets `403` (§5.5).
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(Self),
            Caller::Shopper | Caller::AccountHolder(_) => Err(ApiError::forbidden()),
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
