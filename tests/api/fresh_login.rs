//! Sensitive self-management needs a fresh login: account tokens carry `auth_time`, the second of
//! the credential check they descend from; a switch copies it; a self-managed change of the
//! password, or of the username or email to a new value, needs `auth_time` within
//! `ACCOUNTD_SENSITIVE_ACTION_MAX_AGE` seconds, otherwise `403` `re-authentication required`.

use serde_json::{Value, json};

use crate::helpers::{
    Shopper, TestApp, account_tokens, jwt_parts, shopper_in, spawn_app, test_config,
};
use crate::tests;

tests![
    credential_logins_carry_auth_time_and_a_switch_copies_it,
    a_stale_token_cannot_change_the_password_username_or_email,
    a_fresh_token_changes_them,
    a_switched_stale_token_stays_stale,
    a_stale_token_may_still_change_the_name_and_repeat_stored_values,
    freshness_is_checked_after_the_setting_and_before_the_body,
    a_token_without_auth_time_is_never_fresh,
    the_maximum_age_is_configurable,
];

const TOKEN_TYPE: &str = "account_management_authentication_token";
const REAUTHENTICATE: &str = "re-authentication required";
const INFO_TYPE: &str = "user_authentication_password_profile_info";

/// A member in one account with self-management on, and the paths of its two records.
struct Member {
    admin: String,
    implicit: String,
    shopper: Shopper,
    user_path: String,
    info_path: String,
}

