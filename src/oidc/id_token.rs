//! ID-token validation, in the order of docs/oidc.md#id-token-validation: a signature by one of the
//! provider's keys with an asymmetric algorithm (never `none` or `HS*`, whatever the token says),
//! then `iss`, `aud`, `exp` and `iat` (60 s of skew either way, by the injectable clock), the
//! echoed `nonce`, and `sub`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// How far past `exp`, and how far before `iat`, a token is still accepted, for clocks that
/// disagree (docs/oidc.md#id-token-validation).
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// What a token must agree with besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: Timestamp,
}

/// Why an ID token was refused; the storefront only ever sees `access_denied`, the log the
/// reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a JWS")]
    Malformed,
    #[error("the ID token's algorithm is not accepted")]
    Algorithm,
    #[error("no key of the provider fits the ID token")]
    NoKey,
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token's iss is not the provider's issuer")]
    Issuer,
    #[error("the ID token's aud is not the client id alone")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    #[error("the ID token's nonce does not match")]
    Nonce,
    #[error("the ID token has no sub")]
    Subject,
}

/// The accepted algorithms and their JOSE names (docs/oidc.md#id-token-validation).
const ACCEPTED: [(&str, Algorithm); 6] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
];

/// The token's algorithm and key id, read from its header without trusting anything else.
pub fn header(token: &str) -> Result<(Algorithm, Option<String>), IdTokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| IdTokenError::Malformed)?;
    let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(IdTokenError::Malformed);
    };
    let name = header.get("alg").and_then(Value::as_str);
    let algorithm = ACCEPTED
        .iter()
        .find(|(accepted, _)| Some(*accepted) == name)
        .map(|(_, algorithm)| *algorithm)
        .ok_or(IdTokenError::Algorithm)?;
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok((algorithm, kid))
}

