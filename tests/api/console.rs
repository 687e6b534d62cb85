//! The admin console (docs/console.md), driven as a browser would: a client that keeps the one
//! session cookie, reads each form's CSRF token and follows nothing on its own. The console is
//! off in the suite's configuration, so each test starts a second server on its database with
//! the console where it wants it, and checks what the console did through the JSON API.

use accountd::config::ConsoleListener;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, TestApp, captured_logs, spawn_app};
use crate::tests;

tests![
    the_console_is_off_by_default,
    in_management_mode_only_the_management_listener_serves_it,
    the_sign_in_page_sets_one_strict_http_only_cookie,
    the_cookie_is_secure_when_browsers_come_over_https,
    a_form_without_its_sessions_csrf_token_is_refused_with_a_page,
    a_wrong_secret_shows_a_message_and_never_the_secret,
    signing_in_replaces_the_session_and_opens_the_pages,
    accounts_created_in_the_console_are_the_apis_with_the_same_audit_row,
    the_apis_validation_shows_beside_the_fields,
    the_account_list_searches_and_pages_through_the_api,
    an_invalid_filter_shows_a_readable_message,
    signing_out_ends_the_session,
    an_expired_bearer_token_sends_you_back_to_sign_in,
    a_key_the_api_no_longer_accepts_ends_the_session,
    signing_in_spends_the_access_token_endpoints_rate_limit,
];

const CSP: &str = "default-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// A server on `app`'s database with the console served on `listener`.
pub(crate) async fn with_console(app: &TestApp, listener: ConsoleListener) -> TestApp {
    let mut config = app.config_like_this();
    config.console = listener;
    spawn_app(config).await
}

/// One answer, read whole.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    pub(crate) fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect()
    }

    pub(crate) fn location(&self) -> &str {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        self.header(LOCATION.as_str())
    }

    /// The value of the page's first `csrf_token` field.
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf_token" value=""#;
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }

    /// An HTML page with the console's headers.
    #[track_caller]
    pub(crate) fn assert_console_page(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.header(CONTENT_TYPE.as_str()),
            "text/html; charset=utf-8"
        );
        assert_console_headers(&self.headers);
        assert!(self.body.starts_with("<!DOCTYPE html>"), "{}", self.body);
        assert_eq!(self.body.matches("<h1>").count(), 1, "{}", self.body);
        assert!(!self.body.contains("{\"errors\""), "{}", self.body);
    }
}

#[track_caller]
fn assert_console_headers(headers: &HeaderMap) {
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["cache-control"], "no-store");
}

/// A browser on one listener: it keeps the session cookie the console sets, sends it back,
/// and forgets it when told to.
pub(crate) struct Browser {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub(crate) fn on_api_listener(app: &TestApp) -> Self {
        Self::new(&app.address)
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    pub(crate) async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Page {
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        let response = request.send().await.expect("the server answers");
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for set in page.set_cookies() {
            let pair = set.split(';').next().unwrap().trim();
            if set.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair.to_owned());
            }
        }
        page
    }

    /// Signs in with the suite's application key; the page the console sends the browser to.
    pub(crate) async fn sign_in(&mut self) -> String {
        self.sign_in_as(CLIENT_ID, CLIENT_SECRET).await
    }

    pub(crate) async fn sign_in_as(&mut self, client_id: &str, client_secret: &str) -> String {
        let form = self.get("/admin/sign-in").await;
        form.assert_console_page(200);
        let csrf = form.csrf();
        let signed_in = self
            .post(
                "/admin/sign-in",
                &[
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        signed_in.location().to_owned()
    }

    /// The CSRF token of the signed-in session, as the dashboard's sign-out form carries it.
    pub(crate) async fn csrf(&mut self) -> String {
        let dashboard = self.get("/admin").await;
        dashboard.assert_console_page(200);
        dashboard.csrf()
    }
}

async fn the_console_is_off_by_default(app: TestApp) {
    let api = app.get("/admin").send().await;
    assert_eq!(api.status, 404);
    assert_eq!(app.get("/admin/sign-in").send().await.status, 404);
    assert_eq!(app.post("/admin/sign-in").send().await.status, 404);
    assert_eq!(app.management_get("/admin").send().await.status, 404);
}

async fn in_management_mode_only_the_management_listener_serves_it(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Management).await;
    assert_eq!(server.get("/admin/sign-in").send().await.status, 404);
    assert_eq!(server.get("/admin").send().await.status, 404);
    let mut browser = Browser::new(server.management_address.as_deref().unwrap());
    assert_eq!(browser.sign_in().await, "/admin");
    browser.get("/admin").await.assert_console_page(200);
    browser
        .get("/admin/accounts")
        .await
        .assert_console_page(200);
    // The management listener's own routes are still there.
    let metrics = server.management_get("/metrics").send().await;
    assert_eq!(metrics.status, 200);

    let on_the_api = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&on_the_api);
    assert_eq!(browser.sign_in().await, "/admin");
    let management = on_the_api.management_address.as_deref().unwrap();
    assert_eq!(Browser::new(management).get("/admin").await.status, 404);
}

