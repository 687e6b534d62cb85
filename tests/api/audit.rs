//! The audit trail names what happened and who did it: each write handler names its event type
//! (never derived from a route), the actor is the caller class the extractor decided (admin with
//! its application key, shopper, account holder with its member id; the system in
//! `tests/api/keys.rs`), a write and its row commit together so a refused write leaves none, and
//! every login mechanism writes its `login.*` rows.

use serde_json::{Value, json};

use crate::helpers::{LoggedIn, TestApp, account_tokens, shopper_in};
use crate::idp::{self, TestIdp};
use crate::tests;

tests![
    every_write_handler_names_its_event_type_and_its_admin,
    shoppers_and_account_holders_are_named_as_such,
    a_refused_write_leaves_no_row,
    every_login_mechanism_writes_its_login_rows,
];

/// The newest audit event and how many there are.
async fn newest(app: &TestApp, admin: &str) -> (Value, u64) {
    let body = app
        .get("/v2/audit-events?page[limit]=1")
        .bearer(admin)
        .send()
        .await
        .expect(200);
    (
        body["data"][0].clone(),
        body["meta"]["results"]["total"].as_u64().unwrap(),
    )
}

/// One write and the event type its handler gives it.
struct Write {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
    status: u16,
    event_type: &'static str,
}

fn write(
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
    status: u16,
    event_type: &'static str,
) -> Write {
    Write {
        method,
        path,
        body,
        status,
        event_type,
    }
}

/// Sends the write and checks that exactly one row was added, named as its handler names it,
/// with the caller's actor; returns the answer's body.
async fn audited(
    app: &TestApp,
    admin: &str,
    actor: &Value,
    wrong: &mut Vec<String>,
    w: Write,
) -> Value {
    // Rows of one millisecond would tie in the newest-first order.
    app.clock.advance_millis(1);
    let (_, before) = newest(app, admin).await;
    let mut call = app.call(w.method.clone(), &w.path).bearer(admin);
    if let Some(body) = &w.body {
        call = call.json(body.clone());
    }
    let answer = call.send().await.expect(w.status);
    let (row, after) = newest(app, admin).await;
    let expected = json!({
        "type": "audit_event",
        "event_type": w.event_type,
        "actor": actor,
        "subject": w.path,
        "client_address": "127.0.0.1",
    });
    let got = json!({
        "type": row["type"],
        "event_type": row["event_type"],
        "actor": row["actor"],
        "subject": row["subject"],
        "client_address": row["client_address"],
    });
    if after != before + 1 || got != expected {
        wrong.push(format!(
            "{} {}: {} new rows, newest {got}, want {expected}",
            w.method,
            w.path,
            after - before
        ));
    }
    answer
}

