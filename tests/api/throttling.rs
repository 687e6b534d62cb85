//! Login throttling as an attacker meets it: locks by (profile, username, address) pair, by
//! username only under distributed guessing, by address; attempts reserved before hashing so
//! concurrency cannot slip past a lock; bounded audit rows for long usernames and endless
//! throttled attempts; per-address limits on the OpenID Connect browser endpoints; one client's
//! share of the hash queue; and the janitor that keeps the bookkeeping tables small.

use accountd::store::Actor;
use serde_json::json;

use crate::helpers::{Reply, Shopper, TestApp, shopper_in, spawn_app, test_config};
use crate::tests;

tests![
    an_attacker_failing_from_one_address_never_locks_the_member_out_elsewhere,
    fifty_failures_from_several_addresses_lock_the_username_everywhere,
    concurrent_guesses_on_one_pair_reach_the_hash_at_most_five_times,
    an_impossible_username_fails_before_any_store_work,
    audit_rows_keep_at_most_256_bytes_of_a_username,
    a_throttled_key_writes_one_audit_row_per_lock_period,
    the_janitor_deletes_audit_events_past_their_retention_in_batches,
    the_janitor_forgets_idle_throttle_rows,
    an_unfinished_attempt_counts_as_a_failure_after_thirty_seconds,
    oidc_browser_endpoints_share_one_per_address_budget,
    one_client_past_its_hash_share_gets_503_while_another_logs_in,
];

const THROTTLED: &str = r#"{"errors":[{"status":"429","title":"Too Many Requests","detail":"too many attempts, try again later"}]}"#;

async fn login_from(
    app: &TestApp,
    source: &str,
    implicit: &str,
    shopper: &Shopper,
    password: &str,
) -> Reply {
    app.post("/v2/account-members/tokens")
        .from(source)
        .bearer(implicit)
        .json(json!({"data": {
            "type": "account_management_authentication_token",
            "authentication_mechanism": "password",
            "password_profile_id": shopper.profile_id,
            "username": shopper.username,
            "password": password,
        }}))
        .send()
        .await
}

fn login_body(shopper: &Shopper, username: &str, password: &str) -> serde_json::Value {
    json!({"data": {
        "type": "account_management_authentication_token",
        "authentication_mechanism": "password",
        "password_profile_id": shopper.profile_id,
        "username": username,
        "password": password,
    }})
}

async fn audit_count(app: &TestApp, admin: &str, event_type: &str) -> i64 {
    app.get(&format!(
        "/v2/audit-events?page[limit]=1&filter=eq(event_type,{event_type})"
    ))
    .bearer(admin)
    .send()
    .await
    .expect(200)["meta"]["results"]["total"]
        .as_i64()
        .unwrap()
}

async fn an_attacker_failing_from_one_address_never_locks_the_member_out_elsewhere(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let mut failures = 0;
    let mut refusals = 0;
    // An hour of guessing from one address: every lock waited out, then failed again, and the
    // member logging in from home throughout.
    for round in 0..60 {
        let implicit = app.implicit_token().await;
        for _ in 0..3 {
            let reply = login_from(&app, "127.0.0.8", &implicit, &shopper, "guess").await;
            match reply.status.as_u16() {
                400 => failures += 1,
                429 => {
                    refusals += 1;
                    assert_eq!(reply.text, THROTTLED);
                }
                other => panic!("the attacker got {other}"),
            }
        }
        login_from(&app, "127.0.0.9", &implicit, &shopper, &shopper.password)
            .await
            .expect(201);
        app.clock
            .advance_seconds(if round % 2 == 0 { 60 } else { 900 });
    }
    assert!(failures >= 30, "the attacker really failed: {failures}");
    assert!(refusals > 0, "and was throttled: {refusals}");
}

