//! Account management authentication tokens: JWTs with a `kid` (HS256 by default, EdDSA or ES256
//! when configured), minted per (member, account) and validated in the order
//! docs/account-tokens.md#validation-steps fixes (structure, header, signature, claims, expiry).
//! The liveness step needs the database and lives with the extractor.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::secret::sha256;
use super::signing_key::{JwtAlgorithm, KeyMaterial};
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

/// A key the ring holds: its `kid`, its material, and for a retired key the instant it stops
/// verifying (the longest lifetime a token it signed can have, plus a minute).
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub kid: String,
    pub material: KeyMaterial,
    pub verifies_until: Option<Timestamp>,
}

/// What signs new tokens.
enum Signer {
    /// Keyed once: a signature clones the keyed state instead of redoing the key schedule.
    Hmac(Hmac<Sha256>),
    Ed25519(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
}

/// What checks a signature: each key verifies only tokens of its own algorithm.
enum VerifyingKey {
    /// Keyed once: a verification clones the keyed state instead of redoing the key schedule,
    /// which is most of the HMAC work for a token this short.
    Hmac(Hmac<Sha256>),
    Ed25519(ed25519_dalek::VerifyingKey),
    Es256(p256::ecdsa::VerifyingKey),
}

impl VerifyingKey {
    fn algorithm(&self) -> JwtAlgorithm {
        match self {
            Self::Hmac(_) => JwtAlgorithm::Hs256,
            Self::Ed25519(_) => JwtAlgorithm::EdDsa,
            Self::Es256(_) => JwtAlgorithm::Es256,
        }
    }

    /// Whether `signature` signs `input` under this key; HMAC compares in constant time.
    fn accepts(&self, input: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(mac) => mac
                .clone()
                .chain_update(input)
                .verify_slice(signature)
                .is_ok(),
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(input, &signature).is_ok()),
            Self::Es256(key) => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(input, &signature).is_ok())
            }
        }
    }
}

struct Verifier {
    key: VerifyingKey,
    verifies_until: Option<Timestamp>,
}

impl Verifier {
    fn in_service(&self, now: Timestamp) -> bool {
        self.verifies_until.is_none_or(|until| now < until)
    }
}

/// How many tokens [`VerifiedSignatures`] remembers: about 1.5 MiB when full, a day of one
/// storefront's busiest sessions, and a bound a flood of distinct valid tokens cannot pass.
const VERIFIED_SIGNATURES: usize = 16_384;

/// Tokens whose signature a key pair already verified, by the SHA-256 of the whole token, with
/// their `exp`: an Ed25519 or P-256 check costs tens of microseconds, several times the rest of
/// a token-checked read, while a storefront sends the same token with every request. Only the
/// signature is remembered; claims, expiry and liveness are checked on every use. The cache
/// lives in the key set, so it is dropped whenever the keys are reloaded, and a retired key's
/// end is checked before it is consulted.
#[derive(Default)]
struct VerifiedSignatures(Mutex<HashMap<[u8; 32], i64>>);

impl VerifiedSignatures {
    fn contains(&self, digest: &[u8; 32], now: Timestamp) -> bool {
        let seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(digest)
            .is_some_and(|exp| now.millis() < exp.saturating_mul(1000))
    }

    fn insert(&self, digest: [u8; 32], exp: i64, now: Timestamp) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= VERIFIED_SIGNATURES {
            seen.retain(|_, exp| now.millis() < exp.saturating_mul(1000));
            if seen.len() >= VERIFIED_SIGNATURES {
                seen.clear();
            }
        }
        seen.insert(digest, exp);
    }
}

/// A public key for the JWK Set, with the instant it leaves it.
struct PublishedKey {
    jwk: serde_json::Value,
    verifies_until: Option<Timestamp>,
}

/// The signing keys: one active key signs, every listed key verifies tokens carrying its kid
/// and its algorithm.
pub struct JwtKeys {
    active_kid: String,
    /// The first segment of every token the active key signs (`alg`, `kid`, `typ`), encoded once.
    active_header: String,
    signer: Signer,
    verifiers: HashMap<String, Verifier>,
    /// The public keys, the active one first: what `/.well-known/jwks.json` serves.
    published: Vec<PublishedKey>,
    verified: VerifiedSignatures,
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
    /// HMAC keys only: `keys` lists (kid, secret); `active_kid` must be among them.
    pub fn new(keys: &[(String, Vec<u8>)], active_kid: &str) -> Option<Self> {
        let entries: Vec<KeyEntry> = keys
            .iter()
            .map(|(kid, secret)| KeyEntry {
                kid: kid.clone(),
                material: KeyMaterial::Hmac(secret.clone()),
                verifies_until: None,
            })
            .collect();
        Self::from_entries(&entries, active_kid)
    }