async fn every_write_handler_names_its_event_type_and_its_admin(app: TestApp) {
    use reqwest::Method as M;
    let admin = app.admin_token().await;
    let idp = TestIdp::start(app.clock.clone()).await;
    // The admin's application key, as its bearer token's rows name it.
    let key = app
        .post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Probe"}}))
        .send()
        .await
        .expect(201);
    let (row, _) = newest(&app, &admin).await;
    let actor = row["actor"].clone();
    assert_eq!(actor["class"], "admin");
    let keys = app
        .get("/v2/application-keys?page[limit]=100")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert!(
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key["id"] == actor["id"] && key["name"] == "bootstrap"),
        "the actor is the bootstrap key: {actor} in {keys}"
    );
    let mut wrong = Vec::new();
    let a = &mut wrong;
    let key_path = format!(
        "/v2/application-keys/{}",
        key["data"]["id"].as_str().unwrap()
    );
    let key_put = json!({"data": {"type": "application_key", "name": "Probe 2"}});
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            key_path.clone(),
            Some(key_put),
            200,
            "application_key.updated",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(M::DELETE, key_path, None, 204, "application_key.deleted"),
    )
    .await;

    let account = audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::POST,
            "/v2/accounts".into(),
            Some(json!({"data": {"type": "account", "name": "Audited"}})),
            201,
            "account.created",
        ),
    )
    .await;
    let account_path = format!("/v2/accounts/{}", account["data"]["id"].as_str().unwrap());
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            account_path.clone(),
            Some(json!({"data": {"type": "account", "name": "Audited again"}})),
            200,
            "account.updated",
        ),
    )
    .await;

    let users = app.realm_path("/user-authentication-info");
    let user = audited(&app, &admin, &actor, a, write(M::POST, users.clone(),
        Some(json!({"data": {"type": "user_authentication_info", "name": "U", "email": "u@example.com"}})),
        201, "user_authentication_info.created")).await;
    let user_id = user["data"]["id"].as_str().unwrap().to_owned();
    let user_path = format!("{users}/{user_id}");
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            user_path.clone(),
            Some(json!({"data": {"type": "user_authentication_info", "name": "U2"}})),
            200,
            "user_authentication_info.updated",
        ),
    )
    .await;

    let memberships = format!("{account_path}/account-memberships");
    let membership = audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::POST,
            memberships.clone(),
            Some(json!({"data": {"type": "account_membership", "account_member_id": user_id}})),
            201,
            "membership.created",
        ),
    )
    .await;
    let membership_path = format!(
        "{memberships}/{}",
        membership["data"]["id"].as_str().unwrap()
    );
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            membership_path.clone(),
            Some(json!({"data": {"type": "account_membership"}})),
            200,
            "membership.updated",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(M::DELETE, membership_path, None, 204, "membership.deleted"),
    )
    .await;

    let profiles = app.realm_path("/password-profiles");
    let profile = audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::POST,
            profiles.clone(),
            Some(json!({"data": {"type": "password_profile", "name": "P"}})),
            201,
            "password_profile.created",
        ),
    )
    .await;
    let profile_id = profile["data"]["id"].as_str().unwrap().to_owned();
    let profile_path = format!("{profiles}/{profile_id}");
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            profile_path.clone(),
            Some(json!({"data": {"type": "password_profile", "name": "P2"}})),
            200,
            "password_profile.updated",
        ),
    )
    .await;
    let logins = format!("{user_path}/user-authentication-password-profile-info");
    let login = audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::POST,
            logins.clone(),
            Some(
                json!({"data": {"type": "user_authentication_password_profile_info",
            "password_profile_id": profile_id, "username": "u", "password": "a fine password"}}),
            ),
            201,
            "password_profile_info.created",
        ),
    )
    .await;
    let login_path = format!("{logins}/{}", login["data"]["id"].as_str().unwrap());
    audited(&app, &admin, &actor, a, write(M::PUT, login_path.clone(),
        Some(json!({"data": {"type": "user_authentication_password_profile_info", "username": "u2"}})),
        200, "password_profile_info.updated")).await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            login_path,
            None,
            204,
            "password_profile_info.deleted",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            profile_path,
            None,
            204,
            "password_profile.deleted",
        ),
    )
    .await;

    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            app.realm_path(""),
            Some(json!({"data": {"type": "authentication-realm", "name": "Realm"}})),
            200,
            "authentication_realm.updated",
        ),
    )
    .await;
    audited(&app, &admin, &actor, a, write(M::PUT, "/v2/settings/account-authentication".into(),
        Some(json!({"data": {"type": "account_authentication_settings", "enable_self_signup": true}})),
        200, "account_authentication_settings.updated")).await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            "/v2/settings/account-membership".into(),
            Some(json!({"data": {"type": "account_membership_setting", "membership_limit": 50}})),
            200,
            "account_membership_settings.updated",
        ),
    )
    .await;

    let integration = audited(&app, &admin, &actor, a, write(M::POST, "/v2/integrations".into(),
        Some(json!({"data": {"type": "integration", "name": "I", "observes": ["account.event.created"],
            "configuration": {"url": "http://127.0.0.1:9/hooks", "secret_key": "a-secret-of-enough-length"}}})),
        201, "integration.created")).await;
    let integration_path = format!(
        "/v2/integrations/{}",
        integration["data"]["id"].as_str().unwrap()
    );
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            integration_path.clone(),
            Some(json!({"data": {"type": "integration", "name": "I2"}})),
            200,
            "integration.updated",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            integration_path,
            None,
            204,
            "integration.deleted",
        ),
    )
    .await;

    let oidc_profiles = app.realm_path("/oidc-profiles");
    let oidc_profile = audited(&app, &admin, &actor, a, write(M::POST, oidc_profiles.clone(),
        Some(json!({"data": {"type": "oidc-profile", "name": "SSO", "discovery_url": idp.discovery_url(),
            "client_id": idp::CLIENT_ID, "client_secret": idp::CLIENT_SECRET}})),
        201, "oidc_profile.created")).await;
    let oidc_profile_id = oidc_profile["data"]["id"].as_str().unwrap().to_owned();
    let oidc_profile_path = format!("{oidc_profiles}/{oidc_profile_id}");
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            oidc_profile_path.clone(),
            Some(json!({"data": {"type": "oidc-profile", "name": "SSO 2"}})),
            200,
            "oidc_profile.updated",
        ),
    )
    .await;
    let identities = format!("{user_path}/user-authentication-oidc-profile-info");
    let identity = audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::POST,
            identities.clone(),
            Some(
                json!({"data": {"type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": oidc_profile_id, "issuer": idp.issuer, "subject": "s1"}}),
            ),
            201,
            "oidc_profile_info.created",
        ),
    )
    .await;
    let identity_path = format!("{identities}/{}", identity["data"]["id"].as_str().unwrap());
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::PUT,
            identity_path.clone(),
            Some(
                json!({"data": {"type": "user_authentication_oidc_profile_info", "subject": "s2"}}),
            ),
            200,
            "oidc_profile_info.updated",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            identity_path,
            None,
            204,
            "oidc_profile_info.deleted",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            oidc_profile_path,
            None,
            204,
            "oidc_profile.deleted",
        ),
    )
    .await;

    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            format!("/v2/account-members/{user_id}/tokens"),
            None,
            204,
            "account_member.tokens_revoked",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            format!("/v2/account-members/{user_id}/lockout"),
            None,
            204,
            "account_member.lockout_cleared",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(
            M::DELETE,
            user_path,
            None,
            204,
            "user_authentication_info.deleted",
        ),
    )
    .await;
    audited(
        &app,
        &admin,
        &actor,
        a,
        write(M::DELETE, account_path, None, 204, "account.deleted"),
    )
    .await;
    assert!(
        wrong.is_empty(),
        "{} writes audited wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn shoppers_and_account_holders_are_named_as_such(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    app.set_auth_settings(
        &admin,
        json!({"account_member_self_management": "update_only"}),
    )
    .await;
    let shopper = shopper_in(&app, &admin, &["Home"]).await;
    app.put(&app.realm_path(&format!("/password-profiles/{}", shopper.profile_id)))
        .bearer(&admin)
        .json(json!({"data": {"type": "password_profile", "enable_one_time_password_token": true}}))
        .send()
        .await
        .expect(200);
    let otp_path = app.realm_path(&format!(
        "/password-profiles/{}/one-time-password-token-request",
        shopper.profile_id
    ));
    let request = json!({"data": {"type": "one_time_password_token_request",
        "username": shopper.username, "purpose": "reset_password"}});
    // A storefront asks for a code with its public implicit token: a shopper, anonymous.
    app.clock.advance_millis(1);
    app.post(&otp_path)
        .bearer(&implicit)
        .json(request.clone())
        .send()
        .await
        .expect(202);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "one_time_password_token_request.created");
    assert_eq!(row["actor"], json!({"class": "shopper", "id": null}));
    assert_eq!(row["subject"], otp_path);
    assert_eq!(row["detail"]["purpose"], "reset_password");
    assert_eq!(row["detail"]["username"], shopper.username.as_str());
    assert!(!row.to_string().contains("one_time_password_token\""));
    // An unknown username is recorded the same way (its answer is the same 202).
    app.clock.advance_millis(1);
    app.post(&otp_path)
        .bearer(&implicit)
        .json(json!({"data": {"type": "one_time_password_token_request",
            "username": "nobody@example.com", "purpose": "reset_password"}}))
        .send()
        .await
        .expect(202);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["actor"]["class"], "shopper");
    assert_eq!(row["detail"]["username"], "nobody@example.com");

    // The member itself, through self-management: an account holder, named by its id.
    let token = account_tokens(&app, &implicit, &shopper).await.remove(0).1;
    app.clock.advance_millis(1);
    let own = app.realm_path(&format!("/user-authentication-info/{}", shopper.member_id));
    app.put(&own)
        .bearer(&implicit)
        .account_token(&token)
        .json(json!({"data": {"type": "user_authentication_info", "name": "Me"}}))
        .send()
        .await
        .expect(200);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "user_authentication_info.updated");
    assert_eq!(
        row["actor"],
        json!({"class": "account_holder", "id": shopper.member_id})
    );
    assert_eq!(row["subject"], own);
    // An account holder asking for a code is the member too.
    app.clock.advance_millis(1);
    app.post(&otp_path)
        .bearer(&implicit)
        .account_token(&token)
        .json(request)
        .send()
        .await
        .expect(202);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "one_time_password_token_request.created");
    assert_eq!(row["actor"]["class"], "account_holder");
}

