//! Random secrets (application keys, bearer tokens, JWT keys), their SHA-256 digests and
//! constant-time comparison. Opaque credentials are random, so a fast digest is enough to store
//! them (docs/authentication.md#application-keys); only passwords need argon2id.

use std::fmt;

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A secret value that cannot end up in a log line by accident: `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `len` characters drawn uniformly from `[A-Za-z0-9]` by the thread-local CSPRNG: 42 of them
/// carry about 250 bits, above 240.
pub fn random_alphanumeric(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let index = rng.random_range(0..ALPHANUMERIC.len());
            char::from(ALPHANUMERIC.get(index).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// The OTP alphabet (docs/decisions.md#one-time-codes): 31 symbols, without `0`, `1`, `i`, `l` or
/// `o`, which read alike.
pub const OTP_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
pub const OTP_LENGTH: usize = 6;

/// A one-time code: six symbols of [`OTP_ALPHABET`] drawn uniformly by the CSPRNG
/// (docs/decisions.md#one-time-codes).
pub fn one_time_code() -> String {
    let mut rng = rand::rng();
    (0..OTP_LENGTH)
        .map(|_| {
            let index = rng.random_range(0..OTP_ALPHABET.len());
            char::from(OTP_ALPHABET.get(index).copied().unwrap_or(b'2'))
        })
        .collect()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// A bearer token: 160 random bits as 40 lowercase hex characters, as Elastic Path issues them.
pub fn new_bearer_token() -> String {
    hex::encode(random_bytes::<20>())
}

pub fn sha256(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let code = one_time_code();
            assert_eq!(code.len(), OTP_LENGTH);
            assert!(
                code.bytes().all(|byte| OTP_ALPHABET.contains(&byte)),
                "{code}"
            );
        }
        assert_eq!(OTP_ALPHABET.len(), 31);
    }

    #[test]
    fn bearer_tokens_are_forty_lowercase_hex_characters() {
        let token = new_bearer_token();
        assert_eq!(token.len(), 40);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_ne!(token, new_bearer_token());
    }

    #[test]
    fn alphanumeric_secrets_use_the_whole_alphabet_only() {
        let secret = random_alphanumeric(4096);
        assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(secret.chars().any(|c| c.is_ascii_uppercase()));
        assert!(secret.chars().any(|c| c.is_ascii_digit()));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
