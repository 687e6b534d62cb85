//! Downstream verification: the public JWK Set, token introspection (RFC 7662) and forward
//! auth for gateways, under whichever algorithm the trial signs with; and what is particular to
//! the asymmetric algorithms (generated and rotated key pairs, the move from HS256, the
//! algorithm-confusion attack).

use accountd::auth::keyring;
use accountd::auth::signing_key::JwtAlgorithm;
use accountd::config::JwtKeySource;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::helpers::{
    CLIENT_ID, CLIENT_SECRET, LoggedIn, Reply, Shopper, TestApp, jwt_parts, shopper_in, spawn_app,
};
use crate::tests;

tests![
    the_jwk_set_lists_the_signing_key_pair_or_nothing_under_hs256,
    tokens_of_both_key_pair_algorithms_verify_with_an_independent_library,
    an_hs256_token_keyed_with_the_public_key_is_refused,
    moving_from_hs256_keeps_old_tokens_until_they_expire,
    a_rotated_key_pair_stays_published_until_its_tokens_have_expired,
    introspection_answers_active_with_the_claims_and_the_account,
    introspection_answers_only_active_false_for_tokens_that_are_not_live,
    introspection_refuses_missing_and_wrong_caller_credentials,
    failed_introspection_authentication_is_rate_limited_per_address,
    introspection_bodies_are_capped_like_the_token_endpoint,
    forward_auth_answers_identity_headers_for_a_live_token,
    forward_auth_refuses_without_identity_headers,
    forward_auth_checks_only_accountd_bearer_tokens,
    forward_auth_is_not_rate_limited_per_address,
];

const JWKS: &str = "/.well-known/jwks.json";
const INTROSPECT: &str = "/oauth/introspect";
const VERIFY: &str = "/v2/account-members/tokens/verify";
const IDENTITY_HEADERS: [&str; 4] = [
    "x-account-id",
    "x-account-member-id",
    "x-account-name",
    "x-account-token-expires",
];

/// The token-checked read: what a token is worth on accountd itself.
async fn read_status(app: &TestApp, shopper: &Shopper, token: &str) -> u16 {
    let implicit = app.implicit_token().await;
    app.get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&implicit)
        .account_token(token)
        .send()
        .await
        .status
        .as_u16()
}

async fn introspect(app: &TestApp, caller: &str, token: &str) -> Reply {
    app.post(INTROSPECT)
        .bearer(caller)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw(format!("token={token}&token_type_hint=access_token"))
        .send()
        .await
}

fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")))
}

async fn jwk_set(app: &TestApp) -> Value {
    let reply = app.get(JWKS).send().await;
    assert_eq!(
        reply.header("cache-control"),
        Some("public, max-age=300"),
        "{reply:?}"
    );
    reply.expect(200)
}

fn listed(set: &Value, kid: &str) -> bool {
    kids(set).iter().any(|listed| listed == kid)
}

fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// An app on this database signing with `algorithm` from persisted keys.
async fn persisted(app: &TestApp, algorithm: JwtAlgorithm) -> TestApp {
    let mut config = app.config_like_this();
    config.jwt_keys = JwtKeySource::Persisted;
    config.jwt_algorithm = algorithm;
    spawn_app(config).await
}

async fn the_jwk_set_lists_the_signing_key_pair_or_nothing_under_hs256(app: TestApp) {
    let algorithm = app.state.config.jwt_algorithm;
    let token = app.logged_in(&["A"]).await.token;
    let (header, _) = jwt_parts(&token);
    assert_eq!(header["alg"], algorithm.as_str());
    assert_eq!(header["typ"], "JWT");
    let set = jwk_set(&app).await;
    if algorithm == JwtAlgorithm::Hs256 {
        assert_eq!(
            set,
            json!({"keys": []}),
            "a shared secret is never published"
        );
        return;
    }
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    let key = &keys[0];
    assert_eq!(key["kid"], header["kid"]);
    assert_eq!(key["alg"], algorithm.as_str());
    assert_eq!(key["use"], "sig");
    let (kty, crv) = match algorithm {
        JwtAlgorithm::EdDsa => ("OKP", "Ed25519"),
        _ => ("EC", "P-256"),
    };
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some(kty), Some(crv))
    );
    for private in ["d", "k", "p", "q"] {
        assert!(key.get(private).is_none(), "{key}");
    }
    // The kid is the RFC 7638 thumbprint of the published key.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    assert_eq!(
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap(),
        key["kid"].as_str().unwrap()
    );
}

