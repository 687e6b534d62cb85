//! `POST /v2/account-members/tokens`: logging in with a password and getting one token per
//! account (docs/account-tokens.md#the-token-endpoint).

use accountd::time::Clock;
use serde_json::{Value, json};

use crate::helpers::{LoggedIn, Shopper, TestApp, captured_logs, jwt_parts, shopper_in};
use crate::tests;

tests![
    the_readme_walk_through_works_end_to_end,
    a_member_of_two_accounts_gets_one_token_per_account,
    a_member_without_accounts_gets_an_empty_list,
    tokens_carry_the_claims_and_header_of_the_spec,
    tokens_are_ordered_by_account_name_then_id_and_paginate,
    the_token_lifetime_follows_the_settings,
    usernames_match_case_insensitively,
    wrong_password_and_unknown_user_get_the_same_answer,
    an_unknown_profile_and_an_overlong_password_fail_like_a_wrong_password,
    every_validation_case_of_the_password_mechanism,
    type_and_mechanism_failures_are_joined,
    the_body_must_be_json_with_a_data_object,
    the_password_appears_in_no_response_and_no_log_line,
    page_parameters_are_checked_before_the_body,
    the_switch_mechanism_reissues_tokens_for_current_memberships,
    the_switch_mechanism_needs_its_header,
    a_stale_account_token_does_not_block_a_password_login,
    a_hash_with_outdated_parameters_is_upgraded_at_login,
];

const TOKEN_TYPE: &str = "account_management_authentication_token";

async fn the_readme_walk_through_works_end_to_end(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;

    let profile = app
        .create_password_profile(
            &admin,
            json!({"type": "password_profile", "name": "Storefront"}),
        )
        .await;
    let account = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Acme Procurement", "legal_name": "Acme Ltd"}),
        )
        .await;
    let user = app
        .create_user(&admin, "Ron Swanson", "ron@example.com")
        .await;
    app.create_password_info(
        &admin,
        user["id"].as_str().unwrap(),
        profile["id"].as_str().unwrap(),
        "ron@example.com",
        "mustache-and-bacon",
    )
    .await;
    app.add_membership(
        &admin,
        account["id"].as_str().unwrap(),
        user["id"].as_str().unwrap(),
    )
    .await;

    let reply = app
        .login(
            &implicit,
            profile["id"].as_str().unwrap(),
            "ron@example.com",
            "mustache-and-bacon",
        )
        .await;
    let body = reply.expect(201);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(body["meta"]["account_member_id"], user["id"]);
    let token = body["data"][0]["token"].as_str().unwrap();
    assert_eq!(body["data"][0]["account_name"], "Acme Procurement");

    let read = app
        .get(&format!("/v2/accounts/{}", account["id"].as_str().unwrap()))
        .bearer(&implicit)
        .account_token(token)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"]["id"], account["id"]);
    assert_eq!(read["data"]["legal_name"], "Acme Ltd");
}

async fn a_member_of_two_accounts_gets_one_token_per_account(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["Alpha", "Beta"]).await;
    let body = app.log_in(&implicit, &shopper).await.expect(201);
    let tokens = body["data"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    for (item, account_id) in tokens.iter().zip(&shopper.accounts) {
        assert_eq!(item["type"], TOKEN_TYPE);
        assert_eq!(item["account_id"], account_id.as_str());
        let (_, claims) = jwt_parts(item["token"].as_str().unwrap());
        assert_eq!(claims["scope"], account_id.as_str());
        assert_eq!(claims["sub"], shopper.member_id.as_str());
        // Each token reads its own account and not the other.
        let own = app
            .get(&format!("/v2/accounts/{account_id}"))
            .bearer(&implicit)
            .account_token(item["token"].as_str().unwrap())
            .send()
            .await;
        own.expect(200);
    }
    let first = tokens[0]["token"].as_str().unwrap();
    app.get(&format!("/v2/accounts/{}", shopper.accounts[1]))
        .bearer(&implicit)
        .account_token(first)
        .send()
        .await
        .expect_error(404, "account not found");
}