async fn fifty_failures_from_several_addresses_lock_the_username_everywhere(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    // Ten addresses, five failures each: each pair locks only at its fifth, and the username
    // reaches fifty failures from more than one address.
    for address in 10..20 {
        let source = format!("127.0.0.{address}");
        for _ in 0..5 {
            login_from(&app, &source, &implicit, &shopper, "guess")
                .await
                .expect_error(400, "authentication failed");
        }
        app.clock.advance_seconds(10);
    }
    // Even the right password from an address that never failed is refused, with the one body.
    let refused = login_from(&app, "127.0.0.30", &implicit, &shopper, &shopper.password).await;
    assert_eq!(refused.status.as_u16(), 429);
    assert_eq!(refused.text, THROTTLED);
    // Until the oldest of the fifty leaves the fifteen-minute window: 100 s have passed.
    assert_eq!(refused.header("retry-after"), Some("800"));
    app.clock.advance_seconds(800);
    login_from(&app, "127.0.0.30", &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
}

async fn concurrent_guesses_on_one_pair_reach_the_hash_at_most_five_times(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let hashed_before = app.state.hasher.stats().work.get_sample_count();
    let mut tasks = Vec::new();
    for _ in 0..45 {
        let request = app
            .client
            .post(format!("{}/v2/account-members/tokens", app.address))
            .bearer_auth(&implicit)
            .json(&login_body(&shopper, &shopper.username, "guess"));
        tasks.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        if status == 429 {
            assert_eq!(body, THROTTLED);
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    let hashed = app.state.hasher.stats().work.get_sample_count() - hashed_before;
    assert!(
        hashed <= 5,
        "{hashed} guesses reached argon2id: {statuses:?}"
    );
    assert!(
        statuses.get(&400).copied().unwrap_or(0) <= 5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.values().sum::<i32>(),
        statuses.get(&400).copied().unwrap_or(0) + statuses.get(&429).copied().unwrap_or(0),
        "only 400 and 429: {statuses:?}"
    );
}

async fn an_impossible_username_fails_before_any_store_work(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let hashed_before = app.state.hasher.stats().work.get_sample_count();
    let too_long = "ü".repeat(511); // 1,022 bytes
    for _ in 0..10 {
        app.post("/v2/account-members/tokens")
            .bearer(&implicit)
            .json(login_body(&shopper, &too_long, "guess"))
            .send()
            .await
            .expect_error(400, "authentication failed");
    }
    assert_eq!(
        app.state.hasher.stats().work.get_sample_count(),
        hashed_before
    );
    assert_eq!(audit_count(&app, &admin, "login.failed").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM login_failures").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM throttle_keys").await, 0);
    // 1,020 bytes is still a username that could exist: an ordinary failure.
    let longest = "ü".repeat(510);
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .json(login_body(&shopper, &longest, "guess"))
        .send()
        .await
        .expect_error(400, "authentication failed");
    assert_eq!(audit_count(&app, &admin, "login.failed").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM login_failures").await, 1);
}

async fn audit_rows_keep_at_most_256_bytes_of_a_username(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let long = format!("{}@example.com", "x".repeat(900));
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .json(login_body(&shopper, &long, "guess"))
        .send()
        .await
        .expect_error(400, "authentication failed");
    let events = app
        .get("/v2/audit-events?filter=eq(event_type,login.failed)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let stored = events["data"][0]["detail"]["username"].as_str().unwrap();
    assert!(stored.len() <= 256, "{} bytes", stored.len());
    assert!(stored.ends_with('…'), "{stored}");
    assert!(long.starts_with(stored.trim_end_matches('…')));
}

async fn a_throttled_key_writes_one_audit_row_per_lock_period(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..5 {
        login_from(&app, "127.0.0.1", &implicit, &shopper, "guess").await;
    }
    for _ in 0..20 {
        login_from(&app, "127.0.0.1", &implicit, &shopper, "guess")
            .await
            .expect_error(429, "too many attempts, try again later");
    }
    assert_eq!(audit_count(&app, &admin, "login.throttled").await, 1);
    // The next lock period gets its own row.
    app.clock.advance_seconds(30);
    login_from(&app, "127.0.0.1", &implicit, &shopper, "guess")
        .await
        .expect_error(400, "authentication failed");
    for _ in 0..20 {
        login_from(&app, "127.0.0.1", &implicit, &shopper, "guess")
            .await
            .expect_error(429, "too many attempts, try again later");
    }
    assert_eq!(audit_count(&app, &admin, "login.throttled").await, 2);
}

async fn the_janitor_deletes_audit_events_past_their_retention_in_batches(app: TestApp) {
    let old = app.clock_now();
    // More than one janitor batch of old rows.
    for index in 0..1_200 {
        let event = accountd::store::NewAuditEvent::new("test.old", Actor::SYSTEM)
            .subject(format!("old {index}"));
        app.state
            .store
            .append_audit_event(&event, old)
            .await
            .unwrap();
    }
    app.clock.advance_seconds(89 * 24 * 60 * 60);
    let admin = app.admin_token().await;
    let recent = audit_count(&app, &admin, "test.old").await;
    assert_eq!(recent, 1_200);
    accountd::app::janitor_pass(&app.state).await;
    assert_eq!(
        audit_count(&app, &admin, "test.old").await,
        1_200,
        "89 days are kept"
    );
    app.clock.advance_seconds(2 * 24 * 60 * 60);
    let kept_from = app.clock_now();
    app.state
        .store
        .append_audit_event(
            &accountd::store::NewAuditEvent::new("test.new", Actor::SYSTEM),
            kept_from,
        )
        .await
        .unwrap();
    accountd::app::janitor_pass(&app.state).await;
    let admin = app.admin_token().await;
    assert_eq!(audit_count(&app, &admin, "test.old").await, 0);
    assert_eq!(audit_count(&app, &admin, "test.new").await, 1);
}

async fn the_janitor_forgets_idle_throttle_rows(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..3 {
        login_from(&app, "127.0.0.1", &implicit, &shopper, "guess").await;
    }
    assert!(app.count("SELECT COUNT(*) FROM throttle_keys").await > 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM login_failures").await, 3);
    accountd::app::janitor_pass(&app.state).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM login_failures").await, 3);
    // A day later none of it matters any more.
    app.clock.advance_seconds(24 * 60 * 60 + 1);
    accountd::app::janitor_pass(&app.state).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM login_failures").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM throttle_keys").await, 0);
}

async fn an_unfinished_attempt_counts_as_a_failure_after_thirty_seconds(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..4 {
        login_from(&app, "127.0.0.1", &implicit, &shopper, "guess")
            .await
            .expect_error(400, "authentication failed");
    }
    // An attempt whose process died mid-hash: reserved, never finished.
    let keys = accountd::auth::throttle::LoginKeys::new(
        shopper.profile_id.parse().unwrap(),
        &shopper.username.to_lowercase(),
        "127.0.0.1",
    );
    let admission = app
        .state
        .store
        .begin_login_attempt(&keys, app.clock_now(), &crate::helpers::by_test())
        .await
        .unwrap();
    assert!(matches!(
        admission,
        accountd::store::LoginAdmission::Reserved(_)
    ));
    // While it is pending it counts as the fifth failure: wait a second and see.
    let pending = login_from(&app, "127.0.0.1", &implicit, &shopper, &shopper.password).await;
    pending.expect_error(429, "too many attempts, try again later");
    assert_eq!(pending.header("retry-after"), Some("1"));
    // Thirty seconds on it is a failure, the fifth: the pair locks for thirty seconds.
    app.clock.advance_seconds(30);
    let locked = login_from(&app, "127.0.0.1", &implicit, &shopper, &shopper.password).await;
    locked.expect_error(429, "too many attempts, try again later");
    assert_eq!(locked.header("retry-after"), Some("30"));
}

async fn oidc_browser_endpoints_share_one_per_address_budget(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.rate_limit_per_minute = 3;
    let limited = spawn_app(config).await;
    let store_id = limited.state.deployment.store_id;
    let realm_id = limited.realm_id;
    let login = format!("/oidc-idp/login/stores/{store_id}/authentication-realms/{realm_id}");
    let callback = format!(
        "/oidc-idp/callback/stores/{store_id}/authentication-realms/{realm_id}/oidc-profiles/{}",
        uuid::Uuid::new_v4()
    );
    for path in [&login, &callback, &login] {
        let reply = limited.get(path).send().await;
        assert_ne!(reply.status.as_u16(), 429, "{path}");
    }
    for path in [&login, &callback] {
        let refused = limited.get(path).send().await;
        assert_eq!(refused.status.as_u16(), 429, "{path}");
        assert_eq!(refused.text, THROTTLED);
        assert!(refused.header("location").is_none(), "never a redirect");
        assert_eq!(refused.header("retry-after"), Some("20"));
    }
    // Another address has its own budget.
    let other = limited.get(&login).from("127.0.0.5").send().await;
    assert_ne!(other.status.as_u16(), 429);
}

async fn one_client_past_its_hash_share_gets_503_while_another_logs_in(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.hash_pool_size = 1;
    config.hash_queue_bound = 8;
    config.hash_queue_share = 2;
    config.rate_limit_per_minute = 0;
    let narrow = spawn_app(config).await;
    let admin = narrow.admin_token().await;
    let implicit = narrow.implicit_token().await;
    let victim = shopper_in(&narrow, &admin, &["A"]).await;
    let flooder = narrow.client.clone();
    let address = narrow.address.clone();
    let mut refused = 0;
    for _ in 0..5 {
        let mut tasks = Vec::new();
        for index in 0..10 {
            let request = flooder
                .post(format!("{address}/v2/account-members/tokens"))
                .bearer_auth(&implicit)
                .json(&login_body(
                    &victim,
                    &format!("nobody-{index}@example.com"),
                    "guess",
                ));
            tasks.push(tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|value| value.to_str().unwrap().to_owned());
                (
                    response.status().as_u16(),
                    retry_after,
                    response.text().await.unwrap(),
                )
            }));
        }
        // Meanwhile another address logs in, and is never refused for the flooder's sake.
        login_from(&narrow, "127.0.0.44", &implicit, &victim, &victim.password)
            .await
            .expect(201);
        for task in tasks {
            let (status, retry_after, body) = task.await.unwrap();
            match status {
                400 => {}
                503 => {
                    refused += 1;
                    assert_eq!(retry_after.as_deref(), Some("1"));
                    assert!(
                        body.contains("the server is busy, try again later"),
                        "{body}"
                    );
                }
                other => panic!("the flooder got {other}: {body}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "ten at once never passed a share of two");
}
