//! Every filter operator and sort field on every list that offers it
//! (docs/http-conventions.md#filtering), and refusal of those a list does not offer.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::tests;

tests![
    account_filters_cover_every_operator,
    member_and_user_filters_cover_every_operator,
    every_list_sorts_by_its_fields_both_ways,
];

async fn total(app: &TestApp, admin: &str, path: &str) -> u64 {
    let body = app.get(path).bearer(admin).send().await.expect(200);
    body["meta"]["results"]["total"].as_u64().unwrap()
}

async fn refused(app: &TestApp, admin: &str, path: &str) {
    app.get(path)
        .bearer(admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied filter");
}

async fn account_filters_cover_every_operator(app: TestApp) {
    let admin = app.admin_token().await;
    let mut accounts = Vec::new();
    for (index, name) in ["Alpha", "Beta", "Gamma"].iter().enumerate() {
        let account = app
            .create_account_with(
                &admin,
                json!({
                    "type": "account", "name": name, "legal_name": format!("{name} Ltd"),
                    "registration_id": format!("R-{index}"), "external_ref": format!("ext/{index}"),
                }),
            )
            .await;
        accounts.push(account);
        app.clock.advance_millis(10);
    }
    let id = |i: usize| accounts[i]["id"].as_str().unwrap().to_owned();
    let created = |i: usize| {
        accounts[i]["meta"]["timestamps"]["created_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let base = "/v2/accounts?filter=";
    let cases: Vec<(String, u64)> = vec![
        (format!("eq(id,{})", id(0)), 1),
        (format!("in(id,{},{})", id(0), id(2)), 2),
        (format!("eq(created_at,{})", created(1)), 1),
        (format!("gt(created_at,{})", created(0)), 2),
        (format!("ge(created_at,{})", created(1)), 2),
        (format!("lt(created_at,{})", created(2)), 2),
        (format!("le(created_at,{})", created(0)), 1),
        (format!("le(updated_at,{})", created(2)), 3),
        ("eq(legal_name,Beta Ltd)".replace(' ', "%20"), 1),
        ("like(legal_name,*Ltd)".to_owned(), 3),
        ("ilike(legal_name,gamma*)".to_owned(), 1),
        ("eq(registration_id,R-2)".to_owned(), 1),
        ("like(external_ref,ext/*)".to_owned(), 3),
        ("ilike(name,ALPHA)".to_owned(), 1),
        ("like(name,alpha)".to_owned(), 0),
        // `:` is AND, and the same field may appear twice.
        (
            format!(
                "gt(created_at,{}):lt(created_at,{})",
                created(0),
                created(2)
            ),
            1,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            total(&app, &admin, &format!("{base}{filter}")).await,
            expected,
            "{filter}"
        );
    }
    // UUID ordering agrees with the byte order of the ids on both backends.
    let mut ids: Vec<String> = (0..3).map(id).collect();
    ids.sort();
    assert_eq!(
        total(&app, &admin, &format!("{base}gt(id,{})", ids[0])).await,
        2
    );
    assert_eq!(
        total(&app, &admin, &format!("{base}le(id,{})", ids[1])).await,
        2
    );
    for filter in [
        "is_null(legal_name)",
        "in(name,Alpha,Beta)",
        "gt(name,A)",
        "like(id,*)",
        "eq(created_at,2024-13-01T00:00:00Z)",
    ] {
        refused(&app, &admin, &format!("{base}{filter}")).await;
    }
}

async fn member_and_user_filters_cover_every_operator(app: TestApp) {
    let admin = app.admin_token().await;
    let users_path = app.realm_path("/user-authentication-info");
    let people = [
        ("Ann Perkins", "ann@example.com", Some("Ann"), None),
        ("Ben Wyatt", "BEN@example.com", Some("Ben"), Some("Wyatt")),
        ("Chris Traeger", "chris@example.org", None, Some("Traeger")),
        ("Donna Meagle", "donna@sub.Example.com", Some("Donna"), None),
        ("Tom Haverford", "tom@example.community", Some("Tom"), None),
        ("April Ludgate", "april@EXAMPLE.COM", Some("April"), None),
    ];
    let mut created = Vec::new();
    for (name, email, given, family) in people {
        let user = app
            .post(&users_path)
            .bearer(&admin)
            .json(json!({"data": {
                "type": "user_authentication_info", "name": name, "email": email,
                "given_name": given, "family_name": family,
            }}))
            .send()
            .await
            .expect(201)["data"]
            .clone();
        created.push(user);
        app.clock.advance_millis(10);
    }
    let first_created = created[0]["meta"]["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    for list in ["/v2/account-members", users_path.as_str()] {
        let base = format!("{list}?filter=");
        let cases = [
            ("eq(email,ann@example.com)", 1),
            ("eq(email,ben@example.com)", 0),
            ("ilike(email,ben@*)", 1),
            ("like(email,*.org)", 1),
            // Suffixes match at the end only, and anything may come before them.
            ("ilike(email,*@EXAMPLE.com)", 3),
            ("ilike(email,*example.com)", 4),
            ("like(email,*@example.com)", 2),
            ("like(email,*@EXAMPLE.COM)", 1),
            ("ilike(email,*M)", 4),
            ("ilike(email,*Y)", 1),
            ("eq(name,Ben%20Wyatt)", 1),
            ("like(name,*r*)", 4),
            ("ilike(name,*PERKINS)", 1),
            ("is_null(given_name)", 1),
            ("is_null(middle_name)", 6),
            ("is_null(family_name)", 4),
            ("eq(given_name,Ann)", 1),
            ("like(family_name,T*)", 1),
            ("ilike(middle_name,*)", 0),
        ];
        for (filter, expected) in cases {
            assert_eq!(
                total(&app, &admin, &format!("{base}{filter}")).await,
                expected,
                "{list} {filter}"
            );
        }
        refused(&app, &admin, &format!("{base}gt(email,a)")).await;
        refused(&app, &admin, &format!("{base}is_null(email)")).await;
    }
    let base = format!("{users_path}?filter=");
    assert_eq!(
        total(
            &app,
            &admin,
            &format!("{base}gt(created_at,{first_created})")
        )
        .await,
        5
    );
    assert_eq!(
        total(
            &app,
            &admin,
            &format!("{base}eq(created_at,{first_created})")
        )
        .await,
        1
    );
}

/// Reads the value a list item is sorted by.
type SortKey = fn(&Value) -> String;

/// `sort=field` gives ascending order and `sort=-field` the reverse, for each offered field.
async fn check_sorts(app: &TestApp, admin: &str, list: &str, sorts: &[(&str, SortKey)]) {
    for (field, key) in sorts {
        for descending in [false, true] {
            let sign = if descending { "-" } else { "" };
            let separator = if list.contains('?') { '&' } else { '?' };
            let body = app
                .get(&format!("{list}{separator}sort={sign}{field}"))
                .bearer(admin)
                .send()
                .await
                .expect(200);
            let keys: Vec<String> = body["data"].as_array().unwrap().iter().map(key).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if descending {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{list} sort={sign}{field}");
            assert!(keys.len() >= 2, "{list} has too few items to show an order");
        }
    }
}

async fn every_list_sorts_by_its_fields_both_ways(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = crate::helpers::shopper_in(&app, &admin, &["Zed", "Amy"]).await;
    let extra = app.create_user(&admin, "Bob", "bob@example.com").await;
    app.create_user(&admin, "Carl", "carl@example.com").await;
    app.add_membership(&admin, &shopper.accounts[0], extra["id"].as_str().unwrap())
        .await;
    app.create_password_profile(
        &admin,
        json!({"type": "password_profile", "name": "Another"}),
    )
    .await;
    app.post(&app.realm_path(&format!(
        "/user-authentication-info/{}/user-authentication-password-profile-info",
        extra["id"].as_str().unwrap()
    )))
    .bearer(&admin)
    .json(json!({"data": {"type": "user_authentication_password_profile_info",
        "password_profile_id": shopper.profile_id, "username": "bob", "password": "bob's password"}}))
    .send()
    .await
    .expect(201);
    let id = |item: &Value| item["id"].as_str().unwrap().to_owned();
    let name = |item: &Value| item["name"].as_str().unwrap().to_owned();
    let email = |item: &Value| item["email"].as_str().unwrap().to_owned();
    let created_ts = |item: &Value| {
        item["meta"]["timestamps"]["created_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let updated_ts = |item: &Value| {
        item["meta"]["timestamps"]["updated_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let created_flat = |item: &Value| item["meta"]["created_at"].as_str().unwrap().to_owned();
    let updated_flat = |item: &Value| item["meta"]["updated_at"].as_str().unwrap().to_owned();
    check_sorts(
        &app,
        &admin,
        "/v2/accounts",
        &[
            ("name", name),
            ("id", id),
            ("created_at", created_ts),
            ("updated_at", updated_ts),
        ],
    )
    .await;
    check_sorts(
        &app,
        &admin,
        "/v2/account-members",
        &[
            ("name", name),
            ("email", email),
            ("id", id),
            ("created_at", created_ts),
            ("updated_at", updated_ts),
        ],
    )
    .await;
    check_sorts(
        &app,
        &admin,
        &app.realm_path("/user-authentication-info"),
        &[
            ("name", name),
            ("email", email),
            ("id", id),
            ("created_at", created_flat),
            ("updated_at", updated_flat),
        ],
    )
    .await;
    check_sorts(
        &app,
        &admin,
        &app.realm_path("/password-profiles"),
        &[
            ("name", name),
            ("id", id),
            ("created_at", created_flat),
            ("updated_at", updated_flat),
        ],
    )
    .await;
    app.post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "another key"}}))
        .send()
        .await
        .expect(201);
    check_sorts(
        &app,
        &admin,
        "/v2/application-keys",
        &[("name", name), ("id", id)],
    )
    .await;
    let memberships = format!("/v2/accounts/{}/account-memberships", shopper.accounts[0]);
    check_sorts(
        &app,
        &admin,
        &memberships,
        &[
            ("id", id),
            ("created_at", created_ts),
            ("updated_at", updated_ts),
        ],
    )
    .await;
    let reverse = format!(
        "/v2/account-members/{}/account-memberships",
        shopper.member_id
    );
    check_sorts(
        &app,
        &admin,
        &reverse,
        &[("id", id), ("created_at", created_ts)],
    )
    .await;
    let unassigned = format!(
        "/v2/accounts/{}/account-memberships/unassigned-account-members",
        shopper.accounts[1]
    );
    check_sorts(
        &app,
        &admin,
        &unassigned,
        &[("name", name), ("email", email)],
    )
    .await;
}
