//! Events through the transactional outbox to a real receiver (docs/events.md): what a webhook
//! carries, how it is signed, that a change and its events commit together, retries with
//! backoff on the injectable clock, delivery across a restart, and two dispatchers on one
//! database delivering each event once per integration.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{TestApp, WEBHOOK_SECRET};
use crate::integrations::wait_for_logs;
use crate::receiver::Receiver;
use crate::tests;

tests![
    a_webhook_carries_the_reference_envelope_and_a_verifiable_signature,
    standard_webhooks_headers_sign_id_timestamp_and_body_on_every_attempt,
    an_integration_can_stop_sending_its_secret_key_in_clear,
    payloads_are_what_the_get_returns,
    cascades_emit_membership_deletions_first_in_order,
    a_refused_change_writes_no_event_and_a_no_op_emits_nothing,
    aliases_are_echoed_and_both_forms_deliver_once,
    a_failing_receiver_is_retried_with_backoff_until_it_succeeds,
    deliveries_stop_after_ten_attempts,
    redirects_are_not_followed_and_count_as_failures,
    disabled_and_deleted_integrations_get_nothing_more,
    an_event_survives_a_receiver_outage_across_a_server_restart,
    two_dispatchers_deliver_each_event_once_per_integration,
];

async fn a_webhook_carries_the_reference_envelope_and_a_verifiable_signature(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.event.created"])
        .await;
    let account = app.create_account(&admin, "Signed").await;
    let delivery = receiver.wait_for(1).await.remove(0);
    assert!(delivery.signature_is_valid(WEBHOOK_SECRET));
    assert!(!delivery.signature_is_valid("another-secret-entirely"));
    assert_eq!(delivery.header("x-moltin-secret-key"), Some(WEBHOOK_SECRET));
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    assert_eq!(
        delivery.header("content-length"),
        Some(delivery.body.len().to_string().as_str())
    );
    assert_eq!(delivery.header("transfer-encoding"), None);
    assert!(
        delivery
            .header("user-agent")
            .is_some_and(|agent| agent.starts_with("accountd/"))
    );
    let envelope = delivery.json();
    assert!(uuid::Uuid::parse_str(envelope["id"].as_str().unwrap()).is_ok());
    assert_eq!(envelope["triggered_by"], "account.event.created");
    assert_eq!(envelope["attempt"], 1);
    assert_eq!(
        envelope["store_id"],
        app.state.deployment.store_id.to_string()
    );
    assert_eq!(
        envelope["integration"],
        json!({"id": integration["id"], "integration_type": "webhook",
               "name": "Test receiver", "description": null})
    );
    assert_eq!(
        envelope["configuration"],
        json!({"url": receiver.url, "secret_key": WEBHOOK_SECRET})
    );
    assert_eq!(envelope["payload"]["data"]["id"], account["id"]);
    // Payloads and signatures are never logged.
    let logs = crate::helpers::captured_logs();
    assert!(!logs.contains(&delivery.json()["payload"].to_string()));
    let standard = delivery.header("webhook-signature").unwrap();
    assert!(!logs.contains(standard.trim_start_matches("v1,")));
}