async fn tokens_of_both_key_pair_algorithms_verify_with_an_independent_library(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    for (algorithm, theirs) in [
        (JwtAlgorithm::EdDsa, jsonwebtoken::Algorithm::EdDSA),
        (JwtAlgorithm::Es256, jsonwebtoken::Algorithm::ES256),
    ] {
        let server = persisted(&app, algorithm).await;
        let token = server.first_account_token(&shopper).await;
        let set = jwk_set(&server).await;
        let kid = jwt_parts(&token).0["kid"].as_str().unwrap().to_owned();
        let key = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kid"] == kid.as_str())
            .unwrap_or_else(|| panic!("{kid} is published: {set}"));
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(theirs);
        validation.required_spec_claims = ["exp", "sub"].map(str::to_owned).into();
        let decoded = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], shopper.member_id.as_str());
        assert_eq!(decoded.claims["scope"], shopper.accounts[0].as_str());
        assert_eq!(read_status(&server, &shopper, &token).await, 200);
        // One changed signature byte, and it is refused.
        let mut bytes = token.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(read_status(&server, &shopper, &tampered).await, 401);
    }
}

async fn an_hs256_token_keyed_with_the_public_key_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let implicit = app.implicit_token().await;
    for algorithm in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256] {
        let server = persisted(&app, algorithm).await;
        let token = server.first_account_token(&shopper).await;
        let (_, claims) = jwt_parts(&token);
        let set = jwk_set(&server).await;
        let key = &set["keys"][0];
        let x = key["x"].as_str().unwrap();
        let raw_x = URL_SAFE_NO_PAD.decode(x).unwrap();
        // Every form a confused verifier might take the "secret" from.
        let secrets: Vec<Vec<u8>> = vec![
            raw_x,
            x.as_bytes().to_vec(),
            key.to_string().into_bytes(),
            set.to_string().into_bytes(),
        ];
        for secret in secrets {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            header.typ = Some("JWT".to_owned());
            header.kid = key["kid"].as_str().map(str::to_owned);
            let forged = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(read_status(&server, &shopper, &forged).await, 401);
            server
                .get(VERIFY)
                .account_token(&forged)
                .send()
                .await
                .expect_error(401, "account management authentication token is invalid");
            let reply = introspect(&server, &implicit, &forged).await;
            assert_eq!(reply.expect(200), json!({"active": false}));
        }
        assert_eq!(read_status(&server, &shopper, &token).await, 200);
    }
}

async fn moving_from_hs256_keeps_old_tokens_until_they_expire(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    let before = persisted(&app, JwtAlgorithm::Hs256).await;
    let old = before.first_account_token(&shopper).await;
    assert_eq!(jwt_parts(&old).0["alg"], "HS256");

    let after = persisted(&app, JwtAlgorithm::EdDsa).await;
    let new = after.first_account_token(&shopper).await;
    assert_eq!(jwt_parts(&new).0["alg"], "EdDSA");
    assert_eq!(read_status(&after, &shopper, &old).await, 200);
    assert_eq!(read_status(&after, &shopper, &new).await, 200);
    // The HMAC secret is never published; the key pair is, first.
    let set = jwk_set(&after).await;
    assert_eq!(kids(&set)[0], jwt_parts(&new).0["kid"].as_str().unwrap());
    for key in set["keys"].as_array().unwrap() {
        assert_ne!(key["alg"], "HS256", "{set}");
        assert!(key.get("k").is_none(), "{set}");
    }
    // A second replica starting with the same setting signs with the same key pair.
    let replica = persisted(&app, JwtAlgorithm::EdDsa).await;
    assert_eq!(
        replica.state.keys.active_kid(),
        after.state.keys.active_kid()
    );
    // The HMAC key verifies until the longest token lifetime (and a minute) has passed.
    let old_kid = jwt_parts(&old).0["kid"].as_str().unwrap().to_owned();
    let stored = after.state.store.jwt_keys().await.unwrap();
    let retired = stored.iter().find(|key| key.kid == old_kid).unwrap();
    assert!(!retired.active);
    assert_eq!(retired.algorithm, JwtAlgorithm::Hs256);
    let until = retired.verifies_until.expect("an end").millis();
    let now = after.clock_now().millis();
    assert!(
        (now + 86_460_000 - 5_000..=now + 86_460_000).contains(&until),
        "{until} vs {now}"
    );
}

