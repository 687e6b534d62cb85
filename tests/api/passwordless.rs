//! One-time codes and the `passwordless` mechanism (docs/login.md#one-time-codes), with the code
//! arriving the only way it leaves accountd: a webhook to a real receiver. Also the password reset
//! (docs/self-management.md#password-reset).

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, captured_logs};
use crate::receiver::Receiver;
use crate::tests;

tests![
    a_request_answers_202_with_no_body_whether_or_not_the_username_exists,
    a_code_from_the_webhook_logs_in_once,
    five_wrong_codes_kill_the_code_but_four_do_not,
    an_expired_code_is_refused_and_scrubbed_from_the_outbox,
    only_the_newest_code_is_valid,
    unknown_usernames_and_profiles_without_otp_fail_like_a_wrong_code,
    at_most_five_codes_are_issued_per_hour,
    a_new_password_kills_outstanding_codes,
    deleting_the_member_deletes_its_codes,
    otp_requests_are_validated,
    passwordless_fields_are_validated_with_the_reference_wording,
    a_forgotten_password_is_reset_end_to_end,
];

const OTP_EVENT: &str = "one-time-password-token-request.created";

/// A member with a password in an OTP-enabled profile, belonging to one account, and a receiver
/// that gets the codes.
struct Setup {
    admin: String,
    shopper: String,
    profile_id: String,
    member_id: String,
    info_id: String,
    username: String,
    account_id: String,
    receiver: Receiver,
}

async fn setup(app: &TestApp) -> Setup {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(&admin, &receiver.url, &[OTP_EVENT])
        .await;
    let profile = app
        .create_password_profile(
            &admin,
            json!({"type": "password_profile", "name": "Codes", "enable_one_time_password_token": true}),
        )
        .await;
    let profile_id = profile["id"].as_str().unwrap().to_owned();
    let user = app
        .create_user(&admin, "Leslie Knope", "leslie@example.com")
        .await;
    let member_id = user["id"].as_str().unwrap().to_owned();
    let username = "Leslie@Example.com".to_owned();
    let info = app
        .create_password_info(
            &admin,
            &member_id,
            &profile_id,
            &username,
            "waffles-and-whipped-cream",
        )
        .await;
    let account = app.create_account(&admin, "Pawnee Parks").await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    app.add_membership(&admin, &account_id, &member_id).await;
    Setup {
        admin,
        shopper,
        profile_id,
        member_id,
        info_id: info["id"].as_str().unwrap().to_owned(),
        username,
        account_id,
        receiver,
    }
}

async fn request_code(app: &TestApp, setup: &Setup, username: &str, purpose: &str) -> Reply {
    app.post(&app.realm_path(&format!(
        "/password-profiles/{}/one-time-password-token-request",
        setup.profile_id
    )))
    .bearer(&setup.shopper)
    .json(json!({"data": {"type": "one_time_password_token_request", "username": username, "purpose": purpose}}))
    .send()
    .await
}