async fn a_refused_write_leaves_no_row(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["Parent"]).await;
    let parent = &shopper.accounts[0];
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "Child", "parent_id": parent}),
    )
    .await;
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "Taken", "registration_id": "R-1"}),
    )
    .await;
    let other = app.create_account(&admin, "Other").await;
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {"type": "authentication-realm", "duplicate_email_policy": "disallowed"}}))
        .send()
        .await
        .expect(200);
    let (_, before) = newest(&app, &admin).await;
    let memberships = format!("/v2/accounts/{parent}/account-memberships");
    let refused: Vec<(reqwest::Method, String, Option<Value>, u16)> = vec![
        // Refused inside the store's transaction, after it began.
        (
            reqwest::Method::POST,
            memberships.clone(),
            Some(
                json!({"data": {"type": "account_membership", "account_member_id": shopper.member_id}}),
            ),
            409,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v2/accounts/{parent}"),
            None,
            409,
        ),
        (
            reqwest::Method::PUT,
            format!("/v2/accounts/{}", other["id"].as_str().unwrap()),
            Some(json!({"data": {"type": "account", "registration_id": "R-1"}})),
            409,
        ),
        (
            reqwest::Method::POST,
            app.realm_path("/user-authentication-info"),
            Some(
                json!({"data": {"type": "user_authentication_info", "name": "Dup", "email": shopper.username}}),
            ),
            409,
        ),
        (
            reqwest::Method::DELETE,
            format!("{memberships}/{}", uuid::Uuid::new_v4()),
            None,
            404,
        ),
        // Refused before the store: validation, a caller without the right.
        (
            reqwest::Method::POST,
            "/v2/accounts".into(),
            Some(json!({"data": {"type": "account"}})),
            400,
        ),
    ];
    let mut expected_rows = before;
    for (method, path, body, status) in refused {
        let mut call = app.call(method.clone(), &path).bearer(&admin);
        if let Some(body) = body {
            call = call.json(body);
        }
        call.send().await.expect(status);
        if status < 300 {
            expected_rows += 1;
        }
        let (_, total) = newest(&app, &admin).await;
        assert_eq!(total, expected_rows, "{method} {path} ({status})");
    }
    app.post("/v2/accounts")
        .bearer(&implicit)
        .json(json!({"data": {"type": "account", "name": "Nope"}}))
        .send()
        .await
        .expect(403);
    // A self sign-up refused for a taken username: no member, no login row.
    app.set_auth_settings(&admin, json!({"enable_self_signup": true}))
        .await;
    expected_rows += 1;
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .json(
            json!({"data": {"type": "account_management_authentication_token",
            "authentication_mechanism": "self_signup", "password_profile_id": shopper.profile_id,
            "username": shopper.username, "password": "a long password", "name": "Again",
            "email": "again@example.com"}}),
        )
        .send()
        .await
        .expect(409);
    let (_, total) = newest(&app, &admin).await;
    assert_eq!(total, expected_rows);
}