async fn a_rotated_key_pair_stays_published_until_its_tokens_have_expired(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &["A"]).await;
    app.set_auth_settings(
        &admin,
        json!({"account_management_authentication_token_timeout_secs": 600}),
    )
    .await;
    let server = persisted(&app, JwtAlgorithm::Es256).await;
    let old = server.first_account_token(&shopper).await;
    let old_kid = server.state.keys.active_kid();

    // `accountd keys rotate`, then the server takes the new key up.
    let store = server.state.store.as_ref();
    let new_key = keyring::rotate(store, JwtAlgorithm::Es256, server.clock_now())
        .await
        .unwrap();
    server.state.keys.reload(store).await.unwrap();
    let new = server.first_account_token(&shopper).await;
    assert_eq!(jwt_parts(&new).0["kid"], new_key.kid.as_str());
    let set = jwk_set(&server).await;
    assert_eq!(kids(&set)[0], new_key.kid, "the signing key first");
    assert!(listed(&set, &old_kid), "{set}");
    assert_eq!(read_status(&server, &shopper, &old).await, 200);
    // `accountd keys export` prints the same set.
    let stored = store.jwt_keys().await.unwrap();
    let plan = keyring::KeyPlan::from_config(&server.state.config);
    let export: Value =
        serde_json::from_str(&keyring::export(&plan, &stored, server.clock_now()).unwrap())
            .unwrap();
    assert_eq!(kids(&export), kids(&set));

    // The token timeout of the rotation (600 s) plus a minute: published until then.
    server.clock.advance_seconds(659);
    let set = jwk_set(&server).await;
    assert!(
        listed(&set, &old_kid) && listed(&set, &new_key.kid),
        "{set}"
    );
    server.clock.advance_seconds(1);
    let set = jwk_set(&server).await;
    assert!(
        !listed(&set, &old_kid) && listed(&set, &new_key.kid),
        "{set}"
    );

    // `accountd keys remove <kid>` retires a key at once.
    let current = server.first_account_token(&shopper).await;
    let newest = keyring::rotate(store, JwtAlgorithm::Es256, server.clock_now())
        .await
        .unwrap();
    server.state.keys.reload(store).await.unwrap();
    let set = jwk_set(&server).await;
    assert_eq!(kids(&set)[0], newest.kid);
    assert!(listed(&set, &new_key.kid), "{set}");
    assert_eq!(read_status(&server, &shopper, &current).await, 200);
    assert!(
        keyring::remove(store, &new_key.kid, server.clock_now())
            .await
            .unwrap()
    );
    server.state.keys.reload(store).await.unwrap();
    assert!(!listed(&jwk_set(&server).await, &new_key.kid));
    assert_eq!(read_status(&server, &shopper, &current).await, 401);
}

async fn introspection_answers_active_with_the_claims_and_the_account(app: TestApp) {
    let LoggedIn { shopper, token, .. } = app.logged_in(&["Café Ünïcode"]).await;
    let (_, claims) = jwt_parts(&token);
    let expected = json!({
        "active": true,
        "token_type": "account_management_authentication_token",
        "sub": shopper.member_id,
        "scope": shopper.accounts[0],
        "account_id": shopper.accounts[0],
        "account_name": "Café Ünïcode",
        "store_id": claims["store_id"],
        "iat": claims["iat"],
        "exp": claims["exp"],
        "jti": claims["jti"],
    });
    for caller in [app.implicit_token().await, app.admin_token().await] {
        let reply = introspect(&app, &caller, &token).await;
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.expect(200), expected);
    }
    let reply = app
        .post(INTROSPECT)
        .header("Authorization", &basic(CLIENT_ID, CLIENT_SECRET))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw(format!("token={token}"))
        .send()
        .await;
    assert_eq!(reply.expect(200), expected);
}