async fn standard_webhooks_headers_sign_id_timestamp_and_body_on_every_attempt(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::failing_first(1).await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.event.created"])
        .await;
    app.create_account(&admin, "Signed twice").await;
    let first = receiver.wait_for(1).await.remove(0);
    let envelope_id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(first.header("webhook-id"), Some(envelope_id.as_str()));
    assert_eq!(
        first.header("webhook-timestamp"),
        Some(app.clock_seconds().to_string().as_str())
    );
    assert!(
        first
            .header("webhook-signature")
            .unwrap()
            .starts_with("v1,")
    );
    assert!(first.standard_signature_is_valid(WEBHOOK_SECRET));
    assert!(!first.standard_signature_is_valid("another-secret-entirely"));
    // The signature covers the timestamp and the id, not only the body: the same body under
    // another timestamp or id does not verify.
    let mut replayed = first.clone();
    let later = (app.clock_seconds() + 3600).to_string();
    replayed
        .headers
        .insert("webhook-timestamp", later.parse().unwrap());
    assert!(!replayed.standard_signature_is_valid(WEBHOOK_SECRET));
    let mut renamed = first.clone();
    renamed.headers.insert(
        "webhook-id",
        uuid::Uuid::new_v4().to_string().parse().unwrap(),
    );
    assert!(!renamed.standard_signature_is_valid(WEBHOOK_SECRET));

    // The retry keeps the id and is signed for its own timestamp and body (`attempt` moved).
    wait_for_logs(&app, &admin, integration["id"].as_str().unwrap(), 1).await;
    app.clock.advance_seconds(40);
    app.wake_dispatcher();
    let retry = receiver.wait_for(2).await.remove(1);
    assert_eq!(retry.json()["attempt"], 2);
    assert_eq!(retry.header("webhook-id"), Some(envelope_id.as_str()));
    assert_eq!(
        retry.header("webhook-timestamp"),
        Some(app.clock_seconds().to_string().as_str())
    );
    assert_ne!(
        retry.header("webhook-signature"),
        first.header("webhook-signature")
    );
    assert!(retry.standard_signature_is_valid(WEBHOOK_SECRET));
}

