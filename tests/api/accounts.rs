//! Accounts through the admin API: create, read, update, delete, the hierarchy, and the list
//! conventions (pagination, filters, sorting).

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::tests;

tests![
    an_account_round_trips_with_the_reference_shape,
    a_child_account_records_its_parent_and_ancestors,
    an_unknown_parent_is_refused,
    registration_ids_are_unique,
    account_validation_uses_the_reference_wording,
    an_update_is_partial_and_parent_id_is_immutable,
    an_update_that_changes_nothing_keeps_updated_at,
    deleting_an_account_with_children_is_refused,
    deleting_an_account_removes_its_memberships,
    malformed_and_unknown_ids_are_not_found,
    lists_paginate_with_meta_and_links,
    filters_narrow_the_list_and_hostile_operands_are_only_data,
    bad_filters_and_sorts_are_refused,
    sorting_is_byte_wise_with_ties_broken_by_id,
];

async fn an_account_round_trips_with_the_reference_shape(app: TestApp) {
    let admin = app.admin_token().await;
    let reply = app
        .post("/v2/accounts")
        .bearer(&admin)
        .json(json!({"data": {
            "type": "account", "name": "Personal Account", "legal_name": "Personal Account Ltd",
            "registration_id": "reg-1", "id": "ignored", "unknown": true,
        }}))
        .send()
        .await;
    let created = reply.expect(201);
    let data = &created["data"];
    let id = data["id"].as_str().unwrap();
    let self_link = format!("http://accountd.test/v2/accounts/{id}");
    assert_eq!(data["type"], "account");
    assert_eq!(data["external_ref"], Value::Null);
    assert_eq!(data["parent_id"], Value::Null);
    assert_eq!(
        data["relationships"],
        json!({"parent": {"data": null}, "ancestors": []})
    );
    assert_eq!(data["links"]["self"], self_link);
    assert_eq!(created["links"]["self"], self_link);
    let created_at = data["meta"]["timestamps"]["created_at"].as_str().unwrap();
    assert_eq!(created_at.len(), "2024-06-26T23:45:24.070Z".len());
    assert!(created_at.ends_with('Z'));
    let read = app
        .get(&format!("/v2/accounts/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"], *data);
}

async fn a_child_account_records_its_parent_and_ancestors(app: TestApp) {
    let admin = app.admin_token().await;
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
    assert_eq!(child["parent_id"], parent["id"]);
    assert_eq!(
        child["relationships"],
        json!({
            "parent": {"data": {"type": "account", "id": parent["id"]}},
            "ancestors": [
                {"data": {"type": "account", "id": root["id"]}},
                {"data": {"type": "account", "id": parent["id"]}},
            ],
        })
    );
}

async fn an_unknown_parent_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    app.post("/v2/accounts")
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "Orphan", "parent_id": uuid::Uuid::new_v4()}}))
        .send()
        .await
        .expect_error(404, "parent account not found");
}

async fn registration_ids_are_unique(app: TestApp) {
    let admin = app.admin_token().await;
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "A", "registration_id": "R-1"}),
    )
    .await;
    app.post("/v2/accounts")
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "B", "registration_id": "R-1"}}))
        .send()
        .await
        .expect_error(409, "account with the given registration id already exists");
    let other = app.create_account(&admin, "C").await;
    app.put(&format!("/v2/accounts/{}", other["id"].as_str().unwrap()))
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "registration_id": "R-1"}}))
        .send()
        .await
        .expect_error(409, "account with the given registration id already exists");
    // Null registration ids do not collide.
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "D", "registration_id": null}),
    )
    .await;
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "E", "registration_id": null}),
    )
    .await;
}

async fn account_validation_uses_the_reference_wording(app: TestApp) {
    let admin = app.admin_token().await;
    let cases = [
        (
            json!({"name": "x"}),
            "Validation failed: field 'Type' on the 'required' tag.",
        ),
        (
            json!({"type": "accounts", "name": "x"}),
            "Validation failed: field 'Type' on the 'eq' tag.",
        ),
        (
            json!({"type": "account"}),
            "Validation failed: field 'Name' on the 'required' tag.",
        ),
        (
            json!({"type": "account", "name": ""}),
            "Validation failed: field 'Name' on the 'min' tag.",
        ),
        (
            json!({"type": "account", "name": "x".repeat(256)}),
            "Validation failed: field 'Name' on the 'max' tag.",
        ),
        (
            json!({"type": "account", "name": 5}),
            "Validation failed: field 'Name' on the 'string' tag.",
        ),
        (
            json!({"type": "account", "name": "x", "registration_id": "r".repeat(64)}),
            "Validation failed: field 'RegistrationID' on the 'max' tag.",
        ),
        (
            json!({"type": "account", "name": "x", "parent_id": "nope"}),
            "Validation failed: field 'ParentID' on the 'uuid' tag.",
        ),
        (
            json!({"type": 1, "name": "", "legal_name": 2}),
            "Validation failed: field 'Type' on the 'string' tag; field 'Name' on the 'min' tag; field 'LegalName' on the 'string' tag.",
        ),
        (
            json!({"type": "account", "name": "a\u{0}"}),
            "Validation failed: field 'Name' on the 'string' tag.",
        ),
    ];
    for (data, detail) in cases {
        app.post("/v2/accounts")
            .bearer(&admin)
            .json(json!({"data": data}))
            .send()
            .await
            .expect_error(400, detail);
    }
    // A name of 255 characters, counted as characters rather than bytes, fits.
    app.create_account(&admin, &"é".repeat(255)).await;
}

