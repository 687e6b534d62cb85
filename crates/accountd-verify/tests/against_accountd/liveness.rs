//! Liveness through accountd's introspection: a token whose membership was deleted through the
//! admin API is refused by a verifier that asks, and accepted by one that does not; answers are
//! reused for the configured time only. Requests are counted by a proxy in front of accountd.

use std::time::Duration;

use accountd::auth::signing_key::JwtAlgorithm;
use accountd_verify::{
    Algorithm, FetchError, Introspection, IntrospectionCredentials, VerifyError,
};

use crate::harness::{Accountd, CLIENT_ID, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_when_liveness_is_on_and_accepted_offline() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let shopper = accountd.shopper("Café Ünïcode", None).await;
    let token = accountd.login(&shopper).await;
    let offline = accountd.offline_verifier(Algorithm::EdDsa, &accountd.base);
    let live = accountd
        .verifier()
        .jwks(
            format!("{}/.well-known/jwks.json", accountd.base),
            [Algorithm::EdDsa],
        )
        .introspection(
            accountd
                .introspection(&accountd.base)
                .cache_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();

    let identity = live.verify(&token).await.unwrap();
    assert_eq!(identity.account_id, shopper.account_id);
    assert_eq!(identity.account_member_id, shopper.member_id);
    assert_eq!(identity.account_name.as_deref(), Some("Café Ünïcode"));
    assert!(identity.confirmed_live);
    assert!(offline.verify(&token).await.is_ok());

    accountd.delete_membership(&shopper).await;
    assert_eq!(live.verify(&token).await, Err(VerifyError::Inactive));
    let offline_identity = offline.verify(&token).await.unwrap();
    assert!(!offline_identity.confirmed_live);
    // The same verifier skips liveness when asked to.
    assert!(live.verify_offline(&token).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_reused_for_the_configured_time_only() {
    let accountd = Accountd::start(JwtAlgorithm::Hs256).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let live = accountd
        .verifier()
        .hs256_keys([accountd_verify::Hs256Key::from_jwt_secret(
            crate::harness::JWT_SECRET,
        )])
        .introspection(
            accountd
                .introspection(&proxy.base)
                .cache_ttl(Duration::from_secs(10)),
        )
        .build()
        .unwrap();

    live.verify(&token).await.unwrap();
    live.verify(&token).await.unwrap();
    assert_eq!(proxy.introspections(), 1);
    accountd.delete_membership(&shopper).await;
    // The active answer is reused until ten seconds after it was asked...
    accountd.advance(9);
    assert!(live.verify(&token).await.unwrap().confirmed_live);
    assert_eq!(proxy.introspections(), 1);
    // ...and not a moment longer.
    accountd.advance(1);
    assert_eq!(live.verify(&token).await, Err(VerifyError::Inactive));
    assert_eq!(proxy.introspections(), 2);
    // The inactive answer is reused in its turn.
    assert_eq!(live.verify(&token).await, Err(VerifyError::Inactive));
    assert_eq!(proxy.introspections(), 2);
    let stats = live.stats();
    assert_eq!(
        (stats.introspections, stats.introspection_cache_hits),
        (2, 3)
    );

    // Offline failures never reach accountd.
    assert_eq!(live.verify("a.b.c").await, Err(VerifyError::Malformed));
    accountd.advance(86_400);
    assert_eq!(live.verify(&token).await, Err(VerifyError::Expired));
    assert_eq!(proxy.introspections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cache_every_verification_asks() {
    let accountd = Accountd::start(JwtAlgorithm::Es256).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let live = accountd
        .verifier()
        .jwks(
            format!("{}/.well-known/jwks.json", proxy.base),
            [Algorithm::Es256],
        )
        .introspection(
            accountd
                .introspection(&proxy.base)
                .cache_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        live.verify(&token).await.unwrap();
    }
    assert_eq!(proxy.introspections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_also_authenticates_and_wrong_credentials_are_unavailable() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let jwks = format!("{}/.well-known/jwks.json", accountd.base);
    let introspect = format!("{}/oauth/introspect", accountd.base);
    let with = |credentials| {
        accountd
            .verifier()
            .jwks(jwks.clone(), [Algorithm::EdDsa])
            .introspection(Introspection::new(introspect.clone(), credentials))
            .build()
            .unwrap()
    };
    let implicit = accountd.implicit_token().await;
    let bearer = with(IntrospectionCredentials::BearerToken(implicit));
    assert_eq!(
        bearer.verify(&token).await.unwrap().account_name.as_deref(),
        Some("Acme")
    );

    let wrong = with(IntrospectionCredentials::ApplicationKey {
        client_id: CLIENT_ID.to_owned(),
        client_secret: "not-the-secret".to_owned(),
    });
    let verdict = wrong.verify(&token).await;
    assert_eq!(
        verdict,
        Err(VerifyError::IntrospectionUnavailable(FetchError::Status(
            401
        )))
    );
    assert!(verdict.unwrap_err().is_unavailable());
}