async fn an_integration_can_stop_sending_its_secret_key_in_clear(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let created = app
        .post("/v2/integrations")
        .bearer(&admin)
        .json(json!({"data": {
            "type": "integration",
            "name": "Quiet",
            "observes": ["account.event.created"],
            "configuration": {"url": receiver.url, "secret_key": WEBHOOK_SECRET,
                              "send_secret_key": false},
        }}))
        .send()
        .await
        .expect(201);
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["configuration"]["send_secret_key"], false);
    // Admins still read the key: receivers need it to verify.
    assert_eq!(
        created["data"]["configuration"]["secret_key"],
        WEBHOOK_SECRET
    );
    app.create_account(&admin, "Quiet").await;
    let quiet = receiver.wait_for(1).await.remove(0);
    assert_eq!(quiet.header("x-moltin-secret-key"), None);
    assert_eq!(quiet.json()["configuration"], json!({"url": receiver.url}));
    assert!(!String::from_utf8_lossy(&quiet.body).contains(WEBHOOK_SECRET));
    assert!(quiet.signature_is_valid(WEBHOOK_SECRET));
    assert!(quiet.standard_signature_is_valid(WEBHOOK_SECRET));

    // Turned back on, the key travels again; a non-boolean is refused.
    app.put(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .json(json!({"data": {"type": "integration",
                              "configuration": {"send_secret_key": "no"}}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'SendSecretKey' on the 'boolean' tag.",
        );
    let updated = app
        .put(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .json(json!({"data": {"type": "integration",
                              "configuration": {"send_secret_key": true}}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["configuration"]["send_secret_key"], true);
    assert_eq!(
        updated["data"]["configuration"]["url"],
        receiver.url.as_str()
    );
    app.create_account(&admin, "Loud").await;
    let loud = receiver.wait_for(2).await.remove(1);
    assert_eq!(loud.header("x-moltin-secret-key"), Some(WEBHOOK_SECRET));
    assert_eq!(loud.json()["configuration"]["secret_key"], WEBHOOK_SECRET);
}

async fn payloads_are_what_the_get_returns(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(
        &admin,
        &receiver.url,
        &[
            "account-member.event.created",
            "account-member.event.updated",
            "account.event.updated",
            "account-membership.event.created",
        ],
    )
    .await;
    let account = app.create_account(&admin, "Before").await;
    let account_id = account["id"].as_str().unwrap();
    let user = app
        .create_user(&admin, "Member", "member@example.com")
        .await;
    let member_id = user["id"].as_str().unwrap();
    let membership = app.add_membership(&admin, account_id, member_id).await;
    app.put(&format!("/v2/accounts/{account_id}"))
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "After"}}))
        .send()
        .await
        .expect(200);
    app.put(&app.realm_path(&format!("/user-authentication-info/{member_id}")))
        .bearer(&admin)
        .json(json!({"data": {"type": "user_authentication_info", "given_name": "Mem"}}))
        .send()
        .await
        .expect(200);
    let received = receiver.wait_for(4).await;
    let by_key: HashMap<String, Value> = received
        .iter()
        .map(|delivery| (delivery.triggered_by(), delivery.json()["payload"].clone()))
        .collect();
    let get = |path: String| {
        let app = &app;
        let admin = admin.clone();
        async move { app.get(&path).bearer(&admin).send().await.expect(200)["data"].clone() }
    };
    assert_eq!(
        by_key["account.event.updated"]["data"],
        get(format!("/v2/accounts/{account_id}")).await
    );
    assert_eq!(
        by_key["account-member.event.updated"]["data"],
        get(format!("/v2/account-members/{member_id}")).await
    );
    assert_eq!(
        by_key["account-member.event.created"]["data"]["given_name"],
        json!(null)
    );
    assert_eq!(
        by_key["account-member.event.created"]["data"]["type"],
        "account_member"
    );
    assert_eq!(
        by_key["account-membership.event.created"]["data"],
        membership
    );
    receiver.expect_no_more_than(&app, 4).await;
}

async fn cascades_emit_membership_deletions_first_in_order(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(
        &admin,
        &receiver.url,
        &[
            "account.event.deleted",
            "account-member.event.deleted",
            "account-membership.event.deleted",
        ],
    )
    .await;
    let account = app.create_account(&admin, "Doomed").await;
    let account_id = account["id"].as_str().unwrap();
    let first = app.create_user(&admin, "First", "first@example.com").await;
    let second = app
        .create_user(&admin, "Second", "second@example.com")
        .await;
    let first_id = first["id"].as_str().unwrap();
    let second_id = second["id"].as_str().unwrap();
    let m1 = app.add_membership(&admin, account_id, first_id).await;
    app.clock.advance_millis(5);
    let m2 = app.add_membership(&admin, account_id, second_id).await;
    let other = app.create_account(&admin, "Other").await;
    let m3 = app
        .add_membership(&admin, other["id"].as_str().unwrap(), second_id)
        .await;

    app.delete(&format!("/v2/accounts/{account_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.clock.advance_millis(5);
    app.delete(&app.realm_path(&format!("/user-authentication-info/{second_id}")))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    let received = receiver.wait_for(5).await;
    let payload_of = |key: &str| -> Vec<Value> {
        received
            .iter()
            .filter(|delivery| delivery.triggered_by() == key)
            .map(|delivery| delivery.json()["payload"].clone())
            .collect()
    };
    let membership_ids: Vec<Value> = payload_of("account-membership.event.deleted")
        .iter()
        .map(|payload| payload["id"].clone())
        .collect();
    assert_eq!(membership_ids.len(), 3);
    for membership in [&m1, &m2, &m3] {
        assert!(membership_ids.contains(&membership["id"]));
    }
    assert!(
        payload_of("account-membership.event.deleted").contains(&json!({
            "type": "account_membership", "id": m3["id"],
            "account_id": other["id"], "account_member_id": second_id,
        }))
    );
    assert_eq!(
        payload_of("account.event.deleted"),
        [json!({"type": "account", "id": account_id})]
    );
    assert_eq!(
        payload_of("account-member.event.deleted"),
        [json!({"type": "account_member", "id": second_id})]
    );
    // In the outbox the events of one transaction keep the order of the changes
    // (docs/events.md#event-catalogue): both memberships (oldest first), then the account.
    let order = app
        .count(
            "SELECT COUNT(*) FROM outbox_events e1 JOIN outbox_events e2 \
             ON e1.created_at = e2.created_at AND e1.ordinal < e2.ordinal \
             WHERE e1.event_key = 'account-membership.event.deleted' \
             AND e2.event_key = 'account.event.deleted'",
        )
        .await;
    assert_eq!(order, 2);
}

async fn a_refused_change_writes_no_event_and_a_no_op_emits_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(
        &admin,
        &receiver.url,
        &["account.event.created", "account.event.updated"],
    )
    .await;
    let account = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "A", "registration_id": "R-1"}),
        )
        .await;
    app.post("/v2/accounts")
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "B", "registration_id": "R-1"}}))
        .send()
        .await
        .expect_error(409, "account with the given registration id already exists");
    app.put(&format!("/v2/accounts/{}", account["id"].as_str().unwrap()))
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "A"}}))
        .send()
        .await
        .expect(200);
    receiver.wait_for(1).await;
    receiver.expect_no_more_than(&app, 1).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox_events").await, 1);
}

