//! Offline verification of tokens accountd minted: each algorithm, expiry, tampering, another
//! deployment's tokens, and every form of algorithm confusion.

use accountd::auth::signing_key::JwtAlgorithm;
use accountd_verify::{Algorithm, Hs256Key, VerifyError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{
    Accountd, JWT_SECRET, Proxy, TOKEN_LIFETIME_SECONDS, assemble, hmac, jwt_parts,
};

fn seconds(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

async fn a_token_of_the_algorithm_verifies_with_its_identity(
    server: JwtAlgorithm,
    ours: Algorithm,
) {
    let accountd = Accountd::start(server).await;
    let admin = accountd.admin_token().await;
    let root = accountd.create_account(&admin, "Acme Holdings", None).await;
    let shopper = accountd.shopper("Acme Trading", Some(root)).await;
    let token = accountd.login(&shopper).await;
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["alg"], ours.as_str());

    let verifier = accountd.offline_verifier(ours, &accountd.base);
    let identity = verifier.verify(&token).await.expect("a valid token");
    assert_eq!(identity.account_id, shopper.account_id);
    assert_eq!(identity.account_member_id, shopper.member_id);
    assert_eq!(identity.store_id, accountd.store_id());
    assert_eq!(identity.jti.to_string(), claims["jti"].as_str().unwrap());
    assert_eq!(seconds(identity.expires), claims["exp"].as_i64().unwrap());
    assert_eq!(seconds(identity.issued_at), claims["iat"].as_i64().unwrap());
    assert_eq!(
        identity.auth_time.map(seconds),
        claims["auth_time"].as_i64()
    );
    assert_eq!(identity.ancestors, [root]);
    // Only accountd knows the account's name, and only introspection asks it.
    assert_eq!(identity.account_name, None);
    assert!(!identity.confirmed_live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eddsa_token_verifies_against_the_jwk_set() {
    a_token_of_the_algorithm_verifies_with_its_identity(JwtAlgorithm::EdDsa, Algorithm::EdDsa)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_es256_token_verifies_against_the_jwk_set() {
    a_token_of_the_algorithm_verifies_with_its_identity(JwtAlgorithm::Es256, Algorithm::Es256)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hs256_token_verifies_with_the_shared_secret() {
    a_token_of_the_algorithm_verifies_with_its_identity(JwtAlgorithm::Hs256, Algorithm::Hs256)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_refused_as_expired_from_its_exp_on() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &accountd.base);
    let hs256 = accountd.offline_verifier(Algorithm::Hs256, &accountd.base);
    let old = {
        // An HS256 token of the shared secret, as accountd minted them before the move.
        let (_, claims) = jwt_parts(&token);
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": Hs256Key::from_jwt_secret(JWT_SECRET).kid()});
        assemble(&header, &claims, hmac(JWT_SECRET.as_bytes()))
    };
    assert!(verifier.verify(&token).await.is_ok());
    assert!(hs256.verify(&old).await.is_ok());
    accountd.advance(TOKEN_LIFETIME_SECONDS - 1);
    assert!(verifier.verify(&token).await.is_ok());
    accountd.advance(1);
    assert_eq!(verifier.verify(&token).await, Err(VerifyError::Expired));
    assert_eq!(hs256.verify(&old).await, Err(VerifyError::Expired));
    // accountd agrees.
    let (status, body) = accountd.forward_auth(Some(&token)).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["detail"],
        "account management authentication token has expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_token_is_refused() {
    for (server, ours) in [
        (JwtAlgorithm::EdDsa, Algorithm::EdDsa),
        (JwtAlgorithm::Hs256, Algorithm::Hs256),
    ] {
        let accountd = Accountd::start(server).await;
        let shopper = accountd.shopper("Acme", None).await;
        let other = accountd.shopper("Other", None).await;
        let token = accountd.login(&shopper).await;
        let verifier = accountd.offline_verifier(ours, &accountd.base);
        assert!(verifier.verify(&token).await.is_ok());

        // One character inside the signature changed (the last one also holds padding bits,
        // which strict base64url refuses on their own).
        let mut tampered = token.clone().into_bytes();
        let inside = tampered.len() - 10;
        tampered[inside] = if tampered[inside] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            verifier.verify(&tampered).await,
            Err(VerifyError::BadSignature)
        );
        let mut padded = token.clone();
        let last = padded.pop().unwrap();
        padded.push(if last == 'B' { 'C' } else { 'B' });
        assert!(verifier.verify(&padded).await.is_err());

        // The claims moved to another account under the original signature.
        let (header_segment, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let (_, mut claims) = jwt_parts(&token);
        claims["scope"] = json!(other.account_id);
        let moved = format!(
            "{header_segment}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert_eq!(
            verifier.verify(&moved).await,
            Err(VerifyError::BadSignature)
        );

        // The signature of another token.
        let second = accountd.login(&other).await;
        let (_, second_signature) = second.rsplit_once('.').unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(
            verifier
                .verify(&format!("{input}.{second_signature}"))
                .await,
            Err(VerifyError::BadSignature)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_another_deployment_are_refused() {
    let accountd = Accountd::start(JwtAlgorithm::Es256).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let jwks = format!("{}/.well-known/jwks.json", accountd.base);
    for (store_id, realm_id) in [
        (Uuid::new_v4(), accountd.realm_id()),
        (accountd.store_id(), Uuid::new_v4()),
    ] {
        let verifier = accountd_verify::Verifier::builder(store_id, realm_id)
            .clock(accountd.clock())
            .jwks(jwks.clone(), [Algorithm::Es256])
            .build()
            .unwrap();
        assert_eq!(
            verifier.verify(&token).await,
            Err(VerifyError::InvalidClaims)
        );
    }
}

/// The public key's published bytes, as an attacker would use them for an HMAC key: the raw
/// `x` (and `y`), their base64url text, and the JWK itself.
fn public_key_secrets(jwk: &Value) -> Vec<Vec<u8>> {
    let text = |name: &str| jwk[name].as_str().unwrap_or("").to_owned();
    let raw = |name: &str| URL_SAFE_NO_PAD.decode(text(name)).unwrap_or_default();
    vec![
        [raw("x"), raw("y")].concat(),
        format!("{}{}", text("x"), text("y")).into_bytes(),
        jwk.to_string().into_bytes(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_picks_its_own_algorithm() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let (header, claims) = jwt_parts(&token);
    let eddsa_kid = header["kid"].as_str().unwrap().to_owned();
    let jwks_url = format!("{}/.well-known/jwks.json", proxy.base);
    let eddsa_only = accountd
        .verifier()
        .jwks(jwks_url.clone(), [Algorithm::EdDsa])
        .build()
        .unwrap();
    // Also holding the real shared secret: HS256 is accepted, but only for the HMAC key's kid.
    let with_secret = accountd
        .verifier()
        .jwks(jwks_url.clone(), [Algorithm::EdDsa, Algorithm::Es256])
        .hs256_keys([Hs256Key::from_jwt_secret(JWT_SECRET)])
        .build()
        .unwrap();
    let hs256_only = accountd.offline_verifier(Algorithm::Hs256, &proxy.base);
    assert!(eddsa_only.verify(&token).await.is_ok());
    assert!(with_secret.verify(&token).await.is_ok());

    // HS256 keyed with the published public key, naming the key pair's kid.
    let set: Value = reqwest::get(format!("{}/.well-known/jwks.json", accountd.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = set["keys"][0].clone();
    assert_eq!(jwk["kid"], eddsa_kid.as_str());
    let hs256_header = json!({"alg": "HS256", "typ": "JWT", "kid": eddsa_kid});
    for secret in public_key_secrets(&jwk) {
        let forged = assemble(&hs256_header, &claims, hmac(&secret));
        assert_eq!(
            eddsa_only.verify(&forged).await,
            Err(VerifyError::AlgorithmNotAccepted)
        );
        assert_eq!(
            with_secret.verify(&forged).await,
            Err(VerifyError::AlgorithmMismatch)
        );
        assert_eq!(
            hs256_only.verify(&forged).await,
            Err(VerifyError::UnknownKey)
        );
    }

    // A genuine HS256 signature of the shared secret is still refused where HS256 is not named.
    let secret_kid = Hs256Key::from_jwt_secret(JWT_SECRET).kid().to_owned();
    let genuine_hs256 = assemble(
        &json!({"alg": "HS256", "typ": "JWT", "kid": secret_kid}),
        &claims,
        hmac(JWT_SECRET.as_bytes()),
    );
    assert!(with_secret.verify(&genuine_hs256).await.is_ok());
    assert_eq!(
        eddsa_only.verify(&genuine_hs256).await,
        Err(VerifyError::AlgorithmNotAccepted)
    );
    // The key pair's signature relabelled as HS256 for the HMAC key's kid.
    let (_, rest) = token.split_once('.').unwrap();
    let relabelled_header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "HS256", "typ": "JWT", "kid": secret_kid}).to_string());
    assert_eq!(
        with_secret
            .verify(&format!("{relabelled_header}.{rest}"))
            .await,
        Err(VerifyError::BadSignature)
    );

    // `none`, with or without a signature.
    for alg in ["none", "None", "NONE"] {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": eddsa_kid}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.{}", token.rsplit_once('.').unwrap().1),
        ] {
            for verifier in [&eddsa_only, &with_secret, &hs256_only] {
                assert!(verifier.verify(&token).await.is_err(), "{alg}");
            }
        }
    }

    // The key pair's token handed to a verifier that names HS256 only.
    assert_eq!(
        hs256_only.verify(&token).await,
        Err(VerifyError::AlgorithmNotAccepted)
    );

    // After a move to ES256 the set holds keys of both types: a kid names a key of another type.
    let es256_kid = accountd.rotate(JwtAlgorithm::Es256).await;
    let es256_token = accountd.login(&shopper).await;
    assert_eq!(jwt_parts(&es256_token).0["kid"], es256_kid.as_str());
    accountd.advance(60);
    assert!(with_secret.verify(&es256_token).await.is_ok());
    assert!(with_secret.verify(&token).await.is_ok());
    // A verifier that names EdDSA only refuses ES256 however genuine.
    assert_eq!(
        eddsa_only.verify(&es256_token).await,
        Err(VerifyError::AlgorithmNotAccepted)
    );
    let relabel = |token: &str, header: Value| {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    };
    // The EdDSA token claiming ES256 under its own kid, and under the ES256 key's kid.
    assert_eq!(
        with_secret
            .verify(&relabel(
                &token,
                json!({"alg": "ES256", "typ": "JWT", "kid": eddsa_kid})
            ))
            .await,
        Err(VerifyError::AlgorithmMismatch)
    );
    assert_eq!(
        with_secret
            .verify(&relabel(
                &token,
                json!({"alg": "ES256", "typ": "JWT", "kid": es256_kid})
            ))
            .await,
        Err(VerifyError::BadSignature)
    );
    // The ES256 token claiming EdDSA under the EdDSA key's kid and its own.
    assert_eq!(
        with_secret
            .verify(&relabel(
                &es256_token,
                json!({"alg": "EdDSA", "typ": "JWT", "kid": es256_kid})
            ))
            .await,
        Err(VerifyError::AlgorithmMismatch)
    );
    assert_eq!(
        with_secret
            .verify(&relabel(
                &es256_token,
                json!({"alg": "EdDSA", "typ": "JWT", "kid": eddsa_kid})
            ))
            .await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_refused_without_asking_accountd() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    let payload = URL_SAFE_NO_PAD.encode(b"{}");
    for garbage in [
        String::new(),
        " ".to_owned(),
        "a.b.c".to_owned(),
        "....".to_owned(),
        "\u{0}.\u{0}.\u{0}".to_owned(),
        format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        ),
        format!(
            "{}.{payload}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#)
        ),
        format!(
            "{}.{payload}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#)
        ),
        "x".repeat(100_000),
    ] {
        let verdict = verifier.verify(&garbage).await;
        assert!(
            matches!(
                verdict,
                Err(VerifyError::Malformed | VerifyError::AlgorithmNotAccepted)
            ),
            "{verdict:?}"
        );
    }
    assert_eq!(proxy.jwks_fetches(), 0);
    assert_eq!(verifier.stats().jwks_fetches, 0);
}