async fn a_member_without_accounts_gets_an_empty_list(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &[]).await;
    let body = app.log_in(&implicit, &shopper).await.expect(201);
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["meta"]["results"]["total"], 0);
    assert_eq!(
        body["meta"]["page"],
        json!({"limit": 25, "offset": 0, "current": 1, "total": 0})
    );
    assert_eq!(
        body["meta"]["account_member_id"],
        shopper.member_id.as_str()
    );
    assert_eq!(body["links"]["next"], Value::Null);
}

async fn tokens_carry_the_claims_and_header_of_the_spec(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let root = app.create_account(&admin, "Root").await;
    let parent = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Parent", "parent_id": root["id"]}),
        )
        .await;
    let child = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Child", "parent_id": parent["id"]}),
        )
        .await;
    let shopper = shopper_in(&app, &admin, &[]).await;
    app.add_membership(&admin, child["id"].as_str().unwrap(), &shopper.member_id)
        .await;
    let before = app.clock.now().seconds();
    let body = app.log_in(&implicit, &shopper).await.expect(201);
    let item = &body["data"][0];
    let (header, claims) = jwt_parts(item["token"].as_str().unwrap());
    assert_eq!(header["alg"], app.state.config.jwt_algorithm.as_str());
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], app.state.keys.active_kid());

    let names: std::collections::BTreeSet<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "sub",
            "scope",
            "store_id",
            "realm_id",
            "account_member_self_management",
            "ancestors",
            "iat",
            "exp",
            "jti",
            "auth_time"
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(
        claims["store_id"],
        app.state.deployment.store_id.to_string()
    );
    assert_eq!(claims["realm_id"], app.realm_id.to_string());
    assert_eq!(claims["account_member_self_management"], "disabled");
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(iat >= before && iat <= before + 1);
    assert_eq!(exp - iat, 86_400);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    // The password was checked just now: the credential check's second is the token's own.
    assert_eq!(claims["auth_time"], iat);

    use base64::Engine;
    let encode = |id: &Value| {
        let id = uuid::Uuid::parse_str(id.as_str().unwrap()).unwrap();
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(id.as_bytes())
    };
    assert_eq!(
        claims["ancestors"],
        format!("{},{}", encode(&root["id"]), encode(&parent["id"]))
    );

    let expected_expires = chrono::DateTime::from_timestamp(exp, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    assert_eq!(item["expires"], expected_expires);
}

/// A password login for `shopper` asking for one page of tokens (`query` includes the `?`).
async fn login_page(app: &TestApp, implicit: &str, shopper: &Shopper, query: &str) -> Value {
    app.post(&format!("/v2/account-members/tokens{query}"))
        .bearer(implicit)
        .json(json!({"data": {
            "type": TOKEN_TYPE, "authentication_mechanism": "password",
            "password_profile_id": shopper.profile_id, "username": shopper.username,
            "password": shopper.password,
        }}))
        .send()
        .await
        .expect(201)
}

async fn tokens_are_ordered_by_account_name_then_id_and_paginate(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    // Byte-wise: upper case sorts before lower case.
    let shopper = shopper_in(&app, &admin, &["beta", "Alpha", "alpha", "Gamma"]).await;
    let body = login_page(&app, &implicit, &shopper, "?page[limit]=3").await;
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["account_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Gamma", "alpha"]);
    assert_eq!(body["meta"]["results"]["total"], 4);
    assert_eq!(
        body["meta"]["page"],
        json!({"limit": 3, "offset": 0, "current": 1, "total": 2})
    );
    assert_eq!(
        body["links"]["next"],
        "http://accountd.test/v2/account-members/tokens?page[offset]=3&page[limit]=3"
    );
    let second = login_page(&app, &implicit, &shopper, "?page[limit]=3&page[offset]=3").await;
    assert_eq!(second["data"][0]["account_name"], "beta");
    assert_eq!(second["links"]["next"], Value::Null);
    // Past the last account: no tokens, but the total and the settings still come back.
    let past_end = login_page(&app, &implicit, &shopper, "?page[limit]=3&page[offset]=6").await;
    assert_eq!(past_end["data"].as_array().unwrap().len(), 0);
    assert_eq!(past_end["meta"]["results"]["total"], 4);
}

