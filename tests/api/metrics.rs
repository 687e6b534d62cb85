//! `GET /metrics`, on the management listener only: Prometheus counters by matched route, login
//! outcomes, the hash pool and the database pools, the outbox backlog. Only presence and counts
//! are checked; timings belong to `bench/run`.

use crate::helpers::{LoggedIn, TestApp};
use crate::tests;

tests![
    metrics_are_served_only_on_the_management_listener,
    the_management_listener_answers_the_probes_and_nothing_else,
    requests_are_counted_under_their_route_template,
    logins_are_counted_by_mechanism_and_outcome,
    the_hash_pool_and_database_pools_are_reported,
    the_outbox_backlog_is_reported,
];

async fn scrape(app: &TestApp) -> String {
    let reply = app.management_get("/metrics").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "Prometheus text format"
    );
    reply.text
}

/// The value of the sample line that starts with `series` (name and labels), if any.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Its gauges (the outbox backlog, login failures) move with what the API hides, so the API
/// listener does not serve it at all.
async fn metrics_are_served_only_on_the_management_listener(app: TestApp) {
    app.get("/metrics")
        .send()
        .await
        .expect_error(404, "route not found");
    let text = scrape(&app).await;
    assert!(text.contains("accountd_http_requests_total"), "{text}");
    // The management listener is a listener of its own, not another path on the API one.
    assert_ne!(
        app.management_address.as_deref(),
        Some(app.address.as_str())
    );
}

async fn the_management_listener_answers_the_probes_and_nothing_else(app: TestApp) {
    let health = app.management_get("/healthz").send().await;
    assert_eq!(health.expect(200), serde_json::json!({"status": "ok"}));
    let ready = app.management_get("/readyz").send().await;
    assert_eq!(ready.expect(200), serde_json::json!({"status": "ready"}));
    app.management_get("/v2/accounts")
        .send()
        .await
        .expect_error(404, "route not found");
    app.management_get("/v2/openapi.json")
        .send()
        .await
        .expect_error(404, "route not found");
    // The probes stay on the API listener too, for orchestrators that only reach that one.
    app.get("/healthz").send().await.expect(200);
    app.get("/readyz").send().await.expect(200);
}

async fn requests_are_counted_under_their_route_template(app: TestApp) {
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;
    let id = account["id"].as_str().unwrap();
    for _ in 0..3 {
        app.get(&format!("/v2/accounts/{id}"))
            .bearer(&admin)
            .send()
            .await
            .expect(200);
    }
    app.get(&format!("/v2/accounts/{}", uuid::Uuid::new_v4()))
        .bearer(&admin)
        .send()
        .await
        .expect(404);
    app.get("/no/such/route").send().await;

    let text = scrape(&app).await;
    let route = "route=\"/v2/accounts/{account_id}\"";
    assert_eq!(
        value(
            &text,
            &format!("accountd_http_requests_total{{method=\"GET\",{route},status=\"2xx\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!("accountd_http_requests_total{{method=\"GET\",{route},status=\"4xx\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!(
                "accountd_http_request_duration_seconds_count{{method=\"GET\",{route},status=\"2xx\"}}"
            )
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "accountd_http_request_duration_seconds_bucket{{method=\"GET\",{route},status=\"2xx\",le=\"+Inf\"}} 3\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\""),
        "unknown paths share one series: {text}"
    );
    assert!(!text.contains(id), "raw ids never become labels");
    assert!(
        !text.contains("/no/such/route"),
        "raw paths never become labels"
    );
}

/// `accountd_logins_total{mechanism, outcome}`; the OpenID Connect and one-time-code logins are
/// counted in their own suites (`oidc`, `passwordless`), which have the provider and the codes.
async fn logins_are_counted_by_mechanism_and_outcome(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    app.login(&implicit, &shopper.profile_id, &shopper.username, "wrong")
        .await
        .expect(400);
    // Two switches: one with the token just issued, one with a token that is not one.
    let switch = |token: String| {
        let (app, implicit) = (&app, &implicit);
        async move {
            app.post("/v2/account-members/tokens")
                .bearer(implicit)
                .account_token(&token)
                .json(serde_json::json!({"data": {
                    "type": "account_management_authentication_token",
                    "authentication_mechanism": "account_management_authentication_token",
                }}))
                .send()
                .await
        }
    };
    switch(token).await.expect(201);
    switch("not.a.token".to_owned()).await.expect(401);
    // A self sign-up.
    app.set_auth_settings(&admin, serde_json::json!({"enable_self_signup": true}))
        .await;
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .json(serde_json::json!({"data": {
            "type": "account_management_authentication_token",
            "authentication_mechanism": "self_signup",
            "password_profile_id": shopper.profile_id,
            "username": "new-member@example.com",
            "password": "a long enough password",
            "name": "New Member",
            "email": "new-member@example.com",
        }}))
        .send()
        .await
        .expect(201);

    let text = scrape(&app).await;
    let count = |mechanism: &str, outcome: &str| {
        value(
            &text,
            &format!("accountd_logins_total{{mechanism=\"{mechanism}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(count("password", "success"), Some(1.0), "{text}");
    assert_eq!(count("password", "failed"), Some(1.0), "{text}");
    assert_eq!(count("password", "busy"), Some(0.0), "{text}");
    assert_eq!(count("switch", "success"), Some(1.0), "{text}");
    assert_eq!(count("switch", "failed"), Some(1.0), "{text}");
    assert_eq!(count("self_signup", "success"), Some(1.0), "{text}");
    assert_eq!(count("oidc", "success"), Some(0.0), "{text}");
    assert_eq!(count("passwordless", "success"), Some(0.0), "{text}");
    // Two verifications and the hash of the password set above passed through the pool.
    assert!(
        value(&text, "accountd_hash_wait_seconds_count").unwrap() >= 3.0,
        "{text}"
    );
    assert!(
        value(&text, "accountd_hash_work_seconds_count").unwrap() >= 3.0,
        "{text}"
    );
}

async fn the_hash_pool_and_database_pools_are_reported(app: TestApp) {
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "accountd_hash_pool_threads"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "accountd_hash_queue_bound"),
        Some(256.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "accountd_hash_queue_depth"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "accountd_hash_rejected_total"),
        Some(0.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE accountd_db_pool_connections gauge"),
        "{text}"
    );
    let max = text
        .lines()
        .filter(|line| line.starts_with("accountd_db_pool_max_connections{pool="))
        .count();
    assert!(max >= 1, "{text}");
    assert!(
        text.contains("accountd_db_pool_connections{pool=") && text.contains("state=\"in_use\"}"),
        "{text}"
    );
}

async fn the_outbox_backlog_is_reported(app: TestApp) {
    let admin = app.admin_token().await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "accountd_outbox_backlog"), Some(0.0), "{text}");
    assert_eq!(
        value(&text, "accountd_outbox_oldest_pending_age_seconds"),
        Some(0.0),
        "{text}"
    );
    // Nothing listens on the discard port: every attempt fails and the deliveries stay pending.
    app.create_integration(
        &admin,
        "http://127.0.0.1:9/hook",
        &["account.event.created"],
    )
    .await;
    app.create_account(&admin, "First").await;
    app.create_account(&admin, "Second").await;
    app.clock.advance_seconds(30);
    let text = scrape(&app).await;
    assert_eq!(value(&text, "accountd_outbox_backlog"), Some(2.0), "{text}");
    let age = value(&text, "accountd_outbox_oldest_pending_age_seconds").unwrap();
    assert!((30.0..31.0).contains(&age), "{text}");
}
