//! The realm and its sub-resources, the settings, memberships and members.

use serde_json::{Value, json};

use crate::helpers::{TestApp, shopper_in};
use crate::tests;

tests![
    the_preset_realm_is_listed_read_and_updated,
    realm_redirect_uris_are_validated,
    another_realm_id_is_not_found_on_every_sub_resource,
    password_profiles_round_trip,
    a_deleted_profile_takes_its_logins_with_it,
    users_round_trip_with_the_reference_shape,
    user_validation_uses_the_reference_wording,
    the_duplicate_email_policy_applies_to_admin_writes,
    password_profile_infos_round_trip_and_hide_the_password,
    password_rules_and_profile_rules_are_enforced,
    a_user_has_one_login_per_profile,
    deleting_a_user_removes_its_member_and_memberships,
    memberships_round_trip_and_refuse_duplicates,
    membership_limits_are_enforced,
    account_members_mirror_users,
    authentication_settings_are_readable_by_all_and_writable_by_admins,
    membership_settings_are_admin_only,
];

async fn the_preset_realm_is_listed_read_and_updated(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let list = app
        .get("/v2/authentication-realms")
        .bearer(&implicit)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    let realm = &list["data"][0];
    assert_eq!(realm["id"], app.realm_id.to_string());
    assert_eq!(realm["type"], "authentication-realm");
    assert_eq!(realm["name"], "Account Management Realm");
    assert_eq!(realm["redirect_uris"], json!([]));
    assert_eq!(realm["duplicate_email_policy"], "allowed");
    assert_eq!(
        realm["relationships"]["origin"]["data"]["type"],
        "account_authentication_settings"
    );
    assert!(realm["meta"]["created_at"].is_string());
    let updated = app
        .put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {
            "type": "authentication-realm", "name": "Shop realm",
            "redirect_uris": ["https://shop.example.com/cb", "http://localhost:3000/cb"],
            "duplicate_email_policy": "api_only",
        }}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["name"], "Shop realm");
    assert_eq!(
        updated["data"]["redirect_uris"],
        json!(["https://shop.example.com/cb", "http://localhost:3000/cb"])
    );
    app.put(&app.realm_path(""))
        .bearer(&implicit)
        .json(json!({"data": {"type": "authentication-realm", "name": "x"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {"type": "authentication-realm", "duplicate_email_policy": "sometimes"}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'DuplicateEmailPolicy' on the 'oneof' tag.");
}

async fn realm_redirect_uris_are_validated(app: TestApp) {
    let admin = app.admin_token().await;
    for uris in [
        json!(["http://shop.example.com/cb"]),
        json!(["https://shop.example.com/cb#fragment"]),
        json!(["not a url"]),
        json!("https://shop.example.com"),
    ] {
        let reply = app
            .put(&app.realm_path(""))
            .bearer(&admin)
            .json(json!({"data": {"type": "authentication-realm", "redirect_uris": uris}}))
            .send()
            .await;
        assert_eq!(reply.status, 400, "{uris}");
    }
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {"type": "authentication-realm", "redirect_uris": ["ftp://x"]}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'RedirectURIs' on the 'url' tag.",
        );
    let too_many: Vec<String> = (0..101)
        .map(|i| format!("https://shop.example.com/{i}"))
        .collect();
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {"type": "authentication-realm", "redirect_uris": too_many}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'RedirectURIs' on the 'max' tag.",
        );
}

async fn another_realm_id_is_not_found_on_every_sub_resource(app: TestApp) {
    let admin = app.admin_token().await;
    let other = uuid::Uuid::new_v4();
    for path in [
        format!("/v2/authentication-realms/{other}"),
        format!("/v2/authentication-realms/{other}/password-profiles"),
        format!("/v2/authentication-realms/{other}/user-authentication-info"),
        format!("/v2/authentication-realms/not-a-uuid/user-authentication-info/{other}"),
        format!(
            "/v2/authentication-realms/{other}/user-authentication-info/{other}/user-authentication-password-profile-info"
        ),
    ] {
        app.get(&path)
            .bearer(&admin)
            .send()
            .await
            .expect_error(404, "authentication realm not found");
    }
}

async fn password_profiles_round_trip(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let profile = app
        .create_password_profile(&admin, json!({"type": "password_profile", "name": "Emails", "username_format": "email", "enable_one_time_password_token": true}))
        .await;
    assert_eq!(profile["type"], "password_profile");
    assert_eq!(profile["username_format"], "email");
    assert_eq!(profile["enable_one_time_password_token"], true);
    let defaults = app
        .create_password_profile(
            &admin,
            json!({"type": "password_profile", "name": "Defaults"}),
        )
        .await;
    assert_eq!(defaults["username_format"], "any");
    assert_eq!(defaults["enable_one_time_password_token"], false);
    let path = app.realm_path(&format!(
        "/password-profiles/{}",
        profile["id"].as_str().unwrap()
    ));
    let read = app.get(&path).bearer(&implicit).send().await.expect(200);
    assert_eq!(read["data"], profile);
    let updated = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "password_profile", "name": "Renamed", "usernameFormat": "any"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["name"], "Renamed");
    assert_eq!(
        updated["data"]["username_format"], "email",
        "usernameFormat is not the field"
    );
    let list = app
        .get(&app.realm_path("/password-profiles?sort=name"))
        .bearer(&implicit)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 2);
    assert_eq!(list["data"][0]["name"], "Defaults");
    app.get(&app.realm_path("/password-profiles?filter=eq(name,x)"))
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied filter");
    app.post(&app.realm_path("/password-profiles"))
        .bearer(&admin)
        .json(
            json!({"data": {"type": "password_profile", "name": "x", "username_format": "phone"}}),
        )
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'UsernameFormat' on the 'oneof' tag.",
        );
    app.post(&app.realm_path("/password-profiles"))
        .bearer(&implicit)
        .json(json!({"data": {"type": "password_profile", "name": "x"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.delete(&path).bearer(&admin).send().await.expect(204);
    app.get(&path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "password profile not found");
}

async fn a_deleted_profile_takes_its_logins_with_it(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    app.delete(&app.realm_path(&format!("/password-profiles/{}", shopper.profile_id)))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.log_in(&implicit, &shopper)
        .await
        .expect_error(400, "authentication failed");
    let infos = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{}/user-authentication-password-profile-info",
            shopper.member_id
        )))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(infos["meta"]["results"]["total"], 0);
}

