//! The account token on accountd's own resources: full validation
//! (docs/account-tokens.md#validation-steps) and scoping
//! (docs/authentication.md#account-holder-scope).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{LoggedIn, TestApp, jwt_parts};
use crate::tests;

tests![
    an_account_token_scopes_the_account_list_to_its_account,
    an_account_token_reads_no_other_account_even_of_its_member,
    an_account_holder_reads_only_itself_among_members,
    an_expired_token_is_refused_as_expired,
    a_tampered_signature_is_refused,
    alg_none_and_other_algorithms_are_refused,
    a_token_signed_with_an_unknown_key_is_refused,
    auth_time_must_be_an_integer_no_later_than_iat,
    malformed_and_empty_headers_are_refused,
    bearer_and_account_tokens_never_stand_in_for_each_other,
    a_removed_membership_or_deleted_member_kills_the_token,
    a_password_change_revokes_earlier_tokens,
    account_holders_cannot_write_accounts,
    shoppers_cannot_read_accounts_or_members,
];

async fn an_account_token_scopes_the_account_list_to_its_account(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A", "B"]).await;
    app.create_account(&admin, "C").await;
    let body = app
        .get("/v2/accounts")
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], shopper.accounts[0].as_str());
    assert_eq!(body["meta"]["results"]["total"], 1);
    let all = app
        .get("/v2/accounts")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(all["meta"]["results"]["total"], 3);
}

async fn an_account_token_reads_no_other_account_even_of_its_member(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A", "B"]).await;
    let other = app.create_account(&admin, "C").await;
    for id in [
        shopper.accounts[1].clone(),
        other["id"].as_str().unwrap().to_owned(),
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
    ] {
        app.get(&format!("/v2/accounts/{id}"))
            .bearer(&implicit)
            .account_token(&token)
            .send()
            .await
            .expect_error(404, "account not found");
    }
}

async fn an_account_holder_reads_only_itself_among_members(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let colleague = app
        .create_user(&admin, "Colleague", "colleague@example.com")
        .await;
    app.add_membership(
        &admin,
        &shopper.accounts[0],
        colleague["id"].as_str().unwrap(),
    )
    .await;
    let own = app
        .get(&format!("/v2/account-members/{}", shopper.member_id))
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(own["data"]["type"], "account_member");
    assert_eq!(own["data"]["email"], shopper.username.as_str());
    app.get(&format!(
        "/v2/account-members/{}",
        colleague["id"].as_str().unwrap()
    ))
    .bearer(&implicit)
    .account_token(&token)
    .send()
    .await
    .expect_error(404, "account member not found");
    let list = app
        .get("/v2/account-members")
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    assert_eq!(list["data"][0]["id"], shopper.member_id.as_str());
}

async fn an_expired_token_is_refused_as_expired(app: TestApp) {
    let admin = app.admin_token().await;
    app.put("/v2/settings/account-authentication")
        .bearer(&admin)
        .json(json!({"data": {
            "type": "account_authentication_settings",
            "account_management_authentication_token_timeout_secs": 60,
        }}))
        .send()
        .await
        .expect(200);
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let path = format!("/v2/accounts/{}", shopper.accounts[0]);
    app.clock.advance_seconds(59);
    app.get(&path)
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect(200);
    app.clock.advance_seconds(2);
    // The bearer token lives an hour, so only the account token has expired.
    app.get(&path)
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect_error(401, "account management authentication token has expired");
}

