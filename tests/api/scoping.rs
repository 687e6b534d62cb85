//! Cross-account and cross-member access, the order of checks, and self-management
//! (docs/http-conventions.md#order-of-checks, docs/authentication.md#account-holder-scope,
//! docs/self-management.md): every way out of the token's scope answers like a record that does not
//! exist.

use serde_json::json;

use crate::helpers::{LoggedIn, TestApp, shopper_in};
use crate::tests;

tests![
    an_account_holder_reads_memberships_of_its_account_only,
    an_account_holder_reads_only_its_own_user_records,
    account_holders_cannot_write_memberships_or_users,
    self_management_follows_the_current_setting,
    self_management_cannot_move_a_login_to_another_profile,
    a_missing_resource_answers_before_a_bad_body,
    a_forbidden_caller_is_told_before_a_bad_body,
    undecodable_path_ids_are_not_found,
];

struct Two {
    admin: String,
    implicit: String,
    member: crate::helpers::Shopper,
    token: String,
    other_account: String,
    other_member: String,
}

/// A logged-in member of account A, and another member alone in account B.
async fn two_members(app: &TestApp) -> Two {
    let LoggedIn {
        admin,
        implicit,
        shopper: member,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let other = shopper_in(app, &admin, &["B"]).await;
    Two {
        token,
        admin,
        implicit,
        other_account: other.accounts[0].clone(),
        other_member: other.member_id.clone(),
        member,
    }
}

async fn an_account_holder_reads_memberships_of_its_account_only(app: TestApp) {
    let two = two_members(&app).await;
    let own_account = &two.member.accounts[0];
    let list = app
        .get(&format!("/v2/accounts/{own_account}/account-memberships"))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    let own_membership = list["data"][0]["id"].as_str().unwrap().to_owned();
    app.get(&format!(
        "/v2/accounts/{own_account}/account-memberships/{own_membership}"
    ))
    .bearer(&two.implicit)
    .account_token(&two.token)
    .send()
    .await
    .expect(200);
    let foreign = app
        .get(&format!(
            "/v2/accounts/{}/account-memberships",
            two.other_account
        ))
        .bearer(&two.admin)
        .send()
        .await
        .expect(200);
    let foreign_membership = foreign["data"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/v2/accounts/{}/account-memberships", two.other_account),
        format!(
            "/v2/accounts/{}/account-memberships/{foreign_membership}",
            two.other_account
        ),
        format!("/v2/accounts/{}/account-memberships", uuid::Uuid::new_v4()),
    ] {
        app.get(&path)
            .bearer(&two.implicit)
            .account_token(&two.token)
            .send()
            .await
            .expect_error(404, "account not found");
    }
    // A membership of another account, asked for under the token's own account.
    app.get(&format!(
        "/v2/accounts/{own_account}/account-memberships/{foreign_membership}"
    ))
    .bearer(&two.implicit)
    .account_token(&two.token)
    .send()
    .await
    .expect_error(404, "account membership not found");
}

async fn an_account_holder_reads_only_its_own_user_records(app: TestApp) {
    let two = two_members(&app).await;
    let own = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{}",
            two.member.member_id
        )))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect(200);
    assert_eq!(own["data"]["id"], two.member.member_id.as_str());
    let list = app
        .get(&app.realm_path("/user-authentication-info"))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    for id in [two.other_member.clone(), uuid::Uuid::new_v4().to_string()] {
        app.get(&app.realm_path(&format!("/user-authentication-info/{id}")))
            .bearer(&two.implicit)
            .account_token(&two.token)
            .send()
            .await
            .expect_error(404, "user authentication info not found");
        app.get(&app.realm_path(&format!(
            "/user-authentication-info/{id}/user-authentication-password-profile-info"
        )))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect_error(404, "user authentication info not found");
    }
    let own_infos = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{}/user-authentication-password-profile-info",
            two.member.member_id
        )))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect(200);
    assert_eq!(
        own_infos["data"][0]["username"],
        two.member.username.as_str()
    );
    // Another user's login record, asked for under the caller's own user id.
    let foreign_infos = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{}/user-authentication-password-profile-info",
            two.other_member
        )))
        .bearer(&two.admin)
        .send()
        .await
        .expect(200);
    app.get(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info/{}",
        two.member.member_id,
        foreign_infos["data"][0]["id"].as_str().unwrap()
    )))
    .bearer(&two.implicit)
    .account_token(&two.token)
    .send()
    .await
    .expect_error(404, "user authentication password profile info not found");
}

