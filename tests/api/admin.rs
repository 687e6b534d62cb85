//! The admin surface (docs/authentication.md#application-keys,
//! docs/authentication.md#permission-matrix): application keys, and every admin write refused to
//! shoppers and account holders.

use accountd::store::{
    ChangedBy, ImportKind, ImportOutcome, ImportRecord, ImportWrite, Limit, NewAccount, NewUser,
    StoreError,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{CLIENT_ID, LoggedIn, TestApp};
use crate::tests;

tests![
    application_keys_round_trip_and_show_the_secret_once,
    a_new_application_key_issues_tokens_until_it_is_deleted,
    the_configured_bootstrap_key_cannot_be_changed_through_the_api,
    application_key_names_are_unique_and_validated,
    application_key_lists_sort_and_refuse_filters,
    shoppers_and_account_holders_are_refused_every_admin_write,
    an_account_holds_at_most_a_thousand_memberships,
];

async fn application_keys_round_trip_and_show_the_secret_once(app: TestApp) {
    let admin = app.admin_token().await;
    let reply = app
        .post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Storefront", "reserved_rate_limit": 5}}))
        .send()
        .await;
    let created = reply.expect(201)["data"].clone();
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(created["type"], "application_key");
    assert_eq!(created["reserved_rate_limit"], 5);
    let secret = created["client_secret"].as_str().unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    assert_eq!(secret.len(), 42);
    assert_eq!(client_id.len(), 42);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created["meta"]["timestamps"]["last_used_at"], Value::Null);
    let id = created["id"].as_str().unwrap();
    let path = format!("/v2/application-keys/{id}");
    let read = app.get(&path).bearer(&admin).send().await.expect(200)["data"].clone();
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown once"
    );
    assert_eq!(read["client_id"], client_id);
    let renamed = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Storefront v2"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(renamed["data"]["name"], "Storefront v2");
    assert_eq!(renamed["data"]["reserved_rate_limit"], 5);
    assert!(renamed["data"].get("client_secret").is_none());
    app.delete(&path).bearer(&admin).send().await.expect(204);
    app.get(&path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "application key not found");
    app.get("/v2/application-keys/not-an-id")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "application key not found");
}