/// Requests a code for the member and returns it as the webhook delivered it.
async fn issue_code(app: &TestApp, setup: &Setup) -> String {
    let before = setup.receiver.received().len();
    request_code(
        app,
        setup,
        "leslie@example.com",
        "passwordless_authentication",
    )
    .await
    .expect(202);
    let received = setup.receiver.wait_for(before + 1).await;
    let envelope = received[before].json();
    envelope["payload"]["one_time_password_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn exchange(app: &TestApp, setup: &Setup, username: &str, code: &str) -> Reply {
    exchange_in(app, &setup.shopper, &setup.profile_id, username, code).await
}

async fn exchange_in(
    app: &TestApp,
    bearer: &str,
    profile_id: &str,
    username: &str,
    code: &str,
) -> Reply {
    app.post("/v2/account-members/tokens")
        .bearer(bearer)
        .json(json!({"data": {
            "type": "account_management_authentication_token",
            "authentication_mechanism": "passwordless",
            "password_profile_id": profile_id,
            "username": username,
            "one_time_password_token": code,
        }}))
        .send()
        .await
}

/// A wrong code that is certainly not the right one.
fn wrong(code: &str) -> String {
    let mut wrong: Vec<char> = code.chars().collect();
    wrong[0] = if wrong[0] == '2' { '3' } else { '2' };
    wrong.into_iter().collect()
}

async fn a_request_answers_202_with_no_body_whether_or_not_the_username_exists(app: TestApp) {
    let setup = setup(&app).await;
    let known = request_code(&app, &setup, "LESLIE@example.com", "reset_password").await;
    let unknown = request_code(&app, &setup, "nobody@example.com", "reset_password").await;
    for reply in [&known, &unknown] {
        assert_eq!(reply.status.as_u16(), 202);
        assert_eq!(reply.text, "");
        assert_eq!(reply.header("content-type"), None);
    }
    let header_names = |reply: &Reply| -> Vec<String> {
        let mut names: Vec<String> = reply
            .headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name != "date" && name != "x-request-id")
            .collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&known), header_names(&unknown));
    let delivery = setup.receiver.wait_for(1).await.remove(0);
    setup.receiver.expect_no_more_than(&app, 1).await;
    let envelope = delivery.json();
    assert_eq!(envelope["triggered_by"], OTP_EVENT);
    let payload = &envelope["payload"];
    let code = payload["one_time_password_token"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(
        code.bytes()
            .all(|byte| b"23456789abcdefghjkmnpqrstuvwxyz".contains(&byte))
    );
    assert_eq!(payload["authentication_realm_id"], app.realm_id.to_string());
    assert_eq!(payload["password_profile_id"], setup.profile_id);
    assert_eq!(payload["purpose"], "reset_password");
    assert_eq!(
        payload["user_authentication_info"],
        json!({"id": setup.member_id, "name": "Leslie Knope", "email": "leslie@example.com"})
    );
    assert_eq!(
        payload["user_authentication_password_profile_info"],
        json!({"id": setup.info_id, "password_profile_id": setup.profile_id, "username": setup.username})
    );
    let created =
        accountd::time::Timestamp::parse_rfc3339(payload["created_at"].as_str().unwrap()).unwrap();
    let expires =
        accountd::time::Timestamp::parse_rfc3339(payload["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires.millis() - created.millis(), 600_000);
    assert_eq!(payload["updated_at"], payload["created_at"]);
}

async fn a_code_from_the_webhook_logs_in_once(app: TestApp) {
    let setup = setup(&app).await;
    let code = issue_code(&app, &setup).await;
    // Trimmed and compared case-insensitively, like the username.
    let reply = exchange(
        &app,
        &setup,
        "LESLIE@EXAMPLE.COM",
        &format!("  {}\n", code.to_uppercase()),
    )
    .await;
    let body = reply.expect(201);
    assert_eq!(body["meta"]["account_member_id"], setup.member_id);
    assert_eq!(body["data"][0]["account_id"], setup.account_id);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    exchange(&app, &setup, "leslie@example.com", &code)
        .await
        .expect_error(400, "authentication failed");
    // The code is scrubbed from the outbox once delivered, and never logged.
    wait_until_scrubbed(&app).await;
    let logs = captured_logs();
    let leaked = logs
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word == code);
    assert!(!leaked, "the code reached the logs");
}

async fn wait_until_scrubbed(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app
        .count("SELECT COUNT(*) FROM outbox_events WHERE secret IS NOT NULL")
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the code stayed in the outbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn five_wrong_codes_kill_the_code_but_four_do_not(app: TestApp) {
    let setup = setup(&app).await;
    let code = issue_code(&app, &setup).await;
    for _ in 0..4 {
        exchange(&app, &setup, &setup.username, &wrong(&code))
            .await
            .expect_error(400, "authentication failed");
    }
    exchange(&app, &setup, &setup.username, &code)
        .await
        .expect(201);

    let code = issue_code(&app, &setup).await;
    for _ in 0..5 {
        exchange(&app, &setup, &setup.username, &wrong(&code))
            .await
            .expect_error(400, "authentication failed");
    }
    // Five failures also lock the username key (docs/login.md#throttling): the lock answers first.
    exchange(&app, &setup, &setup.username, &code)
        .await
        .expect_error(429, "too many attempts, try again later");
    // Once the lock has passed, the code is still dead.
    app.clock.advance_seconds(30);
    exchange(&app, &setup, &setup.username, &code)
        .await
        .expect_error(400, "authentication failed");
}

async fn an_expired_code_is_refused_and_scrubbed_from_the_outbox(app: TestApp) {
    let setup = setup(&app).await;
    let code = issue_code(&app, &setup).await;
    app.clock.advance_seconds(601);
    exchange(&app, &setup, &setup.username, &code)
        .await
        .expect_error(400, "authentication failed");

    // A code nobody could receive stops being delivered, and leaves the outbox, at expiry.
    let down = Receiver::failing_first(usize::MAX).await;
    let integration = app
        .create_integration(&setup.admin, &down.url, &[OTP_EVENT])
        .await;
    issue_code(&app, &setup).await;
    down.wait_for(1).await;
    let admin = app.admin_token().await;
    crate::integrations::wait_for_logs(&app, &admin, integration["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox_events WHERE secret IS NOT NULL")
            .await,
        1
    );
    app.clock.advance_seconds(601);
    wait_until_scrubbed(&app).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'stopped'")
            .await,
        1
    );
    down.expect_no_more_than(&app, 1).await;
}

async fn only_the_newest_code_is_valid(app: TestApp) {
    let setup = setup(&app).await;
    let first = issue_code(&app, &setup).await;
    let second = issue_code(&app, &setup).await;
    if first != second {
        exchange(&app, &setup, &setup.username, &first)
            .await
            .expect_error(400, "authentication failed");
    }
    exchange(&app, &setup, &setup.username, &second)
        .await
        .expect(201);
}

async fn unknown_usernames_and_profiles_without_otp_fail_like_a_wrong_code(app: TestApp) {
    let setup = setup(&app).await;
    let code = issue_code(&app, &setup).await;
    let wrong_code = exchange(&app, &setup, &setup.username, &wrong(&code)).await;
    let unknown = exchange(&app, &setup, "nobody@example.com", &code).await;
    let unknown_profile = uuid::Uuid::new_v4().to_string();
    let no_profile = exchange_in(
        &app,
        &setup.shopper,
        &unknown_profile,
        &setup.username,
        &code,
    )
    .await;
    assert_eq!(wrong_code.text, unknown.text);
    assert_eq!(wrong_code.text, no_profile.text);
    wrong_code.expect_error(400, "authentication failed");

    // Turning OTP off for the profile makes even the right code fail the same way.
    app.put(&app.realm_path(&format!("/password-profiles/{}", setup.profile_id)))
        .bearer(&setup.admin)
        .json(
            json!({"data": {"type": "password_profile", "enable_one_time_password_token": false}}),
        )
        .send()
        .await
        .expect(200);
    exchange(&app, &setup, &setup.username, &code)
        .await
        .expect_error(400, "authentication failed");
}

async fn at_most_five_codes_are_issued_per_hour(app: TestApp) {
    let setup = setup(&app).await;
    for _ in 0..6 {
        request_code(&app, &setup, &setup.username, "passwordless_authentication")
            .await
            .expect(202);
    }
    setup.receiver.wait_for(5).await;
    setup.receiver.expect_no_more_than(&app, 5).await;
    app.clock.advance_seconds(3601);
    let shopper = app.implicit_token().await;
    let setup = Setup { shopper, ..setup };
    issue_code(&app, &setup).await;
}

async fn a_new_password_kills_outstanding_codes(app: TestApp) {
    let setup = setup(&app).await;
    let code = issue_code(&app, &setup).await;
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info/{}",
        setup.member_id, setup.info_id
    )))
    .bearer(&setup.admin)
    .json(json!({"data": {"type": "user_authentication_password_profile_info", "password": "a-brand-new-password"}}))
    .send()
    .await
    .expect(200);
    exchange(&app, &setup, &setup.username, &code)
        .await
        .expect_error(400, "authentication failed");
}