async fn account_holders_cannot_write_memberships_or_users(app: TestApp) {
    let two = two_members(&app).await;
    let own_account = &two.member.accounts[0];
    app.post(&format!("/v2/accounts/{own_account}/account-memberships"))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(
            json!({"data": {"type": "account_membership", "account_member_id": two.other_member}}),
        )
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post(&app.realm_path("/user-authentication-info"))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(json!({"data": {"type": "user_authentication_info", "name": "x", "email": "x@example.com"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.delete(&app.realm_path(&format!(
        "/user-authentication-info/{}",
        two.member.member_id
    )))
    .bearer(&two.implicit)
    .account_token(&two.token)
    .send()
    .await
    .expect_error(403, "forbidden");
}

async fn self_management_follows_the_current_setting(app: TestApp) {
    let two = two_members(&app).await;
    let own = app.realm_path(&format!(
        "/user-authentication-info/{}",
        two.member.member_id
    ));
    let rename = json!({"data": {"type": "user_authentication_info", "name": "New Name"}});
    // Disabled (the default): 403, but another member's record is still just not found.
    app.put(&own)
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(rename.clone())
        .send()
        .await
        .expect_error(403, "forbidden");
    app.put(&app.realm_path(&format!("/user-authentication-info/{}", two.other_member)))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(rename.clone())
        .send()
        .await
        .expect_error(404, "user authentication info not found");
    // Enabling it takes effect at once, for the token already issued.
    app.put("/v2/settings/account-authentication")
        .bearer(&two.admin)
        .json(json!({"data": {"type": "account_authentication_settings", "account_member_self_management": "update_only"}}))
        .send()
        .await
        .expect(200);
    let renamed = app
        .put(&own)
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(rename)
        .send()
        .await
        .expect(200);
    assert_eq!(renamed["data"]["name"], "New Name");
    app.put(&own)
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(json!({"data": {"type": "user_authentication_info", "email": "not-an-email"}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'Email' on the 'email' tag.");
    // A shopper without an account token is no self-manager.
    app.put(&own)
        .bearer(&two.implicit)
        .json(json!({"data": {"type": "user_authentication_info", "name": "x"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn self_management_cannot_move_a_login_to_another_profile(app: TestApp) {
    let two = two_members(&app).await;
    app.put("/v2/settings/account-authentication")
        .bearer(&two.admin)
        .json(json!({"data": {"type": "account_authentication_settings", "account_member_self_management": "update_only"}}))
        .send()
        .await
        .expect(200);
    let base = app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info",
        two.member.member_id
    ));
    let infos = app
        .get(&base)
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect(200);
    let path = format!("{base}/{}", infos["data"][0]["id"].as_str().unwrap());
    app.put(&path)
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(json!({"data": {"type": "user_authentication_password_profile_info", "password_profile_id": uuid::Uuid::new_v4()}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'PasswordProfileID' on the 'immutable' tag.");
    // The same profile id, a new password: allowed, and the new password works.
    app.clock.advance_seconds(1);
    app.put(&path)
        .bearer(&two.implicit)
        .account_token(&two.token)
        .json(json!({"data": {
            "type": "user_authentication_password_profile_info",
            "password_profile_id": two.member.profile_id, "password": "my new password",
        }}))
        .send()
        .await
        .expect(200);
    app.login(
        &two.implicit,
        &two.member.profile_id,
        &two.member.username,
        "my new password",
    )
    .await
    .expect(201);
    // A password change through self-management revokes the token that made it
    // (docs/decisions.md#tokens-valid-after).
    app.get(&format!("/v2/accounts/{}", two.member.accounts[0]))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .send()
        .await
        .expect_error(401, "account management authentication token is invalid");
}

async fn a_missing_resource_answers_before_a_bad_body(app: TestApp) {
    let admin = app.admin_token().await;
    app.put(&format!("/v2/accounts/{}", uuid::Uuid::new_v4()))
        .bearer(&admin)
        .raw("{not json")
        .send()
        .await
        .expect_error(404, "account not found");
    app.put(&app.realm_path(&format!("/password-profiles/{}", uuid::Uuid::new_v4())))
        .bearer(&admin)
        .raw("{not json")
        .send()
        .await
        .expect_error(404, "password profile not found");
    app.post(&format!(
        "/v2/authentication-realms/{}/password-profiles",
        uuid::Uuid::new_v4()
    ))
    .bearer(&admin)
    .raw("{not json")
    .send()
    .await
    .expect_error(404, "authentication realm not found");
}

async fn a_forbidden_caller_is_told_before_a_bad_body(app: TestApp) {
    let two = two_members(&app).await;
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}",
        two.member.member_id
    )))
    .bearer(&two.implicit)
    .raw("{not json")
    .send()
    .await
    .expect_error(403, "forbidden");
    // Self-management disabled: 403 before the body is read.
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}",
        two.member.member_id
    )))
    .bearer(&two.implicit)
    .account_token(&two.token)
    .raw("{not json")
    .send()
    .await
    .expect_error(403, "forbidden");
    // Another member's record: 404 before anything else.
    app.put(&app.realm_path(&format!("/user-authentication-info/{}", two.other_member)))
        .bearer(&two.implicit)
        .account_token(&two.token)
        .raw("{not json")
        .send()
        .await
        .expect_error(404, "user authentication info not found");
}

async fn undecodable_path_ids_are_not_found(app: TestApp) {
    let admin = app.admin_token().await;
    app.get("/v2/accounts/%FF%FE")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "account not found");
    app.get("/v2/authentication-realms/%FF/password-profiles")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "authentication realm not found");
}