async fn users_round_trip_with_the_reference_shape(app: TestApp) {
    let admin = app.admin_token().await;
    let reply = app
        .post(&app.realm_path("/user-authentication-info"))
        .bearer(&admin)
        .json(json!({"data": {"type": "user_authentication_info", "name": "April Ludgate", "email": "april@example.com", "given_name": "April"}}))
        .send()
        .await;
    let user = reply.expect(201)["data"].clone();
    assert_eq!(user["type"], "user_authentication_info");
    assert_eq!(user["given_name"], "April");
    assert_eq!(user["middle_name"], Value::Null);
    assert_eq!(user["meta"]["creation_status"], "COMPLETE");
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        user["links"]["self"],
        format!(
            "http://accountd.test/v2/authentication-realms/{}/user-authentication-info/{id}",
            app.realm_id
        )
    );
    let path = app.realm_path(&format!("/user-authentication-info/{id}"));
    let updated = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "user_authentication_info", "given_name": null, "family_name": "Ludgate"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["given_name"], Value::Null);
    assert_eq!(updated["data"]["family_name"], "Ludgate");
    assert_eq!(updated["data"]["name"], "April Ludgate");
    let list = app
        .get(&app.realm_path("/user-authentication-info?filter=eq(email,april@example.com)"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    let none = app
        .get(&app.realm_path("/user-authentication-info?filter=is_null(family_name)"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(none["meta"]["results"]["total"], 0);
}

async fn user_validation_uses_the_reference_wording(app: TestApp) {
    let admin = app.admin_token().await;
    let cases = [
        (
            json!({"type": "user_authentication_info", "email": "a@b.com"}),
            "Validation failed: field 'Name' on the 'required' tag.",
        ),
        (
            json!({"type": "user_authentication_info", "name": "A"}),
            "Validation failed: field 'Email' on the 'required' tag.",
        ),
        (
            json!({"type": "user_authentication_info", "name": "A", "email": "nope"}),
            "Validation failed: field 'Email' on the 'email' tag.",
        ),
        (
            json!({"type": "user_authentication_info", "name": "A", "email": format!("{}@b.com", "a".repeat(250))}),
            "Validation failed: field 'Email' on the 'max' tag.",
        ),
        (
            json!({"type": "user_authentication_info", "name": "A", "email": "a@b.com", "middle_name": 3}),
            "Validation failed: field 'MiddleName' on the 'string' tag.",
        ),
        (
            json!({"type": "account", "name": "", "email": "x"}),
            "Validation failed: field 'Type' on the 'eq' tag; field 'Name' on the 'min' tag; field 'Email' on the 'email' tag.",
        ),
    ];
    for (data, detail) in cases {
        app.post(&app.realm_path("/user-authentication-info"))
            .bearer(&admin)
            .json(json!({"data": data}))
            .send()
            .await
            .expect_error(400, detail);
    }
}

async fn the_duplicate_email_policy_applies_to_admin_writes(app: TestApp) {
    let admin = app.admin_token().await;
    app.create_user(&admin, "One", "same@example.com").await;
    // `allowed` (the default) and `api_only` let Admins create duplicates.
    app.create_user(&admin, "Two", "SAME@example.com").await;
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(
            json!({"data": {"type": "authentication-realm", "duplicate_email_policy": "api_only"}}),
        )
        .send()
        .await
        .expect(200);
    app.create_user(&admin, "Three", "same@example.com").await;
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {"type": "authentication-realm", "duplicate_email_policy": "disallowed"}}))
        .send()
        .await
        .expect(200);
    app.post(&app.realm_path("/user-authentication-info"))
        .bearer(&admin)
        .json(json!({"data": {"type": "user_authentication_info", "name": "Four", "email": "Same@Example.com"}}))
        .send()
        .await
        .expect_error(409, "user authentication info with the given email already exists");
    let fresh = app.create_user(&admin, "Five", "fresh@example.com").await;
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}",
        fresh["id"].as_str().unwrap()
    )))
    .bearer(&admin)
    .json(json!({"data": {"type": "user_authentication_info", "email": "same@example.com"}}))
    .send()
    .await
    .expect_error(
        409,
        "user authentication info with the given email already exists",
    );
}