async fn an_update_is_partial_and_parent_id_is_immutable(app: TestApp) {
    let admin = app.admin_token().await;
    let root = app.create_account(&admin, "Root").await;
    let account = app
        .create_account_with(
            &admin,
            json!({
                "type": "account", "name": "Acme", "legal_name": "Acme Ltd", "external_ref": "x-1",
                "parent_id": root["id"],
            }),
        )
        .await;
    let path = format!("/v2/accounts/{}", account["id"].as_str().unwrap());
    let updated = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "Acme Two", "external_ref": null, "parent_id": root["id"], "id": account["id"]}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["name"], "Acme Two");
    assert_eq!(updated["data"]["legal_name"], "Acme Ltd");
    assert_eq!(updated["data"]["external_ref"], Value::Null);
    for parent in [json!(uuid::Uuid::new_v4()), Value::Null] {
        app.put(&path)
            .bearer(&admin)
            .json(json!({"data": {"type": "account", "parent_id": parent}}))
            .send()
            .await
            .expect_error(
                400,
                "Validation failed: field 'ParentID' on the 'immutable' tag.",
            );
    }
    app.put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": null}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'Name' on the 'required' tag.",
        );
}

async fn an_update_that_changes_nothing_keeps_updated_at(app: TestApp) {
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Same").await;
    let path = format!("/v2/accounts/{}", account["id"].as_str().unwrap());
    app.clock.advance_seconds(5);
    let same = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "Same"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(same["data"]["meta"], account["meta"]);
    let changed = app
        .put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": "Other"}}))
        .send()
        .await
        .expect(200);
    assert_ne!(
        changed["data"]["meta"]["timestamps"]["updated_at"],
        account["meta"]["timestamps"]["updated_at"]
    );
    assert_eq!(
        changed["data"]["meta"]["timestamps"]["created_at"],
        account["meta"]["timestamps"]["created_at"]
    );
}

async fn deleting_an_account_with_children_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let parent = app.create_account(&admin, "Parent").await;
    let child = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Child", "parent_id": parent["id"]}),
        )
        .await;
    let parent_path = format!("/v2/accounts/{}", parent["id"].as_str().unwrap());
    app.delete(&parent_path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(409, "account has child accounts");
    app.delete(&format!("/v2/accounts/{}", child["id"].as_str().unwrap()))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.delete(&parent_path)
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.get(&parent_path)
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "account not found");
}

