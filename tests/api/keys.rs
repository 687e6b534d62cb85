//! JWT key rotation (docs/account-tokens.md#signing-keys): configured keys rotate through the
//! environment and restarts, persisted keys through `accountd keys rotate` / `remove` while
//! replicas run.

use accountd::auth::keyring;
use accountd::config::JwtKeySource;
use accountd::store::StoreError;

use crate::helpers::{Shopper, TestApp, jwt_parts, shopper_in, spawn_app, test_config};
use crate::tests;

tests![
    configured_keys_rotate_through_restarts,
    persisted_keys_rotate_while_replicas_run,
];

const OLD: &str = "an-old-hs256-secret-of-at-least-32-bytes";
const NEW: &str = "a-new-hs256-secret-of-at-least-32-bytes!";

fn keys(list: &[(&str, &str)], active: &str) -> JwtKeySource {
    JwtKeySource::Configured {
        keys: list
            .iter()
            .map(|(kid, secret)| {
                (
                    (*kid).to_owned(),
                    accountd::auth::secret::Secret::new(*secret),
                )
            })
            .collect(),
        active_kid: active.to_owned(),
    }
}

async fn status_with(app: &TestApp, shopper: &Shopper, token: &str) -> u16 {
    let implicit = app.implicit_token().await;
    let reply = app
        .get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&implicit)
        .account_token(token)
        .send()
        .await;
    reply.status.as_u16()
}

async fn configured_keys_rotate_through_restarts(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let with = |source: JwtKeySource| {
        let mut config = test_config(&app.database_url);
        config.jwt_keys = source;
        config
    };
    let before = spawn_app(with(keys(&[("k-old", OLD)], "k-old"))).await;
    let old_token = before.first_account_token(&shopper).await;
    assert_eq!(jwt_parts(&old_token).0["kid"], "k-old");

    // Step 1: add the new key and make it active; the old one still verifies.
    let during = spawn_app(with(keys(&[("k-old", OLD), ("k-new", NEW)], "k-new"))).await;
    assert_eq!(status_with(&during, &shopper, &old_token).await, 200);
    let new_token = during.first_account_token(&shopper).await;
    assert_eq!(jwt_parts(&new_token).0["kid"], "k-new");

    // Step 2, once the old tokens have expired: remove the old key. Its tokens die.
    let after = spawn_app(with(keys(&[("k-new", NEW)], "k-new"))).await;
    assert_eq!(status_with(&after, &shopper, &new_token).await, 200);
    assert_eq!(status_with(&after, &shopper, &old_token).await, 401);
}

async fn persisted_keys_rotate_while_replicas_run(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let persisted = || {
        let mut config = app.config_like_this();
        config.jwt_keys = JwtKeySource::Persisted;
        config
    };
    let first = spawn_app(persisted()).await;
    let second = spawn_app(persisted()).await;
    assert_eq!(
        first.state.keys.active_kid(),
        second.state.keys.active_kid(),
        "one key is persisted"
    );
    let old_token = first.first_account_token(&shopper).await;
    let old_kid = first.state.keys.active_kid();

    // `accountd keys rotate`: a new active key in the database.
    let new_key = keyring::rotate(
        first.state.store.as_ref(),
        first.state.config.jwt_algorithm,
        first.clock_now(),
    )
    .await
    .unwrap();
    // The first replica takes it up (its minute has passed); the second has not yet.
    first
        .state
        .keys
        .reload(first.state.store.as_ref())
        .await
        .unwrap();
    let new_token = first.first_account_token(&shopper).await;
    assert_eq!(jwt_parts(&new_token).0["kid"], new_key.kid.as_str());
    // The second replica meets a kid it does not know, reloads at once, and accepts it.
    assert_eq!(status_with(&second, &shopper, &new_token).await, 200);
    assert_eq!(second.state.keys.active_kid(), new_key.kid);
    // Old tokens keep working until their key is removed.
    assert_eq!(status_with(&first, &shopper, &old_token).await, 200);

    // The active key cannot be removed; the old one can, and its tokens then die.
    let refused = first
        .state
        .store
        .remove_jwt_key(&new_key.kid, first.clock_now(), &crate::helpers::by_test())
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    let now = first.clock_now();
    assert!(
        keyring::remove(first.state.store.as_ref(), &old_kid, now)
            .await
            .unwrap()
    );
    assert!(
        !keyring::remove(first.state.store.as_ref(), &old_kid, now)
            .await
            .unwrap()
    );
    for replica in [&first, &second] {
        replica
            .state
            .keys
            .reload(replica.state.store.as_ref())
            .await
            .unwrap();
        assert_eq!(status_with(replica, &shopper, &old_token).await, 401);
        assert_eq!(status_with(replica, &shopper, &new_token).await, 200);
    }
    // Both commands leave an audit event, and no event holds a key's secret.
    let events = first
        .get("/v2/audit-events?filter=eq(event_type,jwt_key.created)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        events["data"][0]["subject"],
        format!("jwt_key:{}", new_key.kid)
    );
    // The command line acts as the system.
    assert_eq!(
        events["data"][0]["actor"],
        serde_json::json!({"class": "system", "id": null})
    );
    // One removal succeeded; the refused one (the active key) and the one of a key already
    // gone left no row.
    let deleted = first
        .get("/v2/audit-events?filter=eq(event_type,jwt_key.deleted)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(deleted["meta"]["results"]["total"], 1);
    assert_eq!(deleted["data"][0]["actor"]["class"], "system");
    // An HMAC secret is text; a key pair's private key is DER, which would travel encoded.
    use base64::Engine;
    let raw = &new_key.secret;
    let mut forms = vec![
        base64::engine::general_purpose::STANDARD.encode(raw),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
        hex::encode(raw),
    ];
    forms.extend(String::from_utf8(raw.clone()));
    let all = first
        .get("/v2/audit-events?page[limit]=100")
        .bearer(&admin)
        .send()
        .await
        .expect(200)
        .to_string();
    for form in forms {
        assert!(!all.contains(&form));
    }
}
