//! The JWK Set as the verifier fetches it: lazily, kept while its `max-age` allows (within
//! bounds), again when a token names a new `kid` after `accountd keys rotate`, never more than once
//! per refetch interval however many unknown kids arrive, and never at the cost of the keys held.
//! Fetches are counted by a proxy in front of accountd.

use std::sync::atomic::Ordering;

use accountd::auth::signing_key::JwtAlgorithm;
use accountd_verify::{Algorithm, FetchError, VerifyError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use uuid::Uuid;

use crate::harness::{Accountd, Proxy, nothing_listening};

/// `token` with its header's `kid` replaced.
fn with_kid(token: &str, kid: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_is_fetched_at_first_use_and_kept_while_fresh() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    assert_eq!(
        proxy.jwks_fetches(),
        0,
        "nothing is fetched before it is needed"
    );
    for _ in 0..20 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(proxy.jwks_fetches(), 1);
    // accountd says `max-age=300`.
    accountd.advance(299);
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 1);
    accountd.advance(1);
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 2);
    assert_eq!(verifier.stats().jwks_fetches, 2);
    assert_eq!(verifier.stats().jwks_fetch_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_honoured_within_thirty_seconds_and_an_hour() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    // Each step: the Cache-Control of the next fetch, and how long the set it brings is used.
    let steps = [
        ("public, max-age=45", 45),
        ("no-store", 30),
        ("max-age=1", 30),
        ("max-age=86400", 3_600),
    ];
    let mut fetches = 0;
    for (cache_control, fresh_seconds) in steps {
        proxy.set_jwks_cache_control(cache_control);
        verifier.verify(&token).await.unwrap();
        fetches += 1;
        assert_eq!(proxy.jwks_fetches(), fetches, "{cache_control}");
        accountd.advance(fresh_seconds - 1);
        verifier.verify(&token).await.unwrap();
        assert_eq!(proxy.jwks_fetches(), fetches, "{cache_control}");
        accountd.advance(1);
    }
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), fetches + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_for_the_first_token_that_names_it() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let old = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    verifier.verify(&old).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 1);

    // `accountd keys rotate`: new tokens name the new key.
    let new_kid = accountd.rotate(JwtAlgorithm::EdDsa).await;
    let new = accountd.login(&shopper).await;
    assert_eq!(crate::harness::jwt_parts(&new).0["kid"], new_kid.as_str());
    // Within the refetch interval of the last fetch the new kid is not asked about.
    assert_eq!(verifier.verify(&new).await, Err(VerifyError::UnknownKey));
    assert_eq!(proxy.jwks_fetches(), 1);
    accountd.advance(10);
    // A burst of requests with the new token shares one fetch, and every one of them verifies.
    proxy.state.jwks_delay_millis.store(300, Ordering::SeqCst);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (verifier, new) = (verifier.clone(), new.clone());
        tasks.spawn(async move { verifier.verify(&new).await });
    }
    for verdict in tasks.join_all().await {
        assert_eq!(verdict.unwrap().account_id, shopper.account_id);
    }
    assert_eq!(proxy.jwks_fetches(), 2);
    // The retired key is still published, and its tokens still verify.
    verifier.verify(&old).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_are_fetched_for_at_a_bounded_rate() {
    const BURST: usize = 40;
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    // Each fetch takes a while, so the burst's misses arrive while it is in flight.
    proxy.state.jwks_delay_millis.store(300, Ordering::SeqCst);
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    let burst = || {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..BURST {
            let verifier = verifier.clone();
            let forged = with_kid(&token, &Uuid::new_v4().to_string());
            tasks.spawn(async move { verifier.verify(&forged).await });
        }
        async move {
            let verdicts = tasks.join_all().await;
            assert_eq!(verdicts.len(), BURST);
            for verdict in verdicts {
                assert_eq!(verdict, Err(VerifyError::UnknownKey));
            }
        }
    };
    // The first burst shares one fetch.
    burst().await;
    assert_eq!(proxy.jwks_fetches(), 1);
    // Within the interval, none.
    burst().await;
    accountd.advance(9);
    burst().await;
    assert_eq!(proxy.jwks_fetches(), 1);
    // Once it has passed, one for the whole burst.
    accountd.advance(1);
    burst().await;
    assert_eq!(proxy.jwks_fetches(), 2);
    assert_eq!(verifier.stats().jwks_fetches, 2);
    // Genuine tokens are untouched by all this.
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_keeps_the_keys_already_held() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    verifier.verify(&token).await.unwrap();

    proxy.state.jwks_failing.store(true, Ordering::SeqCst);
    accountd.advance(300);
    // The set is stale and the refetch fails: the key held still verifies.
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 2);
    assert_eq!(verifier.stats().jwks_fetch_failures, 1);
    // Within the interval the failure is not retried.
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 2);

    // A key the verifier has never seen cannot be judged while accountd cannot be reached:
    // unavailable, not invalid.
    accountd.rotate(JwtAlgorithm::EdDsa).await;
    let new = accountd.login(&shopper).await;
    accountd.advance(10);
    let verdict = verifier.verify(&new).await;
    assert_eq!(
        verdict,
        Err(VerifyError::KeysUnavailable(FetchError::Status(503)))
    );
    assert!(verdict.unwrap_err().is_unavailable());
    assert_eq!(proxy.jwks_fetches(), 3);

    proxy.state.jwks_failing.store(false, Ordering::SeqCst);
    accountd.advance(10);
    verifier.verify(&new).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 4);
    assert_eq!(verifier.stats().jwks_fetch_failures, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_can_be_fetched_before_traffic_and_an_unreachable_set_is_reported() {
    let accountd = Accountd::start(JwtAlgorithm::Es256).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;

    let verifier = accountd.offline_verifier(Algorithm::Es256, &proxy.base);
    verifier.refresh_keys().await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 1);
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 1);

    let nowhere = nothing_listening().await;
    let stranded = accountd.offline_verifier(Algorithm::Es256, &nowhere);
    assert!(matches!(
        stranded.refresh_keys().await,
        Err(VerifyError::KeysUnavailable(FetchError::Transport(_)))
    ));
    accountd.advance(10);
    assert!(matches!(
        stranded.verify(&token).await,
        Err(VerifyError::KeysUnavailable(FetchError::Transport(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_cancelled_midway_does_not_hold_back_the_next() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &proxy.base);
    proxy.state.jwks_delay_millis.store(500, Ordering::SeqCst);
    // The first request's client goes away while its fetch is in flight.
    let first = tokio::spawn({
        let (verifier, token) = (verifier.clone(), token.clone());
        async move { verifier.verify(&token).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(proxy.jwks_fetches(), 1);
    // The next request, at the same instant, fetches again instead of finding no keys.
    proxy.state.jwks_delay_millis.store(0, Ordering::SeqCst);
    verifier.verify(&token).await.unwrap();
    assert_eq!(proxy.jwks_fetches(), 2);
}
