//! The compact JWS and the claims of an account token, checked as accountd checks them
//! (docs/account-tokens.md#validation-steps): structure and header first, then, once the
//! signature has verified, the claims and the expiry.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use std::time::SystemTime;

use serde::Deserialize;
use uuid::Uuid;

use crate::clock::from_unix_seconds;
use crate::config::Algorithm;
use crate::error::VerifyError;

/// How far in the future an `iat` may lie before the token is refused (clock skew), as accountd
/// allows.
const IAT_SKEW_SECONDS: i64 = 60;

/// The longest token looked at: accountd's are about 600 bytes, and a longer one is refused
/// before any decoding or hashing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The values of `account_member_self_management` accountd writes.
const SELF_MANAGEMENT_VALUES: [&str; 2] = ["disabled", "update_only"];

/// A token split into its parts, its header checked: what the signature check needs.
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    pub signing_input: &'a str,
    pub payload: &'a str,
    pub signature: Vec<u8>,
    pub algorithm: Algorithm,
    pub kid: String,
}

/// The JOSE header fields the steps check; others are ignored, as RFC 7515 allows for
/// unregistered names, and a duplicated field fails to deserialize.
#[derive(Deserialize)]
struct WireHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// The claims as they arrive: every one required, with its JSON type enforced by serde (an `iat`
/// of `1.5` or `"1719445524"` fails to deserialize).
#[derive(Deserialize)]
struct WireClaims {
    sub: String,
    scope: String,
    store_id: String,
    realm_id: String,
    account_member_self_management: String,
    ancestors: String,
    iat: i64,
    exp: i64,
    jti: String,
    /// Optional, but an integer when present: `null` is refused like any other wrong type.
    #[serde(default, deserialize_with = "present_integer")]
    auth_time: Option<i64>,
}

fn present_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    i64::deserialize(deserializer).map(Some)
}

/// The claims of a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    pub sub: Uuid,
    pub scope: Uuid,
    pub store_id: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: Option<i64>,
    pub ancestors: Vec<Uuid>,
    pub issued_at: SystemTime,
    pub expires: SystemTime,
    pub authenticated_at: Option<SystemTime>,
}

/// The deployment a token must belong to, and the time it is judged at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected {
    pub store_id: Uuid,
    pub realm_id: Uuid,
    pub now_millis: i64,
}

/// Steps 1 and 2: three base64url segments, a JSON object header with an accepted `alg`,
/// `typ: JWT` and a `kid`. `accepted` says which algorithms the configuration names.
pub(crate) fn split(
    token: &str,
    accepted: impl Fn(Algorithm) -> bool,
) -> Result<Compact<'_>, VerifyError> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::Malformed);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
    let (header, payload) = signing_input
        .split_once('.')
        .ok_or(VerifyError::Malformed)?;
    if payload.contains('.') {
        return Err(VerifyError::Malformed);
    }
    let header: WireHeader = decode_object(header).ok_or(VerifyError::Malformed)?;
    // `none` and every algorithm the configuration does not name are refused before any key is
    // looked up, so they never cause a fetch of the JWK Set either.
    let algorithm = Algorithm::parse(&header.alg)
        .filter(|&algorithm| accepted(algorithm))
        .ok_or(VerifyError::AlgorithmNotAccepted)?;
    if header.typ.as_deref() != Some("JWT") {
        return Err(VerifyError::Malformed);
    }
    let kid = header.kid.ok_or(VerifyError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .filter(|signature| !signature.is_empty())
        .ok_or(VerifyError::Malformed)?;
    Ok(Compact {
        signing_input,
        payload,
        signature,
        algorithm,
        kid,
    })
}

/// Steps 4 and 5, after the signature verified: the claims, then the expiry, with no leeway.
pub(crate) fn check(payload: &str, expected: &Expected) -> Result<Claims, VerifyError> {
    let wire: WireClaims = decode_object(payload).ok_or(VerifyError::InvalidClaims)?;
    let claims = valid_claims(wire, expected).ok_or(VerifyError::InvalidClaims)?;
    if expected.now_millis >= claims.exp.saturating_mul(1000) {
        return Err(VerifyError::Expired);
    }
    Ok(claims)
}