async fn password_profile_infos_round_trip_and_hide_the_password(app: TestApp) {
    let admin = app.admin_token().await;
    let profile = app
        .create_password_profile(&admin, json!({"type": "password_profile", "name": "P"}))
        .await;
    let user = app.create_user(&admin, "Ann", "ann@example.com").await;
    let user_id = user["id"].as_str().unwrap();
    let base = app.realm_path(&format!(
        "/user-authentication-info/{user_id}/user-authentication-password-profile-info"
    ));
    let created = app
        .post(&base)
        .bearer(&admin)
        .json(json!({"data": {
            "type": "user-authentication-password-profile-info",
            "password_profile_id": profile["id"], "username": "ann", "password": "ann's secret pass",
        }}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert_eq!(created["type"], "user_authentication_password_profile_info");
    assert_eq!(created["username"], "ann");
    assert_eq!(created["password_profile_id"], profile["id"]);
    assert!(created.get("password").is_none());
    let path = format!("{base}/{}", created["id"].as_str().unwrap());
    let renamed = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "user_authentication_password_profile_info", "username": "ann.p", "id": created["id"]}}))
        .send()
        .await
        .expect(200);
    assert_eq!(renamed["data"]["username"], "ann.p");
    app.put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "user_authentication_password_profile_info", "password_profile_id": uuid::Uuid::new_v4()}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'PasswordProfileID' on the 'immutable' tag.");
    let list = app.get(&base).bearer(&admin).send().await.expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    app.delete(&path).bearer(&admin).send().await.expect(204);
    app.get(&path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "user authentication password profile info not found");
}

