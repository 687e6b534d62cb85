//! Micro-benchmarks of the account token (docs/account-tokens.md): minting one (a login mints one
//! per membership) and the offline validation steps (docs/account-tokens.md#validation-steps) that
//! every token-checked request runs before the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use accountd::auth::jwt::{AccountClaims, Expected, JwtKeys, encode_ancestors};
use accountd::time::Timestamp;
use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;

fn keys() -> JwtKeys {
    let secret = b"0123456789abcdef0123456789abcdef-bench".to_vec();
    JwtKeys::new(&[("bench".to_owned(), secret)], "bench").expect("the active key is listed")
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
    let keys = keys();
    let now = Timestamp::from_seconds(1_760_000_000);
    let claims = claims(now);
    let expected = Expected {
        store_id: claims.store_id,
        realm_id: claims.realm_id,
        now,
    };
    let token = keys.mint(&claims).unwrap();
    assert_eq!(keys.verify(&token, &expected).unwrap(), claims);

    c.bench_function("jwt/mint", |b| {
        b.iter(|| keys.mint(black_box(&claims)).unwrap());
    });
    c.bench_function("jwt/verify", |b| {
        b.iter(|| keys.verify(black_box(&token), &expected).unwrap());
    });
    let mut forged = token.clone();
    forged.pop();
    forged.push('A');
    c.bench_function("jwt/verify_bad_signature", |b| {
        b.iter(|| keys.verify(black_box(&forged), &expected).unwrap_err());
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
