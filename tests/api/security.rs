//! Abuse defences (docs/login.md#throttling, docs/authentication.md#per-address-rate-limits): login
//! throttling shared through the database, per-address rate limits, and the audit trail.

use serde_json::json;

use crate::helpers::{Reply, Shopper, TestApp, captured_logs, shopper_in, spawn_app, test_config};
use crate::tests;

tests![
    five_failures_lock_a_username_and_locks_double_up_to_fifteen_minutes,
    a_locked_username_refuses_even_the_right_password,
    unknown_usernames_are_throttled_exactly_like_known_ones,
    a_success_resets_the_username_key,
    failures_on_one_replica_count_on_another,
    an_address_locks_after_fifty_failures_in_fifteen_minutes,
    an_admin_clears_a_lockout,
    passwordless_failures_count_on_the_same_keys,
    rate_limits_refuse_floods_before_the_bearer_is_checked,
    the_audit_trail_records_logins_and_admin_writes_without_secrets,
    a_full_hash_queue_answers_503_with_retry_after_and_nothing_else,
];

async fn attempt(app: &TestApp, implicit: &str, shopper: &Shopper, password: &str) -> Reply {
    app.login(implicit, &shopper.profile_id, &shopper.username, password)
        .await
}

fn assert_throttled(reply: &Reply, retry_after: u64) {
    reply.expect_error(429, "too many attempts, try again later");
    assert_eq!(
        reply.header("retry-after"),
        Some(retry_after.to_string().as_str())
    );
}

async fn five_failures_lock_a_username_and_locks_double_up_to_fifteen_minutes(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..5 {
        attempt(&app, &implicit, &shopper, "wrong")
            .await
            .expect_error(400, "authentication failed");
    }
    assert_throttled(&attempt(&app, &implicit, &shopper, "wrong").await, 30);
    app.clock.advance_seconds(12);
    // Attempts answered 429 do not count and do not extend the lock.
    assert_throttled(&attempt(&app, &implicit, &shopper, "wrong").await, 18);
    for expected in [60, 120, 240, 480, 900, 900] {
        app.clock.advance_seconds(900);
        let implicit = app.implicit_token().await;
        attempt(&app, &implicit, &shopper, "wrong")
            .await
            .expect_error(400, "authentication failed");
        assert_throttled(&attempt(&app, &implicit, &shopper, "wrong").await, expected);
    }
}