async fn password_rules_and_profile_rules_are_enforced(app: TestApp) {
    let admin = app.admin_token().await;
    let email_profile = app
        .create_password_profile(
            &admin,
            json!({"type": "password_profile", "name": "E", "username_format": "email"}),
        )
        .await;
    let user = app.create_user(&admin, "Bo", "bo@example.com").await;
    let base = app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info",
        user["id"].as_str().unwrap()
    ));
    let send = |data: Value| {
        let app = &app;
        let admin = admin.clone();
        let base = base.clone();
        async move {
            let mut data = data;
            data["type"] = json!("user_authentication_password_profile_info");
            app.post(&base)
                .bearer(&admin)
                .json(json!({"data": data}))
                .send()
                .await
        }
    };
    send(json!({"password_profile_id": email_profile["id"], "username": "bo@example.com", "password": "seven77"}))
        .await
        .expect_error(400, "Validation failed: field 'Password' on the 'min' tag.");
    send(json!({"password_profile_id": email_profile["id"], "username": "bo@example.com", "password": "x".repeat(1025)}))
        .await
        .expect_error(400, "Validation failed: field 'Password' on the 'max' tag.");
    send(json!({"password_profile_id": email_profile["id"], "username": "bo", "password": "long enough"}))
        .await
        .expect_error(400, "Validation failed: field 'Username' on the 'email' tag.");
    send(json!({"password_profile_id": uuid::Uuid::new_v4(), "username": "bo", "password": "long enough"}))
        .await
        .expect_error(404, "password profile not found");
    send(json!({"username": "bo", "password": "long enough"}))
        .await
        .expect_error(
            400,
            "Validation failed: field 'PasswordProfileID' on the 'required' tag.",
        );
    // Eight characters, not bytes: four two-byte characters are too short.
    send(json!({"password_profile_id": email_profile["id"], "username": "bo@example.com", "password": "éééé"}))
        .await
        .expect_error(400, "Validation failed: field 'Password' on the 'min' tag.");
    send(json!({"password_profile_id": email_profile["id"], "username": "bo@example.com", "password": "éééééééé"}))
        .await
        .expect(201);
}

async fn a_user_has_one_login_per_profile(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &[]).await;
    app.post(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info",
        shopper.member_id
    )))
    .bearer(&admin)
    .json(json!({"data": {
        "type": "user_authentication_password_profile_info",
        "password_profile_id": shopper.profile_id, "username": "second-name", "password": "long enough",
    }}))
    .send()
    .await
    .expect_error(
        409,
        "user authentication info already has a password profile info for the given password profile",
    );
}

async fn deleting_a_user_removes_its_member_and_memberships(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    app.delete(&app.realm_path(&format!("/user-authentication-info/{}", shopper.member_id)))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/v2/account-members/{}", shopper.member_id))
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "account member not found");
    let memberships = app
        .get(&format!(
            "/v2/accounts/{}/account-memberships",
            shopper.accounts[0]
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(memberships["meta"]["results"]["total"], 0);
    app.delete(&app.realm_path(&format!("/user-authentication-info/{}", shopper.member_id)))
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "user authentication info not found");
}

