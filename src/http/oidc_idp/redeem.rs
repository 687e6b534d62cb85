//! The `oidc` mechanism of the token endpoint (docs/oidc.md#the-code-for-the-storefront):
//! accountd's code, checked against the storefront's redirect URI and PKCE verifier, becomes the
//! member it stands for.

use uuid::Uuid;

use crate::auth::secret::{constant_time_eq, sha256};
use crate::error::{ApiError, ApiResult};
use crate::oidc::{is_valid_code_verifier, s256_challenge};
use crate::state::AppState;
use crate::store::{Entity, NewAuditEvent, StoreError};

/// Redeems accountd's code (docs/oidc.md#the-code-for-the-storefront) for the member it stands for.
/// Steps 1–3 failing, or the profile having been deleted, is `400 authentication failed`; a taken
/// email under the realm's policy is `409`. `signed_in` is the sign-in's audit row, written with
/// the member's changes; `refused` is written when a real code is refused (it is burnt then), not
/// for codes that do not exist, which anyone can make up.
pub async fn redeem(
    state: &AppState,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    signed_in: &NewAuditEvent,
    refused: &NewAuditEvent,
) -> ApiResult<Uuid> {
    let now = state.clock.now();
    // Redeeming removes the code first, so a wrong verifier or redirect URI also burns it.
    let Some(record) = state
        .store
        .redeem_oidc_code(&sha256(code.as_bytes()), now)
        .await?
    else {
        return Err(ApiError::authentication_failed());
    };
    let refuse = || async {
        state.store.append_audit_event(refused, now).await?;
        Ok::<_, ApiError>(ApiError::authentication_failed())
    };
    if !constant_time_eq(redirect_uri.as_bytes(), record.redirect_uri.as_bytes()) {
        return Err(refuse().await?);
    }
    let challenge_matches = is_valid_code_verifier(code_verifier)
        && constant_time_eq(
            s256_challenge(code_verifier).as_bytes(),
            record.code_challenge.as_bytes(),
        );
    if !challenge_matches {
        return Err(refuse().await?);
    }
    match state
        .store
        .sign_in_oidc_identity(&record.identity, now, signed_in)
        .await
    {
        Ok(signed_in) => Ok(signed_in.user_id),
        Err(StoreError::NotFound(Entity::OidcProfile)) => Err(refuse().await?),
        Err(error) => Err(error.into()),
    }
}