    /// Any keys; `active_kid` must be among them. Where two entries share a kid, the first wins.
    pub fn from_entries(entries: &[KeyEntry], active_kid: &str) -> Option<Self> {
        let mut verifiers = HashMap::with_capacity(entries.len());
        let mut published = Vec::new();
        let mut signer = None;
        for entry in entries {
            if verifiers.contains_key(&entry.kid) {
                continue;
            }
            let key = match &entry.material {
                KeyMaterial::Hmac(secret) => {
                    VerifyingKey::Hmac(Hmac::<Sha256>::new_from_slice(secret).ok()?)
                }
                KeyMaterial::Ed25519(key) => VerifyingKey::Ed25519(key.verifying_key()),
                KeyMaterial::Es256(key) => VerifyingKey::Es256(*key.verifying_key()),
            };
            if entry.kid == active_kid {
                signer = Some(match (&entry.material, &key) {
                    (_, VerifyingKey::Hmac(mac)) => Signer::Hmac(mac.clone()),
                    (KeyMaterial::Ed25519(key), _) => Signer::Ed25519(key.clone()),
                    (KeyMaterial::Es256(key), _) => Signer::Es256(key.clone()),
                    (KeyMaterial::Hmac(_), _) => return None,
                });
            }
            if let Some(mut jwk) = entry.material.public_jwk() {
                jwk.insert("kid".to_owned(), entry.kid.clone().into());
                jwk.insert("alg".to_owned(), entry.material.algorithm().as_str().into());
                jwk.insert("use".to_owned(), "sig".into());
                let key = PublishedKey {
                    jwk: serde_json::Value::Object(jwk),
                    verifies_until: entry.verifies_until,
                };
                if entry.kid == active_kid {
                    published.insert(0, key);
                } else {
                    published.push(key);
                }
            }
            verifiers.insert(
                entry.kid.clone(),
                Verifier {
                    key,
                    verifies_until: entry.verifies_until,
                },
            );
        }
        let signer = signer?;
        let algorithm = verifiers.get(active_kid)?.key.algorithm();
        let header =
            serde_json::json!({"alg": algorithm.as_str(), "kid": active_kid, "typ": "JWT"});
        Some(Self {
            active_kid: active_kid.to_owned(),
            active_header: URL_SAFE_NO_PAD.encode(header.to_string()),
            signer,
            verifiers,
            published,
            verified: VerifiedSignatures::default(),
        })
    }

    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// The algorithm new tokens are signed with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        match self.signer {
            Signer::Hmac(_) => JwtAlgorithm::Hs256,
            Signer::Ed25519(_) => JwtAlgorithm::EdDsa,
            Signer::Es256(_) => JwtAlgorithm::Es256,
        }
    }

    /// The public keys still verifying at `now` as an RFC 7517 JWK Set; `{"keys":[]}` when every
    /// key is a shared secret.
    pub fn jwks(&self, now: Timestamp) -> serde_json::Value {
        let keys: Vec<&serde_json::Value> = self
            .published
            .iter()
            .filter(|key| key.verifies_until.is_none_or(|until| now < until))
            .map(|key| &key.jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// `header.claims.signature`, each base64url without padding (RFC 7515 compact form).
    pub fn mint(&self, claims: &AccountClaims) -> Result<String, serde_json::Error> {
        let payload = serde_json::to_vec(claims)?;
        let mut token =
            String::with_capacity(self.active_header.len() + payload.len() * 4 / 3 + 96);
        token.push_str(&self.active_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let input = token.as_bytes();
        let signature = match &self.signer {
            Signer::Hmac(mac) => {
                let signature = mac.clone().chain_update(input).finalize().into_bytes();
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature, &mut token);
                return Ok(token);
            }
            Signer::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(input).to_bytes().to_vec()
            }
            Signer::Es256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
        };
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
        // `none`, other HMAC sizes and every algorithm accountd does not sign with are refused
        // before any key is chosen.
        let algorithm = JwtAlgorithm::parse(&header.alg).ok_or(Invalid)?;
        if header.typ.as_deref() != Some("JWT") {
            return Err(Invalid);
        }
        let kid = header.kid.as_deref().ok_or(Invalid)?;
        let verifier = self.verifiers.get(kid).ok_or(TokenRejection::UnknownKey)?;
        // The key decides the algorithm, never the token: an HS256 token whose HMAC was keyed
        // with a published public key names that key pair's kid, and is refused here.
        if verifier.key.algorithm() != algorithm || !verifier.in_service(expected.now) {
            return Err(Invalid);
        }
        // HMAC is cheaper than the digest the cache would need: only key pairs use it.
        let digest = (algorithm != JwtAlgorithm::Hs256).then(|| sha256(token.as_bytes()));
        let known = digest
            .as_ref()
            .is_some_and(|digest| self.verified.contains(digest, expected.now));
        if !known {
            let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Invalid)?;
            if !verifier.key.accepts(signing_input.as_bytes(), &signature) {
                return Err(Invalid);
            }
        }
        let wire: WireClaims = decode_segment(payload).ok_or(Invalid)?;
        let claims = check_claims(wire, expected).ok_or(Invalid)?;
        if expected.now.millis() >= claims.exp.saturating_mul(1000) {
            return Err(Expired);
        }
        if let (Some(digest), false) = (digest, known) {
            self.verified.insert(digest, claims.exp, expected.now);
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
            let signature = Hmac::<Sha256>::new_from_slice(&[7u8; 32])
                .unwrap()
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

    fn pair(algorithm: JwtAlgorithm) -> (KeyEntry, JwtKeys) {
        let material = KeyMaterial::generate(algorithm);
        let entry = KeyEntry {
            kid: material.new_kid(),
            material,
            verifies_until: None,
        };
        let hmac = KeyEntry {
            kid: "k1".to_owned(),
            material: KeyMaterial::Hmac(vec![7u8; 32]),
            verifies_until: None,
        };
        let keys = JwtKeys::from_entries(&[entry.clone(), hmac], &entry.kid).unwrap();
        (entry, keys)
    }

    /// An HS256 token whose HMAC key is the public key's published bytes (the classic
    /// algorithm-confusion attack) must never verify, nor a token whose header names another
    /// algorithm than its key's.
    #[test]
    fn asymmetric_tokens_verify_and_keys_never_change_algorithm() {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let claims = claims(now, &expected);
        for algorithm in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256] {
            let (entry, keys) = pair(algorithm);
            assert_eq!(keys.algorithm(), algorithm);
            let token = keys.mint(&claims).unwrap();
            let (header, _) = token.split_once('.').unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
            assert_eq!(header["alg"], algorithm.as_str());
            assert_eq!(header["kid"], entry.kid.as_str());
            assert_eq!(keys.verify(&token, &expected), Ok(claims.clone()));
            // The HMAC key of the same ring still verifies its own tokens.
            let old = JwtKeys::new(&[("k1".to_owned(), vec![7u8; 32])], "k1").unwrap();
            let hs256 = old.mint(&claims).unwrap();
            assert_eq!(keys.verify(&hs256, &expected), Ok(claims.clone()));

            let jwks = keys.jwks(now);
            let public = &jwks["keys"][0];
            let public_bytes = [
                public["x"].as_str().unwrap(),
                public["y"].as_str().unwrap_or(""),
            ]
            .concat()
            .into_bytes();
            for secret in [public_bytes, public.to_string().into_bytes()] {
                let mut header = Header::new(Algorithm::HS256);
                header.typ = Some("JWT".to_owned());
                header.kid = Some(entry.kid.clone());
                let forged =
                    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret))
                        .unwrap();
                assert_eq!(
                    keys.verify(&forged, &expected),
                    Err(TokenRejection::Invalid)
                );
            }
            // A signature of the key pair under a header claiming HS256 for the HMAC kid.
            let relabelled = token.replacen(
                token.split('.').next().unwrap(),
                &URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#),
                1,
            );
            assert_eq!(
                keys.verify(&relabelled, &expected),
                Err(TokenRejection::Invalid)
            );
        }
        // An EdDSA header on an ES256 key's token.
        let (_, keys) = pair(JwtAlgorithm::Es256);
        let token = keys.mint(&claims).unwrap();
        let (header, rest) = token.split_once('.').unwrap();
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(header).unwrap())
            .unwrap()
            .replace("ES256", "EdDSA");
        let swapped = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
        assert_eq!(
            keys.verify(&swapped, &expected),
            Err(TokenRejection::Invalid)
        );
    }

    /// Other libraries verify our EdDSA and ES256 tokens, and we verify theirs.
    #[test]
    fn asymmetric_tokens_interoperate_with_the_jsonwebtoken_crate() {
        use jsonwebtoken::jwk::Jwk;
        use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let claims = claims(now, &expected);
        for (algorithm, theirs) in [
            (JwtAlgorithm::EdDsa, Algorithm::EdDSA),
            (JwtAlgorithm::Es256, Algorithm::ES256),
        ] {
            let (entry, keys) = pair(algorithm);
            let jwk: Jwk = serde_json::from_value(keys.jwks(now)["keys"][0].clone()).unwrap();
            let mut validation = Validation::new(theirs);
            validation.validate_exp = false;
            let decoded = jsonwebtoken::decode::<serde_json::Value>(
                &keys.mint(&claims).unwrap(),
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &validation,
            )
            .unwrap();
            assert_eq!(decoded.claims["sub"], claims.sub.to_string());

            let der = entry.material.to_stored().unwrap();
            let encoding = match algorithm {
                JwtAlgorithm::EdDsa => EncodingKey::from_ed_der(&der),
                _ => EncodingKey::from_ec_der(&der),
            };
            let mut header = Header::new(theirs);
            header.typ = Some("JWT".to_owned());
            header.kid = Some(entry.kid.clone());
            let token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
            assert_eq!(keys.verify(&token, &expected), Ok(claims.clone()));
        }
    }

    /// The cache of verified signatures remembers the exact token only: a token it has seen
    /// still gets its claims and expiry checked, and any other token its signature check.
    #[test]
    fn remembered_signatures_skip_only_the_signature_check() {
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let claims = claims(now, &expected);
        let (_, keys) = pair(JwtAlgorithm::EdDsa);
        let token = keys.mint(&claims).unwrap();
        assert_eq!(keys.verify(&token, &expected), Ok(claims.clone()));
        assert!(keys.verified.contains(&sha256(token.as_bytes()), now));
        assert_eq!(keys.verify(&token, &expected), Ok(claims.clone()));
        let other_store = Expected {
            store_id: Uuid::new_v4(),
            ..expected
        };
        assert_eq!(
            keys.verify(&token, &other_store),
            Err(TokenRejection::Invalid)
        );
        let at_exp = Expected {
            now: now.plus_seconds(60),
            ..expected
        };
        assert_eq!(keys.verify(&token, &at_exp), Err(TokenRejection::Expired));
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            keys.verify(&tampered, &expected),
            Err(TokenRejection::Invalid)
        );
        // A token that fails is never remembered.
        assert!(!keys.verified.contains(&sha256(tampered.as_bytes()), now));
    }

    #[test]
    fn the_cache_of_verified_signatures_stays_bounded() {
        let cache = VerifiedSignatures::default();
        let now = Timestamp::from_seconds(1_000);
        for index in 0..VERIFIED_SIGNATURES + 10 {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(index as u64).to_le_bytes());
            cache.insert(digest, 2_000, now);
        }
        let held = cache.0.lock().unwrap().len();
        assert!(held <= VERIFIED_SIGNATURES, "{held}");
        cache.insert([9u8; 32], 1_000, now);
        assert!(
            !cache.contains(&[9u8; 32], now),
            "an expired entry counts for nothing"
        );
    }

    #[test]
    fn a_retired_key_verifies_and_is_published_until_its_end() {
        let now = Timestamp::from_seconds(1_719_445_524);
        let expected = expected(now);
        let claims = claims(now, &expected);
        let (mut old, old_keys) = pair(JwtAlgorithm::EdDsa);
        let token = old_keys.mint(&claims).unwrap();
        old.verifies_until = Some(now.plus_seconds(30));
        let (new, _) = pair(JwtAlgorithm::EdDsa);
        let keys = JwtKeys::from_entries(&[new.clone(), old.clone()], &new.kid).unwrap();
        assert_eq!(keys.verify(&token, &expected), Ok(claims.clone()));
        let kids = |at| -> Vec<String> {
            keys.jwks(at)["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(kids(now), [new.kid.clone(), old.kid.clone()]);
        let later = Expected {
            now: now.plus_seconds(30),
            ..expected
        };
        assert_eq!(keys.verify(&token, &later), Err(TokenRejection::Invalid));
        assert_eq!(kids(later.now), [new.kid]);
        let hmac_only = JwtKeys::new(&[("k1".to_owned(), vec![7u8; 32])], "k1").unwrap();
        assert_eq!(hmac_only.jwks(now), serde_json::json!({"keys": []}));
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
