//! Password hashes made by other systems (docs/login.md#legacy-password-hashes): created through
//! the admin API's `password_hash` extension, verified at login, replaced by argon2id without
//! revoking anything, refused when their format is unknown, never echoed. The hashes are the
//! fixtures in tests/fixtures/legacy-hashes/, each made by its format's own library.

use accountd::auth::hash_formats::FirebaseScrypt;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::receiver::Receiver;
use crate::tests;

tests![
    every_legacy_format_logs_in_and_is_replaced_by_argon2id,
    replacing_a_legacy_hash_keeps_earlier_tokens_and_codes,
    unknown_formats_and_both_or_neither_are_refused_at_create,
    a_firebase_hash_needs_the_projects_parameters,
    an_imported_hash_is_never_echoed,
    legacy_logins_are_throttled_like_any_other,
    the_openapi_document_shows_the_extension,
];

const FIXTURES: &[&str] = &[
    include_str!("../fixtures/legacy-hashes/argon2i.json"),
    include_str!("../fixtures/legacy-hashes/argon2id.json"),
    include_str!("../fixtures/legacy-hashes/bcrypt-2a.json"),
    include_str!("../fixtures/legacy-hashes/bcrypt-2b.json"),
    include_str!("../fixtures/legacy-hashes/bcrypt-2y.json"),
    include_str!("../fixtures/legacy-hashes/django-pbkdf2-sha256.json"),
    include_str!("../fixtures/legacy-hashes/firebase-scrypt.json"),
    include_str!("../fixtures/legacy-hashes/scrypt.json"),
];

const BCRYPT: &str = include_str!("../fixtures/legacy-hashes/bcrypt-2b.json");
const FIREBASE: &str = include_str!("../fixtures/legacy-hashes/firebase-scrypt.json");

/// A password hash as accountd writes its own.
const ARGON2ID_NOW: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The Firebase project of the fixtures.
fn firebase_project() -> FirebaseScrypt {
    FirebaseScrypt::from_json(&fixture(FIREBASE)["project"].to_string()).unwrap()
}

/// A server on the test's database that also knows the fixtures' Firebase project.
async fn with_firebase(app: &TestApp) -> TestApp {
    let mut config = app.config_like_this();
    config.firebase_scrypt = Some(firebase_project());
    spawn_app(config).await
}

/// The admin's password info create for `user`, with `data` as its body's members.
async fn create_info(app: &TestApp, admin: &str, user: &str, data: Value) -> crate::helpers::Reply {
    let mut body = json!({"type": "user_authentication_password_profile_info"});
    body.as_object_mut()
        .unwrap()
        .extend(data.as_object().unwrap().clone());
    app.post(&app.realm_path(&format!(
        "/user-authentication-info/{user}/user-authentication-password-profile-info"
    )))
    .bearer(admin)
    .json(json!({ "data": body }))
    .send()
    .await
}

/// The stored hash of a username (a text column, so the query reads the same on both backends).
async fn stored_hash_is(app: &TestApp, username: &str, hash: &str) -> bool {
    app.count(&format!(
        "SELECT COUNT(*) FROM password_profile_infos \
         WHERE username_lower = '{}' AND password_hash = '{hash}'",
        username.to_lowercase()
    ))
    .await
        == 1
}

async fn stored_hash_is_current_argon2id(app: &TestApp, username: &str) -> bool {
    app.count(&format!(
        "SELECT COUNT(*) FROM password_profile_infos \
         WHERE username_lower = '{}' AND password_hash LIKE '{ARGON2ID_NOW}%'",
        username.to_lowercase()
    ))
    .await
        == 1
}

async fn tokens_valid_after(app: &TestApp, email: &str) -> i64 {
    app.count(&format!(
        "SELECT tokens_valid_after FROM users WHERE email_lower = '{}'",
        email.to_lowercase()
    ))
    .await
}

/// A member who moved in with `hash`, in one account, ready to log in.
struct Member {
    id: String,
    info_id: String,
    account_id: String,
}