async fn a_locked_username_refuses_even_the_right_password(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..5 {
        attempt(&app, &implicit, &shopper, "wrong").await;
    }
    assert_throttled(
        &attempt(&app, &implicit, &shopper, &shopper.password).await,
        30,
    );
    app.clock.advance_seconds(30);
    attempt(&app, &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
}

async fn unknown_usernames_are_throttled_exactly_like_known_ones(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let known = shopper_in(&app, &admin, &["A"]).await;
    let unknown = Shopper {
        username: "nobody@example.com".to_owned(),
        ..shopper_in(&app, &admin, &[]).await
    };
    let mut answers = Vec::new();
    for shopper in [&known, &unknown] {
        let mut replies = Vec::new();
        for _ in 0..6 {
            let reply = attempt(&app, &implicit, shopper, "wrong").await;
            replies.push((
                reply.status,
                reply.header("retry-after").map(str::to_owned),
                reply.text,
            ));
        }
        answers.push(replies);
    }
    assert_eq!(
        answers[0], answers[1],
        "throttling reveals nothing about the username"
    );
    assert_eq!(answers[0][5].0, 429);
}

async fn a_success_resets_the_username_key(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..4 {
        attempt(&app, &implicit, &shopper, "wrong").await;
    }
    attempt(&app, &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
    for _ in 0..4 {
        attempt(&app, &implicit, &shopper, "wrong")
            .await
            .expect_error(400, "authentication failed");
    }
    attempt(&app, &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
}

async fn failures_on_one_replica_count_on_another(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let replica = app.another_replica().await;
    let replica_implicit = replica.implicit_token().await;
    for index in 0..5 {
        let (app, bearer) = if index % 2 == 0 {
            (&app, &implicit)
        } else {
            (&replica, &replica_implicit)
        };
        attempt(app, bearer, &shopper, "wrong")
            .await
            .expect_error(400, "authentication failed");
    }
    let refused = attempt(&replica, &replica_implicit, &shopper, &shopper.password).await;
    refused.expect_error(429, "too many attempts, try again later");
    let refused = attempt(&app, &implicit, &shopper, &shopper.password).await;
    refused.expect_error(429, "too many attempts, try again later");
}

async fn an_address_locks_after_fifty_failures_in_fifteen_minutes(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    // Fifty failures spread over many usernames, so no username key locks.
    for index in 0..50 {
        let other = Shopper {
            username: format!("guess-{index}@example.com"),
            profile_id: shopper.profile_id.clone(),
            member_id: String::new(),
            password: String::new(),
            accounts: Vec::new(),
        };
        attempt(&app, &implicit, &other, "wrong")
            .await
            .expect_error(400, "authentication failed");
        app.clock.advance_seconds(1);
    }
    // Locked for everyone from this address, the right password included, until the oldest of
    // the fifty failures leaves the window: 15 minutes after it, which was 50 s ago.
    assert_throttled(
        &attempt(&app, &implicit, &shopper, &shopper.password).await,
        850,
    );
    app.clock.advance_seconds(850);
    let implicit = app.implicit_token().await;
    attempt(&app, &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
}

async fn an_admin_clears_a_lockout(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..5 {
        attempt(&app, &implicit, &shopper, "wrong").await;
    }
    assert_throttled(
        &attempt(&app, &implicit, &shopper, &shopper.password).await,
        30,
    );
    app.delete(&format!(
        "/v2/account-members/{}/lockout",
        shopper.member_id
    ))
    .bearer(&implicit)
    .send()
    .await
    .expect_error(403, "forbidden");
    app.delete(&format!(
        "/v2/account-members/{}/lockout",
        shopper.member_id
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    attempt(&app, &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
    app.delete(&format!(
        "/v2/account-members/{}/lockout",
        uuid::Uuid::new_v4()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect_error(404, "account member not found");
}

async fn passwordless_failures_count_on_the_same_keys(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for _ in 0..5 {
        app.post("/v2/account-members/tokens")
            .bearer(&implicit)
            .json(json!({"data": {
                "type": "account_management_authentication_token",
                "authentication_mechanism": "passwordless",
                "password_profile_id": shopper.profile_id,
                "username": shopper.username,
                "one_time_password_token": "abc234",
            }}))
            .send()
            .await
            .expect_error(400, "authentication failed");
    }
    // The profile has no OTP at all, yet the lock still answers first (docs/login.md#throttling).
    assert_throttled(
        &attempt(&app, &implicit, &shopper, &shopper.password).await,
        30,
    );
}

async fn rate_limits_refuse_floods_before_the_bearer_is_checked(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.rate_limit_per_minute = 3;
    let limited = spawn_app(config).await;
    // Start at the beginning of a minute, so the four requests below share one window.
    let now = limited.clock_now().millis();
    limited.clock.set(accountd::time::Timestamp::from_millis(
        (now / 60_000 + 1) * 60_000 + 1_000,
    ));
    for _ in 0..3 {
        limited.implicit_token().await;
    }
    let refused = limited
        .post("/oauth/access_token")
        .raw(format!(
            "grant_type=implicit&client_id={}",
            crate::helpers::CLIENT_ID
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await;
    refused.expect_error(429, "too many attempts, try again later");
    assert!(refused.header("retry-after").is_some());
    // The token endpoint has its own count, checked before the (missing) bearer token.
    for _ in 0..3 {
        limited
            .post("/v2/account-members/tokens")
            .raw("{}")
            .send()
            .await
            .expect_error(401, "Unable to validate access token");
    }
    limited
        .post("/v2/account-members/tokens")
        .raw("{}")
        .send()
        .await
        .expect_error(429, "too many attempts, try again later");
    // A new minute, a new window.
    limited.clock.advance_seconds(60);
    limited.implicit_token().await;
}

async fn the_audit_trail_records_logins_and_admin_writes_without_secrets(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    attempt(&app, &implicit, &shopper, &shopper.password)
        .await
        .expect(201);
    attempt(&app, &implicit, &shopper, "a-wrong-password").await;
    for _ in 0..4 {
        attempt(&app, &implicit, &shopper, "a-wrong-password").await;
    }
    attempt(&app, &implicit, &shopper, "a-wrong-password").await;
    app.clock.advance_seconds(1);
    let admin_part = app.clock_now().to_string();
    let key = app
        .post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Audited"}}))
        .send()
        .await
        .expect(201);
    let key_secret = key["data"]["client_secret"].as_str().unwrap().to_owned();
    app.put(&format!(
        "/v2/application-keys/{}",
        key["data"]["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .json(json!({"data": {"type": "application_key", "name": "Audited again"}}))
    .send()
    .await
    .expect(200);
    app.delete(&format!(
        "/v2/application-keys/{}",
        key["data"]["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    app.put("/v2/settings/account-authentication")
        .bearer(&admin)
        .json(json!({"data": {"type": "account_authentication_settings", "enable_self_signup": true}}))
        .send()
        .await
        .expect(200);
    app.delete(&format!("/v2/account-members/{}/tokens", shopper.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.delete(&format!(
        "/v2/account-members/{}/lockout",
        shopper.member_id
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    let all = app
        .get("/v2/audit-events?page[limit]=100")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let types: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for expected in [
        "login.succeeded",
        "login.failed",
        "login.throttled",
        "application_key.created",
        "application_key.updated",
        "application_key.deleted",
        "account_authentication_settings.updated",
        "account_member.tokens_revoked",
        "account_member.lockout_cleared",
    ] {
        assert!(
            types.contains(&expected),
            "no {expected} event in {types:?}"
        );
    }
    let created = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["event_type"] == "application_key.created")
        .unwrap();
    assert_eq!(created["type"], "audit_event");
    // The admin is named by the application key its bearer token was issued for.
    assert_eq!(created["actor"]["class"], "admin");
    let admin_key = created["actor"]["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(admin_key).is_ok());
    assert_eq!(created["client_address"], "127.0.0.1");
    assert_eq!(created["subject"], "/v2/application-keys");
    let success = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["event_type"] == "login.succeeded")
        .unwrap();
    assert_eq!(
        success["actor"],
        json!({"class": "account_holder", "id": shopper.member_id})
    );
    // Failed and refused attempts name the caller: a shopper, anonymous.
    for refused in all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["event_type"] != "login.succeeded")
        .filter(|event| event["event_type"].as_str().unwrap().starts_with("login."))
    {
        assert_eq!(refused["actor"], json!({"class": "shopper", "id": null}));
    }
    // No row holds a password, a secret or a token.
    let text = all.to_string();
    for secret in [
        shopper.password.as_str(),
        "a-wrong-password",
        key_secret.as_str(),
        admin.as_str(),
        implicit.as_str(),
        crate::helpers::CLIENT_SECRET,
    ] {
        assert!(!text.contains(secret), "an audit event holds a secret");
    }
    assert!(!captured_logs().contains(&key_secret));
    // Filters: by type and by time.
    let failed = app
        .get("/v2/audit-events?filter=eq(event_type,login.failed)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(failed["meta"]["results"]["total"], 5);
    let later = app
        .get(&format!(
            "/v2/audit-events?filter=ge(created_at,{admin_part})"
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let later_types: Vec<&str> = later["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(later_types.len(), 6, "{later_types:?}");
    assert!(later_types.iter().all(|kind| !kind.starts_with("login.")));
    app.get("/v2/audit-events")
        .bearer(&implicit)
        .send()
        .await
        .expect_error(403, "forbidden");
}

/// One hash thread and a queue of one: a burst of logins gets 201 or an immediate 503 with
/// `Retry-After`, never anything else, and the refusals show in `/metrics`.
async fn a_full_hash_queue_answers_503_with_retry_after_and_nothing_else(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.hash_pool_size = 1;
    config.hash_queue_bound = 1;
    let narrow = spawn_app(config).await;
    let admin = narrow.admin_token().await;
    let implicit = narrow.implicit_token().await;
    // Four logins each for three members: fewer than five at once per member, so no attempt is
    // refused by the throttle for being one too many in progress.
    let mut shoppers = Vec::new();
    for _ in 0..3 {
        shoppers.push(shopper_in(&narrow, &admin, &["A"]).await);
    }
    let mut refused = 0;
    // A burst normally overflows at once; a slow machine may spread one out, so try a few.
    for _ in 0..5 {
        let mut tasks = Vec::new();
        for index in 0..12 {
            let login = narrow.spawned_login(&implicit, &shoppers[index % 3]);
            tasks.push(tokio::spawn(async move {
                let response = login.await.unwrap();
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|value| value.to_str().unwrap().to_owned());
                let body: serde_json::Value = response.json().await.unwrap();
                (status, retry_after, body)
            }));
        }
        for task in tasks {
            let (status, retry_after, body) = task.await.unwrap();
            match status {
                201 => assert_eq!(retry_after, None),
                503 => {
                    refused += 1;
                    assert_eq!(retry_after.as_deref(), Some("1"));
                    assert_eq!(body["errors"][0]["status"], "503", "{body}");
                    assert_eq!(
                        body["errors"][0]["detail"],
                        "the server is busy, try again later"
                    );
                }
                other => panic!("a login under overload answered {other}: {body}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(
        refused > 0,
        "twelve logins at once never filled a queue of one"
    );
    let metrics = narrow.scrape_metrics().await;
    let busy =
        format!("accountd_logins_total{{mechanism=\"password\",outcome=\"busy\"}} {refused}");
    assert!(metrics.contains(&busy), "{busy} not in {metrics}");
}