fn with_signature_flipped(token: &str) -> String {
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    format!("{rest}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn reassemble(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

async fn expect_invalid(app: &TestApp, implicit: &str, account: &str, token: &str) {
    app.get(&format!("/v2/accounts/{account}"))
        .bearer(implicit)
        .account_token(token)
        .send()
        .await
        .expect_error(401, "account management authentication token is invalid");
}

async fn a_tampered_signature_is_refused(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    expect_invalid(
        &app,
        &implicit,
        &shopper.accounts[0],
        &with_signature_flipped(&token),
    )
    .await;
    // Claims changed under the original signature: another account in `scope`.
    let (header, mut claims) = jwt_parts(&token);
    claims["scope"] = json!(uuid::Uuid::new_v4().to_string());
    let signature = token.rsplit('.').next().unwrap();
    expect_invalid(
        &app,
        &implicit,
        &shopper.accounts[0],
        &reassemble(&header, &claims, signature),
    )
    .await;
}

async fn alg_none_and_other_algorithms_are_refused(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let (header, claims) = jwt_parts(&token);
    let signature = token.rsplit('.').next().unwrap();
    for alg in ["none", "HS512", "RS256", "hs256"] {
        let mut forged = header.clone();
        forged["alg"] = json!(alg);
        expect_invalid(
            &app,
            &implicit,
            &shopper.accounts[0],
            &reassemble(&forged, &claims, ""),
        )
        .await;
        expect_invalid(
            &app,
            &implicit,
            &shopper.accounts[0],
            &reassemble(&forged, &claims, signature),
        )
        .await;
    }
    let mut untyped = header.clone();
    untyped["typ"] = json!("at+jwt");
    expect_invalid(
        &app,
        &implicit,
        &shopper.accounts[0],
        &reassemble(&untyped, &claims, signature),
    )
    .await;
}

async fn a_token_signed_with_an_unknown_key_is_refused(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let (mut header, claims) = jwt_parts(&token);
    header["kid"] = json!("someone-elses-key");
    let key = jsonwebtoken::EncodingKey::from_secret(b"another secret that is 32 bytes long");
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jwt_header.kid = Some("someone-elses-key".into());
    jwt_header.typ = Some("JWT".into());
    let forged = jsonwebtoken::encode(&jwt_header, &claims, &key).unwrap();
    expect_invalid(&app, &implicit, &shopper.accounts[0], &forged).await;
    // The right kid (the suite's HS256 key, which verifies under every algorithm) but the
    // wrong secret.
    jwt_header.kid = Some(accountd::config::kid_of_secret(
        crate::helpers::JWT_SECRET.as_bytes(),
    ));
    let forged = jsonwebtoken::encode(&jwt_header, &claims, &key).unwrap();
    expect_invalid(&app, &implicit, &shopper.accounts[0], &forged).await;
}

/// Signed with the server's own HS256 key (which verifies under every algorithm), so only the
/// claim itself can be what is refused.
async fn auth_time_must_be_an_integer_no_later_than_iat(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let (_, claims) = jwt_parts(&token);
    let key = jsonwebtoken::EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes());
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jwt_header.kid = Some(accountd::config::kid_of_secret(
        crate::helpers::JWT_SECRET.as_bytes(),
    ));
    jwt_header.typ = Some("JWT".into());
    let sign = |auth_time: Option<Value>| {
        let mut claims = claims.clone();
        match auth_time {
            Some(value) => claims["auth_time"] = value,
            None => {
                claims.as_object_mut().unwrap().remove("auth_time");
            }
        }
        jsonwebtoken::encode(&jwt_header, &claims, &key).unwrap()
    };
    let account = format!("/v2/accounts/{}", shopper.accounts[0]);
    let iat = claims["iat"].as_i64().unwrap();
    for accepted in [None, Some(json!(iat)), Some(json!(iat - 3_600))] {
        app.get(&account)
            .bearer(&implicit)
            .account_token(&sign(accepted))
            .send()
            .await
            .expect(200);
    }
    for refused in [
        json!(iat + 1),
        json!(null),
        json!(iat.to_string()),
        json!(1.5),
    ] {
        expect_invalid(&app, &implicit, &shopper.accounts[0], &sign(Some(refused))).await;
    }
}

async fn malformed_and_empty_headers_are_refused(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    for token in ["", "a.b.c", "x", &format!("{}.extra", token)] {
        expect_invalid(&app, &implicit, &shopper.accounts[0], token).await;
    }
    // Header names are case-insensitive; two values are one too many.
    app.get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&implicit)
        .header("EP-ACCOUNT-MANAGEMENT-AUTHENTICATION-TOKEN", &token)
        .send()
        .await
        .expect(200);
    app.get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&implicit)
        .account_token(&token)
        .header("EP-Account-Management-Authentication-Token", &token)
        .send()
        .await
        .expect_error(401, "account management authentication token is invalid");
}