async fn introspection_answers_only_active_false_for_tokens_that_are_not_live(app: TestApp) {
    let LoggedIn {
        admin,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let caller = app.implicit_token().await;
    let inactive = json!({"active": false});
    for garbage in ["", "abc", "a.b.c", &token[..token.len() - 3]] {
        let reply = introspect(&app, &caller, garbage).await;
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.expect(200), inactive, "{garbage:?}");
    }
    let no_token = app
        .post(INTROSPECT)
        .bearer(&caller)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw("token_type_hint=access_token")
        .send()
        .await;
    assert_eq!(no_token.expect(200), inactive);

    // Revoked: the membership is deleted, then created again (which must not revive it).
    let memberships = app
        .get(&format!(
            "/v2/accounts/{}/account-memberships",
            shopper.accounts[0]
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let membership = memberships["data"][0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!(
        "/v2/accounts/{}/account-memberships/{membership}",
        shopper.accounts[0]
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    assert_eq!(
        introspect(&app, &caller, &token).await.expect(200),
        inactive
    );
    app.clock.advance_seconds(2);
    app.add_membership(&admin, &shopper.accounts[0], &shopper.member_id)
        .await;
    assert_eq!(
        introspect(&app, &caller, &token).await.expect(200),
        inactive
    );

    // Expired: a fresh token, a day later.
    let fresh = app.first_account_token(&shopper).await;
    assert_eq!(
        introspect(&app, &caller, &fresh).await.expect(200)["active"],
        true
    );
    app.clock.advance_seconds(86_400);
    let caller = app.implicit_token().await;
    assert_eq!(
        introspect(&app, &caller, &fresh).await.expect(200),
        inactive
    );
}

async fn introspection_refuses_missing_and_wrong_caller_credentials(app: TestApp) {
    let token = app.logged_in(&["A"]).await.token;
    let form = format!("token={token}");
    let refused = |authorization: Option<String>| {
        let app = &app;
        let form = form.clone();
        async move {
            let mut call = app
                .post(INTROSPECT)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .raw(form);
            if let Some(value) = authorization {
                call = call.header("Authorization", &value);
            }
            let reply = call.send().await;
            assert_eq!(reply.header("cache-control"), Some("no-store"));
            reply.expect_error(401, "invalid client credentials");
        }
    };
    refused(None).await;
    refused(Some(basic(CLIENT_ID, "wrong-secret"))).await;
    refused(Some(basic("no-such-client", CLIENT_SECRET))).await;
    refused(Some("Basic not-base64!".to_owned())).await;
    refused(Some(format!("Bearer {}", "0".repeat(40)))).await;
    // The account token is not a caller credential.
    refused(Some(format!("Bearer {token}"))).await;
    // Garbage to introspect does not hide a bad caller.
    let reply = app
        .post(INTROSPECT)
        .bearer(&"f".repeat(40))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw("token=garbage")
        .send()
        .await;
    reply.expect_error(401, "invalid client credentials");
}

async fn failed_introspection_authentication_is_rate_limited_per_address(app: TestApp) {
    let mut config = app.config_like_this();
    config.rate_limit_per_minute = 3;
    let server = spawn_app(config).await;
    let token = server.logged_in(&["A"]).await.token;
    let caller = server.implicit_token().await;
    // Successful calls spend nothing.
    for _ in 0..5 {
        assert_eq!(
            introspect(&server, &caller, &token).await.expect(200)["active"],
            true
        );
    }
    let wrong = "0".repeat(40);
    for _ in 0..3 {
        introspect(&server, &wrong, &token)
            .await
            .expect_error(401, "invalid client credentials");
    }
    let refused = introspect(&server, &wrong, &token).await;
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    refused.expect_error(429, "too many attempts, try again later");
    // The address is refused outright now, good credentials included, so a right guess cannot
    // stand out; another address is not.
    introspect(&server, &caller, &token)
        .await
        .expect_error(429, "too many attempts, try again later");
    let elsewhere = server
        .post(INTROSPECT)
        .from("127.0.0.9")
        .bearer(&caller)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw(format!("token={token}"))
        .send()
        .await;
    assert_eq!(elsewhere.expect(200)["active"], true);
    server.clock.advance_seconds(60);
    assert_eq!(
        introspect(&server, &caller, &token).await.expect(200)["active"],
        true
    );
}

async fn introspection_bodies_are_capped_like_the_token_endpoint(app: TestApp) {
    let caller = app.implicit_token().await;
    let form = |size: usize| format!("token={}", "a".repeat(size - "token=".len()));
    let at_limit = app
        .post(INTROSPECT)
        .bearer(&caller)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw(form(64 * 1024))
        .send()
        .await;
    assert_eq!(at_limit.expect(200), json!({"active": false}));
    // Refused before the caller's credentials are looked at.
    app.post(INTROSPECT)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .raw(form(64 * 1024 + 1))
        .send()
        .await
        .expect_error(413, "request body too large");
}

async fn forward_auth_answers_identity_headers_for_a_live_token(app: TestApp) {
    let LoggedIn { shopper, token, .. } = app.logged_in(&["Café & Co/Ünïcode"]).await;
    let (_, claims) = jwt_parts(&token);
    let expires = chrono::DateTime::from_timestamp(claims["exp"].as_i64().unwrap(), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    let reply = app.get(VERIFY).account_token(&token).send().await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.header("x-account-id"),
        Some(shopper.accounts[0].as_str())
    );
    assert_eq!(
        reply.header("x-account-member-id"),
        Some(shopper.member_id.as_str())
    );
    assert_eq!(
        reply.header("x-account-name"),
        Some("Caf%C3%A9%20%26%20Co%2F%C3%9Cn%C3%AFcode")
    );
    assert_eq!(
        reply.header("x-account-token-expires"),
        Some(expires.as_str())
    );
    assert_eq!(
        reply.expect(200),
        json!({"data": {
            "type": "account_token_identity",
            "account_id": shopper.accounts[0],
            "account_member_id": shopper.member_id,
            "account_name": "Café & Co/Ünïcode",
            "expires": expires,
        }})
    );
    let head = app
        .call(reqwest::Method::HEAD, VERIFY)
        .account_token(&token)
        .send()
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "");
    assert_eq!(
        head.header("x-account-id"),
        Some(shopper.accounts[0].as_str())
    );
}

async fn forward_auth_refuses_without_identity_headers(app: TestApp) {
    let LoggedIn {
        admin,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let refused = |reply: Reply, detail: &str| {
        for name in IDENTITY_HEADERS {
            assert!(reply.header(name).is_none(), "{name}: {reply:?}");
        }
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        reply.expect_error(401, detail);
    };
    const INVALID: &str = "account management authentication token is invalid";
    refused(app.get(VERIFY).send().await, INVALID);
    refused(app.get(VERIFY).account_token("").send().await, INVALID);
    refused(app.get(VERIFY).account_token("a.b.c").send().await, INVALID);
    let head = app.call(reqwest::Method::HEAD, VERIFY).send().await;
    assert_eq!(head.status, 401);
    assert!(head.header("x-account-id").is_none());

    // Revoked by deleting the member's memberships: refused on the very next call.
    app.get(VERIFY)
        .account_token(&token)
        .send()
        .await
        .expect(200);
    let memberships = app
        .get(&format!(
            "/v2/account-members/{}/account-memberships",
            shopper.member_id
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let membership = memberships["data"][0]["id"].as_str().unwrap().to_owned();
    app.delete(&format!(
        "/v2/accounts/{}/account-memberships/{membership}",
        shopper.accounts[0]
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    refused(app.get(VERIFY).account_token(&token).send().await, INVALID);

    // Expired.
    app.add_membership(&admin, &shopper.accounts[0], &shopper.member_id)
        .await;
    app.clock.advance_seconds(2);
    let fresh = app.first_account_token(&shopper).await;
    app.get(VERIFY)
        .account_token(&fresh)
        .send()
        .await
        .expect(200);
    app.clock.advance_seconds(86_400);
    refused(
        app.get(VERIFY).account_token(&fresh).send().await,
        "account management authentication token has expired",
    );
}

async fn forward_auth_checks_only_accountd_bearer_tokens(app: TestApp) {
    let token = app.logged_in(&["A"]).await.token;
    let with_authorization = |value: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.get(VERIFY)
                .account_token(&token)
                .header("Authorization", &value)
                .send()
                .await
        }
    };
    // The gateway's own credentials are not accountd's business.
    for other in [
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln".to_owned(),
        format!("Bearer {}", "A".repeat(40)),
    ] {
        with_authorization(other).await.expect(200);
    }
    // An accountd bearer token must be valid.
    let implicit = app.implicit_token().await;
    with_authorization(format!("Bearer {implicit}"))
        .await
        .expect(200);
    with_authorization(format!("Bearer {}", "0".repeat(40)))
        .await
        .expect_error(401, "Unable to validate access token");
    let reply = app
        .get(VERIFY)
        .bearer(&"0".repeat(40))
        .account_token("garbage")
        .send()
        .await;
    reply.expect_error(401, "Unable to validate access token");
}

async fn forward_auth_is_not_rate_limited_per_address(app: TestApp) {
    let mut config = app.config_like_this();
    config.rate_limit_per_minute = 3;
    let server = spawn_app(config).await;
    let token = server.logged_in(&["A"]).await.token;
    for _ in 0..10 {
        server
            .get(VERIFY)
            .account_token(&token)
            .send()
            .await
            .expect(200);
        server
            .get(VERIFY)
            .send()
            .await
            .expect_error(401, "account management authentication token is invalid");
    }
    let caller = server.implicit_token().await;
    for _ in 0..10 {
        assert_eq!(
            introspect(&server, &caller, &token).await.expect(200)["active"],
            true
        );
    }
}