async fn aliases_are_echoed_and_both_forms_deliver_once(app: TestApp) {
    let admin = app.admin_token().await;
    let alias_only = Receiver::start().await;
    let both = Receiver::start().await;
    app.create_integration(&admin, &alias_only.url, &["account.created"])
        .await;
    app.create_integration(
        &admin,
        &both.url,
        &["account.created", "account.event.created"],
    )
    .await;
    app.create_account(&admin, "Aliased").await;
    assert_eq!(
        alias_only.wait_for(1).await[0].triggered_by(),
        "account.created"
    );
    assert_eq!(
        both.wait_for(1).await[0].triggered_by(),
        "account.event.created"
    );
    both.expect_no_more_than(&app, 1).await;
    let ids: Vec<Value> = [&alias_only, &both]
        .iter()
        .map(|receiver| receiver.received()[0].json()["id"].clone())
        .collect();
    // One event, one id, whichever integration receives it.
    assert_eq!(ids[0], ids[1]);
}

async fn a_failing_receiver_is_retried_with_backoff_until_it_succeeds(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::failing_first(2).await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.event.created"])
        .await;
    let id = integration["id"].as_str().unwrap();
    app.create_account(&admin, "Retried").await;
    receiver.wait_for(1).await;
    wait_for_logs(&app, &admin, id, 1).await;
    // The second attempt waits 30 s ± 20 %: not before 24 s have passed on the server's clock.
    app.clock.advance_seconds(23);
    receiver.expect_no_more_than(&app, 1).await;
    app.clock.advance_seconds(14);
    app.wake_dispatcher();
    receiver.wait_for(2).await;
    wait_for_logs(&app, &admin, id, 2).await;
    // The third waits 60 s ± 20 %.
    app.clock.advance_seconds(73);
    app.wake_dispatcher();
    let received = receiver.wait_for(3).await;
    let attempts: Vec<Value> = received
        .iter()
        .map(|delivery| delivery.json()["attempt"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    let ids: Vec<Value> = received.iter().map(|d| d.json()["id"].clone()).collect();
    assert!(ids.iter().all(|event_id| *event_id == ids[0]));
    assert!(
        received
            .iter()
            .all(|d| d.signature_is_valid(WEBHOOK_SECRET))
    );
    let logs = wait_for_logs(&app, &admin, id, 3).await;
    let outcomes: Vec<(Value, Value)> = logs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| (log["attempt"].clone(), log["succeeded"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!(3), json!(true)),
            (json!(2), json!(false)),
            (json!(1), json!(false))
        ]
    );
    // Delivered: nothing more, however far the clock moves.
    app.clock.advance_seconds(7200);
    receiver.expect_no_more_than(&app, 3).await;
}

async fn deliveries_stop_after_ten_attempts(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::failing_first(usize::MAX).await;
    let integration = app
        .create_integration(&admin, &receiver.url, &["account.event.created"])
        .await;
    let id = integration["id"].as_str().unwrap();
    app.create_account(&admin, "Never").await;
    for attempt in 1..=10 {
        receiver.wait_for(attempt).await;
        // Bearer tokens live an hour; each step moves the clock further.
        let admin = app.admin_token().await;
        wait_for_logs(&app, &admin, id, attempt as u64).await;
        app.clock.advance_seconds(4400);
        app.wake_dispatcher();
    }
    receiver.expect_no_more_than(&app, 10).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'failed'")
            .await,
        1
    );
}