/// The keys that may have signed a token with this algorithm and key id: the right kind (and
/// curve), meant for signatures, and the named `kid` when the token names one.
pub fn candidate_keys<'a>(
    keys: &'a [Jwk],
    algorithm: Algorithm,
    kid: Option<&str>,
) -> Vec<&'a Jwk> {
    keys.iter()
        .filter(|key| kid.is_none() || key.common.key_id.as_deref() == kid)
        .filter(|key| !matches!(key.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter(|key| {
            key.common
                .key_algorithm
                .is_none_or(|declared| Some(declared) == key_algorithm(algorithm))
        })
        .filter(|key| match (&key.algorithm, algorithm) {
            (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256,
            ) => true,
            (AlgorithmParameters::EllipticCurve(params), Algorithm::ES256) => {
                params.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::EllipticCurve(params), Algorithm::ES384) => {
                params.curve == EllipticCurve::P384
            }
            _ => false,
        })
        .collect()
}

/// The JWK `alg` that names an accepted algorithm.
fn key_algorithm(algorithm: Algorithm) -> Option<KeyAlgorithm> {
    match algorithm {
        Algorithm::RS256 => Some(KeyAlgorithm::RS256),
        Algorithm::RS384 => Some(KeyAlgorithm::RS384),
        Algorithm::RS512 => Some(KeyAlgorithm::RS512),
        Algorithm::PS256 => Some(KeyAlgorithm::PS256),
        Algorithm::ES256 => Some(KeyAlgorithm::ES256),
        Algorithm::ES384 => Some(KeyAlgorithm::ES384),
        _ => None,
    }
}

/// Verifies the signature with one of `keys` and the claims against `expected`, in the order of
/// docs/oidc.md#id-token-validation, and returns the claims.
pub fn verify(
    token: &str,
    algorithm: Algorithm,
    keys: &[&Jwk],
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    if keys.is_empty() {
        return Err(IdTokenError::NoKey);
    }
    // Only the signature is the library's business; the claims are checked below, against the
    // injectable clock.
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = keys
        .iter()
        .filter_map(|key| DecodingKey::from_jwk(key).ok())
        .find_map(|key| jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).ok())
        .ok_or(IdTokenError::Signature)?
        .claims;

    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(IdTokenError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(audience)) => audience == expected.client_id,
        Some(Value::Array(audiences)) => {
            matches!(audiences.as_slice(), [Value::String(only)] if only == expected.client_id)
        }
        _ => false,
    };
    if !audience_ok {
        return Err(IdTokenError::Audience);
    }
    let now_seconds = expected.now.millis() as f64 / 1000.0;
    let unexpired = claims
        .get("exp")
        .and_then(Value::as_f64)
        .is_some_and(|exp| now_seconds < exp + CLOCK_SKEW_SECONDS as f64);
    if !unexpired {
        return Err(IdTokenError::Expired);
    }
    // A token from the future was minted by a provider whose clock is wrong, or made to be
    // replayed later. Only a present `iat` can say so; an absent one is accepted.
    if claims
        .get("iat")
        .and_then(Value::as_f64)
        .is_some_and(|iat| iat > now_seconds + CLOCK_SKEW_SECONDS as f64)
    {
        return Err(IdTokenError::IssuedInFuture);
    }
    match claims.get("nonce") {
        None => {}
        Some(Value::String(nonce)) if nonce == expected.nonce => {}
        Some(_) => return Err(IdTokenError::Nonce),
    }
    match claims.get("sub") {
        Some(Value::String(subject)) if !subject.is_empty() => Ok(claims),
        _ => Err(IdTokenError::Subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn only_asymmetric_algorithms_pass_the_header() {
        for refused in ["none", "HS256", "HS512", "EdDSA", "rs256"] {
            let token = encode(&format!(r#"{{"alg":"{refused}"}}"#), "{}");
            assert_eq!(header(&token), Err(IdTokenError::Algorithm), "{refused}");
        }
        let token = encode(r#"{"alg":"ES256","kid":"k1"}"#, "{}");
        assert_eq!(
            header(&token),
            Ok((Algorithm::ES256, Some("k1".to_owned())))
        );
        assert_eq!(header("a.b"), Err(IdTokenError::Malformed));
        assert_eq!(header("!.b.c"), Err(IdTokenError::Malformed));
    }

    /// A real ES256 signature, so the claim checks after it are reached.
    fn signed(claims: serde_json::Value) -> (String, Jwk) {
        use p256::ecdsa::SigningKey;
        use p256::pkcs8::EncodePrivateKey;
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let der = key.to_pkcs8_der().unwrap();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::ES256),
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
        )
        .unwrap();
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        }))
        .unwrap();
        (token, jwk)
    }

    #[test]
    fn a_token_issued_more_than_a_minute_ahead_is_refused() {
        let now = 1_700_000_000_i64;
        let expected = Expected {
            issuer: "https://idp.example.com",
            client_id: "client",
            nonce: "n",
            now: Timestamp::from_millis(now * 1000),
        };
        let claims = |iat: Option<i64>| {
            let mut claims = serde_json::json!({
                "iss": "https://idp.example.com", "aud": "client", "sub": "s",
                "exp": now + 300, "nonce": "n",
            });
            if let Some(iat) = iat {
                claims["iat"] = serde_json::json!(iat);
            }
            claims
        };
        for (iat, verdict) in [
            (Some(now + 61), Err(IdTokenError::IssuedInFuture)),
            (Some(now + 60), Ok(())),
            (Some(now - 3600), Ok(())),
            (None, Ok(())),
        ] {
            let (token, jwk) = signed(claims(iat));
            let outcome = verify(&token, Algorithm::ES256, &[&jwk], &expected).map(|_| ());
            assert_eq!(outcome, verdict, "{iat:?}");
        }
    }

    #[test]
    fn keys_must_fit_the_algorithm_and_the_kid() {
        let keys: Vec<Jwk> = serde_json::from_value(serde_json::json!([
            {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "EC", "kid": "e384", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
        ]))
        .unwrap();
        let kids = |algorithm, kid| -> Vec<String> {
            candidate_keys(&keys, algorithm, kid)
                .iter()
                .filter_map(|key| key.common.key_id.clone())
                .collect()
        };
        assert_eq!(kids(Algorithm::RS256, None), ["r"]);
        assert_eq!(kids(Algorithm::PS256, None), ["r", "ps"]);
        assert_eq!(kids(Algorithm::ES256, None), ["e"]);
        assert_eq!(kids(Algorithm::ES384, None), ["e384"]);
        assert_eq!(kids(Algorithm::RS256, Some("e")), Vec::<String>::new());
        assert_eq!(kids(Algorithm::ES256, Some("e")), ["e"]);
    }
}
