//! The `self_signup` mechanism (docs/login.md#self-sign-up): registration and login in one call, an
//! optional account created with the member (docs/decisions.md#self-sign-up-in-one-transaction),
//! duplicates, and the validation wording
//! (docs/account-tokens.md#order-of-checks-at-the-token-endpoint).

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::receiver::Receiver;
use crate::tests;

tests![
    self_signup_is_refused_while_disabled,
    a_shopper_signs_up_and_logs_in_without_an_account,
    auto_create_gives_the_member_an_account_and_its_token,
    a_taken_username_conflicts_whatever_its_case,
    a_taken_email_conflicts_under_the_realm_policy,
    email_profiles_want_email_usernames_and_fields_are_validated,
];

fn signup(profile_id: &str, username: &str, email: &str) -> Value {
    json!({
        "type": "account_management_authentication_token",
        "authentication_mechanism": "self_signup",
        "password_profile_id": profile_id,
        "username": username,
        "password": "a-long-enough-password",
        "name": "April Ludgate",
        "email": email,
    })
}

async fn post_signup(app: &TestApp, bearer: &str, data: Value) -> Reply {
    app.post("/v2/account-members/tokens")
        .bearer(bearer)
        .json(json!({ "data": data }))
        .send()
        .await
}

async fn profile(app: &TestApp, admin: &str, format: &str) -> String {
    app.create_password_profile(
        admin,
        json!({"type": "password_profile", "name": "Sign-ups", "username_format": format}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn self_signup_is_refused_while_disabled(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let profile_id = profile(&app, &admin, "any").await;
    post_signup(
        &app,
        &shopper,
        signup(&profile_id, "april", "april@example.com"),
    )
    .await
    .expect_error(403, "self signup is disabled");
    // The precondition comes before the fields
    // (docs/account-tokens.md#order-of-checks-at-the-token-endpoint).
    post_signup(
        &app,
        &shopper,
        json!({"type": "account_management_authentication_token", "authentication_mechanism": "self_signup"}),
    )
    .await
    .expect_error(403, "self signup is disabled");
    let members = app
        .get("/v2/account-members")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(members["meta"]["results"]["total"], 0);
}

async fn a_shopper_signs_up_and_logs_in_without_an_account(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(
        &admin,
        &receiver.url,
        &["account-member.event.created", "account.event.created"],
    )
    .await;
    app.set_auth_settings(&admin, json!({"enable_self_signup": true}))
        .await;
    let profile_id = profile(&app, &admin, "any").await;
    let mut data = signup(&profile_id, "April", "april@example.com");
    data["family_name"] = json!("Ludgate");
    let reply = post_signup(&app, &shopper, data).await;
    let body = reply.expect(201);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["meta"]["results"]["total"], 0);
    let member_id = body["meta"]["account_member_id"].as_str().unwrap();
    let member = app
        .get(&format!("/v2/account-members/{member_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(member["data"]["name"], "April Ludgate");
    assert_eq!(member["data"]["family_name"], "Ludgate");
    app.login(&shopper, &profile_id, "april", "a-long-enough-password")
        .await
        .expect(201);
    let delivery = receiver.wait_for(1).await.remove(0);
    assert_eq!(delivery.triggered_by(), "account-member.event.created");
    assert_eq!(delivery.json()["payload"]["data"], member["data"]);
    receiver.expect_no_more_than(&app, 1).await;
}

async fn auto_create_gives_the_member_an_account_and_its_token(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(
        &admin,
        &receiver.url,
        &[
            "account-member.event.created",
            "account.event.created",
            "account-membership.event.created",
        ],
    )
    .await;
    app.set_auth_settings(
        &admin,
        json!({"enable_self_signup": true, "auto_create_account_for_account_members": true}),
    )
    .await;
    let profile_id = profile(&app, &admin, "email").await;
    let body = post_signup(
        &app,
        &shopper,
        signup(&profile_id, "april@example.com", "april@example.com"),
    )
    .await
    .expect(201);
    assert_eq!(body["meta"]["results"]["total"], 1);
    let token = &body["data"][0];
    assert_eq!(token["account_name"], "April Ludgate");
    let account_id = token["account_id"].as_str().unwrap();
    let account = app
        .get(&format!("/v2/accounts/{account_id}"))
        .bearer(&shopper)
        .account_token(token["token"].as_str().unwrap())
        .send()
        .await
        .expect(200);
    assert_eq!(account["data"]["name"], "April Ludgate");
    assert_eq!(account["data"]["legal_name"], "April Ludgate");
    let received = receiver.wait_for(3).await;
    let mut keys: Vec<String> = received.iter().map(|d| d.triggered_by()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "account-member.event.created",
            "account-membership.event.created",
            "account.event.created"
        ]
    );
    // In the outbox: member, then account, then membership (docs/events.md#event-catalogue).
    for (ordinal, key) in [
        "account-member.event.created",
        "account.event.created",
        "account-membership.event.created",
    ]
    .iter()
    .enumerate()
    {
        let found = app
            .count(&format!(
                "SELECT COUNT(*) FROM outbox_events WHERE event_key = '{key}' AND ordinal = {ordinal}"
            ))
            .await;
        assert_eq!(found, 1, "{key}");
    }

    // Off again: the next member gets no account.
    app.set_auth_settings(
        &admin,
        json!({"auto_create_account_for_account_members": false}),
    )
    .await;
    let body = post_signup(
        &app,
        &shopper,
        signup(&profile_id, "ann@example.com", "ann@example.com"),
    )
    .await
    .expect(201);
    assert_eq!(body["data"], json!([]));
}

async fn a_taken_username_conflicts_whatever_its_case(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    app.set_auth_settings(
        &admin,
        json!({"enable_self_signup": true, "auto_create_account_for_account_members": true}),
    )
    .await;
    let profile_id = profile(&app, &admin, "any").await;
    post_signup(
        &app,
        &shopper,
        signup(&profile_id, "April", "a@example.com"),
    )
    .await
    .expect(201);
    post_signup(&app, &shopper, signup(&profile_id, "APRIL", "b@example.com"))
        .await
        .expect_error(
            409,
            "user authentication password profile info with the given password profile id and username already exists",
        );
    // Nothing of the refused sign-up was written.
    for (path, total) in [("/v2/account-members", 1), ("/v2/accounts", 1)] {
        let list = app.get(path).bearer(&admin).send().await.expect(200);
        assert_eq!(list["meta"]["results"]["total"], total, "{path}");
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    post_signup(&app, &shopper, signup(&unknown, "x", "x@example.com"))
        .await
        .expect_error(404, "password profile not found");
}

async fn a_taken_email_conflicts_under_the_realm_policy(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    app.set_auth_settings(&admin, json!({"enable_self_signup": true}))
        .await;
    let profile_id = profile(&app, &admin, "any").await;
    app.create_user(&admin, "Existing", "Taken@Example.com")
        .await;
    let set_policy = |policy: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.put(&format!("/v2/authentication-realms/{}", app.realm_id))
                .bearer(&admin)
                .json(json!({"data": {"type": "authentication-realm", "duplicate_email_policy": policy}}))
                .send()
                .await
                .expect(200);
        }
    };
    for (index, policy) in ["disallowed", "api_only"].into_iter().enumerate() {
        set_policy(policy).await;
        post_signup(
            &app,
            &shopper,
            signup(&profile_id, &format!("user{index}"), "taken@example.com"),
        )
        .await
        .expect_error(
            409,
            "user authentication info with the given email already exists",
        );
    }
    set_policy("allowed").await;
    post_signup(
        &app,
        &shopper,
        signup(&profile_id, "user9", "taken@example.com"),
    )
    .await
    .expect(201);
}

async fn email_profiles_want_email_usernames_and_fields_are_validated(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    app.set_auth_settings(&admin, json!({"enable_self_signup": true}))
        .await;
    let email_profile = profile(&app, &admin, "email").await;
    post_signup(
        &app,
        &shopper,
        signup(&email_profile, "april", "april@example.com"),
    )
    .await
    .expect_error(
        422,
        "Validation failed: field 'Username' on the 'email' tag.",
    );
    let cases = [
        (
            json!({}),
            "Validation failed: field 'PasswordProfileID' on the 'cannot_be_empty' tag; field 'Username' on the 'cannot_be_empty' tag; field 'Password' on the 'cannot_be_empty' tag; field 'Name' on the 'cannot_be_empty' tag; field 'Email' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": "x", "username": "a", "password": "short",
                   "name": "n", "email": "not-an-email", "given_name": 3}),
            "Validation failed: field 'PasswordProfileID' on the 'must_be_uuid' tag; field 'Password' on the 'min' tag; field 'Email' on the 'email' tag; field 'GivenName' on the 'string' tag.",
        ),
        (
            json!({"password_profile_id": email_profile, "username": "a@example.com",
                   "password": "p".repeat(1025), "name": "n".repeat(256),
                   "email": "a@example.com", "middle_name": null, "family_name": "f".repeat(256)}),
            "Validation failed: field 'Password' on the 'max' tag; field 'Name' on the 'max' tag; field 'FamilyName' on the 'max' tag.",
        ),
    ];
    for (fields, detail) in cases {
        let mut data = fields;
        data["type"] = json!("account_management_authentication_token");
        data["authentication_mechanism"] = json!("self_signup");
        post_signup(&app, &shopper, data)
            .await
            .expect_error(422, detail);
    }
}
