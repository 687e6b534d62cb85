//! The extractor and the layer in a real axum router served over HTTP on loopback: accepted
//! tokens reach the handler with their identity, refused ones are answered as accountd answers
//! them, before the handler (or the layer's inner service) runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use accountd::auth::signing_key::JwtAlgorithm;
use accountd_verify::{
    ACCOUNT_TOKEN_HEADER, AccountIdentity, AccountTokenLayer, Algorithm, VerifiedAccount, Verifier,
};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::harness::{Accountd, Proxy, nothing_listening, serve};

fn describe(identity: &AccountIdentity) -> Value {
    json!({
        "account_id": identity.account_id,
        "account_member_id": identity.account_member_id,
        "account_name": identity.account_name,
    })
}

/// GET `url` with the given account token header values; status and JSON body.
async fn get_with(url: &str, tokens: &[&str]) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    for token in tokens {
        request = request.header(ACCOUNT_TOKEN_HEADER, *token);
    }
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn envelope(status: u16, title: &str, detail: &str) -> Value {
    json!({"errors": [{"status": status.to_string(), "title": title, "detail": detail}]})
}

const INVALID: &str = "account management authentication token is invalid";
const EXPIRED: &str = "account management authentication token has expired";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extractor_answers_as_accountd_answers() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::EdDsa, &accountd.base);
    let router =
        Router::new()
            .route(
                "/whoami",
                get(|VerifiedAccount(identity): VerifiedAccount| async move {
                    Json(describe(&identity))
                }),
            )
            .with_state(verifier);
    let url = format!("{}/whoami", serve(router).await);

    let (status, body) = get_with(&url, &[&token]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "account_id": shopper.account_id,
            "account_member_id": shopper.member_id,
            "account_name": null,
        })
    );
    // Surrounding spaces are not part of the token.
    assert_eq!(get_with(&url, &[&format!("  {token} ")]).await.0, 200);

    // Refusals in accountd's envelope and words, the same as its own forward-auth endpoint's.
    let invalid = envelope(401, "Unauthorized", INVALID);
    for (tokens, accountd_token) in [
        (vec![], None),
        (vec![""], Some("")),
        (vec!["a.b.c"], Some("a.b.c")),
        (
            vec![&token[..token.len() - 2]],
            Some(&token[..token.len() - 2]),
        ),
        (vec![token.as_str(), token.as_str()], None),
    ] {
        let answer = get_with(&url, &tokens).await;
        assert_eq!(answer, (401, invalid.clone()), "{tokens:?}");
        if let Some(accountd_token) = accountd_token {
            assert_eq!(accountd.forward_auth(Some(accountd_token)).await, answer);
        }
    }
    assert_eq!(accountd.forward_auth(None).await, (401, invalid));

    accountd.advance(86_400);
    let expired = get_with(&url, &[&token]).await;
    assert_eq!(expired, (401, envelope(401, "Unauthorized", EXPIRED)));
    assert_eq!(accountd.forward_auth(Some(&token)).await, expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_refuses_before_the_inner_service_runs() {
    let accountd = Accountd::start(JwtAlgorithm::Es256).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let verifier = accountd.offline_verifier(Algorithm::Es256, &accountd.base);
    let served = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&served);
    // No state: the handler reads what the layer put in the extensions.
    let router = Router::new()
        .route(
            "/orders",
            get(move |Extension(identity): Extension<AccountIdentity>| {
                let counted = Arc::clone(&counted);
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Json(describe(&identity))
                }
            }),
        )
        .route_layer(AccountTokenLayer::new(verifier))
        .route("/health", get(|| async { "ok" }));
    let base = serve(router).await;
    let url = format!("{base}/orders");

    for tokens in [vec![], vec!["garbage"], vec![token.as_str(), "x"]] {
        let answer = get_with(&url, &tokens).await;
        assert_eq!(answer, (401, envelope(401, "Unauthorized", INVALID)));
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "refused before the handler"
    );

    let (status, body) = get_with(&url, &[&token]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account_id"], json!(shopper.account_id));
    assert_eq!(served.load(Ordering::SeqCst), 1);
    // Routes outside the layer are not guarded.
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_layer_the_extractor_reuses_its_verdict() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let proxy = Proxy::start(&accountd).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let live = accountd
        .verifier()
        .jwks(
            format!("{}/.well-known/jwks.json", proxy.base),
            [Algorithm::EdDsa],
        )
        .introspection(
            accountd
                .introspection(&proxy.base)
                .cache_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    let router =
        Router::new()
            .route(
                "/cart",
                get(|VerifiedAccount(identity): VerifiedAccount| async move {
                    Json(describe(&identity))
                }),
            )
            .route_layer(AccountTokenLayer::new(live.clone()))
            .with_state(live);
    let url = format!("{}/cart", serve(router).await);

    let (status, body) = get_with(&url, &[&token]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account_name"], "Acme");
    assert_eq!(proxy.introspections(), 1, "one verification per request");

    accountd.delete_membership(&shopper).await;
    assert_eq!(
        get_with(&url, &[&token]).await,
        (401, envelope(401, "Unauthorized", INVALID))
    );
    assert_eq!(proxy.introspections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_accountd_answers_503_not_401() {
    let accountd = Accountd::start(JwtAlgorithm::EdDsa).await;
    let shopper = accountd.shopper("Acme", None).await;
    let token = accountd.login(&shopper).await;
    let nowhere = nothing_listening().await;
    let stranded: Verifier = accountd.offline_verifier(Algorithm::EdDsa, &nowhere);
    let router =
        Router::new()
            .route(
                "/cart",
                get(|VerifiedAccount(identity): VerifiedAccount| async move {
                    Json(describe(&identity))
                }),
            )
            .with_state(stranded);
    let url = format!("{}/cart", serve(router).await);
    assert_eq!(
        get_with(&url, &[&token]).await,
        (
            503,
            envelope(
                503,
                "Service Unavailable",
                "account tokens cannot be verified right now"
            )
        )
    );
    // A token that is refused offline is still 401.
    assert_eq!(get_with(&url, &["a.b.c"]).await.0, 401);
}
