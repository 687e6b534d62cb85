//! axum: the [`VerifiedAccount`] extractor, the account token header, and the answer a refused
//! request gets, in accountd's errors envelope and wording
//! (docs/account-tokens.md#validation-steps).

use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::VerifyError;
use crate::identity::AccountIdentity;
use crate::verifier::Verifier;

/// The header that carries the account token, as Elastic Path's clients send it (names are
/// case-insensitive).
pub const ACCOUNT_TOKEN_HEADER: &str = "ep-account-management-authentication-token";

/// accountd's words for an expired token, and for every other refusal.
const EXPIRED: &str = "account management authentication token has expired";
const INVALID: &str = "account management authentication token is invalid";
const UNAVAILABLE: &str = "account tokens cannot be verified right now";

/// A handler argument holding the identity of the request's verified account token.
///
/// The [`Verifier`] comes from the router's state through `FromRef`: a state that is a
/// `Verifier`, or that has one in a field with `#[derive(FromRef)]`. When an
/// [`AccountTokenLayer`](crate::AccountTokenLayer) already verified the request, its identity is
/// taken as is and nothing is verified twice. A refused token answers `401` (`503` when accountd
/// cannot be reached) before the handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccount(pub AccountIdentity);

impl<S> FromRequestParts<S> for VerifiedAccount
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = VerifyError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, VerifyError> {
        if let Some(identity) = parts.extensions.get::<AccountIdentity>() {
            return Ok(Self(identity.clone()));
        }
        let verifier = Verifier::from_ref(state);
        verifier.verify_headers(&parts.headers).await.map(Self)
    }
}

/// The account token header: `None` when absent, `Some(None)` when unusable (sent twice, not
/// text), `Some(Some(token))` otherwise, trimmed; as accountd reads it.
pub(crate) fn account_token_header(headers: &HeaderMap) -> Option<Option<&str>> {
    let mut values = headers.get_all(ACCOUNT_TOKEN_HEADER).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return Some(None);
    }
    Some(value.to_str().ok().map(str::trim))
}

/// `401` in accountd's errors envelope with accountd's wording: "has expired" for a token that
/// is valid but expired, "is invalid" for every other refusal, a missing header included. When
/// accountd could not be asked, `503`: the token may be fine, and a client should not discard it.
impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self {
            Self::Expired => (StatusCode::UNAUTHORIZED, EXPIRED),
            error if error.is_unavailable() => {
                tracing::error!(%error, "an account token could not be verified");
                (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
            }
            _ => (StatusCode::UNAUTHORIZED, INVALID),
        };
        let body = json!({"errors": [{
            "status": status.as_str(),
            "title": status.canonical_reason().unwrap_or("Error"),
            "detail": detail,
        }]});
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_header_is_read_once_trimmed_and_as_text() {
        let mut headers = HeaderMap::new();
        assert_eq!(account_token_header(&headers), None);
        headers.insert(
            "EP-Account-Management-Authentication-Token",
            HeaderValue::from_static("  a.b.c "),
        );
        assert_eq!(account_token_header(&headers), Some(Some("a.b.c")));
        headers.append(ACCOUNT_TOKEN_HEADER, HeaderValue::from_static("d.e.f"));
        assert_eq!(account_token_header(&headers), Some(None));
        let mut binary = HeaderMap::new();
        binary.insert(
            ACCOUNT_TOKEN_HEADER,
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        assert_eq!(account_token_header(&binary), Some(None));
    }
}