async fn deleting_the_member_deletes_its_codes(app: TestApp) {
    let setup = setup(&app).await;
    issue_code(&app, &setup).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM otp_codes").await, 1);
    app.delete(&app.realm_path(&format!("/user-authentication-info/{}", setup.member_id)))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(204);
    assert_eq!(app.count("SELECT COUNT(*) FROM otp_codes").await, 0);
}

async fn otp_requests_are_validated(app: TestApp) {
    let setup = setup(&app).await;
    let path = |realm: &str, profile: &str| {
        format!(
            "/v2/authentication-realms/{realm}/password-profiles/{profile}/one-time-password-token-request"
        )
    };
    let realm = app.realm_id.to_string();
    let good = json!({"data": {"type": "one-time-password-token-request", "username": "x", "purpose": "reset_password"}});
    let send = |path: String, body: Value| {
        let app = &app;
        let bearer = setup.shopper.clone();
        async move { app.post(&path).bearer(&bearer).json(body).send().await }
    };
    send(
        path(&uuid::Uuid::new_v4().to_string(), &setup.profile_id),
        good.clone(),
    )
    .await
    .expect_error(404, "authentication realm not found");
    send(
        path(&realm, &uuid::Uuid::new_v4().to_string()),
        good.clone(),
    )
    .await
    .expect_error(404, "password profile not found");
    // The hyphenated type is accepted too.
    send(path(&realm, &setup.profile_id), good.clone())
        .await
        .expect(202);
    send(
        path(&realm, &setup.profile_id),
        json!({"data": {"type": "otp", "username": "", "purpose": "login"}}),
    )
    .await
    .expect_error(
        400,
        "Validation failed: field 'Type' on the 'eq' tag; field 'Username' on the 'min' tag; field 'Purpose' on the 'oneof' tag.",
    );
    send(path(&realm, &setup.profile_id), json!({"data": {"type": "one_time_password_token_request"}}))
        .await
        .expect_error(
            400,
            "Validation failed: field 'Username' on the 'required' tag; field 'Purpose' on the 'required' tag.",
        );
    send(path(&realm, &setup.profile_id), json!({"nope": 1}))
        .await
        .expect_error(
            400,
            "Validation failed: field 'Data' on the 'required' tag.",
        );
    let plain = app
        .create_password_profile(
            &setup.admin,
            json!({"type": "password_profile", "name": "No codes"}),
        )
        .await;
    send(path(&realm, plain["id"].as_str().unwrap()), good.clone())
        .await
        .expect_error(
            400,
            "one-time password tokens are not enabled for this password profile",
        );
    app.post(&path(&realm, &setup.profile_id))
        .json(good)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn passwordless_fields_are_validated_with_the_reference_wording(app: TestApp) {
    let shopper = app.implicit_token().await;
    let cases = [
        (
            json!({}),
            "Validation failed: field 'PasswordProfileID' on the 'cannot_be_empty' tag; field 'Username' on the 'cannot_be_empty' tag; field 'OneTimePasswordToken' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": "nope", "username": "a", "one_time_password_token": 7}),
            "Validation failed: field 'PasswordProfileID' on the 'must_be_uuid' tag; field 'OneTimePasswordToken' on the 'string' tag.",
        ),
    ];
    for (fields, detail) in cases {
        let mut data = fields;
        data["type"] = json!("account_management_authentication_token");
        data["authentication_mechanism"] = json!("passwordless");
        app.post("/v2/account-members/tokens")
            .bearer(&shopper)
            .json(json!({ "data": data }))
            .send()
            .await
            .expect_error(422, detail);
    }
}