fn valid_claims(wire: WireClaims, expected: &Expected) -> Option<Claims> {
    let uuid = |text: &str| Uuid::parse_str(text).ok();
    let valid = uuid(&wire.store_id)? == expected.store_id
        && uuid(&wire.realm_id)? == expected.realm_id
        && SELF_MANAGEMENT_VALUES.contains(&wire.account_member_self_management.as_str())
        && wire.iat
            <= expected
                .now_millis
                .div_euclid(1000)
                .saturating_add(IAT_SKEW_SECONDS)
        && wire.auth_time.is_none_or(|auth_time| auth_time <= wire.iat);
    if !valid {
        return None;
    }
    Some(Claims {
        sub: uuid(&wire.sub)?,
        scope: uuid(&wire.scope)?,
        store_id: expected.store_id,
        jti: uuid(&wire.jti)?,
        iat: wire.iat,
        exp: wire.exp,
        auth_time: wire.auth_time,
        ancestors: decode_ancestors(&wire.ancestors)?,
        issued_at: from_unix_seconds(wire.iat)?,
        expires: from_unix_seconds(wire.exp)?,
        authenticated_at: match wire.auth_time {
            Some(seconds) => Some(from_unix_seconds(seconds)?),
            None => None,
        },
    })
}

/// The `ancestors` claim: empty for a root account, else each ancestor id as its 16 bytes in
/// standard base64 without padding, root first, joined by commas (docs/account-tokens.md#claims).
fn decode_ancestors(text: &str) -> Option<Vec<Uuid>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|encoded| {
            let bytes: [u8; 16] = STANDARD_NO_PAD.decode(encoded).ok()?.try_into().ok()?;
            Some(Uuid::from_bytes(bytes))
        })
        .collect()
}

