//! Account management authentication tokens: HS256 JWTs with a `kid`, minted per (member, account)
//! and validated in the order docs/account-tokens.md#validation-steps fixes (structure, header,
//! signature, claims, expiry). The liveness step needs the database and lives with the extractor.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::time::Timestamp;

/// How far in the future an `iat` may lie before the token is refused (clock skew,
/// docs/account-tokens.md#validation-steps).
const IAT_SKEW_SECONDS: i64 = 60;

pub const SELF_MANAGEMENT_VALUES: [&str; 2] = ["disabled", "update_only"];

/// The nine claims (docs/account-tokens.md#claims), and `auth_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountClaims {
    pub sub: Uuid,
    pub scope: Uuid,
    pub store_id: Uuid,
    pub realm_id: Uuid,
    pub account_member_self_management: String,
    pub ancestors: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// Epoch second of the credential check the token descends from (password, one-time code,
    /// sign-up, OpenID Connect): a switch copies it, so only a credential makes a token fresh
    /// for sensitive changes. Tokens minted before the claim existed have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

/// The claims as they arrive: every one required, with its JSON type enforced by serde (an `iat`
/// of `1.5` or `"1719445524"` fails to deserialize and so fails validation).
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

/// A claim that may be absent (serde's `default`), but when present must be an integer.
fn present_integer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    i64::deserialize(deserializer).map(Some)
}

/// The JOSE header fields the validation steps check (docs/account-tokens.md#validation-steps); any
/// others are ignored, as RFC 7515 allows for unregistered names (a duplicated field fails to
/// deserialize).
#[derive(Deserialize)]
struct WireHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// Why a token was refused; only a token that is otherwise valid is reported as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Invalid,
    Expired,
    /// The `kid` names no key this process holds; the key ring may have rotated
    /// (docs/account-tokens.md#signing-keys).
    UnknownKey,
}

/// What a valid token must agree with besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub store_id: Uuid,
    pub realm_id: Uuid,
    pub now: Timestamp,
}