async fn deleting_an_account_removes_its_memberships(app: TestApp) {
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Doomed").await;
    let account_id = account["id"].as_str().unwrap();
    let user = app
        .create_user(&admin, "Member", "member@example.com")
        .await;
    let membership = app
        .add_membership(&admin, account_id, user["id"].as_str().unwrap())
        .await;
    app.delete(&format!("/v2/accounts/{account_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!(
        "/v2/accounts/{account_id}/account-memberships/{}",
        membership["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect_error(404, "account not found");
    // The member survives and can join another account.
    let other = app.create_account(&admin, "Other").await;
    app.add_membership(
        &admin,
        other["id"].as_str().unwrap(),
        user["id"].as_str().unwrap(),
    )
    .await;
}

async fn malformed_and_unknown_ids_are_not_found(app: TestApp) {
    let admin = app.admin_token().await;
    for id in ["not-a-uuid".to_owned(), uuid::Uuid::new_v4().to_string()] {
        app.get(&format!("/v2/accounts/{id}"))
            .bearer(&admin)
            .send()
            .await
            .expect_error(404, "account not found");
        app.put(&format!("/v2/accounts/{id}"))
            .bearer(&admin)
            .json(json!({"data": {"type": "account"}}))
            .send()
            .await
            .expect_error(404, "account not found");
        app.delete(&format!("/v2/accounts/{id}"))
            .bearer(&admin)
            .send()
            .await
            .expect_error(404, "account not found");
    }
}

async fn lists_paginate_with_meta_and_links(app: TestApp) {
    let admin = app.admin_token().await;
    for index in 0..5 {
        app.create_account(&admin, &format!("Account {index}"))
            .await;
        app.clock.advance_millis(1);
    }
    let page = app
        .get("/v2/accounts?page[limit]=2&page[offset]=2")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["meta"],
        json!({"page": {"limit": 2, "offset": 2, "current": 2, "total": 3}, "results": {"total": 5}})
    );
    let base = "http://accountd.test/v2/accounts?";
    assert_eq!(
        page["links"],
        json!({
            "current": format!("{base}page[offset]=2&page[limit]=2"),
            "first": format!("{base}page[offset]=0&page[limit]=2"),
            "last": format!("{base}page[offset]=4&page[limit]=2"),
            "next": format!("{base}page[offset]=4&page[limit]=2"),
            "prev": format!("{base}page[offset]=0&page[limit]=2"),
        })
    );
    // Newest first by default.
    assert_eq!(page["data"][0]["name"], "Account 2");
    let past_the_end = app
        .get("/v2/accounts?page[offset]=50")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(past_the_end["data"], json!([]));
    assert_eq!(past_the_end["meta"]["results"]["total"], 5);
    for query in ["page[limit]=0", "page[limit]=101"] {
        app.get(&format!("/v2/accounts?{query}"))
            .bearer(&admin)
            .send()
            .await
            .expect_error(400, "page[limit] must be an integer between 1 and 100");
    }
    app.get("/v2/accounts?page[offset]=10001")
        .bearer(&admin)
        .send()
        .await
        .expect_error(400, "page[offset] must be an integer between 0 and 10000");
}

async fn filters_narrow_the_list_and_hostile_operands_are_only_data(app: TestApp) {
    let admin = app.admin_token().await;
    let names = [
        "Bulk 07",
        "bulk 08",
        "O'Brien & Sons",
        "100% Steel_Co",
        "Alpha",
    ];
    for name in names {
        app.create_account(&admin, name).await;
    }
    let count = |query: &str| {
        let app = &app;
        let admin = admin.clone();
        let query = query.to_owned();
        async move {
            let body = app
                .get(&format!("/v2/accounts?filter={query}"))
                .bearer(&admin)
                .send()
                .await
                .expect(200);
            body["meta"]["results"]["total"].as_u64().unwrap()
        }
    };
    assert_eq!(count("eq(name,Bulk%2007)").await, 1);
    assert_eq!(count("like(name,Bulk*)").await, 1);
    assert_eq!(count("ilike(name,bulk*)").await, 2);
    assert_eq!(count("eq(name,O'Brien%20%26%20Sons)").await, 1);
    assert_eq!(count("like(name,100%25*)").await, 1);
    assert_eq!(
        count("like(name,%25)").await,
        0,
        "% is a literal, not a wildcard"
    );
    assert_eq!(
        count("like(name,_lpha)").await,
        0,
        "_ is a literal, not a wildcard"
    );
    assert_eq!(count("eq(name,x'%20OR%201%3D1%20--)").await, 0);
    assert_eq!(
        count("eq(name,'x%5C'%3B%20DROP%20TABLE%20accounts%3B%20--')").await,
        0
    );
    assert_eq!(count("eq(name,%22x%22)%3Aeq(name,y)").await, 0);
    assert_eq!(count("ilike(name,*STEEL*):like(name,100*)").await, 1);
}

async fn bad_filters_and_sorts_are_refused(app: TestApp) {
    let admin = app.admin_token().await;
    for filter in [
        "eq(nope,x)",
        "gt(name,x)",
        "eq(id,not-a-uuid)",
        "ge(created_at,yesterday)",
        "eq(name",
        "contains(account_tags,x)",
        "is_null(external_ref)",
        "",
    ] {
        app.get(&format!("/v2/accounts?filter={filter}"))
            .bearer(&admin)
            .send()
            .await
            .expect_error(400, "Could not parse the supplied filter");
    }
    for sort in ["nope", "-", "name,id", "legal_name"] {
        app.get(&format!("/v2/accounts?sort={sort}"))
            .bearer(&admin)
            .send()
            .await
            .expect_error(400, "Could not parse the supplied sort");
    }
}

async fn sorting_is_byte_wise_with_ties_broken_by_id(app: TestApp) {
    let admin = app.admin_token().await;
    for name in ["beta", "Alpha", "alpha", "Beta", "Zed"] {
        app.create_account(&admin, name).await;
    }
    let names = |body: Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let ascending = app
        .get("/v2/accounts?sort=name")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(names(ascending), ["Alpha", "Beta", "Zed", "alpha", "beta"]);
    let descending = app
        .get("/v2/accounts?sort=-name")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(names(descending), ["beta", "alpha", "Zed", "Beta", "Alpha"]);
    let by_id = app
        .get("/v2/accounts?sort=id")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let ids: Vec<String> = by_id["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}