async fn the_token_lifetime_follows_the_settings(app: TestApp) {
    let admin = app.admin_token().await;
    app.put("/v2/settings/account-authentication")
        .bearer(&admin)
        .json(json!({"data": {
            "type": "account_authentication_settings",
            "account_management_authentication_token_timeout_secs": 3600,
        }}))
        .send()
        .await
        .expect(200);
    let (_, claims) = jwt_parts(&app.logged_in(&["Only"]).await.token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
}

async fn usernames_match_case_insensitively(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let profile = app
        .create_password_profile(&admin, json!({"type": "password_profile", "name": "P"}))
        .await;
    let user = app.create_user(&admin, "Öz", "oz@example.com").await;
    app.create_password_info(
        &admin,
        user["id"].as_str().unwrap(),
        profile["id"].as_str().unwrap(),
        "Özgür.Name@Example.COM",
        "a long enough password",
    )
    .await;
    let body = app
        .login(
            &implicit,
            profile["id"].as_str().unwrap(),
            "özgür.name@example.com",
            "a long enough password",
        )
        .await
        .expect(201);
    assert_eq!(body["meta"]["account_member_id"], user["id"]);
    // The same username in another case is taken.
    let other = app.create_user(&admin, "Other", "other@example.com").await;
    app.post(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info",
        other["id"].as_str().unwrap()
    )))
    .bearer(&admin)
    .json(json!({"data": {
        "type": "user_authentication_password_profile_info",
        "password_profile_id": profile["id"], "username": "ÖZGÜR.NAME@EXAMPLE.COM",
        "password": "another password",
    }}))
    .send()
    .await
    .expect_error(
        409,
        "user authentication password profile info with the given password profile id and username already exists",
    );
}

async fn wrong_password_and_unknown_user_get_the_same_answer(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let wrong = app
        .login(
            &implicit,
            &shopper.profile_id,
            &shopper.username,
            "not the password",
        )
        .await;
    let unknown = app
        .login(
            &implicit,
            &shopper.profile_id,
            "nobody@example.com",
            "not the password",
        )
        .await;
    wrong.expect_error(400, "authentication failed");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.text, unknown.text, "byte-identical bodies");
}

async fn an_unknown_profile_and_an_overlong_password_fail_like_a_wrong_password(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let unknown_profile = app
        .login(
            &implicit,
            &uuid::Uuid::new_v4().to_string(),
            &shopper.username,
            &shopper.password,
        )
        .await;
    unknown_profile.expect_error(400, "authentication failed");
    let overlong = "x".repeat(1025);
    app.login(&implicit, &shopper.profile_id, &shopper.username, &overlong)
        .await
        .expect_error(400, "authentication failed");
}