async fn redirects_are_not_followed_and_count_as_failures(app: TestApp) {
    let admin = app.admin_token().await;
    let target = Receiver::start().await;
    let redirecting = Receiver::redirecting_to(&target.url).await;
    let integration = app
        .create_integration(&admin, &redirecting.url, &["account.event.created"])
        .await;
    app.create_account(&admin, "Redirected").await;
    redirecting.wait_for(1).await;
    let logs = wait_for_logs(&app, &admin, integration["id"].as_str().unwrap(), 1).await;
    assert_eq!(logs["data"][0]["succeeded"], false);
    assert_eq!(logs["data"][0]["status_code"], 307);
    assert_eq!(logs["data"][0]["body"], "Moved");
    target.expect_no_more_than(&app, 0).await;
}

async fn disabled_and_deleted_integrations_get_nothing_more(app: TestApp) {
    let admin = app.admin_token().await;
    let disabled = Receiver::failing_first(usize::MAX).await;
    let deleted = Receiver::failing_first(usize::MAX).await;
    let first = app
        .create_integration(&admin, &disabled.url, &["account.event.created"])
        .await;
    let second = app
        .create_integration(&admin, &deleted.url, &["account.event.created"])
        .await;
    app.create_account(&admin, "Pending").await;
    disabled.wait_for(1).await;
    deleted.wait_for(1).await;
    app.put(&format!(
        "/v2/integrations/{}",
        first["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .json(json!({"data": {"type": "integration", "enabled": false}}))
    .send()
    .await
    .expect(200);
    app.delete(&format!(
        "/v2/integrations/{}",
        second["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    app.create_account(&admin, "Later").await;
    app.clock.advance_seconds(3600);
    disabled.expect_no_more_than(&app, 1).await;
    deleted.expect_no_more_than(&app, 1).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'pending'")
            .await,
        0
    );
}

async fn an_event_survives_a_receiver_outage_across_a_server_restart(app: TestApp) {
    let admin = app.admin_token().await;
    let url = Receiver::reserve_url().await;
    app.create_integration(&admin, &url, &["account.event.created"])
        .await;
    let account = app.create_account(&admin, "Durable").await;
    // The first attempt meets a closed port and is logged as a failure.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .count(
            "SELECT COUNT(*) FROM integration_logs WHERE succeeded = false AND status_code IS NULL",
        )
        .await
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.shut_down().await;

    let receiver = Receiver::start_at(&url).await;
    let restarted = app.another_replica().await;
    restarted.clock.advance_seconds(40);
    restarted.wake_dispatcher();
    let delivery = receiver.wait_for(1).await.remove(0);
    let envelope = delivery.json();
    assert_eq!(envelope["attempt"], 2);
    assert_eq!(envelope["payload"]["data"]["id"], account["id"]);
    receiver.expect_no_more_than(&restarted, 1).await;
}

async fn two_dispatchers_deliver_each_event_once_per_integration(app: TestApp) {
    // Runs on both backends: on PostgreSQL the claims race on row locks (SKIP LOCKED), on
    // SQLite on the database's single write lock; either way no delivery may be sent twice.
    let admin = app.admin_token().await;
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    app.create_integration(&admin, &first.url, &["account.event.created"])
        .await;
    app.create_integration(&admin, &second.url, &["account.created"])
        .await;
    let replica = app.another_replica().await;
    const ACCOUNTS: usize = 60;
    let mut tasks = Vec::new();
    for index in 0..ACCOUNTS {
        let (client, base) = if index % 2 == 0 {
            (app.client.clone(), app.address.clone())
        } else {
            (replica.client.clone(), replica.address.clone())
        };
        let bearer = admin.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/v2/accounts"))
                .bearer_auth(bearer)
                .json(&json!({"data": {"type": "account", "name": format!("Load {index}")}}))
                .send()
                .await
                .map(|reply| reply.status().as_u16())
                .unwrap_or(0)
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    for receiver in [&first, &second] {
        let received = receiver.wait_for(ACCOUNTS).await;
        receiver.expect_no_more_than(&app, ACCOUNTS).await;
        let mut ids: Vec<String> = received
            .iter()
            .map(|delivery| delivery.json()["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ACCOUNTS, "an event was delivered twice");
        assert!(received.iter().all(|d| d.json()["attempt"] == 1));
    }
}