async fn a_forgotten_password_is_reset_end_to_end(app: TestApp) {
    let setup = setup(&app).await;
    app.set_auth_settings(
        &setup.admin,
        json!({"account_member_self_management": "update_only"}),
    )
    .await;
    request_code(&app, &setup, &setup.username, "reset_password")
        .await
        .expect(202);
    let envelope = setup.receiver.wait_for(1).await[0].json();
    assert_eq!(envelope["payload"]["purpose"], "reset_password");
    let code = envelope["payload"]["one_time_password_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = exchange(&app, &setup, &setup.username, &code)
        .await
        .expect(201);
    let token = tokens["data"][0]["token"].as_str().unwrap().to_owned();
    // The code was a credential: the exchange is a login, counted and audited as one, and
    // its token is fresh enough to change the password.
    let (_, claims) = crate::helpers::jwt_parts(&token);
    assert_eq!(claims["auth_time"], claims["iat"]);
    let logins = app.audit_events(&setup.admin, "login.succeeded").await;
    assert_eq!(logins[0]["subject"], "passwordless login");
    assert_eq!(
        logins[0]["actor"],
        json!({"class": "account_holder", "id": setup.member_id})
    );
    let metrics = app.scrape_metrics().await;
    let counted = "accountd_logins_total{mechanism=\"passwordless\",outcome=\"success\"} 1\n";
    assert!(metrics.contains(counted), "{metrics}");
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info/{}",
        setup.member_id, setup.info_id
    )))
    .bearer(&setup.shopper)
    .account_token(&token)
    .json(json!({"data": {"type": "user_authentication_password_profile_info", "password": "a-new-remembered-password"}}))
    .send()
    .await
    .expect(200);
    app.login(
        &setup.shopper,
        &setup.profile_id,
        &setup.username,
        "waffles-and-whipped-cream",
    )
    .await
    .expect_error(400, "authentication failed");
    let fresh = app
        .login(
            &setup.shopper,
            &setup.profile_id,
            &setup.username,
            "a-new-remembered-password",
        )
        .await
        .expect(201);
    assert_eq!(fresh["meta"]["account_member_id"], setup.member_id);
}