async fn every_validation_case_of_the_password_mechanism(app: TestApp) {
    let implicit = app.implicit_token().await;
    let profile = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"username": "u", "password": "p"}),
            "Validation failed: field 'PasswordProfileID' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": "", "username": "u", "password": "p"}),
            "Validation failed: field 'PasswordProfileID' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": "not-a-uuid", "username": "u", "password": "p"}),
            "Validation failed: field 'PasswordProfileID' on the 'must_be_uuid' tag.",
        ),
        (
            json!({"password_profile_id": profile, "password": "p"}),
            "Validation failed: field 'Username' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": profile, "username": "", "password": "p"}),
            "Validation failed: field 'Username' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": profile, "username": "u"}),
            "Validation failed: field 'Password' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": profile, "username": "u", "password": ""}),
            "Validation failed: field 'Password' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": profile}),
            "Validation failed: field 'Username' on the 'cannot_be_empty' tag; field 'Password' on the 'cannot_be_empty' tag.",
        ),
        (
            json!({"password_profile_id": profile, "username": 7, "password": "p"}),
            "Validation failed: field 'Username' on the 'string' tag.",
        ),
        (
            json!({"password_profile_id": profile, "username": "u\u{0}", "password": "p"}),
            "Validation failed: field 'Username' on the 'string' tag.",
        ),
        (
            json!({"password_profile_id": ["x"], "username": "u", "password": "p"}),
            "Validation failed: field 'PasswordProfileID' on the 'string' tag.",
        ),
    ];
    for (fields, detail) in cases {
        let mut data = fields.as_object().unwrap().clone();
        data.insert("type".into(), json!(TOKEN_TYPE));
        data.insert("authentication_mechanism".into(), json!("password"));
        app.post("/v2/account-members/tokens")
            .bearer(&implicit)
            .json(json!({"data": data}))
            .send()
            .await
            .expect_error(422, detail);
    }
}

async fn type_and_mechanism_failures_are_joined(app: TestApp) {
    let implicit = app.implicit_token().await;
    let send = |data: Value| {
        let app = &app;
        let implicit = implicit.clone();
        async move {
            app.post("/v2/account-members/tokens")
                .bearer(&implicit)
                .json(json!({"data": data}))
                .send()
                .await
        }
    };
    send(json!({"type": "token", "authentication_mechanism": "password"}))
        .await
        .expect_error(
            422,
            "Validation failed: field 'Type' on the 'account_token_type' tag.",
        );
    send(json!({"type": TOKEN_TYPE, "authentication_mechanism": "magic"}))
        .await
        .expect_error(
            422,
            "Validation failed: field 'AuthenticationMechanism' on the 'is_invalid' tag.",
        );
    send(json!({"type": TOKEN_TYPE, "authentication_mechanism": ""}))
        .await
        .expect_error(
            422,
            "Validation failed: field 'AuthenticationMechanism' on the 'is_invalid' tag.",
        );
    send(json!({}))
        .await
        .expect_error(
            422,
            "Validation failed: field 'Type' on the 'account_token_type' tag; field 'AuthenticationMechanism' on the 'is_invalid' tag.",
        );
}

async fn the_body_must_be_json_with_a_data_object(app: TestApp) {
    let implicit = app.implicit_token().await;
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .raw("{not json")
        .send()
        .await
        .expect_error(400, "Could not parse the request body");
    for body in [
        json!({}),
        json!({"data": "x"}),
        json!({"data": null}),
        json!([1]),
    ] {
        app.post("/v2/account-members/tokens")
            .bearer(&implicit)
            .json(body)
            .send()
            .await
            .expect_error(
                422,
                "Validation failed: field 'Data' on the 'required' tag.",
            );
    }
    // No bearer token at all comes before anything about the body.
    app.post("/v2/account-members/tokens")
        .raw("{not json")
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn the_password_appears_in_no_response_and_no_log_line(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let secret = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let profile = app
        .create_password_profile(&admin, json!({"type": "password_profile", "name": "P"}))
        .await;
    let user = app
        .create_user(&admin, "Leslie", "leslie@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    let info = app
        .create_password_info(
            &admin,
            user_id,
            profile["id"].as_str().unwrap(),
            "leslie",
            &secret,
        )
        .await;
    assert!(!info.to_string().contains(&secret));
    assert!(info.get("password").is_none());
    let login = app
        .login(
            &implicit,
            profile["id"].as_str().unwrap(),
            "leslie",
            &secret,
        )
        .await;
    assert!(!login.text.contains(&secret));
    let wrong = app
        .login(
            &implicit,
            profile["id"].as_str().unwrap(),
            "leslie",
            &format!("{secret}-wrong"),
        )
        .await;
    assert!(!wrong.text.contains(&secret));
    let list = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{user_id}/user-authentication-password-profile-info"
        )))
        .bearer(&admin)
        .send()
        .await;
    assert!(!list.text.contains(&secret));
    let logs = captured_logs();
    assert!(!logs.is_empty(), "the logs are captured");
    assert!(!logs.contains(&secret), "the password reached a log line");
    assert!(
        !logs.contains(crate::helpers::CLIENT_SECRET),
        "the client secret reached a log line"
    );
    assert!(
        !logs.contains(&implicit),
        "a bearer token reached a log line"
    );
}