async fn member(app: &TestApp) -> Member {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    app.set_auth_settings(
        &admin,
        json!({"account_member_self_management": "update_only",
               "account_management_authentication_token_timeout_secs": 86_400}),
    )
    .await;
    let shopper = shopper_in(app, &admin, &["Home", "Work"]).await;
    let user_path = app.realm_path(&format!("/user-authentication-info/{}", shopper.member_id));
    let infos = app
        .get(&format!(
            "{user_path}/user-authentication-password-profile-info"
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let info_path = format!(
        "{user_path}/user-authentication-password-profile-info/{}",
        infos["data"][0]["id"].as_str().unwrap()
    );
    Member {
        admin,
        implicit,
        shopper,
        user_path,
        info_path,
    }
}

async fn login(app: &TestApp, member: &Member) -> String {
    account_tokens(app, &member.implicit, &member.shopper)
        .await
        .remove(0)
        .1
}

async fn switch(app: &TestApp, implicit: &str, token: &str) -> String {
    let body = app
        .post("/v2/account-members/tokens")
        .bearer(implicit)
        .account_token(token)
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
        .send()
        .await
        .expect(201);
    body["data"][1]["token"].as_str().unwrap().to_owned()
}

async fn put(
    app: &TestApp,
    member: &Member,
    path: &str,
    token: &str,
    data: Value,
) -> crate::helpers::Reply {
    app.put(path)
        .bearer(&member.implicit)
        .account_token(token)
        .json(json!({ "data": data }))
        .send()
        .await
}

fn new_password() -> Value {
    json!({"type": INFO_TYPE, "password": "an entirely new password"})
}

fn new_username() -> Value {
    json!({"type": INFO_TYPE, "username": "someone-else@example.com"})
}

fn new_email() -> Value {
    json!({"type": "user_authentication_info", "email": "elsewhere@example.com"})
}

async fn credential_logins_carry_auth_time_and_a_switch_copies_it(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["auth_time"], claims["iat"]);
    assert_eq!(claims["auth_time"], app.clock_seconds());
    app.clock.advance_seconds(100);
    let switched = switch(&app, &member.implicit, &token).await;
    let (_, switched_claims) = jwt_parts(&switched);
    assert_eq!(switched_claims["iat"], app.clock_seconds());
    assert_eq!(switched_claims["auth_time"], claims["auth_time"]);
}

async fn a_stale_token_cannot_change_the_password_username_or_email(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    app.clock.advance_seconds(601);
    for (path, data) in [
        (&member.info_path, new_password()),
        (&member.info_path, new_username()),
        (&member.user_path, new_email()),
    ] {
        put(&app, &member, path, &token, data)
            .await
            .expect_error(403, REAUTHENTICATE);
    }
    // Nothing changed: the old password still logs in, and the record is as it was.
    let user = app
        .get(&member.user_path)
        .bearer(&member.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(user["data"]["email"], member.shopper.username.as_str());
    login(&app, &member).await;
}

async fn a_fresh_token_changes_them(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    // At exactly the maximum age the token is still fresh.
    app.clock.advance_seconds(600);
    put(&app, &member, &member.user_path, &token, new_email())
        .await
        .expect(200);
    put(&app, &member, &member.info_path, &token, new_username())
        .await
        .expect(200);
    put(&app, &member, &member.info_path, &token, new_password())
        .await
        .expect(200);
    app.login(
        &member.implicit,
        &member.shopper.profile_id,
        "someone-else@example.com",
        "an entirely new password",
    )
    .await
    .expect(201);
}

async fn a_switched_stale_token_stays_stale(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    app.clock.advance_seconds(601);
    // Freshly minted by the switch, but it descends from the same old credential check.
    let switched = switch(&app, &member.implicit, &token).await;
    put(&app, &member, &member.info_path, &switched, new_password())
        .await
        .expect_error(403, REAUTHENTICATE);
    let again = switch(&app, &member.implicit, &switched).await;
    put(&app, &member, &member.user_path, &again, new_email())
        .await
        .expect_error(403, REAUTHENTICATE);
    // Logging in with the password again makes a fresh token.
    let fresh = login(&app, &member).await;
    put(&app, &member, &member.info_path, &fresh, new_password())
        .await
        .expect(200);
}

async fn a_stale_token_may_still_change_the_name_and_repeat_stored_values(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    app.clock.advance_seconds(700);
    let renamed = put(
        &app,
        &member,
        &member.user_path,
        &token,
        json!({"type": "user_authentication_info", "name": "Renamed", "given_name": "Re",
               "email": member.shopper.username}),
    )
    .await
    .expect(200);
    assert_eq!(renamed["data"]["name"], "Renamed");
    put(
        &app,
        &member,
        &member.info_path,
        &token,
        json!({"type": INFO_TYPE, "username": member.shopper.username}),
    )
    .await
    .expect(200);
}

async fn freshness_is_checked_after_the_setting_and_before_the_body(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    app.clock.advance_seconds(601);
    // A password too short for the rules: a stale token learns nothing about the body's validity.
    let short = json!({"type": INFO_TYPE, "password": "short"});
    put(&app, &member, &member.info_path, &token, short.clone())
        .await
        .expect_error(403, REAUTHENTICATE);
    // Another member's record is still 404, before freshness.
    let other = shopper_in(&app, &member.admin, &[]).await;
    put(
        &app,
        &member,
        &app.realm_path(&format!("/user-authentication-info/{}", other.member_id)),
        &token,
        new_email(),
    )
    .await
    .expect_error(404, "user authentication info not found");
    // With self-management off, the setting answers first.
    app.set_auth_settings(
        &member.admin,
        json!({"account_member_self_management": "disabled"}),
    )
    .await;
    put(&app, &member, &member.info_path, &token, new_password())
        .await
        .expect_error(403, "forbidden");
    // A fresh token reaches body validation.
    app.set_auth_settings(
        &member.admin,
        json!({"account_member_self_management": "update_only"}),
    )
    .await;
    let fresh = login(&app, &member).await;
    put(&app, &member, &member.info_path, &fresh, short)
        .await
        .expect_error(400, "Validation failed: field 'Password' on the 'min' tag.");
}

/// Tokens minted before `auth_time` existed still verify, but never count as fresh.
async fn a_token_without_auth_time_is_never_fresh(app: TestApp) {
    let member = member(&app).await;
    let token = login(&app, &member).await;
    let (_, claims) = jwt_parts(&token);
    let legacy = accountd::auth::jwt::AccountClaims {
        sub: member.shopper.member_id.parse().unwrap(),
        scope: claims["scope"].as_str().unwrap().parse().unwrap(),
        store_id: app.state.deployment.store_id,
        realm_id: app.state.deployment.realm_id,
        account_member_self_management: "update_only".to_owned(),
        ancestors: String::new(),
        iat: app.clock_seconds(),
        exp: app.clock_seconds() + 3_600,
        jti: uuid::Uuid::new_v4(),
        auth_time: None,
    };
    let legacy = app.state.keys.mint(&legacy).unwrap();
    assert!(jwt_parts(&legacy).1.get("auth_time").is_none());
    put(&app, &member, &member.info_path, &legacy, new_password())
        .await
        .expect_error(403, REAUTHENTICATE);
    put(
        &app,
        &member,
        &member.user_path,
        &legacy,
        json!({"type": "user_authentication_info", "name": "Still allowed"}),
    )
    .await
    .expect(200);
    // Its switch keeps it without the claim.
    let switched = switch(&app, &member.implicit, &legacy).await;
    assert!(jwt_parts(&switched).1.get("auth_time").is_none());
}

async fn the_maximum_age_is_configurable(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.sensitive_action_max_age = 5;
    let strict = spawn_app(config).await;
    let member = member(&strict).await;
    let token = login(&strict, &member).await;
    strict.clock.advance_seconds(5);
    put(&strict, &member, &member.info_path, &token, new_username())
        .await
        .expect(200);
    strict.clock.advance_seconds(1);
    put(&strict, &member, &member.info_path, &token, new_password())
        .await
        .expect_error(403, REAUTHENTICATE);
}