async fn memberships_round_trip_and_refuse_duplicates(app: TestApp) {
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "A").await;
    let account_id = account["id"].as_str().unwrap();
    let user = app.create_user(&admin, "M", "m@example.com").await;
    let member_id = user["id"].as_str().unwrap();
    let membership = app.add_membership(&admin, account_id, member_id).await;
    assert_eq!(membership["type"], "account_membership");
    assert_eq!(membership["account_member_id"], member_id);
    assert_eq!(
        membership["relationships"],
        json!({
            "account": {"data": {"type": "account", "id": account_id}},
            "account_member": {"data": {"type": "account_member", "id": member_id}},
        })
    );
    let path = format!(
        "/v2/accounts/{account_id}/account-memberships/{}",
        membership["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get(&path).bearer(&admin).send().await.expect(200)["data"],
        membership
    );
    app.post(&format!("/v2/accounts/{account_id}/account-memberships"))
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership", "account_member_id": member_id}}))
        .send()
        .await
        .expect_error(
            409,
            "account membership with the given account id and account member id already exists",
        );
    app.post(&format!("/v2/accounts/{account_id}/account-memberships"))
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership", "account_member_id": uuid::Uuid::new_v4()}}))
        .send()
        .await
        .expect_error(404, "account member not found");
    app.post(&format!(
        "/v2/accounts/{}/account-memberships",
        uuid::Uuid::new_v4()
    ))
    .bearer(&admin)
    .json(json!({"data": {"type": "account_membership", "account_member_id": member_id}}))
    .send()
    .await
    .expect_error(404, "account not found");
    let unchanged = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(unchanged["data"], membership);
    app.put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership", "account_member_id": uuid::Uuid::new_v4()}}))
        .send()
        .await
        .expect_error(400, "Validation failed: field 'AccountMemberID' on the 'immutable' tag.");
    let filtered = app
        .get(&format!(
            "/v2/accounts/{account_id}/account-memberships?filter=eq(account_member_id,{member_id})"
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(filtered["meta"]["results"]["total"], 1);
    app.delete(&path).bearer(&admin).send().await.expect(204);
    app.delete(&path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "account membership not found");
}

async fn membership_limits_are_enforced(app: TestApp) {
    let admin = app.admin_token().await;
    app.put("/v2/settings/account-membership")
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership_setting", "membership_limit": 1}}))
        .send()
        .await
        .expect(200);
    let user = app.create_user(&admin, "M", "m@example.com").await;
    let member_id = user["id"].as_str().unwrap();
    let first = app.create_account(&admin, "First").await;
    let second = app.create_account(&admin, "Second").await;
    app.add_membership(&admin, first["id"].as_str().unwrap(), member_id)
        .await;
    app.post(&format!(
        "/v2/accounts/{}/account-memberships",
        second["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .json(json!({"data": {"type": "account_membership", "account_member_id": member_id}}))
    .send()
    .await
    .expect_error(422, "the account member has reached the membership limit");
}

async fn account_members_mirror_users(app: TestApp) {
    let admin = app.admin_token().await;
    let user = app
        .create_user(&admin, "Tom Haverford", "tom@example.com")
        .await;
    let id = user["id"].as_str().unwrap();
    let member = app
        .get(&format!("/v2/account-members/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(member["type"], "account_member");
    assert_eq!(member["name"], "Tom Haverford");
    assert_eq!(member["email"], "tom@example.com");
    assert_eq!(
        member["meta"]["timestamps"]["created_at"],
        user["meta"]["created_at"]
    );
    assert_eq!(
        member["links"]["self"],
        format!("http://accountd.test/v2/account-members/{id}")
    );
    let list = app
        .get("/v2/account-members?filter=ilike(name,tom*)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    app.get("/v2/account-members/not-a-uuid")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "account member not found");
}

async fn authentication_settings_are_readable_by_all_and_writable_by_admins(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let settings = app
        .get("/v2/settings/account-authentication")
        .bearer(&implicit)
        .send()
        .await
        .expect(200);
    let data = &settings["data"];
    assert_eq!(data["type"], "account_authentication_settings");
    assert_eq!(data["enable_self_signup"], false);
    assert_eq!(data["auto_create_account_for_account_members"], false);
    assert_eq!(data["account_member_self_management"], "disabled");
    assert_eq!(
        data["account_management_authentication_token_timeout_secs"],
        86400
    );
    assert_eq!(data["meta"]["client_id"], "account-management");
    assert_eq!(
        data["relationships"]["authentication_realm"]["data"]["id"],
        app.realm_id.to_string()
    );
    assert_eq!(
        data["relationships"]["authentication_realm"]["data"]["type"],
        "authentication_realm"
    );
    app.put("/v2/settings/account-authentication")
        .bearer(&implicit)
        .json(json!({"data": {"type": "account_authentication_settings", "enable_self_signup": true}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    let cases = [
        (
            json!({"account_member_self_management": "sometimes"}),
            "Validation failed: field 'AccountMemberSelfManagement' on the 'oneof' tag.",
        ),
        (
            json!({"account_management_authentication_token_timeout_secs": 59}),
            "Validation failed: field 'AccountManagementAuthenticationTokenTimeoutSecs' on the 'min' tag.",
        ),
        (
            json!({"account_management_authentication_token_timeout_secs": 2_592_001}),
            "Validation failed: field 'AccountManagementAuthenticationTokenTimeoutSecs' on the 'max' tag.",
        ),
        (
            json!({"enable_self_signup": "yes"}),
            "Validation failed: field 'EnableSelfSignup' on the 'boolean' tag.",
        ),
    ];
    for (mut data, detail) in cases {
        data["type"] = json!("account_authentication_settings");
        app.put("/v2/settings/account-authentication")
            .bearer(&admin)
            .json(json!({"data": data}))
            .send()
            .await
            .expect_error(400, detail);
    }
    let updated = app
        .put("/v2/settings/account-authentication")
        .bearer(&admin)
        .json(json!({"data": {"type": "account_authentication_settings", "account_member_self_management": "update_only"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        updated["data"]["account_member_self_management"],
        "update_only"
    );
    assert_eq!(
        updated["data"]["account_management_authentication_token_timeout_secs"],
        86400
    );
}

async fn membership_settings_are_admin_only(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let settings = app
        .get("/v2/settings/account-membership")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(settings["data"]["type"], "account_membership_setting");
    assert_eq!(settings["data"]["membership_limit"], 10000);
    app.get("/v2/settings/account-membership")
        .bearer(&implicit)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.put("/v2/settings/account-membership")
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership_setting", "membership_limit": 0}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'MembershipLimit' on the 'min' tag.",
        );
}