async fn page_parameters_are_checked_before_the_body(app: TestApp) {
    let implicit = app.implicit_token().await;
    app.post("/v2/account-members/tokens?page[limit]=0")
        .bearer(&implicit)
        .raw("{not json")
        .send()
        .await
        .expect_error(400, "page[limit] must be an integer between 1 and 100");
    app.post("/v2/account-members/tokens?page[offset]=-1")
        .bearer(&implicit)
        .raw("{not json")
        .send()
        .await
        .expect_error(400, "page[offset] must be an integer between 0 and 10000");
}

async fn the_switch_mechanism_reissues_tokens_for_current_memberships(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token: token_a,
        ..
    } = app.logged_in(&["A", "B"]).await;
    let switched = app
        .post("/v2/account-members/tokens")
        .bearer(&implicit)
        .account_token(&token_a)
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
        .send()
        .await;
    let body = switched.expect(201);
    assert_eq!(switched.header("cache-control"), Some("no-store"));
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["meta"]["account_member_id"],
        shopper.member_id.as_str()
    );
}

async fn the_switch_mechanism_needs_its_header(app: TestApp) {
    let implicit = app.implicit_token().await;
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'EPAccountManagementAuthenticationToken' on the 'required' tag.",
        );
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .account_token("not-a-jwt")
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": TOKEN_TYPE}}))
        .send()
        .await
        .expect_error(401, "account management authentication token is invalid");
}

async fn a_stale_account_token_does_not_block_a_password_login(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    app.post("/v2/account-members/tokens")
        .bearer(&implicit)
        .account_token("garbage.from.a-cookie")
        .json(json!({"data": {
            "type": TOKEN_TYPE, "authentication_mechanism": "password",
            "password_profile_id": shopper.profile_id, "username": shopper.username,
            "password": shopper.password,
        }}))
        .send()
        .await
        .expect(201);
}

/// An argon2id hash of `password` with cheaper parameters than accountd uses today.
fn outdated_hash(password: &str) -> String {
    use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
    let params = argon2::Params::new(8_192, 1, 1, Some(32)).unwrap();
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    let salt = [9u8; 16];
    let mut output = [0u8; 32];
    argon2
        .hash_password_into(password.as_bytes(), &salt, &mut output)
        .unwrap();
    PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(0x13),
        params: ParamsString::try_from(&params).unwrap(),
        salt: Some(Salt::new(&salt).unwrap()),
        hash: Some(Output::new(&output).unwrap()),
    }
    .to_string()
}

async fn a_hash_with_outdated_parameters_is_upgraded_at_login(app: TestApp) {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let profile = uuid::Uuid::parse_str(&shopper.profile_id).unwrap();
    let username = accountd::store::fold_case(&shopper.username);
    let stored = app
        .state
        .store
        .find_login(profile, &username)
        .await
        .unwrap()
        .unwrap();
    let old = outdated_hash(&shopper.password);
    app.state
        .store
        .upgrade_password_hash(stored.password_profile_info_id, &stored.password_hash, &old)
        .await
        .unwrap();
    app.log_in(&implicit, &shopper).await.expect(201);
    let upgraded = app
        .state
        .store
        .find_login(profile, &username)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(upgraded.password_hash, old);
    assert!(
        upgraded
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        upgraded.password_hash
    );
    // The upgraded hash still verifies, and upgrading is not a password change: no revocation.
    app.log_in(&implicit, &shopper).await.expect(201);
}
