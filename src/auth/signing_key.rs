//! The key material account tokens are signed with: an HMAC secret (HS256), an Ed25519 key pair
//! (EdDSA) or a P-256 key pair (ES256). Generation, the bytes kept at rest (the secret itself, or
//! the private key as PKCS#8 DER), PKCS#8 PEM files, and the public JWK with its RFC 7638
//! thumbprint, which is the `kid` of every key pair.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde_json::{Map, Value, json};

use super::secret::{random_alphanumeric, random_bytes, sha256};

/// Generated HMAC secrets are printable so `accountd keys export` can hand them on verbatim.
const GENERATED_SECRET_CHARS: usize = 43;

/// The JWS algorithms accountd signs with (`ACCOUNTD_JWT_ALG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with a shared secret: Elastic Path's algorithm and the default.
    #[default]
    Hs256,
    /// Ed25519.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl JwtAlgorithm {
    /// The JOSE `alg` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Exactly the JOSE spelling: `alg` is case-sensitive (RFC 7515).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HS256" => Some(Self::Hs256),
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    /// Whether tokens it signs can be verified with a public key.
    pub const fn is_asymmetric(self) -> bool {
        !matches!(self, Self::Hs256)
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why key material could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PKCS#8 PEM private key for Ed25519 or P-256")]
    UnsupportedPem,
    #[error("the stored {0} key cannot be read")]
    Unreadable(JwtAlgorithm),
    #[error("the {0} key cannot be encoded as PKCS#8")]
    Encoding(JwtAlgorithm),
}

/// A signing key. Secrets never reach `Debug`.
#[derive(Clone)]
pub enum KeyMaterial {
    Hmac(Vec<u8>),
    Ed25519(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial({}, redacted)", self.algorithm())
    }
}

impl KeyMaterial {
    pub fn algorithm(&self) -> JwtAlgorithm {
        match self {
            Self::Hmac(_) => JwtAlgorithm::Hs256,
            Self::Ed25519(_) => JwtAlgorithm::EdDsa,
            Self::Es256(_) => JwtAlgorithm::Es256,
        }
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate(algorithm: JwtAlgorithm) -> Self {
        match algorithm {
            JwtAlgorithm::Hs256 => {
                Self::Hmac(random_alphanumeric(GENERATED_SECRET_CHARS).into_bytes())
            }
            JwtAlgorithm::EdDsa => {
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>()))
            }
            JwtAlgorithm::Es256 => loop {
                // A random 256-bit string is a valid P-256 scalar except with probability
                // about 2^-32 (zero or at least the group order): draw again then.
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()) {
                    break Self::Es256(key);
                }
            },
        }
    }

    /// The key as kept at rest: the HMAC secret, or the private key as PKCS#8 DER.
    pub fn to_stored(&self) -> Result<Vec<u8>, KeyError> {
        let encoding = KeyError::Encoding(self.algorithm());
        match self {
            Self::Hmac(secret) => Ok(secret.clone()),
            Self::Ed25519(key) => key
                .to_pkcs8_der()
                .map(|der| der.as_bytes().to_vec())
                .map_err(|_| encoding),
            Self::Es256(key) => key
                .to_pkcs8_der()
                .map(|der| der.as_bytes().to_vec())
                .map_err(|_| encoding),
        }
    }

    /// The inverse of [`Self::to_stored`].
    pub fn from_stored(algorithm: JwtAlgorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let unreadable = KeyError::Unreadable(algorithm);
        match algorithm {
            JwtAlgorithm::Hs256 => Ok(Self::Hmac(bytes.to_vec())),
            JwtAlgorithm::EdDsa => ed25519_dalek::SigningKey::from_pkcs8_der(bytes)
                .map(Self::Ed25519)
                .map_err(|_| unreadable),
            JwtAlgorithm::Es256 => p256::ecdsa::SigningKey::from_pkcs8_der(bytes)
                .map(Self::Es256)
                .map_err(|_| unreadable),
        }
    }

    /// A PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), Ed25519 or P-256, as
    /// `openssl genpkey` writes them.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(Self::Ed25519(key));
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(text)
            .map(Self::Es256)
            .map_err(|_| KeyError::UnsupportedPem)
    }

    /// The public key as a JWK's key members (`kty`, `crv`, `x`, `y`); `None` for a shared secret,
    /// which is never published.
    pub fn public_jwk(&self) -> Option<Map<String, Value>> {
        let value = match self {
            Self::Hmac(_) => return None,
            Self::Ed25519(key) => json!({
                "crv": "Ed25519",
                "kty": "OKP",
                "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            }),
            Self::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return None;
                };
                json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                })
            }
        };
        match value {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` of a key pair, the same on
    /// every replica and for every service that computes it from the published key.
    pub fn thumbprint(&self) -> Option<String> {
        // serde_json's map keeps its keys sorted, and `to_string` adds no whitespace: exactly
        // the canonical form RFC 7638 hashes, since the required members are all strings.
        let members = self.public_jwk()?;
        let canonical = Value::Object(members).to_string();
        Some(URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes())))
    }

    /// The `kid` of a newly generated key: the thumbprint of a key pair, 16 random hex digits
    /// for a shared secret (which has nothing public to hash).
    pub fn new_kid(&self) -> String {
        self.thumbprint()
            .unwrap_or_else(|| hex::encode(random_bytes::<8>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    #[test]
    fn the_ed25519_thumbprint_matches_rfc_8037() {
        let secret = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let key = KeyMaterial::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &secret.try_into().unwrap(),
        ));
        assert_eq!(
            key.public_jwk().unwrap()["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        assert_eq!(
            key.thumbprint().unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn thumbprints_agree_with_the_jsonwebtoken_crate() {
        use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
        for algorithm in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256] {
            let key = KeyMaterial::generate(algorithm);
            let jwk: Jwk =
                serde_json::from_value(Value::Object(key.public_jwk().unwrap())).unwrap();
            assert_eq!(
                jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
                key.thumbprint().unwrap(),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn stored_keys_read_back_as_the_same_key() {
        for algorithm in [
            JwtAlgorithm::Hs256,
            JwtAlgorithm::EdDsa,
            JwtAlgorithm::Es256,
        ] {
            let key = KeyMaterial::generate(algorithm);
            let stored = key.to_stored().unwrap();
            let again = KeyMaterial::from_stored(algorithm, &stored).unwrap();
            assert_eq!(again.algorithm(), algorithm);
            assert_eq!(again.to_stored().unwrap(), stored);
            assert_eq!(again.thumbprint(), key.thumbprint());
        }
        assert!(KeyMaterial::from_stored(JwtAlgorithm::EdDsa, b"not der").is_err());
    }

    #[test]
    fn pem_files_of_both_curves_are_read_and_others_refused() {
        use p256::pkcs8::LineEnding;
        let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let pem = ed.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            KeyMaterial::from_pkcs8_pem(&pem).unwrap().algorithm(),
            JwtAlgorithm::EdDsa
        );
        let ec = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let pem = ec.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            KeyMaterial::from_pkcs8_pem(&pem).unwrap().algorithm(),
            JwtAlgorithm::Es256
        );
        assert!(KeyMaterial::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n").is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = KeyMaterial::Hmac(b"a-secret-that-must-not-be-logged".to_vec());
        assert!(!format!("{key:?}").contains("a-secret"));
    }
}
