//! The console's member pages, account memberships, account edit and delete, and the dashboard,
//! driven as a browser would (the `Browser` of `console.rs`) and checked through the JSON API.

use accountd::config::ConsoleListener;
use serde_json::json;

use crate::console::{Browser, Page, created_id, with_console};
use crate::helpers::{TestApp, account_tokens, shopper_in};
use crate::tests;

tests![
    a_member_created_in_the_console_logs_in_with_its_password,
    a_refused_password_leaves_no_member_behind,
    setting_a_password_replaces_the_old_one_and_its_tokens,
    memberships_are_added_and_removed_from_either_side,
    an_id_that_is_not_one_is_refused_beside_its_field,
    a_lockout_shows_on_the_member_page_until_it_is_cleared,
    the_lockout_state_is_for_admins_only,
    revoking_in_the_console_makes_the_api_refuse_the_members_tokens,
    the_dashboard_counts_the_last_hours_logins_and_lists_lockouts,
    an_account_is_edited_and_its_emptied_fields_cleared,
    deleting_names_what_cascades_and_refuses_a_parent,
    an_accounts_children_are_found_by_the_parent_filter,
    a_store_without_a_password_profile_gets_one_from_the_member_form,
];

async fn signed_in(app: &TestApp) -> (TestApp, Browser) {
    let console = with_console(app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&console);
    assert_eq!(browser.sign_in().await, "/admin");
    (console, browser)
}

fn member_id(location: &str) -> String {
    let path = location.split('?').next().unwrap_or_default();
    path.strip_prefix("/admin/members/")
        .unwrap_or_else(|| panic!("a member page: {location}"))
        .to_owned()
}