async fn every_login_mechanism_writes_its_login_rows(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["Home"]).await;
    let switch = |token: String| {
        let (app, implicit) = (&app, &implicit);
        async move {
            app.post("/v2/account-members/tokens")
                .bearer(implicit)
                .account_token(&token)
                .json(json!({"data": {
                    "type": "account_management_authentication_token",
                    "authentication_mechanism": "account_management_authentication_token",
                }}))
                .send()
                .await
        }
    };
    app.clock.advance_millis(1);
    switch(token.clone()).await.expect(201);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "login.succeeded");
    assert_eq!(row["subject"], "switch login");
    assert_eq!(
        row["actor"],
        json!({"class": "account_holder", "id": shopper.member_id})
    );
    assert_eq!(row["detail"]["account_id"], shopper.accounts[0].as_str());
    // A token that is no longer valid: a failed login, by the anonymous caller.
    app.clock.advance_seconds(1);
    app.delete(&format!("/v2/account-members/{}/tokens", shopper.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.clock.advance_millis(1);
    switch(token).await.expect(401);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "login.failed");
    assert_eq!(row["subject"], "switch login");
    assert_eq!(row["actor"], json!({"class": "shopper", "id": null}));
    // Nor is a token accountd never signed worth a row: it costs nothing to send.
    let (_, before_forged) = newest(&app, &admin).await;
    switch("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl".to_owned())
        .await
        .expect(401);
    assert_eq!(newest(&app, &admin).await.1, before_forged);
    // A bearer token refused by the switch statement is no login attempt: no row.
    let (_, before) = newest(&app, &admin).await;
    let fresh = account_tokens(&app, &implicit, &shopper).await.remove(0).1;
    let (_, after_login) = newest(&app, &admin).await;
    assert_eq!(after_login, before + 1);
    app.post("/v2/account-members/tokens")
        .bearer("not-a-bearer-token")
        .account_token(&fresh)
        .json(
            json!({"data": {"type": "account_management_authentication_token",
            "authentication_mechanism": "account_management_authentication_token"}}),
        )
        .send()
        .await
        .expect(401);
    assert_eq!(newest(&app, &admin).await.1, after_login);
    // A genuine token past its expiry is recorded as a failed login.
    app.clock.advance_seconds(86_400);
    // Bearer tokens live an hour: new ones for the rest of the test.
    let later = app.implicit_token().await;
    let admin = app.admin_token().await;
    app.post("/v2/account-members/tokens")
        .bearer(&later)
        .account_token(&fresh)
        .json(
            json!({"data": {"type": "account_management_authentication_token",
            "authentication_mechanism": "account_management_authentication_token"}}),
        )
        .send()
        .await
        .expect_error(401, "account management authentication token has expired");
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "login.failed");
    assert_eq!(row["subject"], "switch login");
    let implicit = later;

    // A self sign-up is a login of the member it creates.
    app.set_auth_settings(&admin, json!({"enable_self_signup": true}))
        .await;
    app.clock.advance_millis(1);
    let signed_up = app
        .post("/v2/account-members/tokens")
        .bearer(&implicit)
        .json(
            json!({"data": {"type": "account_management_authentication_token",
            "authentication_mechanism": "self_signup", "password_profile_id": shopper.profile_id,
            "username": "newcomer@example.com", "password": "a long password", "name": "Newcomer",
            "email": "newcomer@example.com"}}),
        )
        .send()
        .await
        .expect(201);
    let (row, _) = newest(&app, &admin).await;
    assert_eq!(row["event_type"], "login.succeeded");
    assert_eq!(row["subject"], "self_signup login");
    assert_eq!(
        row["actor"],
        json!({"class": "account_holder", "id": signed_up["meta"]["account_member_id"]})
    );
    assert_eq!(row["detail"]["username"], "newcomer@example.com");
    // Passwords: succeeded and failed (throttling is in `tests/api/throttling.rs`).
    let passwords = app.audit_events(&admin, "login.succeeded").await;
    assert!(
        passwords
            .iter()
            .any(|row| row["subject"] == "password login")
    );
    app.login(&implicit, &shopper.profile_id, &shopper.username, "wrong")
        .await
        .expect(400);
    let failed = app.audit_events(&admin, "login.failed").await;
    assert!(failed.iter().any(|row| row["subject"] == "password login"
        && row["actor"] == json!({"class": "shopper", "id": null})));
}
