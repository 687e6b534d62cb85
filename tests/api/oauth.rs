//! `POST /oauth/access_token` (docs/authentication.md#the-access-token-endpoint) and bearer token
//! validation (docs/authentication.md#bearer-tokens).

use serde_json::json;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, TestApp};
use crate::tests;

tests![
    client_credentials_give_an_admin_token,
    implicit_gives_a_shopper_token,
    json_bodies_and_mislabelled_forms_are_accepted,
    missing_fields_are_named,
    unknown_clients_and_wrong_secrets_get_the_same_answer,
    a_bearer_token_expires_after_an_hour,
    requests_without_a_valid_bearer_are_unauthorized,
    a_nul_byte_in_a_client_id_is_an_unknown_client,
];

async fn client_credentials_give_an_admin_token(app: TestApp) {
    let reply = app
        .post("/oauth/access_token")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw(format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ))
        .send()
        .await;
    let body = reply.expect(200);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.len(), 40);
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["identifier"], "client_credentials");
    let now = app.clock_seconds();
    assert_eq!(body["expires"].as_i64().unwrap(), now + 3600);
    // An admin may create accounts.
    app.post("/v2/accounts")
        .bearer(token)
        .json(json!({"data": {"type": "account", "name": "A"}}))
        .send()
        .await
        .expect(201);
}

async fn implicit_gives_a_shopper_token(app: TestApp) {
    let reply = app
        .post("/oauth/access_token")
        .raw(format!("grant_type=implicit&client_id={CLIENT_ID}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await;
    let body = reply.expect(200);
    assert_eq!(body["identifier"], "implicit");
    let token = body["access_token"].as_str().unwrap();
    app.post("/v2/accounts")
        .bearer(token)
        .json(json!({"data": {"type": "account", "name": "A"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.get("/v2/settings/account-authentication")
        .bearer(token)
        .send()
        .await
        .expect(200);
}

async fn json_bodies_and_mislabelled_forms_are_accepted(app: TestApp) {
    app.post("/oauth/access_token")
        .json(json!({"grant_type": "implicit", "client_id": CLIENT_ID}))
        .send()
        .await
        .expect(200);
    // Elastic Path's own curl examples send form fields labelled as JSON.
    app.post("/oauth/access_token")
        .header("Content-Type", "application/json")
        .raw(format!("grant_type=implicit&client_id={CLIENT_ID}"))
        .send()
        .await
        .expect(200);
}

async fn missing_fields_are_named(app: TestApp) {
    let cases = [
        (
            "client_id=x",
            "grant_type must be client_credentials or implicit",
        ),
        (
            "grant_type=password&client_id=x",
            "grant_type must be client_credentials or implicit",
        ),
        ("grant_type=implicit", "client_id is required"),
        ("grant_type=implicit&client_id=", "client_id is required"),
        (
            "grant_type=client_credentials&client_id=x",
            "client_secret is required",
        ),
    ];
    for (form, detail) in cases {
        app.post("/oauth/access_token")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .raw(form)
            .send()
            .await
            .expect_error(400, detail);
    }
}

async fn unknown_clients_and_wrong_secrets_get_the_same_answer(app: TestApp) {
    let wrong_secret = app
        .post("/oauth/access_token")
        .raw(format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=nope"
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await;
    let unknown = app
        .post("/oauth/access_token")
        .raw("grant_type=client_credentials&client_id=nobody&client_secret=nope")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await;
    wrong_secret.expect_error(401, "invalid client credentials");
    assert_eq!(wrong_secret.text, unknown.text);
    app.post("/oauth/access_token")
        .raw("grant_type=implicit&client_id=nobody")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect_error(401, "invalid client credentials");
}

async fn a_bearer_token_expires_after_an_hour(app: TestApp) {
    let admin = app.admin_token().await;
    app.clock.advance_seconds(3599);
    app.get("/v2/accounts")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    app.clock.advance_seconds(1);
    app.get("/v2/accounts")
        .bearer(&admin)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn requests_without_a_valid_bearer_are_unauthorized(app: TestApp) {
    app.get("/v2/accounts")
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
    app.get("/v2/accounts")
        .bearer("0123456789abcdef0123456789abcdef01234567")
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
    let admin = app.admin_token().await;
    app.get("/v2/accounts")
        .header("Authorization", &format!("bearer {admin}"))
        .send()
        .await
        .expect(200);
    app.get("/v2/accounts")
        .header("Authorization", &format!("Basic {admin}"))
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn a_nul_byte_in_a_client_id_is_an_unknown_client(app: TestApp) {
    app.post("/oauth/access_token")
        .raw("grant_type=implicit&client_id=a%00b")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect_error(401, "invalid client credentials");
    app.post("/oauth/access_token")
        .json(json!({"grant_type": "client_credentials", "client_id": "a\u{0}", "client_secret": "x"}))
        .send()
        .await
        .expect_error(401, "invalid client credentials");
}