async fn bearer_and_account_tokens_never_stand_in_for_each_other(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let path = format!("/v2/accounts/{}", shopper.accounts[0]);
    // A bearer token in the account header fails JWT parsing.
    expect_invalid(&app, &implicit, &shopper.accounts[0], &implicit).await;
    expect_invalid(&app, &implicit, &shopper.accounts[0], &admin).await;
    // An account token as the bearer fails the lookup.
    app.get(&path)
        .bearer(&token)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
    app.get(&path)
        .bearer(&token)
        .account_token(&token)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn a_removed_membership_or_deleted_member_kills_the_token(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        tokens,
        ..
    } = app.logged_in(&["A", "B"]).await;
    let memberships = app
        .get(&format!(
            "/v2/accounts/{}/account-memberships",
            shopper.accounts[0]
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let membership_id = memberships["data"][0]["id"].as_str().unwrap();
    app.delete(&format!(
        "/v2/accounts/{}/account-memberships/{membership_id}",
        shopper.accounts[0]
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    expect_invalid(&app, &implicit, &shopper.accounts[0], &tokens[0]).await;
    app.get(&format!("/v2/accounts/{}", shopper.accounts[1]))
        .bearer(&implicit)
        .account_token(&tokens[1])
        .send()
        .await
        .expect(200);
    app.delete(&app.realm_path(&format!("/user-authentication-info/{}", shopper.member_id)))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    expect_invalid(&app, &implicit, &shopper.accounts[1], &tokens[1]).await;
}

async fn a_password_change_revokes_earlier_tokens(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let infos = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{}/user-authentication-password-profile-info",
            shopper.member_id
        )))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let info_id = infos["data"][0]["id"].as_str().unwrap();
    // A second later, so the revocation instant is after the old token's iat.
    app.clock.advance_seconds(1);
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info/{info_id}",
        shopper.member_id
    )))
    .bearer(&admin)
    .json(json!({"data": {"type": "user_authentication_password_profile_info", "password": "a brand new password"}}))
    .send()
    .await
    .expect(200);
    expect_invalid(&app, &implicit, &shopper.accounts[0], &token).await;
    app.log_in(&implicit, &shopper)
        .await
        .expect_error(400, "authentication failed");
    let fresh = app
        .login(
            &implicit,
            &shopper.profile_id,
            &shopper.username,
            "a brand new password",
        )
        .await
        .expect(201);
    let token = fresh["data"][0]["token"].as_str().unwrap();
    app.get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&implicit)
        .account_token(token)
        .send()
        .await
        .expect(200);
}

async fn account_holders_cannot_write_accounts(app: TestApp) {
    let LoggedIn {
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let path = format!("/v2/accounts/{}", shopper.accounts[0]);
    app.put(&path)
        .bearer(&implicit)
        .account_token(&token)
        .json(json!({"data": {"type": "account", "name": "Renamed"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.delete(&path)
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post("/v2/accounts")
        .bearer(&implicit)
        .account_token(&token)
        .json(json!({"data": {"type": "account", "name": "New"}}))
        .send()
        .await
        .expect_error(403, "forbidden");
}

async fn shoppers_cannot_read_accounts_or_members(app: TestApp) {
    let implicit = app.implicit_token().await;
    for path in ["/v2/accounts", "/v2/account-members"] {
        app.get(path)
            .bearer(&implicit)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
}