async fn the_sign_in_page_sets_one_strict_http_only_cookie(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    let page = browser.get("/admin/sign-in").await;
    page.assert_console_page(200);
    let cookies = page.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attributes: Vec<&str> = cookies[0].split(';').map(str::trim).collect();
    let (name, value) = attributes[0].split_once('=').unwrap();
    assert_eq!(name, "accountd_console");
    assert_eq!(value.len(), 64);
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(attributes.contains(&"HttpOnly"), "{attributes:?}");
    assert!(attributes.contains(&"SameSite=Strict"), "{attributes:?}");
    assert!(attributes.contains(&"Path=/admin"), "{attributes:?}");
    assert!(
        !attributes.contains(&"Secure"),
        "plain http: {attributes:?}"
    );
    for field in ["client_id", "client_secret", "csrf_token"] {
        assert!(page.body.contains(&format!(r#"name="{field}""#)), "{field}");
    }
    for field in ["client_id", "client_secret"] {
        assert!(
            page.body.contains(&format!(r#"<label for="{field}">"#)),
            "{field} has a label"
        );
    }
    assert!(page.body.contains(r#"<html lang="en">"#));
    assert!(page.body.contains("<main>"));
    assert!(!page.body.contains("<script"));

    // The browser comes back with its cookie: the same session, no new cookie.
    let again = browser.get("/admin/sign-in").await;
    assert!(again.set_cookies().is_empty());
    assert_eq!(again.csrf(), page.csrf());

    // The stylesheet comes from the console itself, with the same headers.
    let css = browser.get("/admin/console.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert_console_headers(&css.headers);
    // Unknown console pages are console pages too.
    browser
        .get("/admin/nothing-here")
        .await
        .assert_console_page(404);
}

async fn the_cookie_is_secure_when_browsers_come_over_https(app: TestApp) {
    let mut config = app.config_like_this();
    config.console = ConsoleListener::Api;
    config.public_base_url = "https://accounts.example.com".to_owned();
    let server = spawn_app(config).await;
    let page = Browser::on_api_listener(&server)
        .get("/admin/sign-in")
        .await;
    let cookies = page.set_cookies();
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].ends_with("; Secure"), "{cookies:?}");

    // On the management listener, only a trusted proxy's word says https.
    let mut config = app.config_like_this();
    config.console = ConsoleListener::Management;
    config.public_base_url = "https://accounts.example.com".to_owned();
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = spawn_app(config).await;
    let management = server.management_address.clone().unwrap();
    let plain = Browser::new(&management).get("/admin/sign-in").await;
    assert!(!plain.set_cookies()[0].contains("Secure"));
    let client = reqwest::Client::new();
    let proxied = client
        .get(format!("{management}/admin/sign-in"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let cookie = proxied.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

async fn a_form_without_its_sessions_csrf_token_is_refused_with_a_page(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    let form = browser.get("/admin/sign-in").await;
    let csrf = form.csrf();
    let credentials = [("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)];

    let without = browser.post("/admin/sign-in", &credentials).await;
    without.assert_console_page(403);
    let mut wrong_token = credentials.to_vec();
    let wrong = "0".repeat(64);
    wrong_token.push(("csrf_token", &wrong));
    browser
        .post("/admin/sign-in", &wrong_token)
        .await
        .assert_console_page(403);
    // The right token from another browser's session is not this session's.
    let mut stranger = Browser::on_api_listener(&server);
    let mut borrowed = credentials.to_vec();
    borrowed.push(("csrf_token", &csrf));
    stranger
        .post("/admin/sign-in", &borrowed)
        .await
        .assert_console_page(403);
    stranger.get("/admin/sign-in").await;
    stranger
        .post("/admin/sign-in", &borrowed)
        .await
        .assert_console_page(403);
    // Nothing signed in.
    assert_eq!(browser.get("/admin").await.location(), "/admin/sign-in");

    // Signed in, every form still needs it.
    browser.sign_in().await;
    let account = [("name", "Refused"), ("csrf_token", "")];
    browser
        .post("/admin/accounts", &account)
        .await
        .assert_console_page(403);
    browser
        .post("/admin/sign-out", &[])
        .await
        .assert_console_page(403);
    browser.get("/admin").await.assert_console_page(200);
    let admin = app.admin_token().await;
    let listed = app
        .get("/v2/accounts?filter=eq(name,Refused)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(listed["meta"]["results"]["total"], 0);
}

async fn a_wrong_secret_shows_a_message_and_never_the_secret(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    let csrf = browser.get("/admin/sign-in").await.csrf();
    let wrong_secret = "a-wrong-secret-that-must-never-be-shown";
    let page = browser
        .post(
            "/admin/sign-in",
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", wrong_secret),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    page.assert_console_page(401);
    assert!(page.body.contains(r#"role="alert""#), "{}", page.body);
    assert!(
        page.body.contains("are not those of an application key"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(wrong_secret));
    assert!(
        page.body.contains(&format!(r#"value="{CLIENT_ID}""#)),
        "the id is kept"
    );
    assert!(page.set_cookies().is_empty(), "the session stays as it was");
    assert!(!captured_logs().contains(wrong_secret));

    // A missing secret is the API's own message, beside its field.
    let page = browser
        .post(
            "/admin/sign-in",
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", ""),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    page.assert_console_page(400);
    assert!(
        page.body.contains(r#"<p id="client_secret-error" class="field-error" role="alert">Client secret is required.</p>"#),
        "{}",
        page.body
    );
    // The same form still signs in.
    assert_eq!(browser.sign_in().await, "/admin");
}

async fn signing_in_replaces_the_session_and_opens_the_pages(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    assert_eq!(browser.get("/admin").await.location(), "/admin/sign-in");
    assert_eq!(
        browser.get("/admin/accounts").await.location(),
        "/admin/sign-in"
    );
    let form = browser.get("/admin/sign-in").await;
    let before = browser.cookie.clone().unwrap();
    let signed_in = browser
        .post(
            "/admin/sign-in",
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("csrf_token", &form.csrf()),
            ],
        )
        .await;
    assert_eq!(signed_in.location(), "/admin");
    assert_eq!(signed_in.set_cookies().len(), 1);
    let after = browser.cookie.clone().unwrap();
    assert_ne!(before, after, "signing in gives the session a new id");

    let admin = app.admin_token().await;
    app.create_account(&admin, "Counted").await;
    let dashboard = browser.get("/admin").await;
    dashboard.assert_console_page(200);
    assert_ne!(dashboard.csrf(), form.csrf(), "and a new CSRF token");
    assert!(dashboard.body.contains("<dd>1</dd>"), "{}", dashboard.body);
    assert!(!dashboard.body.contains(CLIENT_SECRET));
    browser
        .get("/admin/accounts")
        .await
        .assert_console_page(200);
    browser
        .get("/admin/accounts/new")
        .await
        .assert_console_page(200);
    assert_eq!(browser.get("/admin/sign-in").await.location(), "/admin");

    // The id from before sign-in opens nothing.
    let mut old = Browser::on_api_listener(&server);
    old.cookie = Some(before);
    assert_eq!(old.get("/admin").await.location(), "/admin/sign-in");
}

/// The newest audit row's facts a write through the console must share with the API's.
async fn newest_audit_row(app: &TestApp, admin: &str) -> Value {
    let body = app
        .get("/v2/audit-events?page[limit]=1")
        .bearer(admin)
        .send()
        .await
        .expect(200);
    let row = &body["data"][0];
    json!({
        "event_type": row["event_type"],
        "actor": row["actor"],
        "subject": row["subject"],
        "client_address": row["client_address"],
    })
}

pub(crate) fn created_id(location: &str) -> String {
    location
        .strip_prefix("/admin/accounts/")
        .unwrap_or_else(|| panic!("an account page: {location}"))
        .to_owned()
}

async fn accounts_created_in_the_console_are_the_apis_with_the_same_audit_row(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let admin = app.admin_token().await;
    app.create_account(&admin, "Through the API").await;
    let api_row = newest_audit_row(&app, &admin).await;

    let mut browser = Browser::on_api_listener(&server);
    browser.sign_in().await;
    let new_form = browser.get("/admin/accounts/new").await;
    new_form.assert_console_page(200);
    for field in [
        "name",
        "legal_name",
        "registration_id",
        "external_ref",
        "parent_id",
    ] {
        assert!(
            new_form.body.contains(&format!(r#"<label for="{field}">"#)),
            "{field}"
        );
    }
    let csrf = new_form.csrf();
    server.clock.advance_millis(1);
    let created = browser
        .post(
            "/admin/accounts",
            &[
                ("name", "Acme Holdings"),
                ("legal_name", "Acme Holdings Ltd"),
                ("registration_id", "REG-1"),
                ("external_ref", ""),
                ("parent_id", ""),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let parent_id = created_id(created.location());
    let console_row = newest_audit_row(&app, &admin).await;
    assert_eq!(
        console_row, api_row,
        "the console writes the API's audit row"
    );
    assert_eq!(console_row["event_type"], "account.created");
    let parent = app
        .get(&format!("/v2/accounts/{parent_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(parent["data"]["name"], "Acme Holdings");
    assert_eq!(parent["data"]["legal_name"], "Acme Holdings Ltd");
    assert_eq!(parent["data"]["registration_id"], "REG-1");
    assert_eq!(parent["data"]["external_ref"], Value::Null);
    assert_eq!(parent["data"]["parent_id"], Value::Null);

    // A child, from the parent's page.
    let parent_page = browser.get(&format!("/admin/accounts/{parent_id}")).await;
    parent_page.assert_console_page(200);
    assert!(parent_page.body.contains("<h1>Acme Holdings</h1>"));
    let create_child = format!("/admin/accounts/new?parent_id={parent_id}");
    assert!(
        parent_page.body.contains(&create_child),
        "{}",
        parent_page.body
    );
    let child_form = browser.get(&create_child).await;
    assert!(child_form.body.contains(&format!(r#"value="{parent_id}""#)));
    let created = browser
        .post(
            "/admin/accounts",
            &[
                ("name", "Acme Retail"),
                ("parent_id", &parent_id),
                ("csrf_token", &child_form.csrf()),
            ],
        )
        .await;
    let child_id = created_id(created.location());
    let child = app
        .get(&format!("/v2/accounts/{child_id}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(child["data"]["parent_id"], parent_id.as_str());
    assert_eq!(
        child["data"]["relationships"]["ancestors"][0]["data"]["id"],
        parent_id.as_str()
    );

    let parent_page = browser.get(&format!("/admin/accounts/{parent_id}")).await;
    assert!(
        parent_page.body.contains(&format!(
            r#"<a href="/admin/accounts/{child_id}">Acme Retail</a>"#
        )),
        "{}",
        parent_page.body
    );
    let child_page = browser.get(&format!("/admin/accounts/{child_id}")).await;
    child_page.assert_console_page(200);
    assert!(
        child_page.body.contains(&format!(
            r#"<a href="/admin/accounts/{parent_id}">Acme Holdings</a>"#
        )),
        "the child's ancestors are named: {}",
        child_page.body
    );
    assert!(child_page.body.contains("None."), "no grandchildren");

    browser
        .get("/admin/accounts/00000000-0000-4000-8000-000000000000")
        .await
        .assert_console_page(404);
    browser
        .get("/admin/accounts/not-an-id")
        .await
        .assert_console_page(404);
}

async fn the_apis_validation_shows_beside_the_fields(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    browser.sign_in().await;
    let csrf = browser.csrf().await;
    let page = browser
        .post(
            "/admin/accounts",
            &[
                ("name", ""),
                ("parent_id", "not-a-uuid"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    page.assert_console_page(400);
    assert!(
        page.body.contains(
            r#"<p id="name-error" class="field-error" role="alert">Name is required.</p>"#
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<p id="parent_id-error" class="field-error" role="alert">Parent account id must be an id"#), "{}", page.body);
    assert!(
        page.body.contains(r#"value="not-a-uuid""#),
        "what was typed is kept"
    );

    let unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let page = browser
        .post(
            "/admin/accounts",
            &[
                ("name", "Orphan"),
                ("parent_id", unknown),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    page.assert_console_page(404);
    assert!(
        page.body.contains(r#"<p id="parent_id-error" class="field-error" role="alert">Parent account not found.</p>"#),
        "{}",
        page.body
    );

    let admin = app.admin_token().await;
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "Taken", "registration_id": "REG-9"}),
    )
    .await;
    let page = browser
        .post(
            "/admin/accounts",
            &[
                ("name", "Twin"),
                ("registration_id", "REG-9"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    page.assert_console_page(409);
    assert!(
        page.body.contains(r#"id="registration_id-error""#),
        "{}",
        page.body
    );
}

async fn the_account_list_searches_and_pages_through_the_api(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let admin = app.admin_token().await;
    for name in ["Acme North", "Acme South", "Globex"] {
        app.create_account(&admin, name).await;
    }
    let mut browser = Browser::on_api_listener(&server);
    browser.sign_in().await;
    let all = browser.get("/admin/accounts").await;
    all.assert_console_page(200);
    assert!(all.body.contains("Globex") && all.body.contains("Acme North"));
    assert!(
        all.body.contains(r#"<label for="filter">Filter"#),
        "{}",
        all.body
    );

    // As the search form sends it: form-encoded, a space as `+`.
    let found = browser
        .get("/admin/accounts?filter=ilike%28name%2C*acme+*%29&page%5Blimit%5D=1")
        .await;
    found.assert_console_page(200);
    assert!(!found.body.contains("Globex"), "{}", found.body);
    assert!(found.body.contains("2 in all"), "{}", found.body);
    let next = "/admin/accounts?filter=ilike%28name%2C%2Aacme%20%2A%29&amp;page%5Boffset%5D=1&amp;page%5Blimit%5D=1";
    assert!(found.body.contains(next), "{}", found.body);
    let second = browser.get(&next.replace("&amp;", "&")).await;
    second.assert_console_page(200);
    assert!(second.body.contains("page 2 of 2"), "{}", second.body);
}

async fn an_invalid_filter_shows_a_readable_message(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    browser.sign_in().await;
    let page = browser.get("/admin/accounts?filter=nonsense%28").await;
    page.assert_console_page(400);
    assert!(
        page.body.contains(r#"<p id="filter-error" class="field-error" role="alert">Could not parse the supplied filter.</p>"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"value="nonsense(""#),
        "the search is kept"
    );
    assert!(!page.body.contains("\"status\""), "{}", page.body);
    let page = browser.get("/admin/accounts?page%5Blimit%5D=1000").await;
    page.assert_console_page(400);
    assert!(
        page.body
            .contains("Page[limit] must be an integer between 1 and 100."),
        "{}",
        page.body
    );
}

async fn signing_out_ends_the_session(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    browser.sign_in().await;
    let csrf = browser.csrf().await;
    let session = browser.cookie.clone().unwrap();
    let signed_out = browser
        .post("/admin/sign-out", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(signed_out.location(), "/admin/sign-in");
    let cookies = signed_out.set_cookies();
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].contains("Max-Age=0"), "{cookies:?}");
    assert!(browser.cookie.is_none());
    // The old cookie, kept by a careless browser, opens nothing.
    browser.cookie = Some(session);
    assert_eq!(browser.get("/admin").await.location(), "/admin/sign-in");
    assert_eq!(
        browser
            .post(
                "/admin/accounts",
                &[("name", "Late"), ("csrf_token", &csrf)]
            )
            .await
            .status,
        403
    );
}

async fn an_expired_bearer_token_sends_you_back_to_sign_in(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let mut browser = Browser::on_api_listener(&server);
    browser.sign_in().await;
    server.clock.advance_millis(3_599_000);
    browser.get("/admin").await.assert_console_page(200);
    server.clock.advance_millis(1_000);
    assert_eq!(browser.get("/admin").await.location(), "/admin/sign-in");
    // The sign-in page starts a new session rather than sending the browser round in circles.
    let page = browser.get("/admin/sign-in").await;
    page.assert_console_page(200);
    assert_eq!(page.set_cookies().len(), 1);
    assert_eq!(browser.sign_in().await, "/admin");
}

async fn a_key_the_api_no_longer_accepts_ends_the_session(app: TestApp) {
    let server = with_console(&app, ConsoleListener::Api).await;
    let admin = app.admin_token().await;
    let key = app
        .post("/v2/application-keys")
        .bearer(&admin)
        .json(json!({"data": {"type": "application_key", "name": "Support desk"}}))
        .send()
        .await
        .expect(201);
    let client_id = key["data"]["client_id"].as_str().unwrap();
    let client_secret = key["data"]["client_secret"].as_str().unwrap();
    let mut browser = Browser::on_api_listener(&server);
    assert_eq!(browser.sign_in_as(client_id, client_secret).await, "/admin");
    browser.get("/admin").await.assert_console_page(200);
    app.delete(&format!(
        "/v2/application-keys/{}",
        key["data"]["id"].as_str().unwrap()
    ))
    .bearer(&admin)
    .send()
    .await
    .expect(204);
    assert_eq!(browser.get("/admin").await.location(), "/admin/sign-in");
    browser.get("/admin/sign-in").await.assert_console_page(200);
}

async fn signing_in_spends_the_access_token_endpoints_rate_limit(app: TestApp) {
    let mut config = app.config_like_this();
    config.console = ConsoleListener::Api;
    config.rate_limit_per_minute = 2;
    let server = spawn_app(config).await;
    let mut browser = Browser::on_api_listener(&server);
    assert_eq!(browser.sign_in().await, "/admin");
    // One request of the budget left, spent through the API from the same address.
    server.admin_token().await;
    let mut late = Browser::on_api_listener(&server);
    let csrf = late.get("/admin/sign-in").await.csrf();
    let page = late
        .post(
            "/admin/sign-in",
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    page.assert_console_page(429);
    assert!(
        page.body.contains("Too many attempts from your address"),
        "{}",
        page.body
    );
    let throttled = server
        .post("/oauth/access_token")
        .raw(format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await;
    assert_eq!(throttled.status, 429);
}