async fn moved_in(
    app: &TestApp,
    admin: &str,
    profile_id: &str,
    username: &str,
    hash: &str,
) -> Member {
    let user = app.create_user(admin, "Moved In", username).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let info = create_info(
        app,
        admin,
        &id,
        json!({"password_profile_id": profile_id, "username": username, "password_hash": hash}),
    )
    .await
    .expect(201)["data"]
        .clone();
    let account = app
        .create_account(admin, &format!("Account of {username}"))
        .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    app.add_membership(admin, &account_id, &id).await;
    Member {
        id,
        info_id: info["id"].as_str().unwrap().to_owned(),
        account_id,
    }
}

async fn profile(app: &TestApp, admin: &str, body: Value) -> String {
    app.create_password_profile(admin, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn every_legacy_format_logs_in_and_is_replaced_by_argon2id(app: TestApp) {
    let app = with_firebase(&app).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let profile_id = profile(
        &app,
        &admin,
        json!({"type": "password_profile", "name": "Moved in"}),
    )
    .await;
    let mut logins = 0;
    for text in FIXTURES {
        let fixture = fixture(text);
        let format = fixture["format"].as_str().unwrap();
        for (index, case) in fixture["cases"].as_array().unwrap().iter().enumerate() {
            let password = case["password"].as_str().unwrap();
            let hash = case["hash"].as_str().unwrap();
            let username = format!("{format}-{index}@example.com");
            let member = moved_in(&app, &admin, &profile_id, &username, hash).await;
            assert!(
                stored_hash_is(&app, &username, hash).await,
                "{format}: stored as given"
            );

            app.login(&shopper, &profile_id, &username, &format!("{password}x"))
                .await
                .expect_error(400, "authentication failed");
            assert!(
                stored_hash_is(&app, &username, hash).await,
                "{format}: a failed login replaces nothing"
            );

            let body = app
                .login(&shopper, &profile_id, &username, password)
                .await
                .expect(201);
            assert_eq!(
                body["data"][0]["account_id"], member.account_id,
                "{format}: {body}"
            );
            assert!(
                stored_hash_is_current_argon2id(&app, &username).await,
                "{format}: replaced by argon2id at the first login"
            );
            assert_eq!(
                tokens_valid_after(&app, &username).await,
                0,
                "{format}: the replacement is not a password change"
            );
            // The password now verifies against accountd's own hash.
            app.login(&shopper, &profile_id, &username, password)
                .await
                .expect(201);
            app.login(&shopper, &profile_id, &username, &format!("{password}x"))
                .await
                .expect_error(400, "authentication failed");
            logins += 1;
        }
    }
    assert_eq!(logins, 16, "every case of every fixture ran");
}

async fn replacing_a_legacy_hash_keeps_earlier_tokens_and_codes(app: TestApp) {
    const OTP_EVENT: &str = "one-time-password-token-request.created";
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let receiver = Receiver::start().await;
    app.create_integration(&admin, &receiver.url, &[OTP_EVENT])
        .await;
    let profile_id = profile(
        &app,
        &admin,
        json!({"type": "password_profile", "name": "Codes", "enable_one_time_password_token": true}),
    )
    .await;
    let case = &fixture(BCRYPT)["cases"][0];
    let password = case["password"].as_str().unwrap();
    let member = moved_in(
        &app,
        &admin,
        &profile_id,
        "ron@example.com",
        case["hash"].as_str().unwrap(),
    )
    .await;
    let code = |delivered: usize| {
        let receiver = &receiver;
        let app = &app;
        let shopper = &shopper;
        let profile_id = &profile_id;
        async move {
            app.post(&app.realm_path(&format!(
                "/password-profiles/{profile_id}/one-time-password-token-request"
            )))
            .bearer(shopper)
            .json(json!({"data": {"type": "one_time_password_token_request", "username": "ron@example.com", "purpose": "passwordless_authentication"}}))
            .send()
            .await
            .expect(202);
            let received = receiver.wait_for(delivered + 1).await;
            received[delivered].json()["payload"]["one_time_password_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let exchange = |code: String| {
        let app = &app;
        let shopper = &shopper;
        let profile_id = &profile_id;
        async move {
            app.post("/v2/account-members/tokens")
                .bearer(shopper)
                .json(json!({"data": {
                    "type": "account_management_authentication_token",
                    "authentication_mechanism": "passwordless",
                    "password_profile_id": profile_id,
                    "username": "ron@example.com",
                    "one_time_password_token": code,
                }}))
                .send()
                .await
        }
    };
    // A token from before the replacement, by a code, and a code still outstanding.
    let first = code(0).await;
    let earlier = exchange(first).await.expect(201)["data"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let outstanding = code(1).await;

    app.clock.advance_seconds(5);
    app.login(&shopper, &profile_id, "ron@example.com", password)
        .await
        .expect(201);
    assert!(stored_hash_is_current_argon2id(&app, "ron@example.com").await);

    app.get(&format!("/v2/accounts/{}", member.account_id))
        .bearer(&shopper)
        .account_token(&earlier)
        .send()
        .await
        .expect(200);
    exchange(outstanding).await.expect(201);

    // A real password change, by contrast, revokes the earlier token.
    app.clock.advance_seconds(5);
    app.put(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info/{}",
        member.id, member.info_id
    )))
    .bearer(&admin)
    .json(json!({"data": {"type": "user_authentication_password_profile_info", "password": "a-brand-new-password"}}))
    .send()
    .await
    .expect(200);
    app.get(&format!("/v2/accounts/{}", member.account_id))
        .bearer(&shopper)
        .account_token(&earlier)
        .send()
        .await
        .expect_error(401, "account management authentication token is invalid");
}

async fn unknown_formats_and_both_or_neither_are_refused_at_create(app: TestApp) {
    let admin = app.admin_token().await;
    let profile_id = profile(
        &app,
        &admin,
        json!({"type": "password_profile", "name": "Moved in"}),
    )
    .await;
    let user = app
        .create_user(&admin, "Leslie", "leslie@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    let bcrypt = fixture(BCRYPT)["cases"][0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let oneof = "Validation failed: field 'PasswordHash' on the 'oneof' tag.";
    let base = json!({"password_profile_id": profile_id, "username": "leslie@example.com"});
    let with = |extra: Value| {
        let mut data = base.clone();
        data.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        data
    };
    for (extra, detail) in [
        (json!({"password_hash": "md5$abc$0123456789abcdef"}), oneof),
        (
            json!({"password_hash": "correct horse battery staple"}),
            oneof,
        ),
        (json!({"password_hash": ""}), oneof),
        // argon2d is not one of the formats, nor is bcrypt's buggy $2x$.
        (
            json!({"password_hash": "$argon2d$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"}),
            oneof,
        ),
        (
            json!({"password_hash": bcrypt.replacen("$2b$", "$2x$", 1)}),
            oneof,
        ),
        // A cost no login should have to pay.
        (
            json!({"password_hash": bcrypt.replacen("$2b$10$", "$2b$31$", 1)}),
            oneof,
        ),
        (json!({"password_hash": "x".repeat(2000)}), oneof),
        (
            json!({"password_hash": 42}),
            "Validation failed: field 'PasswordHash' on the 'string' tag.",
        ),
        (
            json!({"password_hash": null}),
            "Validation failed: field 'PasswordHash' on the 'required' tag.",
        ),
        (
            json!({"password": "a-good-password", "password_hash": bcrypt}),
            "Validation failed: field 'PasswordHash' on the 'excluded_with' tag.",
        ),
        (
            json!({}),
            "Validation failed: field 'Password' on the 'required' tag.",
        ),
        (
            json!({"password": "short", "password_hash": "md5$x"}),
            "Validation failed: field 'Password' on the 'min' tag; field 'PasswordHash' on the 'oneof' tag.",
        ),
    ] {
        create_info(&app, &admin, user_id, with(extra.clone()))
            .await
            .expect_error(400, detail);
    }
    let listed = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{user_id}/user-authentication-password-profile-info"
        )))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(listed["data"], json!([]), "nothing was written");
    // A known format is accepted, exactly once.
    create_info(
        &app,
        &admin,
        user_id,
        with(json!({"password_hash": bcrypt})),
    )
    .await
    .expect(201);
}

async fn a_firebase_hash_needs_the_projects_parameters(app: TestApp) {
    let admin = app.admin_token().await;
    let profile_id = profile(
        &app,
        &admin,
        json!({"type": "password_profile", "name": "Moved in"}),
    )
    .await;
    let user = app
        .create_user(&admin, "Leslie", "leslie@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    let hash = fixture(FIREBASE)["cases"][0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"password_profile_id": profile_id, "username": "leslie@example.com", "password_hash": hash});
    create_info(&app, &admin, user_id, body.clone())
        .await
        .expect_error(
            400,
            "Validation failed: field 'PasswordHash' on the 'oneof' tag.",
        );
    let configured = with_firebase(&app).await;
    let admin = configured.admin_token().await;
    create_info(&configured, &admin, user_id, body)
        .await
        .expect(201);
}

async fn an_imported_hash_is_never_echoed(app: TestApp) {
    let admin = app.admin_token().await;
    let profile_id = profile(
        &app,
        &admin,
        json!({"type": "password_profile", "name": "Moved in"}),
    )
    .await;
    // A hash of its own (a fresh salt), so no other test's statements can name it in the logs.
    let hash = bcrypt::hash("a password of its own", 4).unwrap();
    // The salt and digest part alone, so no encoding of the whole string hides a leak.
    let secret_part = &hash[7..];
    let user = app
        .create_user(&admin, "Leslie", "leslie@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    let created = create_info(
        &app,
        &admin,
        user_id,
        json!({"password_profile_id": profile_id, "username": "leslie@example.com", "password_hash": hash}),
    )
    .await;
    assert!(!created.text.contains(secret_part), "{}", created.text);
    let created = created.expect(201);
    assert_eq!(created["data"]["username"], "leslie@example.com");
    assert!(created["data"].get("password_hash").is_none());
    let collection = app.realm_path(&format!(
        "/user-authentication-info/{user_id}/user-authentication-password-profile-info"
    ));
    for path in [
        collection.clone(),
        format!("{collection}/{}", created["data"]["id"].as_str().unwrap()),
        "/v2/audit-events?page[limit]=100".to_owned(),
    ] {
        let reply = app.get(&path).bearer(&admin).send().await;
        assert_eq!(reply.status.as_u16(), 200, "{path}");
        assert!(!reply.text.contains(secret_part), "{path}: {}", reply.text);
    }
    assert_eq!(
        app.audit_events(&admin, "password_profile_info.created")
            .await
            .len(),
        1,
        "the create was audited"
    );
    // Before the queries below, whose own text names it.
    let logs = crate::helpers::captured_logs();
    let leaked: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(secret_part))
        .collect();
    assert!(leaked.is_empty(), "{leaked:#?}");
    for table in ["outbox_events", "audit_events"] {
        let column = if table == "outbox_events" {
            "payload"
        } else {
            "detail"
        };
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%{secret_part}%'"
            ))
            .await,
            0,
            "{table}"
        );
    }
}