async fn a_new_application_key_issues_tokens_until_it_is_deleted(app: TestApp) {
    let admin = app.admin_token().await;
    let created = app
        .post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Back office"}}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let token = app
        .bearer_token(&format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        ))
        .await;
    app.get("/v2/accounts")
        .bearer(&token)
        .send()
        .await
        .expect(200);
    let used = app
        .get(&format!(
            "/v2/application-keys/{}",
            created["id"].as_str().unwrap()
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert!(used["data"]["meta"]["timestamps"]["last_used_at"].is_string());
    app.delete(&format!(
        "/v2/application-keys/{}",
        created["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    app.get("/v2/accounts")
        .bearer(&token)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn the_configured_bootstrap_key_cannot_be_changed_through_the_api(app: TestApp) {
    let admin = app.admin_token().await;
    let list = app
        .get("/v2/application-keys")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let bootstrap = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["client_id"] == CLIENT_ID)
        .expect("the bootstrap key is listed")
        .clone();
    assert_eq!(bootstrap["name"], "bootstrap");
    let path = format!("/v2/application-keys/{}", bootstrap["id"].as_str().unwrap());
    app.put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "renamed"}}))
        .send()
        .await
        .expect_error(409, "application key is managed by configuration");
    app.delete(&path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(409, "application key is managed by configuration");
}

async fn application_key_names_are_unique_and_validated(app: TestApp) {
    let admin = app.admin_token().await;
    let create = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.post("/v2/application-keys")
                .bearer(&admin)
                .json(json!({"data": body}))
                .send()
                .await
        }
    };
    create(json!({"type": "application_key", "name": "One"}))
        .await
        .expect(201);
    create(json!({"type": "application_key", "name": "One"}))
        .await
        .expect_error(409, "application key with the given name already exists");
    create(json!({"type": "application_key", "name": "bootstrap"}))
        .await
        .expect_error(409, "application key with the given name already exists");
    create(json!({"type": "application_key"}))
        .await
        .expect_error(
            400,
            "Validation failed: field 'Name' on the 'required' tag.",
        );
    create(json!({"type": "application_key", "name": "x", "reserved_rate_limit": -1}))
        .await
        .expect_error(
            400,
            "Validation failed: field 'ReservedRateLimit' on the 'min' tag.",
        );
    create(json!({"type": "key", "name": ""}))
        .await
        .expect_error(
            400,
            "Validation failed: field 'Type' on the 'eq' tag; field 'Name' on the 'min' tag.",
        );
    let two = create(json!({"type": "application_key", "name": "Two"}))
        .await
        .expect(201);
    app.put(&format!(
        "/v2/application-keys/{}",
        two["data"]["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .json(json!({"data": {"type": "application_key", "name": "One"}}))
    .send()
    .await
    .expect_error(409, "application key with the given name already exists");
}

async fn application_key_lists_sort_and_refuse_filters(app: TestApp) {
    let admin = app.admin_token().await;
    for name in ["b-key", "a-key"] {
        app.post("/v2/application-keys")
            .bearer(&admin)
            .json(json!({"data": {"type": "application_key", "name": name}}))
            .send()
            .await
            .expect(201);
    }
    let sorted = app
        .get("/v2/application-keys?sort=name")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let names: Vec<&str> = sorted["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-key", "b-key", "bootstrap"]);
    assert!(
        sorted["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|key| key.get("client_secret").is_none())
    );
    app.get("/v2/application-keys?filter=eq(name,a-key)")
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied filter");
    app.get("/v2/application-keys?sort=client_id")
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied sort");
}

async fn shoppers_and_account_holders_are_refused_every_admin_write(app: TestApp) {
    let LoggedIn {
        admin,
        implicit,
        shopper: holder,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let account = &holder.accounts[0];
    let member = &holder.member_id;
    let profile = &holder.profile_id;
    let key = app
        .get("/v2/application-keys")
        .bearer(&admin)
        .send()
        .await
        .expect(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let infos = app
        .get(&app.realm_path(&format!(
            "/user-authentication-info/{member}/user-authentication-password-profile-info"
        )))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let info = infos["data"][0]["id"].as_str().unwrap().to_owned();
    let membership = app
        .get(&format!("/v2/accounts/{account}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"data": {"type": "x"}});
    let writes: Vec<(Method, String)> = vec![
        (Method::POST, "/v2/application-keys".into()),
        (Method::PUT, format!("/v2/application-keys/{key}")),
        (Method::DELETE, format!("/v2/application-keys/{key}")),
        (Method::POST, "/v2/accounts".into()),
        (Method::PUT, format!("/v2/accounts/{account}")),
        (Method::DELETE, format!("/v2/accounts/{account}")),
        (Method::POST, format!("/v2/accounts/{account}/account-memberships")),
        (Method::PUT, format!("/v2/accounts/{account}/account-memberships/{membership}")),
        (Method::DELETE, format!("/v2/accounts/{account}/account-memberships/{membership}")),
        (Method::DELETE, format!("/v2/account-members/{member}/tokens")),
        (Method::PUT, "/v2/settings/account-authentication".into()),
        (Method::PUT, "/v2/settings/account-membership".into()),
        (Method::PUT, app.realm_path("")),
        (Method::POST, app.realm_path("/password-profiles")),
        (Method::PUT, app.realm_path(&format!("/password-profiles/{profile}"))),
        (Method::DELETE, app.realm_path(&format!("/password-profiles/{profile}"))),
        (Method::POST, app.realm_path("/user-authentication-info")),
        (Method::DELETE, app.realm_path(&format!("/user-authentication-info/{member}"))),
        (Method::POST, app.realm_path(&format!("/user-authentication-info/{member}/user-authentication-password-profile-info"))),
        (Method::DELETE, app.realm_path(&format!("/user-authentication-info/{member}/user-authentication-password-profile-info/{info}"))),
    ];
    let mut wrong = Vec::new();
    for (method, path) in &writes {
        for (who, account_token) in [("shopper", None), ("account holder", Some(token.as_str()))] {
            let mut call = app
                .call(method.clone(), path)
                .bearer(&implicit)
                .json(body.clone());
            if let Some(token) = account_token {
                call = call.account_token(token);
            }
            let reply = call.send().await;
            let forbidden =
                reply.status == 403 && reply.json()["errors"][0]["detail"] == "forbidden";
            if !forbidden {
                wrong.push(format!(
                    "{who} {method} {path}: {} {}",
                    reply.status, reply.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "admin writes allowed:\n{}",
        wrong.join("\n")
    );
    // Nothing was changed by the refused calls.
    app.get(&format!("/v2/accounts/{account}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
}

async fn an_account_holds_at_most_a_thousand_memberships(app: TestApp) {
    let store = &app.state.store;
    let now = app.clock_now();
    let account = store
        .create_account(
            &NewAccount {
                name: "Big".into(),
                legal_name: None,
                registration_id: None,
                external_ref: Some("BIG".into()),
                parent_id: None,
            },
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let user = |index: usize| NewUser {
        name: format!("Member {index}"),
        email: format!("m{index}@example.com"),
        given_name: None,
        middle_name: None,
        family_name: None,
    };
    // The thousand go in as an import would write them, a few transactions instead of two
    // thousand; the limit is checked on each membership all the same.
    let records: Vec<ImportRecord> = (0..1000u64)
        .flat_map(|index| {
            let email = format!("m{index}@example.com");
            [
                ImportKind::Member {
                    email: email.clone(),
                    name: format!("Member {index}"),
                    login: None,
                },
                ImportKind::Membership {
                    account_external_ref: "BIG".into(),
                    member_email: email,
                },
            ]
        })
        .enumerate()
        .map(|(line, kind)| ImportRecord {
            line: line as u64 + 1,
            kind,
        })
        .collect();
    for batch in records.chunks(500) {
        let outcomes = store
            .import_batch(
                batch,
                ImportWrite {
                    dry_run: false,
                    quiet_events: true,
                },
                now,
            )
            .await
            .unwrap();
        assert!(
            outcomes
                .iter()
                .all(|outcome| *outcome == ImportOutcome::Created)
        );
    }
    let one_more = store
        .create_user(
            &user(1000),
            ChangedBy::Admin,
            now,
            &crate::helpers::by_test(),
        )
        .await
        .unwrap();
    let refused = store
        .create_membership(account.id, one_more.id, now, &crate::helpers::by_test())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Limit(Limit::AccountMemberships)),
        "{refused:?}"
    );
    let admin = app.admin_token().await;
    app.post(&format!("/v2/accounts/{}/account-memberships", account.id))
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership", "account_member_id": one_more.id}}))
        .send()
        .await
        .expect_error(
            422,
            "the account has reached the maximum of 1000 account memberships",
        );
}
