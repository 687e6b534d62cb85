//! Why a token was refused, or could not be judged. Every failure is a value of [`VerifyError`];
//! no input makes the verifier panic.

/// Why [`Verifier::verify`](crate::Verifier::verify) did not return an identity.
///
/// [`VerifyError::Expired`] is reported only for a token that is otherwise valid, as accountd
/// does. [`VerifyError::KeysUnavailable`] and [`VerifyError::IntrospectionUnavailable`] say
/// nothing about the token: accountd could not be asked. In axum they answer `503`, every other
/// variant `401` (see [`VerifyError::is_unavailable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The request carries no account token header.
    #[error("no account token was presented")]
    Missing,
    /// Not three base64url segments of JSON, a header without `typ: JWT` or `kid`, the header
    /// sent twice, or not text.
    #[error("the account token is malformed")]
    Malformed,
    /// The header's `alg` is `none`, unknown, or not one the configuration names.
    #[error("the account token's algorithm is not accepted")]
    AlgorithmNotAccepted,
    /// The `kid` names no key the verifier holds, even after fetching the JWK Set again (when
    /// the refetch bound allowed it).
    #[error("the account token names an unknown key")]
    UnknownKey,
    /// The `kid` names a key of another algorithm than the header's `alg`.
    #[error("the account token's algorithm is not its key's")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("the account token's signature does not verify")]
    BadSignature,
    /// A claim is missing or of the wrong type, `store_id` or `realm_id` is another
    /// deployment's, `iat` lies more than a minute ahead, or `auth_time` is after `iat`.
    #[error("the account token's claims are not valid here")]
    InvalidClaims,
    /// The token is valid but `exp` has passed.
    #[error("the account token has expired")]
    Expired,
    /// accountd's introspection answered that the token is not active: its membership, member
    /// or account is gone, or the member's tokens were revoked.
    #[error("the account token is no longer active")]
    Inactive,
    /// The JWK Set could not be fetched and no key it held could decide the token.
    #[error("the public keys cannot be fetched: {0}")]
    KeysUnavailable(FetchError),
    /// accountd's introspection could not be asked or gave an unusable answer.
    #[error("introspection failed: {0}")]
    IntrospectionUnavailable(FetchError),
}

impl VerifyError {
    /// Whether the failure is accountd's unavailability rather than the token's fault: the
    /// request may succeed later with the same token.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::KeysUnavailable(_) | Self::IntrospectionUnavailable(_)
        )
    }
}

/// Why a request to accountd (the JWK Set or introspection) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No answer: connection refused, timeout, TLS failure.
    #[error("no answer: {0}")]
    Transport(String),
    /// An answer with another status than `200` (`401` from introspection means the
    /// configured credentials are wrong).
    #[error("HTTP status {0}")]
    Status(u16),
    /// A `200` whose body is not what accountd sends, or is too large.
    #[error("unexpected body: {0}")]
    Body(&'static str),
}

impl FetchError {
    /// A transport error with its chain of causes, which is where reqwest says what went wrong.
    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Transport(text)
    }
}