/// A base64url segment (no padding, no stray trailing bits) holding a JSON object of the
/// expected shape. serde would also take an array for a struct; a JWS segment is an object.
fn decode_object<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn segment(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn expected() -> Expected {
        Expected {
            store_id: Uuid::from_u128(1),
            realm_id: Uuid::from_u128(2),
            now_millis: 1_719_445_524_000,
        }
    }

    fn claims() -> Value {
        json!({
            "sub": Uuid::from_u128(3).to_string(),
            "scope": Uuid::from_u128(4).to_string(),
            "store_id": Uuid::from_u128(1).to_string(),
            "realm_id": Uuid::from_u128(2).to_string(),
            "account_member_self_management": "disabled",
            "ancestors": "ah88Up0OS3qMIV9OPSwbCg,C45PbSwaTpun05+OfWxbSg",
            "iat": 1_719_445_520,
            "exp": 1_719_445_580,
            "jti": Uuid::from_u128(5).to_string(),
            "auth_time": 1_719_445_500,
        })
    }

    fn every_algorithm(_: Algorithm) -> bool {
        true
    }

    #[test]
    fn valid_claims_are_read_with_their_ancestors() {
        let checked = check(&segment(&claims()), &expected()).unwrap();
        assert_eq!(checked.sub, Uuid::from_u128(3));
        assert_eq!(checked.scope, Uuid::from_u128(4));
        assert_eq!(checked.jti, Uuid::from_u128(5));
        assert_eq!((checked.iat, checked.exp), (1_719_445_520, 1_719_445_580));
        assert_eq!(checked.auth_time, Some(1_719_445_500));
        // The example of docs/account-tokens.md#claims, root first.
        assert_eq!(
            checked.ancestors,
            [
                Uuid::parse_str("6a1f3c52-9d0e-4b7a-8c21-5f4e3d2c1b0a").unwrap(),
                Uuid::parse_str("0b8e4f6d-2c1a-4e9b-a7d3-9f8e7d6c5b4a").unwrap(),
            ]
        );
        let mut root = claims();
        root["ancestors"] = json!("");
        root.as_object_mut().unwrap().remove("auth_time");
        let checked = check(&segment(&root), &expected()).unwrap();
        assert!(checked.ancestors.is_empty());
        assert_eq!(checked.auth_time, None);
    }

    #[test]
    fn expiry_has_no_leeway_and_is_reported_only_for_otherwise_valid_claims() {
        let at = |now_millis| Expected {
            now_millis,
            ..expected()
        };
        assert!(check(&segment(&claims()), &at(1_719_445_579_999)).is_ok());
        assert_eq!(
            check(&segment(&claims()), &at(1_719_445_580_000)),
            Err(VerifyError::Expired)
        );
        let mut other_store = claims();
        other_store["store_id"] = json!(Uuid::from_u128(9).to_string());
        assert_eq!(
            check(&segment(&other_store), &at(1_719_445_580_000)),
            Err(VerifyError::InvalidClaims)
        );
    }

    #[test]
    fn every_claim_is_required_with_its_type_and_value() {
        let mut cases: Vec<Value> = Vec::new();
        for name in [
            "sub",
            "scope",
            "store_id",
            "realm_id",
            "account_member_self_management",
            "ancestors",
            "iat",
            "exp",
            "jti",
        ] {
            let mut missing = claims();
            missing.as_object_mut().unwrap().remove(name);
            cases.push(missing);
        }
        for (name, value) in [
            ("sub", json!("not-a-uuid")),
            ("scope", json!(4)),
            ("jti", json!(null)),
            ("store_id", json!(Uuid::from_u128(9).to_string())),
            ("realm_id", json!(Uuid::from_u128(9).to_string())),
            ("account_member_self_management", json!("enabled")),
            ("ancestors", json!("not-base64!")),
            ("ancestors", json!("AAAA")),
            ("iat", json!(1_719_445_520.5)),
            ("iat", json!("1719445520")),
            ("exp", json!(null)),
            // More than a minute ahead of now.
            ("iat", json!(1_719_445_585)),
            // After iat, or of the wrong type.
            ("auth_time", json!(1_719_445_521)),
            ("auth_time", json!(null)),
            ("auth_time", json!("1719445500")),
        ] {
            let mut wrong = claims();
            wrong[name] = value;
            cases.push(wrong);
        }
        cases.push(json!([]));
        for case in cases {
            assert_eq!(
                check(&segment(&case), &expected()),
                Err(VerifyError::InvalidClaims),
                "{case}"
            );
        }
        // An iat up to a minute ahead is clock skew, and accepted.
        let mut skewed = claims();
        skewed["iat"] = json!(1_719_445_584);
        assert!(check(&segment(&skewed), &expected()).is_ok());
    }

    #[test]
    fn headers_need_an_accepted_alg_typ_jwt_and_a_kid() {
        let payload = segment(&claims());
        let token = |header: Value| format!("{}.{payload}.c2ln", segment(&header));
        let good = token(json!({"alg": "EdDSA", "typ": "JWT", "kid": "k"}));
        let parts = split(&good, every_algorithm).unwrap();
        assert_eq!(parts.algorithm, Algorithm::EdDsa);
        assert_eq!(parts.kid, "k");
        assert_eq!(parts.signature, b"sig");
        assert_eq!(parts.payload, payload);

        let only_es256 = |algorithm| algorithm == Algorithm::Es256;
        assert_eq!(
            split(&good, only_es256).unwrap_err(),
            VerifyError::AlgorithmNotAccepted
        );
        for alg in ["none", "None", "hs256", "HS384", "RS256", ""] {
            assert_eq!(
                split(
                    &token(json!({"alg": alg, "typ": "JWT", "kid": "k"})),
                    every_algorithm
                )
                .unwrap_err(),
                VerifyError::AlgorithmNotAccepted,
                "{alg}"
            );
        }
        for header in [
            json!({"alg": "EdDSA", "kid": "k"}),
            json!({"alg": "EdDSA", "typ": "jwt", "kid": "k"}),
            json!({"alg": "EdDSA", "typ": "JWT"}),
            json!({"alg": "EdDSA", "typ": "JWT", "kid": 7}),
            json!({"typ": "JWT", "kid": "k"}),
            json!(["EdDSA", "JWT", "k"]),
        ] {
            assert_eq!(
                split(&token(header.clone()), every_algorithm).unwrap_err(),
                VerifyError::Malformed,
                "{header}"
            );
        }
        let duplicated =
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","alg":"HS256","typ":"JWT","kid":"k"}"#);
        assert_eq!(
            split(&format!("{duplicated}.{payload}.c2ln"), every_algorithm).unwrap_err(),
            VerifyError::Malformed
        );
    }

    #[test]
    fn structure_is_three_segments_of_strict_base64url() {
        let header = segment(&json!({"alg": "EdDSA", "typ": "JWT", "kid": "k"}));
        let payload = segment(&claims());
        for token in [
            String::new(),
            "a.b".to_owned(),
            "....".to_owned(),
            format!("{header}.{payload}"),
            format!("{header}.{payload}."),
            format!("{header}.{payload}.c2ln.c2ln"),
            format!("{header}=.{payload}.c2ln"),
            format!("{header}.{payload}.c2ln="),
            format!("{header}.{payload}.!!!"),
            format!("{header}.{payload}.{}", "A".repeat(MAX_TOKEN_BYTES)),
        ] {
            assert_eq!(
                split(&token, every_algorithm).unwrap_err(),
                VerifyError::Malformed,
                "{token:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_text_is_refused_never_a_panic(token in ".{0,400}") {
                if let Ok(parts) = split(&token, every_algorithm) {
                    prop_assert!(check(parts.payload, &expected()).is_err());
                }
            }

            #[test]
            fn arbitrary_json_segments_are_refused(header in ".{0,80}", body in ".{0,300}", signature in "[A-Za-z0-9_-]{0,90}") {
                let token = format!(
                    "{}.{}.{signature}",
                    URL_SAFE_NO_PAD.encode(header),
                    URL_SAFE_NO_PAD.encode(body)
                );
                if let Ok(parts) = split(&token, every_algorithm) {
                    prop_assert!(check(parts.payload, &expected()).is_err());
                }
            }
        }
    }
}