/// The signing keys: one active key signs, every listed key verifies tokens carrying its kid.
pub struct JwtKeys {
    active_kid: String,
    /// The first segment of every token the active key signs (`alg`, `kid`, `typ`), encoded once.
    active_header: String,
    active: Hmac<Sha256>,
    /// Keyed once: a verification clones the keyed state instead of redoing the key schedule,
    /// which is most of the HMAC work for a token this short.
    verifiers: HashMap<String, Hmac<Sha256>>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("active_kid", &self.active_kid)
            .field("kids", &self.verifiers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// `keys` lists (kid, secret); `active_kid` must be among them.
    pub fn new(keys: &[(String, Vec<u8>)], active_kid: &str) -> Option<Self> {
        let verifiers: HashMap<String, Hmac<Sha256>> = keys
            .iter()
            .map(|(kid, secret)| {
                Hmac::<Sha256>::new_from_slice(secret).map(|mac| (kid.clone(), mac))
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let active = verifiers.get(active_kid)?.clone();
        let header = serde_json::json!({"alg": "HS256", "kid": active_kid, "typ": "JWT"});
        Some(Self {
            active_kid: active_kid.to_owned(),
            active_header: URL_SAFE_NO_PAD.encode(header.to_string()),
            active,
            verifiers,
        })
    }

    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// `header.claims.signature`, each base64url without padding (RFC 7515 compact form).
    pub fn mint(&self, claims: &AccountClaims) -> Result<String, serde_json::Error> {
        let payload = serde_json::to_vec(claims)?;
        let mut token =
            String::with_capacity(self.active_header.len() + payload.len() * 4 / 3 + 48);
        token.push_str(&self.active_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self
            .active
            .clone()
            .chain_update(token.as_bytes())
            .finalize()
            .into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    pub fn verify(
        &self,
        token: &str,
        expected: &Expected,
    ) -> Result<AccountClaims, TokenRejection> {
        use TokenRejection::{Expired, Invalid};
        let (signing_input, signature) = token.rsplit_once('.').ok_or(Invalid)?;
        let (header, payload) = signing_input.split_once('.').ok_or(Invalid)?;
        if payload.contains('.') {
            return Err(Invalid);
        }
        let header: WireHeader = decode_segment(header).ok_or(Invalid)?;
        // Only HS256 is ever minted: `none`, other HMAC sizes and every asymmetric algorithm are
        // refused before any key is chosen.
        if header.alg != "HS256" || header.typ.as_deref() != Some("JWT") {
            return Err(Invalid);
        }
        let kid = header.kid.as_deref().ok_or(Invalid)?;
        let verifier = self.verifiers.get(kid).ok_or(TokenRejection::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Invalid)?;
        // `verify_slice` compares in constant time.
        verifier
            .clone()
            .chain_update(signing_input.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| Invalid)?;
        let wire: WireClaims = decode_segment(payload).ok_or(Invalid)?;
        let claims = check_claims(wire, expected).ok_or(Invalid)?;
        if expected.now.millis() >= claims.exp.saturating_mul(1000) {
            return Err(Expired);
        }
        Ok(claims)
    }
}

/// A base64url segment (no padding, no stray trailing bits) holding JSON of the expected shape.
fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn check_claims(wire: WireClaims, expected: &Expected) -> Option<AccountClaims> {
    let claims = AccountClaims {
        sub: Uuid::parse_str(&wire.sub).ok()?,
        scope: Uuid::parse_str(&wire.scope).ok()?,
        store_id: Uuid::parse_str(&wire.store_id).ok()?,
        realm_id: Uuid::parse_str(&wire.realm_id).ok()?,
        account_member_self_management: wire.account_member_self_management,
        ancestors: wire.ancestors,
        iat: wire.iat,
        exp: wire.exp,
        jti: Uuid::parse_str(&wire.jti).ok()?,
        auth_time: wire.auth_time,
    };
    let valid = claims.store_id == expected.store_id
        && claims.realm_id == expected.realm_id
        && SELF_MANAGEMENT_VALUES.contains(&claims.account_member_self_management.as_str())
        && claims.iat <= expected.now.seconds().saturating_add(IAT_SKEW_SECONDS)
        && claims
            .auth_time
            .is_none_or(|auth_time| auth_time <= claims.iat);
    valid.then_some(claims)
}

/// The `ancestors` claim: each id as its 16 bytes in standard base64 without padding, root first,
/// joined by commas; empty for a root account (docs/account-tokens.md#claims).
pub fn encode_ancestors(ancestors: &[Uuid]) -> String {
    ancestors
        .iter()
        .map(|id| STANDARD_NO_PAD.encode(id.as_bytes()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[("k1".to_owned(), vec![7u8; 32])], "k1").unwrap()
    }

    fn claims(now: Timestamp, expected: &Expected) -> AccountClaims {
        AccountClaims {
            sub: Uuid::new_v4(),
            scope: Uuid::new_v4(),
            store_id: expected.store_id,
            realm_id: expected.realm_id,
            account_member_self_management: "disabled".to_owned(),
            ancestors: String::new(),
            iat: now.seconds(),
            exp: now.seconds() + 60,
            jti: Uuid::new_v4(),
            auth_time: Some(now.seconds() - 5),
        }
    }

    fn expected(now: Timestamp) -> Expected {
        Expected {
            store_id: Uuid::new_v4(),
            realm_id: Uuid::new_v4(),
            now,
        }
    }

    #[test]
    fn the_spec_example_ancestors_encode_as_documented() {
        let root = Uuid::parse_str("6a1f3c52-9d0e-4b7a-8c21-5f4e3d2c1b0a").unwrap();
        let parent = Uuid::parse_str("0b8e4f6d-2c1a-4e9b-a7d3-9f8e7d6c5b4a").unwrap();
        assert_eq!(
            encode_ancestors(&[root, parent]),
            "ah88Up0OS3qMIV9OPSwbCg,C45PbSwaTpun05+OfWxbSg"
        );
        assert_eq!(encode_ancestors(&[]), "");
    }

    #[test]
    fn a_minted_token_verifies_until_exp_and_then_is_expired() {
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let claims = claims(now, &expected);
        let token = keys().mint(&claims).unwrap();
        assert_eq!(keys().verify(&token, &expected), Ok(claims));
        let at_exp = Expected {
            now: now.plus_seconds(60),
            ..expected
        };
        assert_eq!(keys().verify(&token, &at_exp), Err(TokenRejection::Expired));
    }

    #[test]
    fn a_token_from_another_store_or_with_an_unknown_kid_is_invalid() {
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let token = keys().mint(&claims(now, &expected)).unwrap();
        let other_store = Expected {
            store_id: Uuid::new_v4(),
            ..expected
        };
        assert_eq!(
            keys().verify(&token, &other_store),
            Err(TokenRejection::Invalid)
        );
        let other_keys = JwtKeys::new(&[("k2".to_owned(), vec![7u8; 32])], "k2").unwrap();
        assert_eq!(
            other_keys.verify(&token, &expected),
            Err(TokenRejection::UnknownKey)
        );
    }

    /// Downstream services verify with whatever JWT library they have: tokens must interoperate
    /// with an independent implementation both ways.
    #[test]
    fn tokens_interoperate_with_the_jsonwebtoken_crate() {
        use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let claims = claims(now, &expected);
        let ours = keys().mint(&claims).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &ours,
            &DecodingKey::from_secret(&[7u8; 32]),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some("k1"));
        assert_eq!(decoded.header.typ.as_deref(), Some("JWT"));
        assert_eq!(decoded.claims["sub"], claims.sub.to_string());
        assert_eq!(decoded.claims["exp"], claims.exp);

        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_owned());
        header.kid = Some("k1".to_owned());
        let theirs =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[7u8; 32])).unwrap();
        assert_eq!(keys().verify(&theirs, &expected), Ok(claims.clone()));
        // The same claims under HS384 with the same secret are refused.
        let hs384 = jsonwebtoken::encode(
            &Header {
                alg: Algorithm::HS384,
                ..header
            },
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(
            keys().verify(&hs384, &expected),
            Err(TokenRejection::Invalid)
        );
    }

    /// `auth_time` is optional for tokens minted before it existed, but when present it is an
    /// integer no later than `iat`.
    #[test]
    fn auth_time_is_absent_or_an_integer_no_later_than_iat() {
        use serde_json::json;
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let mut claims = claims(now, &expected);
        let token = keys().mint(&claims).unwrap();
        assert_eq!(keys().verify(&token, &expected), Ok(claims.clone()));

        claims.auth_time = None;
        let without = keys().mint(&claims).unwrap();
        let payload = without.split('.').nth(1).unwrap();
        let decoded: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(decoded.get("auth_time").is_none(), "{decoded}");
        assert_eq!(keys().verify(&without, &expected), Ok(claims.clone()));

        claims.auth_time = Some(claims.iat);
        let same_second = keys().mint(&claims).unwrap();
        assert!(keys().verify(&same_second, &expected).is_ok());

        claims.auth_time = Some(claims.iat + 1);
        let later = keys().mint(&claims).unwrap();
        assert_eq!(
            keys().verify(&later, &expected),
            Err(TokenRejection::Invalid)
        );

        // Signed by the right key, but with `auth_time` of the wrong JSON type.
        for wrong in [json!(null), json!("1719445520"), json!(1_719_445_520.5)] {
            let mut payload = serde_json::to_value(&claims).unwrap();
            payload["auth_time"] = wrong.clone();
            let body = URL_SAFE_NO_PAD.encode(payload.to_string());
            let input = format!("{}.{body}", keys().active_header);
            let signature = keys()
                .active
                .clone()
                .chain_update(input.as_bytes())
                .finalize()
                .into_bytes();
            let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
            assert_eq!(
                keys().verify(&forged, &expected),
                Err(TokenRejection::Invalid),
                "auth_time {wrong}"
            );
        }
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        let expected = expected(Timestamp::from_seconds(0));
        for token in [
            "",
            "a.b",
            "a.b.c",
            "....",
            "eyJhbGciOiJub25lIn0.e30.",
            "\u{0}.\u{0}.\u{0}",
        ] {
            assert_eq!(
                keys().verify(token, &expected),
                Err(TokenRejection::Invalid),
                "{token:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_text_is_refused_never_a_panic(token in ".{0,300}") {
                let expected = expected(Timestamp::from_seconds(1_719_445_524));
                prop_assert!(keys().verify(&token, &expected).is_err());
            }

            #[test]
            fn arbitrary_json_segments_are_refused(header in ".{0,80}", claims in ".{0,200}", signature in "[A-Za-z0-9_-]{0,60}") {
                let token = format!(
                    "{}.{}.{signature}",
                    URL_SAFE_NO_PAD.encode(header),
                    URL_SAFE_NO_PAD.encode(claims)
                );
                let expected = expected(Timestamp::from_seconds(1_719_445_524));
                prop_assert!(keys().verify(&token, &expected).is_err());
            }

            #[test]
            fn any_changed_byte_breaks_a_valid_token(position in 0usize..400, replacement in any::<u8>()) {
                let now = Timestamp::from_seconds(1_719_445_524);
                let expected = expected(now);
                let token = keys().mint(&claims(now, &expected)).unwrap();
                let mut bytes = token.clone().into_bytes();
                let index = position % bytes.len();
                prop_assume!(bytes[index] != replacement);
                bytes[index] = replacement;
                let tampered = String::from_utf8_lossy(&bytes).into_owned();
                prop_assume!(tampered != token);
                prop_assert!(keys().verify(&tampered, &expected).is_err());
            }
        }
    }
}
