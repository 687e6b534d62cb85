//! The keys that check signatures: an HS256 secret, or an Ed25519 or P-256 public key read from
//! a JWK. Each key verifies only tokens of its own algorithm, so an HMAC keyed with a public key's
//! published bytes, or a header that names another algorithm than its key's, never verifies.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::config::Algorithm;

/// A key parsed once, ready to check signatures.
pub(crate) enum VerificationKey {
    /// Keyed once: each check clones the keyed state instead of redoing the key schedule.
    Hmac(Hmac<Sha256>),
    Ed25519(ed25519_dalek::VerifyingKey),
    Es256(p256::ecdsa::VerifyingKey),
}

impl VerificationKey {
    /// An HS256 key; `None` only if HMAC refused the secret, which it never does for SHA-256.
    pub(crate) fn hmac(secret: &[u8]) -> Option<Self> {
        Hmac::<Sha256>::new_from_slice(secret).ok().map(Self::Hmac)
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hmac(_) => Algorithm::Hs256,
            Self::Ed25519(_) => Algorithm::EdDsa,
            Self::Es256(_) => Algorithm::Es256,
        }
    }

    /// Whether `signature` signs `input` under this key; HMAC compares in constant time, Ed25519
    /// refuses the malleable forms (`verify_strict`), as accountd does.
    pub(crate) fn accepts(&self, input: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(mac) => mac
                .clone()
                .chain_update(input)
                .verify_slice(signature)
                .is_ok(),
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(input, &signature).is_ok()),
            Self::Es256(key) => {
                use p256::ecdsa::signature::Verifier as _;
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(input, &signature).is_ok())
            }
        }
    }

    /// A public key of the JWK Set, with its `kid`: `OKP`/`Ed25519` or `EC`/`P-256`, whose `alg`
    /// (when given) is its curve's and whose `use` (when given) is `sig`. `None` for anything
    /// else, which the set then skips.
    pub(crate) fn from_jwk(jwk: &Value) -> Option<(String, Self)> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let kid = text("kid").filter(|kid| !kid.is_empty())?.to_owned();
        if jwk.get("use").is_some() && text("use") != Some("sig") {
            return None;
        }
        let coordinate = |name: &str| -> Option<[u8; 32]> {
            URL_SAFE_NO_PAD.decode(text(name)?).ok()?.try_into().ok()
        };
        let key = match (text("kty"), text("crv")) {
            (Some("OKP"), Some("Ed25519")) => {
                let x = coordinate("x")?;
                Self::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?)
            }
            (Some("EC"), Some("P-256")) => {
                // The uncompressed SEC1 form: 0x04, then x and y.
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&coordinate("x")?);
                point.extend_from_slice(&coordinate("y")?);
                Self::Es256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok()?)
            }
            _ => return None,
        };
        if jwk.get("alg").is_some() && text("alg") != Some(key.algorithm().as_str()) {
            return None;
        }
        Some((kid, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ed25519_jwk(key: &ed25519_dalek::SigningKey) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        })
    }

    fn p256_jwk(key: &p256::ecdsa::SigningKey) -> Value {
        let point = key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        })
    }

    #[test]
    fn public_keys_of_both_curves_are_read_and_verify_their_signatures() {
        use ed25519_dalek::Signer as _;
        let ed = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let (kid, key) = VerificationKey::from_jwk(&ed25519_jwk(&ed)).unwrap();
        assert_eq!((kid.as_str(), key.algorithm()), ("ed", Algorithm::EdDsa));
        let signature = ed.sign(b"input").to_bytes();
        assert!(key.accepts(b"input", &signature));
        assert!(!key.accepts(b"other", &signature));

        let ec = p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap();
        let (kid, key) = VerificationKey::from_jwk(&p256_jwk(&ec)).unwrap();
        assert_eq!((kid.as_str(), key.algorithm()), ("ec", Algorithm::Es256));
        let signature: p256::ecdsa::Signature = ec.sign(b"input");
        assert!(key.accepts(b"input", &signature.to_bytes()));
        assert!(!key.accepts(b"input", &[0u8; 64]));
        assert!(!key.accepts(b"input", b"short"));
    }

    #[test]
    fn keys_that_are_not_signing_keys_of_a_known_curve_are_skipped() {
        let ed = ed25519_jwk(&ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]));
        let ec = p256_jwk(&p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap());
        let changed = |base: &Value, name: &str, value: Value| {
            let mut jwk = base.clone();
            jwk[name] = value;
            jwk
        };
        let without = |base: &Value, name: &str| {
            let mut jwk = base.clone();
            jwk.as_object_mut().unwrap().remove(name);
            jwk
        };
        for jwk in [
            changed(&ed, "alg", json!("ES256")),
            changed(&ed, "alg", json!("HS256")),
            changed(&ec, "alg", json!("EdDSA")),
            changed(&ed, "use", json!("enc")),
            changed(&ed, "kid", json!("")),
            changed(&ed, "kid", json!(7)),
            without(&ed, "kid"),
            changed(&ed, "crv", json!("Ed448")),
            changed(&ec, "crv", json!("P-384")),
            changed(&ed, "kty", json!("oct")),
            changed(&ed, "x", json!("AAAA")),
            changed(&ec, "y", json!(URL_SAFE_NO_PAD.encode([0u8; 32]))),
            without(&ec, "y"),
            json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}),
            json!("not an object"),
        ] {
            assert!(VerificationKey::from_jwk(&jwk).is_none(), "{jwk}");
        }
        // Without the optional members, still a key.
        assert!(VerificationKey::from_jwk(&without(&without(&ed, "alg"), "use")).is_some());
    }
}
