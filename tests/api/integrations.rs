//! The integrations resource (docs/events.md#integrations), integrations from configuration
//! (docs/events.md#integrations-from-configuration) and their logs.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, WEBHOOK_SECRET, spawn_app, test_config};
use crate::receiver::Receiver;
use crate::tests;

tests![
    an_admin_creates_reads_lists_updates_and_deletes_integrations,
    a_missing_secret_key_is_generated,
    integration_bodies_are_validated_with_the_reference_wording,
    only_admins_may_touch_integrations,
    integrations_from_configuration_are_listed_but_not_changed,
    logs_list_every_attempt_newest_first,
    logs_and_delivered_events_are_forgotten_after_seven_days,
    internal_destinations_are_refused_when_saved,
    a_saved_destination_that_is_not_allowed_now_fails_without_connecting,
    a_configured_integration_whose_host_resolves_inside_stops_the_start,
    a_test_event_goes_to_that_integration_alone_and_is_logged,
    a_test_event_needs_a_known_enabled_integration_and_an_admin,
];

/// This app's database served under the default destination policy.
async fn strict_replica(app: &TestApp) -> TestApp {
    let mut config = test_config(&app.database_url);
    config.destinations.allow_private = false;
    spawn_app(config).await
}

/// A TCP listener that counts the connections it accepts and closes each at once, so a
/// delivery to it fails fast and a test can tell whether anything connected at all.
struct ConnectionCounter {
    port: u16,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectionCounter {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(socket);
            }
        });
        Self {
            port,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for ConnectionCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn integration_body(url: &str) -> serde_json::Value {
    json!({"data": {
        "type": "integration",
        "name": "Inside",
        "enabled": false,
        "observes": ["account.created"],
        "configuration": {"url": url, "secret_key": WEBHOOK_SECRET},
    }})
}

async fn an_admin_creates_reads_lists_updates_and_deletes_integrations(app: TestApp) {
    let admin = app.admin_token().await;
    let created = app
        .post("/v2/integrations")
        .bearer(&admin)
        .json(json!({"data": {
            "type": "integration",
            "name": "OTP mailer",
            "description": "Sends one-time passwords by email",
            "observes": ["one-time-password-token-request.created", "account.created"],
            "configuration": {"url": "https://hooks.example.com/otp", "secret_key": WEBHOOK_SECRET},
        }}))
        .send()
        .await
        .expect(201);
    let data = &created["data"];
    let id = data["id"].as_str().unwrap().to_owned();
    assert_eq!(data["type"], "integration");
    assert_eq!(data["enabled"], true);
    assert_eq!(data["integration_type"], "webhook");
    assert_eq!(
        data["observes"],
        json!(["one-time-password-token-request.created", "account.created"])
    );
    assert_eq!(
        data["configuration"],
        json!({"url": "https://hooks.example.com/otp", "secret_key": WEBHOOK_SECRET,
               "send_secret_key": true})
    );
    let self_link = format!("http://accountd.test/v2/integrations/{id}");
    assert_eq!(data["links"]["self"], self_link);
    assert_eq!(created["links"]["self"], self_link);
    assert!(data["meta"]["timestamps"]["created_at"].is_string());

    let read = app
        .get(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"], *data);

    let list = app
        .get("/v2/integrations")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    assert_eq!(list["data"][0]["id"], id.as_str());

    let updated = app
        .put(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .json(
            json!({"data": {"type": "integration", "enabled": false, "description": null,
            "configuration": {"url": "http://127.0.0.1:9/hook"}}}),
        )
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["enabled"], false);
    assert_eq!(updated["data"]["description"], json!(null));
    assert_eq!(updated["data"]["name"], "OTP mailer");
    assert_eq!(
        updated["data"]["configuration"],
        json!({"url": "http://127.0.0.1:9/hook", "secret_key": WEBHOOK_SECRET,
               "send_secret_key": true})
    );

    app.delete(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    for reply in [
        app.get(&format!("/v2/integrations/{id}"))
            .bearer(&admin)
            .send()
            .await,
        app.delete(&format!("/v2/integrations/{id}"))
            .bearer(&admin)
            .send()
            .await,
        app.get(&format!("/v2/integrations/{id}/logs"))
            .bearer(&admin)
            .send()
            .await,
        app.get("/v2/integrations/not-a-uuid")
            .bearer(&admin)
            .send()
            .await,
    ] {
        reply.expect_error(404, "integration not found");
    }
}

async fn a_missing_secret_key_is_generated(app: TestApp) {
    let admin = app.admin_token().await;
    let created = app
        .post("/v2/integrations")
        .bearer(&admin)
        .json(json!({"data": {"type": "integration", "name": "Generated",
            "observes": ["account.event.created"],
            "configuration": {"url": "https://hooks.example.com"}}}))
        .send()
        .await
        .expect(201);
    let secret = created["data"]["configuration"]["secret_key"]
        .as_str()
        .unwrap();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|byte| byte.is_ascii_hexdigit()));
}

async fn integration_bodies_are_validated_with_the_reference_wording(app: TestApp) {
    let admin = app.admin_token().await;
    let cases = [
        (
            json!({"type": "integration"}),
            "Validation failed: field 'Name' on the 'required' tag; field 'Observes' on the 'required' tag; field 'Configuration' on the 'required' tag.",
        ),
        (
            json!({"type": "webhook", "name": "", "observes": [], "configuration": {}}),
            "Validation failed: field 'Type' on the 'eq' tag; field 'Name' on the 'min' tag; field 'Observes' on the 'min' tag; field 'URL' on the 'required' tag.",
        ),
        (
            json!({"type": "integration", "name": "x", "integration_type": "sqs",
                "observes": ["account.created", "account.renamed"],
                "configuration": {"url": "ftp://hooks.example.com", "secret_key": "short"}}),
            "Validation failed: field 'IntegrationType' on the 'oneof' tag; field 'Observes' on the 'oneof' tag; field 'URL' on the 'url' tag; field 'SecretKey' on the 'min' tag.",
        ),
        (
            json!({"type": "integration", "name": "x", "enabled": "yes",
                "observes": "account.created", "configuration": "https://x"}),
            "Validation failed: field 'Enabled' on the 'boolean' tag; field 'Observes' on the 'array' tag; field 'Configuration' on the 'object' tag.",
        ),
    ];
    for (body, detail) in cases {
        app.post("/v2/integrations")
            .bearer(&admin)
            .json(json!({ "data": body }))
            .send()
            .await
            .expect_error(400, detail);
    }
    let too_many: Vec<&str> = std::iter::repeat_n("account.created", 51).collect();
    app.post("/v2/integrations")
        .bearer(&admin)
        .json(
            json!({"data": {"type": "integration", "name": "x", "observes": too_many,
            "configuration": {"url": "https://x.example"}}}),
        )
        .send()
        .await
        .expect_error(400, "Validation failed: field 'Observes' on the 'max' tag.");
    app.get("/v2/integrations?filter=eq(name,x)")
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied filter");
    app.get("/v2/integrations?sort=url")
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied sort");
}

async fn only_admins_may_touch_integrations(app: TestApp) {
    let shopper = app.implicit_token().await;
    for reply in [
        app.get("/v2/integrations").bearer(&shopper).send().await,
        app.get("/v2/integrations/logs")
            .bearer(&shopper)
            .send()
            .await,
        app.post("/v2/integrations")
            .bearer(&shopper)
            .json(json!({"data": {}}))
            .send()
            .await,
    ] {
        reply.expect_error(403, "forbidden");
    }
    app.get("/v2/integrations")
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn integrations_from_configuration_are_listed_but_not_changed(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.integrations = accountd::config::parse_integrations(
        r#"[{"name": "Mailer", "url": "https://hooks.example.com/mail",
             "secret_key": "configured-secret-key", "observes": ["account.created"],
             "send_secret_key": false}]"#,
        config.destinations,
    )
    .unwrap();
    let configured = spawn_app(config).await;
    let admin = configured.admin_token().await;
    let id = Uuid::new_v5(&configured.state.deployment.store_id, b"Mailer");
    let read = configured
        .get(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"]["name"], "Mailer");
    assert_eq!(read["data"]["observes"], json!(["account.created"]));
    assert_eq!(
        read["data"]["configuration"],
        json!({"url": "https://hooks.example.com/mail", "secret_key": "configured-secret-key",
               "send_secret_key": false})
    );
    // A bad body is still a 400; a good one meets the 409.
    configured
        .put(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .json(json!({"data": {"type": "integration", "name": ""}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'Name' on the 'min' tag.");
    configured
        .put(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .json(json!({"data": {"type": "integration", "enabled": false}}))
        .send()
        .await
        .expect_error(409, "integration is managed by configuration");
    configured
        .delete(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect_error(409, "integration is managed by configuration");
    configured.shut_down().await;

    // The same database started without it: gone.
    let restarted = spawn_app(test_config(&app.database_url)).await;
    restarted
        .get(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "integration not found");
}

async fn logs_list_every_attempt_newest_first(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::failing_first(1).await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.created"])
        .await;
    let id = integration["id"].as_str().unwrap();
    app.create_account(&admin, "Logged").await;
    receiver.wait_for(1).await;
    // The first attempt's log row is written after the receiver answered: wait for it, so
    // that it is stamped before the clock moves and the order is deterministic.
    wait_for_logs(&app, &admin, id, 1).await;
    app.clock.advance_seconds(40);
    app.wake_dispatcher();
    let received = receiver.wait_for(2).await;
    let event_id = received[0].json()["id"].clone();
    let logs = wait_for_logs(&app, &admin, id, 2).await;
    assert_eq!(logs["meta"]["results"]["total"], 2);
    let newest = &logs["data"][0];
    let oldest = &logs["data"][1];
    assert_eq!(newest["type"], "integration_log");
    assert_eq!(newest["attempt"], 2);
    assert_eq!(newest["succeeded"], true);
    assert_eq!(newest["status_code"], 204);
    assert_eq!(newest["error_detail"], json!(null));
    assert_eq!(oldest["attempt"], 1);
    assert_eq!(oldest["succeeded"], false);
    assert_eq!(oldest["status_code"], 500);
    assert_eq!(oldest["body"], "Not ready");
    assert_eq!(
        oldest["error_detail"],
        "Received a status code outside of 2xx range - treating webhook as a fail"
    );
    for log in [newest, oldest] {
        assert_eq!(log["event_id"], event_id);
        assert_eq!(log["triggered_by"], "account.created");
        assert_eq!(
            log["relationships"]["integration"]["data"],
            json!({"type": "integration", "id": id})
        );
        assert!(log["meta"]["timestamps"]["created_at"].is_string());
    }
    let all = app
        .get("/v2/integrations/logs")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(all["data"], logs["data"]);
}

async fn logs_and_delivered_events_are_forgotten_after_seven_days(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.created"])
        .await;
    let id = integration["id"].as_str().unwrap();
    app.create_account(&admin, "Old news").await;
    wait_for_logs(&app, &admin, id, 1).await;
    let store = &app.state.store;
    app.clock.advance_seconds(6 * 24 * 3600);
    store
        .purge_outbox(accountd::time::Clock::now(app.clock.as_ref()))
        .await
        .unwrap();
    let admin = app.admin_token().await;
    wait_for_logs(&app, &admin, id, 1).await;
    app.clock.advance_seconds(2 * 24 * 3600);
    store
        .purge_outbox(accountd::time::Clock::now(app.clock.as_ref()))
        .await
        .unwrap();
    let admin = app.admin_token().await;
    let logs = app
        .get(&format!("/v2/integrations/{id}/logs"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(logs["meta"]["results"]["total"], 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox_events").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox_deliveries").await, 0);
}

/// The log of an attempt is written just after the receiver answered; wait for it.
pub async fn wait_for_logs(app: &TestApp, admin: &str, id: &str, count: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = app
            .get(&format!("/v2/integrations/{id}/logs"))
            .bearer(admin)
            .send()
            .await
            .expect(200);
        if logs["meta"]["results"]["total"].as_u64() >= Some(count) {
            return logs;
        }
        assert!(std::time::Instant::now() < deadline, "logs: {logs}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn internal_destinations_are_refused_when_saved(app: TestApp) {
    let strict = strict_replica(&app).await;
    let admin = strict.admin_token().await;
    let refused = [
        // Loopback, by address and by a name that resolves to it.
        "https://127.0.0.1/hooks",
        "https://127.1.2.3:8443/hooks",
        "https://[::1]/hooks",
        "https://localhost:9/hooks",
        // Private (RFC 1918, unique local IPv6) and shared (CGNAT) ranges.
        "https://10.0.0.8/hooks",
        "https://172.16.5.4/hooks",
        "https://192.168.0.1/hooks",
        "https://[fd12:3456::1]/hooks",
        "https://100.64.0.1/hooks",
        // Link-local and cloud metadata.
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hooks",
        "https://[fd00:ec2::254]/hooks",
        // Unspecified, and IPv4-mapped IPv6 forms of the above.
        "https://0.0.0.0/hooks",
        "https://[::]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://[::ffff:169.254.169.254]/hooks",
        "https://[::ffff:10.0.0.1]/hooks",
        // Decimal and hexadecimal spellings of 127.0.0.1.
        "https://2130706433/hooks",
        "https://0x7f000001/hooks",
        // User-info, and plain http to an address that would otherwise be fine.
        "https://user:password@93.184.216.34/hooks",
        "https://user@93.184.216.34/hooks",
        "http://93.184.216.34/hooks",
    ];
    for url in refused {
        strict
            .post("/v2/integrations")
            .bearer(&admin)
            .json(integration_body(url))
            .send()
            .await
            .expect_error(422, "destination is not allowed");
    }
    // Syntax is still judged first: a body with other mistakes is a 400.
    strict
        .post("/v2/integrations")
        .bearer(&admin)
        .json(json!({"data": {"type": "integration", "name": "",
                              "observes": ["account.created"],
                              "configuration": {"url": "https://127.0.0.1/"}}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'Name' on the 'min' tag.");
    let total = |reply: serde_json::Value| reply["meta"]["results"]["total"].clone();
    let list = strict
        .get("/v2/integrations")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(total(list), 0, "nothing was stored");

    // A public address over https is saved (disabled, so nothing is ever sent to it).
    let saved = strict
        .post("/v2/integrations")
        .bearer(&admin)
        .json(integration_body("https://93.184.216.34/hooks"))
        .send()
        .await
        .expect(201);
    let id = saved["data"]["id"].as_str().unwrap();
    for url in ["https://169.254.169.254/", "https://localhost/hooks"] {
        strict
            .put(&format!("/v2/integrations/{id}"))
            .bearer(&admin)
            .json(json!({"data": {"type": "integration", "configuration": {"url": url}}}))
            .send()
            .await
            .expect_error(422, "destination is not allowed");
    }
    let read = strict
        .get(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        read["data"]["configuration"]["url"],
        "https://93.184.216.34/hooks"
    );
    strict.shut_down().await;

    // With ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true (the test configuration) the same URLs save.
    let admin = app.admin_token().await;
    for url in ["https://127.0.0.1/hooks", "http://localhost:9/hooks"] {
        app.post("/v2/integrations")
            .bearer(&admin)
            .json(integration_body(url))
            .send()
            .await
            .expect(201);
    }
}

async fn a_saved_destination_that_is_not_allowed_now_fails_without_connecting(app: TestApp) {
    let counter = ConnectionCounter::start().await;
    let port = counter.port;
    // Saved while private destinations were allowed: one through a host name that resolves to
    // loopback (judged by the resolver when connecting), one through an address (judged from
    // the URL before connecting).
    let admin = app.admin_token().await;
    let by_name = app
        .create_integration(
            &admin,
            &format!("https://localhost:{port}/hooks"),
            &["account.created"],
        )
        .await;
    let by_address = app
        .create_integration(
            &admin,
            &format!("http://127.0.0.1:{port}/hooks"),
            &["account.created"],
        )
        .await;
    app.shut_down().await;

    let strict = strict_replica(&app).await;
    let admin = strict.admin_token().await;
    strict
        .create_account(&admin, "Triggers two deliveries")
        .await;
    for integration in [&by_name, &by_address] {
        let id = integration["id"].as_str().unwrap();
        let logs = wait_for_logs(&strict, &admin, id, 1).await;
        let log = &logs["data"][0];
        assert_eq!(log["succeeded"], false, "{log}");
        assert_eq!(log["status_code"], serde_json::Value::Null, "{log}");
        assert_eq!(log["body"], serde_json::Value::Null, "{log}");
        assert_eq!(log["error_detail"], "destination is not allowed", "{log}");
    }
    assert_eq!(
        counter.accepted(),
        0,
        "a refused destination was connected to"
    );
    strict.shut_down().await;

    // The counter does see connections: allowed again, both destinations are reached (and
    // fail, since it answers nothing, with another detail).
    let allowed = spawn_app(test_config(&app.database_url)).await;
    let admin = allowed.admin_token().await;
    allowed.create_account(&admin, "Triggers two more").await;
    for integration in [&by_name, &by_address] {
        let id = integration["id"].as_str().unwrap();
        let logs = wait_for_logs(&allowed, &admin, id, 2).await;
        assert_ne!(
            logs["data"][0]["error_detail"],
            "destination is not allowed"
        );
    }
    assert!(counter.accepted() >= 2, "{}", counter.accepted());
}

async fn a_configured_integration_whose_host_resolves_inside_stops_the_start(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.destinations.allow_private = false;
    config.integrations = accountd::config::parse_integrations(
        r#"[{"name": "Inside", "url": "https://localhost:9/hooks",
             "secret_key": "configured-secret-key", "observes": ["account.created"]}]"#,
        config.destinations,
    )
    .unwrap();
    let clock = std::sync::Arc::new(accountd::time::ManualClock::starting_now());
    let Err(error) = accountd::Application::build_with_clock(config, clock).await else {
        panic!("the start should stop");
    };
    let message = error.to_string();
    assert!(message.contains("\"Inside\""), "{message}");
    assert!(message.contains("destination is not allowed"), "{message}");
}

async fn a_test_event_goes_to_that_integration_alone_and_is_logged(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let bystander = Receiver::start().await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.created"])
        .await;
    let id = integration["id"].as_str().unwrap();
    app.create_integration(&admin, &bystander.url, &["account.created"])
        .await;

    let queued = app
        .post(&format!("/v2/integrations/{id}/test-event"))
        .bearer(&admin)
        .send()
        .await
        .expect(202);
    let data = &queued["data"];
    assert_eq!(data["type"], "integration_test_event");
    assert_eq!(data["triggered_by"], "integration.test");
    assert_eq!(data["status"], "queued");
    assert_eq!(
        data["relationships"]["integration"]["data"],
        json!({"type": "integration", "id": id})
    );
    assert_eq!(
        data["links"]["logs"],
        format!("http://accountd.test/v2/integrations/{id}/logs")
    );
    let event_id = data["id"].as_str().unwrap();

    let delivered = receiver.wait_for(1).await;
    let envelope = delivered[0].json();
    assert_eq!(envelope["id"], event_id);
    assert_eq!(envelope["triggered_by"], "integration.test");
    assert_eq!(envelope["integration"]["id"], id);
    assert_eq!(envelope["payload"], data["payload"]);
    assert_eq!(envelope["payload"]["type"], "integration_test");
    assert!(delivered[0].signature_is_valid(WEBHOOK_SECRET));

    let logs = wait_for_logs(&app, &admin, id, 1).await;
    assert_eq!(logs["data"][0]["event_id"], event_id);
    assert_eq!(logs["data"][0]["triggered_by"], "integration.test");
    assert_eq!(logs["data"][0]["succeeded"], true);

    // The other integration, which observes the same events, heard nothing of it.
    app.create_account(&admin, "After the test").await;
    let after = bystander.wait_for(1).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].json()["triggered_by"], "account.created");
    assert_eq!(receiver.wait_for(2).await.len(), 2);

    let audit = app
        .get("/v2/audit-events?filter=eq(event_type,integration_test_event.created)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(audit["meta"]["results"]["total"], 1);
    assert_eq!(
        audit["data"][0]["subject"],
        format!("/v2/integrations/{id}/test-event")
    );
}

async fn a_test_event_needs_a_known_enabled_integration_and_an_admin(app: TestApp) {
    let admin = app.admin_token().await;
    let unknown = Uuid::new_v4();
    app.post(&format!("/v2/integrations/{unknown}/test-event"))
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "integration not found");
    app.post("/v2/integrations/not-an-id/test-event")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "integration not found");

    let disabled = app
        .post("/v2/integrations")
        .bearer(&admin)
        .json(integration_body("https://hooks.example.com/off"))
        .send()
        .await
        .expect(201);
    let id = disabled["data"]["id"].as_str().unwrap();
    let path = format!("/v2/integrations/{id}/test-event");
    app.post(&path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(409, "integration is disabled");

    let shopper = app.implicit_token().await;
    app.post(&path)
        .bearer(&shopper)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post(&path)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox_events").await, 0);
}