async fn legacy_logins_are_throttled_like_any_other(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let profile_id = profile(
        &app,
        &admin,
        json!({"type": "password_profile", "name": "Moved in"}),
    )
    .await;
    let case = &fixture(BCRYPT)["cases"][0];
    let password = case["password"].as_str().unwrap();
    moved_in(
        &app,
        &admin,
        &profile_id,
        "ron@example.com",
        case["hash"].as_str().unwrap(),
    )
    .await;
    for _ in 0..5 {
        app.login(&shopper, &profile_id, "ron@example.com", "not his password")
            .await
            .expect_error(400, "authentication failed");
    }
    let locked = app
        .login(&shopper, &profile_id, "ron@example.com", password)
        .await;
    locked.expect_error(429, "too many attempts, try again later");
    assert!(
        stored_hash_is(&app, "ron@example.com", case["hash"].as_str().unwrap()).await,
        "a refused login replaces nothing"
    );
    app.clock.advance_seconds(31);
    app.login(&shopper, &profile_id, "ron@example.com", password)
        .await
        .expect(201);
}

async fn the_openapi_document_shows_the_extension(app: TestApp) {
    let document = app.get("/v2/openapi.json").send().await.expect(200);
    let schema =
        &document["components"]["schemas"]["PasswordProfileInfoCreate"]["properties"]["data"];
    let hash = &schema["properties"]["password_hash"];
    assert_eq!(hash["type"], "string", "{schema}");
    assert_eq!(hash["writeOnly"], true);
    assert_eq!(hash["x-accountd-extension"], true);
    assert!(
        hash["description"]
            .as_str()
            .unwrap()
            .contains("accountd extension")
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    assert!(!required.contains(&"password"), "{required:?}");
    assert!(!required.contains(&"password_hash"), "{required:?}");
}