async fn create_profile(app: &TestApp, admin: &str) -> String {
    app.create_password_profile(
        admin,
        json!({"type": "password_profile", "name": "Storefront"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Posts the member form; the answer.
async fn create_member(
    browser: &mut Browser,
    profile_id: &str,
    email: &str,
    password: &str,
) -> Page {
    let form = browser.get("/admin/members/new").await;
    form.assert_console_page(200);
    assert!(
        form.body.contains(&format!(r#"value="{profile_id}""#)),
        "{}",
        form.body
    );
    browser
        .post(
            "/admin/members",
            &[
                ("csrf_token", &form.csrf()),
                ("password_profile_id", profile_id),
                ("name", "Ada Lovelace"),
                ("email", email),
                ("username", ""),
                ("password", password),
            ],
        )
        .await
}

/// Posts a button's form (one that sends only its CSRF token) on `page_path`.
async fn press(browser: &mut Browser, page_path: &str, action: &str) -> Page {
    let page = browser.get(page_path).await;
    page.assert_console_page(200);
    assert!(
        page.body.contains(&format!(r#"action="{action}""#)),
        "{}",
        page.body
    );
    browser.post(action, &[("csrf_token", &page.csrf())]).await
}

async fn a_member_created_in_the_console_logs_in_with_its_password(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let profile_id = create_profile(&app, &admin).await;
    let created = create_member(
        &mut browser,
        &profile_id,
        "ada@example.com",
        "analytical engine",
    )
    .await;
    let id = member_id(created.location());
    let member = app
        .get(&format!("/v2/account-members/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(member["data"]["email"], "ada@example.com");
    let implicit = app.implicit_token().await;
    // The username is the email when the field is left empty.
    let login = app
        .login(
            &implicit,
            &profile_id,
            "ada@example.com",
            "analytical engine",
        )
        .await;
    assert_eq!(login.status.as_u16(), 201, "{}", login.text);
    let page = browser.get(&format!("/admin/members/{id}")).await;
    page.assert_console_page(200);
    assert!(page.body.contains("ada@example.com"));
    assert!(page.body.contains("Not locked out."), "{}", page.body);
    assert!(page.body.contains("This member belongs to no account."));
    let list = browser
        .get("/admin/members?filter=eq(email,ada@example.com)")
        .await;
    list.assert_console_page(200);
    assert!(
        list.body
            .contains(&format!(r#"href="/admin/members/{id}""#))
    );
}

async fn a_refused_password_leaves_no_member_behind(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let profile_id = create_profile(&app, &admin).await;
    let refused = create_member(&mut browser, &profile_id, "short@example.com", "short").await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    refused.assert_console_page(refused.status.as_u16());
    assert!(
        refused
            .body
            .contains(r#"<p id="password-error" class="field-error" role="alert">"#),
        "the reason is beside the password: {}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"value="short@example.com""#),
        "the form keeps what was typed"
    );
    assert!(
        !refused.body.contains(r#"value="short""#),
        "never the password"
    );
    let members = app
        .get("/v2/account-members?filter=eq(email,short@example.com)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(members["meta"]["results"]["total"], 0, "{members}");
}

async fn setting_a_password_replaces_the_old_one_and_its_tokens(app: TestApp) {
    let (console, mut browser) = signed_in(&app).await;
    let logged_in = app.logged_in(&["Acme"]).await;
    // "Tokens valid after" has a resolution of a second: a change in the second a token was
    // issued leaves it valid.
    console.clock.advance_seconds(1);
    let shopper = &logged_in.shopper;
    let page_path = format!("/admin/members/{}", shopper.member_id);
    let page = browser.get(&page_path).await;
    page.assert_console_page(200);
    let login_id = {
        let marker = r#"name="login_id" value=""#;
        let start = page.body.find(marker).expect("the one login") + marker.len();
        page.body[start..start + 36].to_owned()
    };
    let short = browser
        .post(
            &format!("{page_path}/password"),
            &[
                ("csrf_token", &page.csrf()),
                ("login_id", &login_id),
                ("password", "x"),
            ],
        )
        .await;
    assert!(short.status.is_client_error(), "{}", short.body);
    assert!(
        short.body.contains(r#"id="password-error""#),
        "{}",
        short.body
    );
    let set = browser
        .post(
            &format!("{page_path}/password"),
            &[
                ("csrf_token", &page.csrf()),
                ("login_id", &login_id),
                ("password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(set.location(), format!("{page_path}?done=password-set"));
    let notice = browser.get(set.location()).await;
    assert!(
        notice
            .body
            .contains(r#"<p class="notice" role="status">The password was set."#)
    );
    let old = app
        .login(
            &logged_in.implicit,
            &shopper.profile_id,
            &shopper.username,
            &shopper.password,
        )
        .await;
    assert_eq!(old.status.as_u16(), 400, "{}", old.text);
    let new = app
        .login(
            &logged_in.implicit,
            &shopper.profile_id,
            &shopper.username,
            "a brand new passphrase",
        )
        .await;
    assert_eq!(new.status.as_u16(), 201, "{}", new.text);
    app.get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&logged_in.implicit)
        .account_token(&logged_in.token)
        .send()
        .await
        .expect(401);
}

async fn memberships_are_added_and_removed_from_either_side(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &[]).await;
    let account = app.create_account(&admin, "Globex").await;
    let account_id = account["id"].as_str().unwrap();
    let account_path = format!("/admin/accounts/{account_id}");

    // From the account's side.
    let page = browser.get(&account_path).await;
    assert!(page.body.contains("No member belongs to this account."));
    let added = browser
        .post(
            &format!("{account_path}/memberships"),
            &[
                ("csrf_token", &page.csrf()),
                ("account_member_id", &shopper.member_id),
            ],
        )
        .await;
    assert_eq!(
        added.location(),
        format!("{account_path}?done=member-added")
    );
    let page = browser.get(added.location()).await;
    page.assert_console_page(200);
    assert!(page.body.contains(&shopper.username), "{}", page.body);
    let memberships = app
        .get(&format!("/v2/accounts/{account_id}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        memberships["data"][0]["account_member_id"],
        shopper.member_id.as_str()
    );
    let membership_id = memberships["data"][0]["id"].as_str().unwrap();
    let again = browser
        .post(
            &format!("{account_path}/memberships"),
            &[
                ("csrf_token", &page.csrf()),
                ("account_member_id", &shopper.member_id),
            ],
        )
        .await;
    assert_eq!(again.status.as_u16(), 409, "{}", again.body);
    again.assert_console_page(409);
    assert!(again.body.contains("field-error"), "{}", again.body);

    // From the member's side: its page lists the account, and removes the membership.
    let member_path = format!("/admin/members/{}", shopper.member_id);
    let member_page = browser.get(&member_path).await;
    assert!(member_page.body.contains("Globex"), "{}", member_page.body);
    let removed = browser
        .post(
            &format!("{member_path}/memberships/{membership_id}/delete"),
            &[
                ("csrf_token", &member_page.csrf()),
                ("account_id", account_id),
            ],
        )
        .await;
    assert_eq!(
        removed.location(),
        format!("{member_path}?done=membership-removed")
    );
    let memberships = app
        .get(&format!("/v2/accounts/{account_id}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(memberships["meta"]["results"]["total"], 0);

    // And added back from the member's side, then removed from the account's.
    let added = browser
        .post(
            &format!("{member_path}/memberships"),
            &[
                ("csrf_token", &member_page.csrf()),
                ("account_id", account_id),
            ],
        )
        .await;
    assert_eq!(
        added.location(),
        format!("{member_path}?done=membership-added")
    );
    let memberships = app
        .get(&format!("/v2/accounts/{account_id}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let membership_id = memberships["data"][0]["id"].as_str().unwrap();
    let removed = browser
        .post(
            &format!("{account_path}/memberships/{membership_id}/delete"),
            &[("csrf_token", &member_page.csrf())],
        )
        .await;
    assert_eq!(
        removed.location(),
        format!("{account_path}?done=member-removed")
    );
    let memberships = app
        .get(&format!("/v2/accounts/{account_id}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(memberships["meta"]["results"]["total"], 0);
}

async fn an_id_that_is_not_one_is_refused_beside_its_field(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let shopper = shopper_in(&app, &admin, &[]).await;
    let member_path = format!("/admin/members/{}", shopper.member_id);
    let page = browser.get(&member_path).await;
    let refused = browser
        .post(
            &format!("{member_path}/memberships"),
            &[("csrf_token", &page.csrf()), ("account_id", "not-an-id")],
        )
        .await;
    refused.assert_console_page(400);
    assert!(
        refused.body.contains(r#"id="account_id-error""#),
        "{}",
        refused.body
    );
    let unknown = browser
        .post(
            &format!("{member_path}/memberships"),
            &[
                ("csrf_token", &page.csrf()),
                ("account_id", "0b5fd36a-3c1e-4a8b-9a53-52bd28f1c9ad"),
            ],
        )
        .await;
    unknown.assert_console_page(404);
    assert!(
        unknown.body.contains(r#"id="account_id-error""#),
        "{}",
        unknown.body
    );
    let unknown_member = browser
        .get("/admin/members/0b5fd36a-3c1e-4a8b-9a53-52bd28f1c9ad")
        .await;
    unknown_member.assert_console_page(404);
    let edit_unknown = browser.get("/admin/accounts/not-an-id/edit").await;
    edit_unknown.assert_console_page(404);
}

async fn a_lockout_shows_on_the_member_page_until_it_is_cleared(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["Initech"]).await;
    for _ in 0..5 {
        let failed = app
            .login(
                &implicit,
                &shopper.profile_id,
                &shopper.username,
                "not the password",
            )
            .await;
        assert_eq!(failed.status.as_u16(), 400, "{}", failed.text);
    }
    let locked = app.log_in(&implicit, &shopper).await;
    assert_eq!(locked.status.as_u16(), 429, "{}", locked.text);
    let state = app
        .get(&format!(
            "/v2/account-members/{}/lockout",
            shopper.member_id
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(state["data"]["type"], "account_member_lockout");
    assert_eq!(state["data"]["locked"], true, "{state}");
    assert!(state["data"]["locked_until"].is_string(), "{state}");

    let member_path = format!("/admin/members/{}", shopper.member_id);
    let page = browser.get(&member_path).await;
    assert!(page.body.contains("Locked out: logins"), "{}", page.body);
    let cleared = press(
        &mut browser,
        &member_path,
        &format!("{member_path}/lockout/clear"),
    )
    .await;
    assert_eq!(
        cleared.location(),
        format!("{member_path}?done=lockout-cleared")
    );
    let page = browser.get(cleared.location()).await;
    assert!(page.body.contains("Not locked out."), "{}", page.body);
    let state = app
        .get(&format!(
            "/v2/account-members/{}/lockout",
            shopper.member_id
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(state["data"]["locked"], false);
    assert_eq!(state["data"]["locked_until"], serde_json::Value::Null);
    let again = app.log_in(&implicit, &shopper).await;
    assert_eq!(again.status.as_u16(), 201, "{}", again.text);
}

async fn the_lockout_state_is_for_admins_only(app: TestApp) {
    let logged_in = app.logged_in(&["Umbrella"]).await;
    let path = format!(
        "/v2/account-members/{}/lockout",
        logged_in.shopper.member_id
    );
    let as_holder = app
        .get(&path)
        .bearer(&logged_in.implicit)
        .account_token(&logged_in.token)
        .send()
        .await;
    assert!(
        matches!(as_holder.status.as_u16(), 401 | 403),
        "{}: {}",
        as_holder.status,
        as_holder.text
    );
    app.get(&path).send().await.expect(401);
    app.get("/v2/account-members/0b5fd36a-3c1e-4a8b-9a53-52bd28f1c9ad/lockout")
        .bearer(&logged_in.admin)
        .send()
        .await
        .expect(404);
}

async fn revoking_in_the_console_makes_the_api_refuse_the_members_tokens(app: TestApp) {
    let (console, mut browser) = signed_in(&app).await;
    let logged_in = app.logged_in(&["Hooli"]).await;
    // "Tokens valid after" has a resolution of a second.
    console.clock.advance_seconds(1);
    let account = format!("/v2/accounts/{}", logged_in.shopper.accounts[0]);
    app.get(&account)
        .bearer(&logged_in.implicit)
        .account_token(&logged_in.token)
        .send()
        .await
        .expect(200);
    let member_path = format!("/admin/members/{}", logged_in.shopper.member_id);
    let revoked = press(
        &mut browser,
        &member_path,
        &format!("{member_path}/tokens/revoke"),
    )
    .await;
    assert_eq!(
        revoked.location(),
        format!("{member_path}?done=tokens-revoked")
    );
    app.get(&account)
        .bearer(&logged_in.implicit)
        .account_token(&logged_in.token)
        .send()
        .await
        .expect(401);
    let audit = app
        .get("/v2/audit-events?filter=eq(event_type,account_member.tokens_revoked)")
        .bearer(&logged_in.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(audit["meta"]["results"]["total"], 1, "{audit}");
}

async fn the_dashboard_counts_the_last_hours_logins_and_lists_lockouts(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let shopper = shopper_in(&app, &admin, &["Soylent"]).await;
    let dashboard = browser.get("/admin").await;
    dashboard.assert_console_page(200);
    assert!(
        dashboard.body.contains(
            r#"<p id="logins-summary">Last hour: 0 succeeded, 0 failed, 0 throttled</p>"#
        ),
        "{}",
        dashboard.body
    );
    assert_eq!(account_tokens(&app, &implicit, &shopper).await.len(), 1);
    for _ in 0..5 {
        app.login(
            &implicit,
            &shopper.profile_id,
            &shopper.username,
            "wrong password",
        )
        .await
        .expect(400);
    }
    app.log_in(&implicit, &shopper).await.expect(429);
    let dashboard = browser.get("/admin").await;
    assert!(
        dashboard.body.contains(
            r#"<p id="logins-summary">Last hour: 1 succeeded, 5 failed, 1 throttled</p>"#
        ),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains(r#"role="img""#));
    assert_eq!(
        dashboard.body.matches("<rect x=").count(),
        3,
        "one minute, three series"
    );
    assert!(
        dashboard.body.contains(&format!(
            r#"<a href="/admin/members/{}">{}</a>"#,
            shopper.member_id, shopper.username
        )),
        "the lockout links to its member: {}",
        dashboard.body
    );
    assert!(
        dashboard.body.contains(r#"<p id="hash-queue">0 waiting"#),
        "{}",
        dashboard.body
    );
    assert!(
        dashboard.body.contains("0 deliveries waiting"),
        "{}",
        dashboard.body
    );
}

async fn an_account_is_edited_and_its_emptied_fields_cleared(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let account = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Initial", "legal_name": "Initial Ltd", "external_ref": "X-1"}),
        )
        .await;
    let id = account["id"].as_str().unwrap();
    let form = browser.get(&format!("/admin/accounts/{id}/edit")).await;
    form.assert_console_page(200);
    assert!(form.body.contains(r#"value="Initial Ltd""#));
    let saved = browser
        .post(
            &format!("/admin/accounts/{id}/edit"),
            &[
                ("csrf_token", &form.csrf()),
                ("name", "Renamed"),
                ("legal_name", ""),
                ("registration_id", "REG-9"),
                ("external_ref", "X-1"),
            ],
        )
        .await;
    assert_eq!(saved.location(), format!("/admin/accounts/{id}"));
    let stored = app
        .get(&format!("/v2/accounts/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(stored["data"]["name"], "Renamed");
    assert_eq!(stored["data"]["legal_name"], serde_json::Value::Null);
    assert_eq!(stored["data"]["registration_id"], "REG-9");
    let too_long = "r".repeat(64);
    let refused = browser
        .post(
            &format!("/admin/accounts/{id}/edit"),
            &[
                ("csrf_token", &form.csrf()),
                ("name", "Renamed"),
                ("registration_id", &too_long),
            ],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    assert!(
        refused.body.contains(r#"id="registration_id-error""#),
        "{}",
        refused.body
    );
}

async fn deleting_names_what_cascades_and_refuses_a_parent(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let parent = app.create_account(&admin, "Parent Co").await;
    let parent_id = parent["id"].as_str().unwrap();
    let child = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Child Co", "parent_id": parent_id}),
        )
        .await;
    let child_id = child["id"].as_str().unwrap();
    let shopper = shopper_in(&app, &admin, &[]).await;
    app.add_membership(&admin, child_id, &shopper.member_id)
        .await;

    let parent_page = browser
        .get(&format!("/admin/accounts/{parent_id}/delete"))
        .await;
    parent_page.assert_console_page(200);
    assert!(
        parent_page
            .body
            .contains("has 1 child accounts, so it cannot be deleted"),
        "{}",
        parent_page.body
    );
    assert!(!parent_page.body.contains("Delete the account"));
    let refused = browser
        .post(
            &format!("/admin/accounts/{parent_id}/delete"),
            &[("csrf_token", &parent_page.csrf())],
        )
        .await;
    refused.assert_console_page(409);
    app.get(&format!("/v2/accounts/{parent_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);

    let child_page = browser
        .get(&format!("/admin/accounts/{child_id}/delete"))
        .await;
    child_page.assert_console_page(200);
    assert!(
        child_page.body.contains("its 1 membership"),
        "{}",
        child_page.body
    );
    let deleted = browser
        .post(
            &format!("/admin/accounts/{child_id}/delete"),
            &[("csrf_token", &child_page.csrf())],
        )
        .await;
    assert_eq!(deleted.location(), "/admin/accounts?done=account-deleted");
    let list = browser.get(deleted.location()).await;
    assert!(list.body.contains("The account was deleted."));
    app.get(&format!("/v2/accounts/{child_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(404);
    let memberships = app
        .get(&format!(
            "/v2/account-members/{}/account-memberships",
            shopper.member_id
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(memberships["meta"]["results"]["total"], 0);
    let audit = app
        .get("/v2/audit-events?filter=eq(event_type,account.deleted)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(audit["meta"]["results"]["total"], 1);
}

async fn an_accounts_children_are_found_by_the_parent_filter(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let parent = app.create_account(&admin, "Holding").await;
    let parent_id = parent["id"].as_str().unwrap();
    let mut children = Vec::new();
    for name in ["First Child", "Second Child"] {
        app.clock.advance_millis(5);
        let child = app
            .create_account_with(
                &admin,
                json!({"type": "account", "name": name, "parent_id": parent_id}),
            )
            .await;
        children.push(child["id"].as_str().unwrap().to_owned());
    }
    app.create_account(&admin, "Unrelated").await;
    let filtered = app
        .get(&format!(
            "/v2/accounts?filter=eq(parent_id,{parent_id})&sort=created_at"
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(filtered["meta"]["results"]["total"], 2, "{filtered}");
    assert_eq!(filtered["data"][0]["id"], children[0].as_str());
    let page = browser.get(&format!("/admin/accounts/{parent_id}")).await;
    page.assert_console_page(200);
    assert!(
        page.body.contains("2 in all, oldest first."),
        "{}",
        page.body
    );
    let first = page.body.find("First Child").expect("the first child");
    let second = page.body.find("Second Child").expect("the second child");
    assert!(first < second);
    assert!(!page.body.contains("Unrelated"));
    assert_eq!(
        created_id(&format!("/admin/accounts/{}", children[1])),
        children[1]
    );
}

async fn a_store_without_a_password_profile_gets_one_from_the_member_form(app: TestApp) {
    let (_console, mut browser) = signed_in(&app).await;
    let admin = app.admin_token().await;
    let form = browser.get("/admin/members/new").await;
    form.assert_console_page(200);
    assert!(
        form.body.contains("Create the password profile"),
        "{}",
        form.body
    );
    assert!(!form.body.contains("Create the member"));
    let refused = browser
        .post(
            "/admin/members/password-profiles",
            &[("csrf_token", &form.csrf()), ("name", "")],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    assert!(
        refused.body.contains(r#"id="name-error""#),
        "{}",
        refused.body
    );
    let created = browser
        .post(
            "/admin/members/password-profiles",
            &[("csrf_token", &form.csrf()), ("name", "Storefront")],
        )
        .await;
    assert_eq!(created.location(), "/admin/members/new");
    let profiles = app
        .get(&app.realm_path("/password-profiles"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(profiles["data"][0]["name"], "Storefront");
    let form = browser.get("/admin/members/new").await;
    assert!(form.body.contains("Create the member"), "{}", form.body);
}
