//! The admin console's pages for the audit trail, application keys, integrations, realms and
//! settings (docs/console.md), driven as a browser would with the console tests' `Browser`, and
//! checked through the JSON API: what a page shows is the API's, and what a form does is the
//! API's change.

use accountd::config::ConsoleListener;
use serde_json::{Value, json};

use crate::console::{Browser, Page, with_console};
use crate::helpers::{CLIENT_ID, TestApp};
use crate::integrations::wait_for_logs;
use crate::receiver::Receiver;
use crate::tests;

tests![
    the_audit_trail_filters_and_pages_through_the_api,
    an_unreadable_time_in_the_audit_filter_is_named_beside_its_field,
    a_new_application_keys_secret_is_shown_once_and_signs_in,
    an_application_key_is_deleted_only_from_its_confirmation_page,
    integrations_are_created_and_a_test_event_shows_in_the_delivery_log,
    realms_show_their_password_and_oidc_profiles,
    settings_are_saved_through_the_api_and_shown_again,
    a_refused_setting_shows_its_reason_beside_the_field,
    every_new_form_refuses_a_post_without_its_csrf_token,
];

/// A signed-in browser on a server with the console on the API listener.
async fn signed_in(app: &TestApp) -> (TestApp, Browser) {
    let server = with_console(app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    assert_eq!(browser.sign_in().await, "/admin");
    (server, browser)
}

/// What axe-core checks first: every visible input and select has a label, and every table
/// header names its scope.
#[track_caller]
fn assert_accessible(page: &Page) {
    let body = &page.body;
    for control in ["<input ", "<select "] {
        for (start, _) in body.match_indices(control) {
            let tag = &body[start..start + body[start..].find('>').unwrap()];
            if tag.contains(r#"type="hidden""#) {
                continue;
            }
            let id = tag
                .split(r#"id=""#)
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a control without an id: {tag}"));
            assert!(
                body.contains(&format!(r#"<label for="{id}">"#)),
                "no label for {id}"
            );
        }
    }
    assert_eq!(
        body.matches("<th>").count() + body.matches("<th ").count(),
        body.matches(r#"<th scope=""#).count(),
        "every th has a scope"
    );
    assert!(!body.contains("<script"));
}

/// The `href` of the link whose text is `text`.
fn link<'a>(page: &'a Page, text: &str) -> &'a str {
    let end = page
        .body
        .find(&format!("\">{text}</a>"))
        .unwrap_or_else(|| panic!("a link {text:?}: {}", page.body));
    let start = page.body[..end].rfind("href=\"").unwrap() + "href=\"".len();
    &page.body[start..end]
}

/// An HTML attribute value as the page writes it: `&` escaped.
fn unescaped(href: &str) -> String {
    href.replace("&amp;", "&")
}

async fn the_audit_trail_filters_and_pages_through_the_api(app: TestApp) {
    let admin = app.admin_token().await;
    for name in ["Audited 1", "Audited 2", "Audited 3"] {
        app.create_account(&admin, name).await;
    }
    let (_server, mut browser) = signed_in(&app).await;

    let trail = browser.get("/admin/audit").await;
    trail.assert_console_page(200);
    assert_accessible(&trail);
    assert!(trail.body.contains("<h1>Audit trail</h1>"));
    for column in ["Time", "Event", "Actor", "Subject", "Details"] {
        assert!(
            trail
                .body
                .contains(&format!(r#"<th scope="col">{column}</th>"#)),
            "{column}"
        );
    }
    for field in ["type", "from", "to"] {
        assert!(trail.body.contains(&format!(r#"<label for="{field}">"#)));
    }
    assert!(
        trail
            .body
            .contains(r#"<button type="submit">Filter</button>"#)
    );
    assert!(trail.body.contains("<code>account.created</code>"));
    assert!(trail.body.contains("Admin (application key)"));

    let filtered = browser
        .get("/admin/audit?type=account.created&from=&to=&page%5Blimit%5D=2")
        .await;
    filtered.assert_console_page(200);
    assert!(
        filtered.body.contains("page 1 of 2 (3 in all)"),
        "{}",
        filtered.body
    );
    assert_eq!(
        filtered
            .body
            .matches("<code>account.created</code>")
            .count(),
        2
    );
    assert!(filtered.body.contains(r#"value="account.created""#));
    let next = unescaped(link(&filtered, "Next"));
    assert!(
        next.starts_with("/admin/audit?type=account.created&"),
        "{next}"
    );
    let second = browser.get(&next).await;
    second.assert_console_page(200);
    assert!(
        second.body.contains("page 2 of 2 (3 in all)"),
        "{}",
        second.body
    );
    assert_eq!(
        second.body.matches("<code>account.created</code>").count(),
        1
    );

    let before_any = browser
        .get("/admin/audit?type=account.created&to=2000-01-01T00%3A00")
        .await;
    before_any.assert_console_page(200);
    assert!(before_any.body.contains("No events match."));
}

async fn an_unreadable_time_in_the_audit_filter_is_named_beside_its_field(app: TestApp) {
    let (_server, mut browser) = signed_in(&app).await;
    let page = browser.get("/admin/audit?from=yesterday").await;
    page.assert_console_page(400);
    assert!(
        page.body
            .contains(r#"<p id="from-error" class="field-error" role="alert">From must be a date"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="yesterday""#));
}

/// The new key's client id and secret, as the answer page shows them.
fn created_credentials(page: &Page) -> (String, String) {
    let code_after = |label: &str| {
        let start = page.body.find(&format!("<dt>{label}</dt>")).unwrap();
        let rest = &page.body[start..];
        let open = rest.find("<code").unwrap();
        let value_start = open + rest[open..].find('>').unwrap() + 1;
        let value_end = value_start + rest[value_start..].find("</code>").unwrap();
        rest[value_start..value_end].to_owned()
    };
    (code_after("Client id"), code_after("Client secret"))
}

async fn a_new_application_keys_secret_is_shown_once_and_signs_in(app: TestApp) {
    let (_server, mut browser) = signed_in(&app).await;
    let list = browser.get("/admin/application-keys").await;
    list.assert_console_page(200);
    assert_accessible(&list);
    assert!(list.body.contains("bootstrap"));
    assert!(list.body.contains(CLIENT_ID));
    assert!(
        list.body
            .contains(r#"<button type="submit">Create the key</button>"#)
    );

    let created = browser
        .post(
            "/admin/application-keys",
            &[("name", " Support team "), ("csrf_token", &list.csrf())],
        )
        .await;
    created.assert_console_page(200);
    assert!(
        created
            .body
            .contains("Copy the client secret now: it will not be shown again."),
        "{}",
        created.body
    );
    let (client_id, client_secret) = created_credentials(&created);
    assert_eq!(client_secret.len(), 42);

    // The secret signs in at the API, as the key's Admin.
    let token = app
        .bearer_token(&format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}"
        ))
        .await;
    app.get("/v2/application-keys")
        .bearer(&token)
        .send()
        .await
        .expect(200);

    // Never again: the list shows the key, not its secret.
    let again = browser.get("/admin/application-keys").await;
    assert!(again.body.contains("Support team"));
    assert!(again.body.contains(&client_id));
    assert!(!again.body.contains(&client_secret));

    // A name the API refuses stays in the form with its reason beside it.
    let taken = browser
        .post(
            "/admin/application-keys",
            &[("name", "Support team"), ("csrf_token", &list.csrf())],
        )
        .await;
    taken.assert_console_page(409);
    assert!(
        taken
            .body
            .contains("Application key with the given name already exists."),
        "{}",
        taken.body
    );
    let empty = browser
        .post(
            "/admin/application-keys",
            &[("name", ""), ("csrf_token", &list.csrf())],
        )
        .await;
    empty.assert_console_page(400);
    assert!(
        empty.body.contains(
            r#"<p id="name-error" class="field-error" role="alert">Name is required.</p>"#
        ),
        "{}",
        empty.body
    );
}

/// The id of the application key named `name`, through the API.
async fn key_id(app: &TestApp, admin: &str, name: &str) -> String {
    let list = app
        .get("/v2/application-keys")
        .bearer(admin)
        .send()
        .await
        .expect(200);
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == name)
        .and_then(|key| key["id"].as_str())
        .unwrap_or_else(|| panic!("a key named {name}: {list}"))
        .to_owned()
}

async fn an_application_key_is_deleted_only_from_its_confirmation_page(app: TestApp) {
    let admin = app.admin_token().await;
    let created = app
        .post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Old storefront"}}))
        .send()
        .await
        .expect(201);
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let key_token = app
        .bearer_token(&format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            created["data"]["client_id"].as_str().unwrap(),
            created["data"]["client_secret"].as_str().unwrap()
        ))
        .await;
    let (_server, mut browser) = signed_in(&app).await;

    let list = browser.get("/admin/application-keys").await;
    let confirm_path = format!("/admin/application-keys/{id}/delete");
    assert!(
        list.body.contains(&format!(
            r#"<form method="get" action="{confirm_path}"><button type="submit">Delete</button>"#
        )),
        "{}",
        list.body
    );
    let confirm = browser.get(&confirm_path).await;
    confirm.assert_console_page(200);
    assert_accessible(&confirm);
    assert!(
        confirm
            .body
            .contains("<h1>Delete the key Old storefront?</h1>")
    );
    assert!(confirm.body.contains("stops working at once"));
    assert!(confirm.body.contains("Delete the key</button>"));
    // Looking at the confirmation deleted nothing.
    app.get(&format!("/v2/application-keys/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);

    let deleted = browser
        .post(&confirm_path, &[("csrf_token", &confirm.csrf())])
        .await;
    assert_eq!(deleted.location(), "/admin/application-keys");
    app.get(&format!("/v2/application-keys/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "application key not found");
    app.get("/v2/application-keys")
        .bearer(&key_token)
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
    assert!(
        !browser
            .get("/admin/application-keys")
            .await
            .body
            .contains("Old storefront")
    );
    browser.get(&confirm_path).await.assert_console_page(404);

    // The configured key is the API's to refuse, and the page says so.
    let bootstrap = key_id(&app, &admin, "bootstrap").await;
    let bootstrap_path = format!("/admin/application-keys/{bootstrap}/delete");
    let csrf = browser.get(&bootstrap_path).await.csrf();
    let refused = browser
        .post(&bootstrap_path, &[("csrf_token", &csrf)])
        .await;
    refused.assert_console_page(409);
    assert!(
        refused
            .body
            .contains("Application key is managed by configuration."),
        "{}",
        refused.body
    );
    browser.get("/admin").await.assert_console_page(200);
}

async fn integrations_are_created_and_a_test_event_shows_in_the_delivery_log(app: TestApp) {
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let (_server, mut browser) = signed_in(&app).await;

    let list = browser.get("/admin/integrations").await;
    list.assert_console_page(200);
    assert_accessible(&list);
    assert!(list.body.contains("There are no integrations."));
    let csrf = list.csrf();

    let missing = browser
        .post(
            "/admin/integrations",
            &[("name", "Hooks"), ("url", ""), ("csrf_token", &csrf)],
        )
        .await;
    missing.assert_console_page(400);
    assert!(
        missing
            .body
            .contains(r#"<p id="url-error" class="field-error" role="alert">URL is required.</p>"#),
        "{}",
        missing.body
    );
    assert!(
        missing.body.contains("Choice of events is required."),
        "{}",
        missing.body
    );
    assert!(missing.body.contains(r#"value="Hooks""#));

    let created = browser
        .post(
            "/admin/integrations",
            &[
                ("name", "Order system"),
                ("description", "Tells the order system about accounts"),
                ("url", &receiver.url),
                ("observes", "account.event.created"),
                ("observes", "account.event.deleted"),
                ("secret_key", ""),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let path = created.location().to_owned();
    let id = path
        .strip_prefix("/admin/integrations/")
        .unwrap()
        .to_owned();
    let integration = app
        .get(&format!("/v2/integrations/{id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        integration["data"]["observes"],
        json!(["account.event.created", "account.event.deleted"])
    );
    let secret_key = integration["data"]["configuration"]["secret_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let page = browser.get(&path).await;
    page.assert_console_page(200);
    assert_accessible(&page);
    assert!(page.body.contains("<h1>Order system</h1>"));
    assert!(page.body.contains(&receiver.url));
    assert!(!page.body.contains(&secret_key), "the secret key stays out");
    assert!(page.body.contains("Nothing has been delivered"));
    assert!(
        page.body
            .contains(r#"<button type="submit">Send a test event</button>"#)
    );
    assert!(
        browser
            .get("/admin/integrations")
            .await
            .body
            .contains(&format!(r#"<a href="{path}">Order system</a>"#))
    );

    let sent = browser
        .post(
            &format!("{path}/test-event"),
            &[("csrf_token", &page.csrf())],
        )
        .await;
    let queued_at = sent.location().to_owned();
    assert!(
        queued_at.starts_with(&format!("{path}?test_event=")),
        "{queued_at}"
    );
    let event_id = queued_at.rsplit('=').next().unwrap().to_owned();
    let notice = browser.get(&queued_at).await;
    notice.assert_console_page(200);
    assert!(
        notice
            .body
            .contains(r#"<p class="notice" role="status">A test event is queued"#),
        "{}",
        notice.body
    );

    let delivered = receiver.wait_for(1).await;
    assert_eq!(delivered[0].json()["id"], event_id.as_str());
    assert!(delivered[0].signature_is_valid(&secret_key));
    wait_for_logs(&app, &admin, &id, 1).await;
    let logged = browser.get(&path).await;
    logged.assert_console_page(200);
    assert_accessible(&logged);
    assert!(
        logged
            .body
            .contains("<td><code>integration.test</code></td>"),
        "{}",
        logged.body
    );
    assert!(logged.body.contains(&format!("<code>{event_id}</code>")));
    assert!(logged.body.contains("Delivered"));
    assert!(logged.body.contains("HTTP 204"), "{}", logged.body);

    browser
        .get("/admin/integrations/00000000-0000-4000-8000-000000000000")
        .await
        .assert_console_page(404);
}

async fn realms_show_their_password_and_oidc_profiles(app: TestApp) {
    let admin = app.admin_token().await;
    app.create_password_profile(
        &admin,
        json!({"type": "password_profile", "name": "Storefront passwords"}),
    )
    .await;
    let (_server, mut browser) = signed_in(&app).await;

    let realms = browser.get("/admin/realms").await;
    realms.assert_console_page(200);
    assert_accessible(&realms);
    let realm_path = format!("/admin/realms/{}", app.realm_id);
    assert!(realms.body.contains(&realm_path), "{}", realms.body);

    let realm = browser.get(&realm_path).await;
    realm.assert_console_page(200);
    assert_accessible(&realm);
    assert!(
        realm
            .body
            .contains("<h2 id=\"password-profiles-heading\">Password profiles</h2>")
    );
    assert!(
        realm
            .body
            .contains("<h2 id=\"oidc-profiles-heading\">OIDC profiles</h2>")
    );
    assert!(
        realm.body.contains("<td>Storefront passwords</td>"),
        "{}",
        realm.body
    );
    assert!(
        realm.body.contains("None."),
        "no OIDC profiles: {}",
        realm.body
    );

    browser
        .get("/admin/realms/00000000-0000-4000-8000-000000000000")
        .await
        .assert_console_page(404);
    browser
        .get("/admin/realms/x")
        .await
        .assert_console_page(404);
}

async fn settings_document(app: &TestApp, admin: &str, path: &str) -> Value {
    app.get(path).bearer(admin).send().await.expect(200)["data"].clone()
}

async fn settings_are_saved_through_the_api_and_shown_again(app: TestApp) {
    let admin = app.admin_token().await;
    let (_server, mut browser) = signed_in(&app).await;
    let page = browser.get("/admin/settings").await;
    page.assert_console_page(200);
    assert_accessible(&page);
    assert_eq!(
        page.body
            .matches(r#"<button type="submit">Save</button>"#)
            .count(),
        2
    );
    let csrf = page.csrf();

    let saved = browser
        .post(
            "/admin/settings/account-authentication",
            &[
                ("enable_self_signup", "on"),
                ("account_member_self_management", "update_only"),
                (
                    "account_management_authentication_token_timeout_secs",
                    "7200",
                ),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        saved.location(),
        "/admin/settings?saved=account-authentication"
    );
    let authentication =
        settings_document(&app, &admin, "/v2/settings/account-authentication").await;
    assert_eq!(authentication["enable_self_signup"], true);
    assert_eq!(
        authentication["auto_create_account_for_account_members"],
        false
    );
    assert_eq!(
        authentication["account_member_self_management"],
        "update_only"
    );
    assert_eq!(
        authentication["account_management_authentication_token_timeout_secs"],
        7200
    );
    let shown = browser.get(saved.location()).await;
    shown.assert_console_page(200);
    assert!(shown.body.contains(
        r#"<p class="notice" role="status">The account authentication settings are saved.</p>"#
    ));
    assert!(shown.body.contains(
        r#"<input id="enable_self_signup" name="enable_self_signup" type="checkbox" value="on" checked>"#
    ), "{}", shown.body);
    assert!(
        shown
            .body
            .contains(r#"<option value="update_only" selected>"#)
    );
    assert!(shown.body.contains(r#"value="7200""#));

    let saved = browser
        .post(
            "/admin/settings/account-membership",
            &[("membership_limit", "5"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(saved.location(), "/admin/settings?saved=account-membership");
    let membership = settings_document(&app, &admin, "/v2/settings/account-membership").await;
    assert_eq!(membership["membership_limit"], 5);
    assert!(
        browser
            .get("/admin/settings")
            .await
            .body
            .contains(r#"value="5""#)
    );

    // Unticking a box turns the setting off.
    browser
        .post(
            "/admin/settings/account-authentication",
            &[
                ("account_member_self_management", "disabled"),
                (
                    "account_management_authentication_token_timeout_secs",
                    "7200",
                ),
                ("csrf_token", &csrf),
            ],
        )
        .await
        .location();
    let authentication =
        settings_document(&app, &admin, "/v2/settings/account-authentication").await;
    assert_eq!(authentication["enable_self_signup"], false);
    assert_eq!(authentication["account_member_self_management"], "disabled");
}

async fn a_refused_setting_shows_its_reason_beside_the_field(app: TestApp) {
    let admin = app.admin_token().await;
    let (_server, mut browser) = signed_in(&app).await;
    let csrf = browser.csrf().await;
    let before = settings_document(&app, &admin, "/v2/settings/account-membership").await;
    let refused = browser
        .post(
            "/admin/settings/account-membership",
            &[("membership_limit", "many"), ("csrf_token", &csrf)],
        )
        .await;
    refused.assert_console_page(400);
    assert!(
        refused.body.contains(
            r#"<p id="membership_limit-error" class="field-error" role="alert">Memberships per member must be a whole number.</p>"#
        ),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="many""#));
    // The other form is still there, with the saved values.
    assert!(refused.body.contains(r#"name="enable_self_signup""#));
    assert_eq!(
        settings_document(&app, &admin, "/v2/settings/account-membership").await,
        before
    );

    let refused = browser
        .post(
            "/admin/settings/account-authentication",
            &[
                ("account_member_self_management", "update_only"),
                ("account_management_authentication_token_timeout_secs", "1"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    refused.assert_console_page(400);
    assert!(
        refused.body.contains(
            r#"<p id="account_management_authentication_token_timeout_secs-error" class="field-error" role="alert">"#
        ),
        "{}",
        refused.body
    );
}

async fn every_new_form_refuses_a_post_without_its_csrf_token(app: TestApp) {
    let admin = app.admin_token().await;
    let integration = app
        .create_integration(&admin, "https://hooks.example.com/x", &["account.created"])
        .await;
    let integration_id = integration["id"].as_str().unwrap();
    let bootstrap = key_id(&app, &admin, "bootstrap").await;
    let (_server, mut browser) = signed_in(&app).await;
    let before = settings_document(&app, &admin, "/v2/settings/account-membership").await;
    let authentication_before =
        settings_document(&app, &admin, "/v2/settings/account-authentication").await;
    let keys_before = app
        .get("/v2/application-keys")
        .bearer(&admin)
        .send()
        .await
        .expect(200);

    let forms: [(String, Vec<(&str, &str)>); 6] = [
        (
            "/admin/application-keys".to_owned(),
            vec![("name", "Refused key")],
        ),
        (
            format!("/admin/application-keys/{bootstrap}/delete"),
            vec![],
        ),
        (
            "/admin/integrations".to_owned(),
            vec![
                ("name", "Refused"),
                ("url", "https://hooks.example.com/y"),
                ("observes", "account.event.created"),
            ],
        ),
        (
            format!("/admin/integrations/{integration_id}/test-event"),
            vec![],
        ),
        (
            "/admin/settings/account-authentication".to_owned(),
            vec![("enable_self_signup", "on")],
        ),
        (
            "/admin/settings/account-membership".to_owned(),
            vec![("membership_limit", "7")],
        ),
    ];
    for (path, fields) in &forms {
        browser.post(path, fields).await.assert_console_page(403);
        let mut wrong = fields.clone();
        let other = "0".repeat(64);
        wrong.push(("csrf_token", &other));
        browser.post(path, &wrong).await.assert_console_page(403);
    }
    let keys = app
        .get("/v2/application-keys")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(keys["meta"], keys_before["meta"], "{keys}");
    let integrations = app
        .get("/v2/integrations")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(integrations["meta"]["results"]["total"], 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox_events").await, 0);
    assert_eq!(
        settings_document(&app, &admin, "/v2/settings/account-membership").await,
        before
    );
    assert_eq!(
        settings_document(&app, &admin, "/v2/settings/account-authentication").await,
        authentication_before
    );
}
