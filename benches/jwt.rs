//! Micro-benchmarks of the account token (docs/account-tokens.md): minting one (a login mints one
//! per membership) and the offline validation steps (docs/account-tokens.md#validation-steps) that
//! every token-checked request runs before the database, for each signing algorithm: HS256, EdDSA
//! and ES256. `verify` checks a token seen before (its signature is cached), `verify_first_use`
//! a token seen for the first time (the full signature verification). The `jsonwebtoken/…` entries sign and verify the same token through that crate's
//! per-call API, which parses the key on every call, for comparison with the prepared keys
//! accountd holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use accountd::auth::jwt::{AccountClaims, Expected, JwtKeys, KeyEntry, encode_ancestors};
use accountd::auth::signing_key::{JwtAlgorithm, KeyMaterial};
use accountd::time::Timestamp;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use uuid::Uuid;

fn keys(material: &KeyMaterial) -> JwtKeys {
    let entry = KeyEntry {
        kid: "bench".to_owned(),
        material: material.clone(),
        verifies_until: None,
    };
    JwtKeys::from_entries(&[entry], "bench").expect("the active key is listed")
}

fn material(algorithm: JwtAlgorithm) -> KeyMaterial {
    match algorithm {
        JwtAlgorithm::Hs256 => {
            KeyMaterial::Hmac(b"0123456789abcdef0123456789abcdef-bench".to_vec())
        }
        other => KeyMaterial::generate(other),
    }
}

fn claims(now: Timestamp) -> AccountClaims {
    AccountClaims {
        sub: Uuid::new_v4(),
        scope: Uuid::new_v4(),
        store_id: Uuid::new_v4(),
        realm_id: Uuid::new_v4(),
        account_member_self_management: "disabled".to_owned(),
        // A child account two levels down: a realistic claim size.
        ancestors: encode_ancestors(&[Uuid::new_v4(), Uuid::new_v4()]),
        iat: now.seconds(),
        exp: now.seconds() + 86_400,
        jti: Uuid::new_v4(),
        auth_time: Some(now.seconds()),
    }
}

fn jwt(c: &mut Criterion) {
    let now = Timestamp::from_seconds(1_760_000_000);
    let claims = claims(now);
    let expected = Expected {
        store_id: claims.store_id,
        realm_id: claims.realm_id,
        now,
    };
    for algorithm in [
        JwtAlgorithm::Hs256,
        JwtAlgorithm::EdDsa,
        JwtAlgorithm::Es256,
    ] {
        let name = algorithm.as_str().to_ascii_lowercase();
        let material = material(algorithm);
        let keys = keys(&material);
        let token = keys.mint(&claims).unwrap();
        assert_eq!(keys.verify(&token, &expected).unwrap(), claims);

        c.bench_function(&format!("jwt/{name}/mint"), |b| {
            b.iter(|| keys.mint(black_box(&claims)).unwrap());
        });
        c.bench_function(&format!("jwt/{name}/verify"), |b| {
            b.iter(|| keys.verify(black_box(&token), &expected).unwrap());
        });
        c.bench_function(&format!("jwt/{name}/verify_first_use"), |b| {
            b.iter_batched(
                || {
                    let fresh = AccountClaims {
                        jti: Uuid::new_v4(),
                        ..claims.clone()
                    };
                    keys.mint(&fresh).unwrap()
                },
                |fresh| keys.verify(black_box(&fresh), &expected).unwrap(),
                BatchSize::SmallInput,
            );
        });
        // One character in the middle of the signature's second half: a well-formed signature
        // that the full verification must reject (a changed last character can make an Ed25519
        // signature non-canonical, which is refused before any curve arithmetic).
        let mut forged = token.clone().into_bytes();
        let at = forged.len() - 20;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        c.bench_function(&format!("jwt/{name}/verify_bad_signature"), |b| {
            b.iter(|| keys.verify(black_box(&forged), &expected).unwrap_err());
        });
        if algorithm.is_asymmetric() {
            jsonwebtoken_per_call(c, &name, &material, &token);
        }
    }
}

/// The same signature and verification through `jsonwebtoken::crypto`, which takes the key as
/// PKCS#8 DER (signing) or raw public key bytes (verifying) and parses it on every call.
fn jsonwebtoken_per_call(c: &mut Criterion, name: &str, material: &KeyMaterial, token: &str) {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    let der = material.to_stored().unwrap();
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::Value::Object(material.public_jwk().unwrap())).unwrap();
    let decoding = DecodingKey::from_jwk(&jwk).unwrap();
    let (algorithm, encoding) = match material {
        KeyMaterial::Ed25519(_) => (Algorithm::EdDSA, EncodingKey::from_ed_der(&der)),
        _ => (Algorithm::ES256, EncodingKey::from_ec_der(&der)),
    };
    let (input, signature) = token.rsplit_once('.').unwrap();
    assert!(
        jsonwebtoken::crypto::verify(signature, input.as_bytes(), &decoding, algorithm).unwrap()
    );
    c.bench_function(&format!("jsonwebtoken/{name}/sign"), |b| {
        b.iter(|| {
            jsonwebtoken::crypto::sign(black_box(input.as_bytes()), &encoding, algorithm).unwrap()
        });
    });
    c.bench_function(&format!("jsonwebtoken/{name}/verify_signature"), |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                signature,
                black_box(input.as_bytes()),
                &decoding,
                algorithm,
            )
            .unwrap()
        });
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
