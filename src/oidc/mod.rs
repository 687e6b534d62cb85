//! The relying-party side of OpenID Connect login (docs/oidc.md): what accountd needs from the
//! merchant's identity provider (discovery, keys, the code exchange, UserInfo) and how it judges
//! the ID token it gets back. The browser-facing endpoints that use this live in
//! `http/oidc_idp/`.

/// ID-token validation (docs/oidc.md#id-token-validation) and the user data taken from its claims.
pub mod id_token;
/// The outbound HTTP client: discovery and JWKS caches, token endpoint, UserInfo.
pub mod provider;
/// The checks on the provider's answer to a callback, and the identity it describes.
pub mod relying_party;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::secret::{random_bytes, sha256};

pub use provider::{
    Discovery, OidcClient, ProviderError, TokenResponse, is_provider_url, issuer_matches,
};

/// 256 random bits as 43 base64url characters: `state`, nonce, PKCE verifiers and accountd's
/// authorization codes.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The PKCE S256 challenge of a verifier: BASE64URL(SHA-256(verifier)) (RFC 7636).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// A PKCE verifier as RFC 7636 allows it: 43–128 unreserved characters.
pub fn is_valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte))
}

/// An S256 `code_challenge` as the login endpoint accepts it: 43 base64url characters
/// (docs/oidc.md#login-endpoint).
pub fn is_valid_code_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_carry_256_bits_as_base64url() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        assert!(is_valid_code_verifier(&token));
        assert!(is_valid_code_challenge(&token));
        assert_ne!(token, random_token());
    }

    #[test]
    fn verifiers_and_challenges_are_checked_for_shape() {
        assert!(!is_valid_code_verifier("short"));
        assert!(!is_valid_code_verifier(&"a".repeat(129)));
        assert!(!is_valid_code_verifier(&format!("{}+", "a".repeat(42))));
        assert!(!is_valid_code_challenge(&"a".repeat(44)));
        assert!(!is_valid_code_challenge(&format!("{}=", "a".repeat(42))));
    }
}
