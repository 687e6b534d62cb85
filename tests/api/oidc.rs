//! OpenID Connect login (docs/oidc.md), driven through the whole browser flow: the test plays
//! the browser, following each `303` by hand, between accountd and an in-process provider
//! (`idp.rs`), then redeems accountd's code as the storefront would.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::helpers::{PUBLIC_BASE_URL, Reply, TestApp, captured_logs};
use crate::idp::{self, Signer, Tamper, TestIdp};
use crate::tests;

tests![
    oidc_profiles_round_trip_without_the_client_secret,
    oidc_profile_validation_uses_the_reference_wording,
    a_provider_without_a_usable_discovery_document_is_refused,
    oidc_profile_infos_round_trip_and_refuse_duplicates,
    oidc_profile_infos_are_admin_only_and_checked,
    deleting_an_oidc_profile_removes_its_infos_and_pending_logins,
    the_discovery_document_names_the_login_endpoint,
    a_first_login_creates_a_member_without_accounts,
    the_login_sends_the_browser_to_the_provider_with_its_own_state_nonce_and_pkce,
    a_second_login_updates_name_and_email_and_keeps_the_member,
    a_pre_linked_user_signs_in_as_itself,
    a_first_login_never_links_by_email,
    the_duplicate_email_policy_applies_to_first_logins,
    auto_create_gives_a_first_login_an_account,
    every_id_token_failure_redirects_with_access_denied,
    id_tokens_within_the_clock_skew_or_without_a_nonce_are_accepted,
    rs256_and_ps256_providers_work,
    a_rotated_provider_key_is_fetched_on_an_unknown_kid,
    discovery_and_keys_are_cached_for_an_hour,
    email_comes_from_userinfo_when_the_id_token_has_none,
    a_replayed_callback_is_refused,
    a_replayed_callback_redirects_when_the_login_asked_for_it,
    a_wrong_pkce_verifier_fails_and_burns_the_code,
    sign_ins_are_audited_and_counted,
    a_wrong_redirect_uri_at_redemption_fails,
    a_code_works_once_and_only_for_five_minutes,
    a_code_redeemed_twice_at_once_works_once,
    an_expired_login_record_is_refused_at_the_callback,
    a_login_deleted_with_its_profile_fails_at_redemption,
    provider_errors_reach_the_storefront,
    a_provider_down_at_the_token_endpoint_gives_server_error,
    the_login_endpoint_answers_400_where_it_cannot_redirect,
    the_login_endpoint_redirects_other_errors_with_307,
    discovery_unavailable_at_login_gives_temporarily_unavailable,
    the_callback_refuses_unknown_states_and_paths,
    a_redirect_uri_unregistered_meanwhile_is_not_used,
    the_oidc_mechanism_validates_its_fields,
    the_client_secret_appears_in_no_response_and_no_log_line,
    the_janitor_purges_expired_logins_and_codes,
    the_issuer_must_be_the_discovery_urls_own_when_saved,
    an_issuer_that_changes_later_is_refused_at_sign_in,
    an_explicitly_unverified_email_is_refused_unless_the_profile_allows_it,
    internal_provider_destinations_are_refused_when_saved,
    a_provider_that_is_not_allowed_now_is_never_contacted,
];

const STOREFRONT: &str = "https://shop.example.com/auth/callback";
const TOKEN_TYPE: &str = "account_management_authentication_token";

/// An admin, a shopper, a provider and an OIDC profile for it, with the storefront's callback
/// registered on the realm.
pub struct Setup {
    pub admin: String,
    pub implicit: String,
    pub idp: TestIdp,
    pub profile: Value,
}

impl Setup {
    fn profile_id(&self) -> String {
        self.profile["id"].as_str().unwrap().to_owned()
    }
}

pub async fn setup(app: &TestApp) -> Setup {
    let idp = TestIdp::start(app.clock.clone()).await;
    setup_with(app, idp).await
}

async fn setup_with(app: &TestApp, idp: TestIdp) -> Setup {
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    app.put(&app.realm_path(""))
        .bearer(&admin)
        .json(json!({"data": {
            "type": "authentication-realm",
            "redirect_uris": [STOREFRONT, "http://localhost:3000/cb?shop=1"],
        }}))
        .send()
        .await
        .expect(200);
    let profile = create_profile(app, &admin, &idp.discovery_url()).await;
    Setup {
        admin,
        implicit,
        idp,
        profile,
    }
}

async fn create_profile(app: &TestApp, admin: &str, discovery_url: &str) -> Value {
    app.post(&app.realm_path("/oidc-profiles"))
        .bearer(admin)
        .json(json!({"data": {
            "type": "oidc-profile",
            "name": "Acme SSO",
            "discovery_url": discovery_url,
            "client_id": idp::CLIENT_ID,
            "client_secret": idp::CLIENT_SECRET,
        }}))
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

/// What a storefront keeps for one login: its PKCE verifier and state.
struct Storefront {
    verifier: String,
    challenge: String,
    state: String,
    redirect_uri: String,
}

impl Storefront {
    fn new() -> Self {
        use base64::Engine;
        use sha2::Digest;
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
            state: format!("st {}", uuid::Uuid::new_v4()),
            redirect_uri: STOREFRONT.to_owned(),
        }
    }

    /// The login parameters (docs/oidc.md#login-endpoint), with `changes` applied (`None` removes a
    /// parameter).
    fn params(&self, changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("client_id", "account-management"),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", self.state.as_str()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        for (name, value) in changes {
            params.retain(|(known, _)| known != name);
            if let Some(value) = value {
                params.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        params
    }
}

/// The profile's `authorization-endpoint` link with the storefront's parameters appended.
fn login_url(setup: &Setup, params: &[(String, String)]) -> String {
    let base = setup.profile["links"]["authorization-endpoint"]
        .as_str()
        .unwrap();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{base}&{query}")
}

/// A browser GET on an absolute URL: accountd's public URLs go to the test server.
async fn browse(app: &TestApp, url: &str) -> Reply {
    let url = match url.strip_prefix(PUBLIC_BASE_URL) {
        Some(path) => format!("{}{path}", app.address),
        None => url.to_owned(),
    };
    let response = app.client.get(url).send().await.expect("an answer");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.expect("a body"),
    }
}

#[track_caller]
fn location(reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.text);
    reply.header("location").expect("a Location").to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Follows the login to the provider and back to accountd's callback; returns the callback's
/// answer (a `303` to the storefront when all went well).
async fn through_provider(app: &TestApp, setup: &Setup, storefront: &Storefront) -> Reply {
    let to_provider = browse(app, &login_url(setup, &storefront.params(&[]))).await;
    let authorize = location(&to_provider, 303);
    let to_callback = browse(app, &authorize).await;
    let callback = location(&to_callback, 303);
    browse(app, &callback).await
}

/// The whole browser flow; returns the storefront callback's query (`code` and `state`).
async fn browser_login(
    app: &TestApp,
    setup: &Setup,
    storefront: &Storefront,
) -> HashMap<String, String> {
    let back = through_provider(app, setup, storefront).await;
    let target = location(&back, 303);
    assert!(target.starts_with(STOREFRONT), "{target}");
    let query = query_of(&target);
    assert_eq!(query.get("state"), Some(&storefront.state));
    query
}

async fn redeem(
    app: &TestApp,
    bearer: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Reply {
    app.post("/v2/account-members/tokens")
        .bearer(bearer)
        .json(json!({"data": {
            "type": TOKEN_TYPE,
            "authentication_mechanism": "oidc",
            "oauth_authorization_code": code,
            "oauth_redirect_uri": redirect_uri,
            "oauth_code_verifier": verifier,
            "password_profile_id": "ignored",
        }}))
        .send()
        .await
}

/// Browser flow and redemption: the `201` token list.
pub async fn sign_in(app: &TestApp, setup: &Setup) -> Value {
    let storefront = Storefront::new();
    let query = browser_login(app, setup, &storefront).await;
    let reply = redeem(
        app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await;
    let body = reply.expect(201);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    body
}

/// The storefront redirect's query after the callback, for a login that should fail there.
async fn failed_callback(app: &TestApp, setup: &Setup) -> HashMap<String, String> {
    let storefront = Storefront::new();
    let back = through_provider(app, setup, &storefront).await;
    let target = location(&back, 303);
    assert!(target.starts_with(STOREFRONT), "{target}");
    let query = query_of(&target);
    assert_eq!(query.get("state"), Some(&storefront.state));
    assert!(!query.contains_key("code"), "{query:?}");
    query
}

#[track_caller]
fn assert_oauth_error(reply: &Reply, status: u16, error: &str) {
    let body = reply.expect(status);
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    assert_eq!(body["errorDescription"], body["error_description"]);
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
}

async fn user_count(app: &TestApp, admin: &str) -> u64 {
    app.get(&app.realm_path("/user-authentication-info"))
        .bearer(admin)
        .send()
        .await
        .expect(200)["meta"]["results"]["total"]
        .as_u64()
        .unwrap()
}

fn oidc_info_path(app: &TestApp, user_id: &str) -> String {
    app.realm_path(&format!(
        "/user-authentication-info/{user_id}/user-authentication-oidc-profile-info"
    ))
}

// ---- OIDC profiles (docs/oidc.md#oidc-profiles) ------------------------------------------------

async fn oidc_profiles_round_trip_without_the_client_secret(app: TestApp) {
    let setup = setup(&app).await;
    let profile = &setup.profile;
    let id = setup.profile_id();
    let store_id = app.state.deployment.store_id;
    let realm = app.realm_id;
    assert_eq!(profile["type"], "oidc-profile");
    assert_eq!(profile["name"], "Acme SSO");
    assert_eq!(profile["discovery_url"], setup.idp.discovery_url());
    assert_eq!(profile["client_id"], idp::CLIENT_ID);
    assert_eq!(profile["meta"]["issuer"], setup.idp.issuer);
    assert!(profile["meta"]["created_at"].is_string());
    assert!(profile.get("client_secret").is_none());
    assert_eq!(
        profile["links"],
        json!({
            "authorization-endpoint": format!("{PUBLIC_BASE_URL}/oidc-idp/login/stores/{store_id}/authentication-realms/{realm}?elasticpath_commerce_cloud_profile_id={id}"),
            "callback-endpoint": format!("{PUBLIC_BASE_URL}/oidc-idp/callback/stores/{store_id}/authentication-realms/{realm}/oidc-profiles/{id}"),
            "client-discovery-url": format!("{PUBLIC_BASE_URL}/oidc-idp/stores/{store_id}/authentication-realms/{realm}/.well-known/openid-configuration"),
            "self": format!("{PUBLIC_BASE_URL}/v2/authentication-realms/{realm}/oidc-profiles/{id}"),
        })
    );

    // Shoppers read them, to show one button per profile.
    let list = app
        .get(&app.realm_path("/oidc-profiles"))
        .bearer(&setup.implicit)
        .send()
        .await
        .expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    assert_eq!(list["data"][0], *profile);
    let read = app
        .get(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&setup.implicit)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"], *profile);
    assert_eq!(read["links"]["self"], profile["links"]["self"]);

    app.clock.advance_seconds(1);
    let updated = app
        .put(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "oidc-profile", "name": "Renamed", "client_secret": "new-secret"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["name"], "Renamed");
    assert_eq!(updated["data"]["discovery_url"], profile["discovery_url"]);
    assert_ne!(
        updated["data"]["meta"]["updated_at"],
        profile["meta"]["updated_at"]
    );
    assert!(!updated.to_string().contains("new-secret"));

    for (method, body) in [("POST", true), ("PUT", true), ("DELETE", false)] {
        let path = if method == "POST" {
            app.realm_path("/oidc-profiles")
        } else {
            app.realm_path(&format!("/oidc-profiles/{id}"))
        };
        let mut call = app
            .call(method.parse().unwrap(), &path)
            .bearer(&setup.implicit);
        if body {
            call = call.json(json!({"data": {"type": "oidc-profile"}}));
        }
        call.send().await.expect_error(403, "forbidden");
    }

    let sorted = app
        .get(&app.realm_path("/oidc-profiles?sort=-name"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(sorted["data"][0]["id"], id.as_str());
    app.get(&app.realm_path("/oidc-profiles?sort=client_id"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied sort");
    app.get(&app.realm_path("/oidc-profiles?filter=eq(name,x)"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(400, "Could not parse the supplied filter");

    app.delete(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(204);
    for path in [
        format!("/oidc-profiles/{id}"),
        "/oidc-profiles/not-a-uuid".to_owned(),
    ] {
        app.get(&app.realm_path(&path))
            .bearer(&setup.admin)
            .send()
            .await
            .expect_error(404, "oidc profile not found");
    }
    app.delete(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(404, "oidc profile not found");
    app.get(&format!(
        "/v2/authentication-realms/{}/oidc-profiles",
        uuid::Uuid::new_v4()
    ))
    .bearer(&setup.admin)
    .send()
    .await
    .expect_error(404, "authentication realm not found");
}

async fn oidc_profile_validation_uses_the_reference_wording(app: TestApp) {
    let admin = app.admin_token().await;
    let path = app.realm_path("/oidc-profiles");
    let cases = [
        (
            json!({"type": "oidc-profile"}),
            "Validation failed: field 'Name' on the 'required' tag; field 'DiscoveryURL' on the 'required' tag; field 'ClientID' on the 'required' tag; field 'ClientSecret' on the 'required' tag.",
        ),
        (
            json!({"type": "oidc_profile", "name": "", "discovery_url": "http://idp.example.com/.well-known/openid-configuration", "client_id": 7, "client_secret": "s"}),
            "Validation failed: field 'Type' on the 'eq' tag; field 'Name' on the 'min' tag; field 'ClientID' on the 'string' tag.",
        ),
        (
            json!({"type": "oidc-profile", "name": "x", "discovery_url": "ftp://localhost/x", "client_id": "c", "client_secret": ""}),
            "Validation failed: field 'DiscoveryURL' on the 'url' tag; field 'ClientSecret' on the 'min' tag.",
        ),
        (
            json!({"type": "oidc-profile", "name": "x", "discovery_url": "not a url", "client_id": "c", "client_secret": "s"}),
            "Validation failed: field 'DiscoveryURL' on the 'url' tag.",
        ),
        (
            json!({"type": "oidc-profile", "name": "x", "discovery_url": "https://idp.example.com/.well-known/openid-configuration", "client_id": "c", "client_secret": "s", "allow_unverified_email": "yes"}),
            "Validation failed: field 'AllowUnverifiedEmail' on the 'boolean' tag.",
        ),
    ];
    for (body, detail) in cases {
        app.post(&path)
            .bearer(&admin)
            .json(json!({"data": body}))
            .send()
            .await
            .expect_error(400, detail);
    }
    app.post(&path)
        .bearer(&admin)
        .raw("{not json")
        .send()
        .await
        .expect_error(400, "Could not parse the request body");
    app.post(&path)
        .bearer(&admin)
        .json(json!({"type": "oidc-profile"}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'Data' on the 'required' tag.",
        );
    // Nothing was stored.
    let list = app.get(&path).bearer(&admin).send().await.expect(200);
    assert_eq!(list["meta"]["results"]["total"], 0);
}

async fn a_provider_without_a_usable_discovery_document_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let idp = TestIdp::start(app.clock.clone()).await;
    // Nothing listens on a port that was just freed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let refused = [
        format!("http://{closed}/.well-known/openid-configuration"),
        // Answers, but not with a discovery document.
        format!("{}/jwks", idp.issuer),
        format!("{}/nothing-here", idp.issuer),
        // A redirect to another origin is not followed.
        format!("{}/elsewhere/.well-known/openid-configuration", idp.issuer),
    ];
    for url in &refused {
        app.post(&app.realm_path("/oidc-profiles"))
            .bearer(&admin)
            .json(json!({"data": {
                "type": "oidc-profile", "name": "x", "discovery_url": url,
                "client_id": "c", "client_secret": "s",
            }}))
            .send()
            .await
            .expect_error(
                422,
                "could not retrieve the OpenID Connect discovery document",
            );
    }
    idp.behave(|behaviour| {
        behaviour.discovery_status = Some(reqwest::StatusCode::SERVICE_UNAVAILABLE)
    });
    app.post(&app.realm_path("/oidc-profiles"))
        .bearer(&admin)
        .json(json!({"data": {
            "type": "oidc-profile", "name": "x", "discovery_url": idp.discovery_url(),
            "client_id": "c", "client_secret": "s",
        }}))
        .send()
        .await
        .expect_error(
            422,
            "could not retrieve the OpenID Connect discovery document",
        );

    // A redirect within the provider's origin is followed; the issuer is compared with the URL
    // the profile names, not with where the redirect led.
    idp.behave(|behaviour| {
        behaviour.discovery_status = None;
        behaviour.discovery_moved = true;
    });
    let moved = create_profile(&app, &admin, &idp.discovery_url()).await;
    assert_eq!(moved["meta"]["issuer"], idp.issuer);
    idp.behave(|behaviour| behaviour.discovery_moved = false);

    // A PUT that changes the URL fetches it too, and changes nothing when that fails.
    let profile = create_profile(&app, &admin, &idp.discovery_url()).await;
    let id = profile["id"].as_str().unwrap();
    app.put(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&admin)
        .json(json!({"data": {"type": "oidc-profile", "name": "New", "discovery_url": refused[0]}}))
        .send()
        .await
        .expect_error(
            422,
            "could not retrieve the OpenID Connect discovery document",
        );
    let read = app
        .get(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"], profile);
    // The PUT order: 404 before the body, 400 before the fetch.
    app.put(&app.realm_path(&format!("/oidc-profiles/{}", uuid::Uuid::new_v4())))
        .bearer(&admin)
        .json(json!({"data": {"type": "oidc-profile"}}))
        .send()
        .await
        .expect_error(404, "oidc profile not found");
    app.put(&app.realm_path(&format!("/oidc-profiles/{id}")))
        .bearer(&admin)
        .json(json!({"data": {"type": "oidc-profile", "name": null, "discovery_url": refused[0]}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'Name' on the 'required' tag.",
        );
}

// ---- OIDC profile infos (docs/oidc.md#identity-links) ------------------------------------------

async fn oidc_profile_infos_round_trip_and_refuse_duplicates(app: TestApp) {
    let setup = setup(&app).await;
    let user = app
        .create_user(&setup.admin, "Pat", "pat@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    let other = app
        .create_user(&setup.admin, "Sam", "sam@example.com")
        .await;
    let path = oidc_info_path(&app, user_id);
    app.clock.advance_seconds(1);
    let created = app
        .post(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": setup.profile_id(),
            "issuer": setup.idp.issuer,
            "subject": "pat-at-idp",
        }}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let info_id = created["id"].as_str().unwrap();
    assert_eq!(created["type"], "user_authentication_oidc_profile_info");
    assert_eq!(created["oidc_profile_id"], setup.profile_id());
    assert_eq!(created["issuer"], setup.idp.issuer);
    assert_eq!(created["subject"], "pat-at-idp");
    assert_eq!(
        created["links"]["self"],
        format!("{PUBLIC_BASE_URL}{path}/{info_id}")
    );
    // The user's updated_at follows its OIDC profile infos.
    let user_now = app
        .get(&app.realm_path(&format!("/user-authentication-info/{user_id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        user_now["data"]["meta"]["updated_at"],
        created["meta"]["created_at"]
    );

    let list = app.get(&path).bearer(&setup.admin).send().await.expect(200);
    assert_eq!(list["meta"]["results"]["total"], 1);
    assert_eq!(list["data"][0], created);
    let read = app
        .get(&format!("{path}/{info_id}"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"], created);

    // The same identity for another user (or the same) is a conflict.
    let duplicate = json!({"data": {
        "type": "user-authentication-oidc-profile-info",
        "oidc_profile_id": setup.profile_id(),
        "issuer": setup.idp.issuer,
        "subject": "pat-at-idp",
    }});
    let conflict = "user authentication oidc profile info with the given oidc profile id, issuer and subject already exists";
    for owner in [user_id, other["id"].as_str().unwrap()] {
        app.post(&oidc_info_path(&app, owner))
            .bearer(&setup.admin)
            .json(duplicate.clone())
            .send()
            .await
            .expect_error(409, conflict);
    }
    let sams = app
        .post(&oidc_info_path(&app, other["id"].as_str().unwrap()))
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": setup.profile_id(),
            "issuer": setup.idp.issuer,
            "subject": "sam-at-idp",
        }}))
        .send()
        .await
        .expect(201)["data"]
        .clone();

    let updated = app
        .put(&format!("{path}/{info_id}"))
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "user_authentication_oidc_profile_info", "subject": "pat-2", "oidc_profile_id": setup.profile_id()}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["subject"], "pat-2");
    assert_eq!(updated["data"]["issuer"], setup.idp.issuer);
    app.put(&format!("{path}/{info_id}"))
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "user_authentication_oidc_profile_info", "subject": sams["subject"]}}))
        .send()
        .await
        .expect_error(409, conflict);
    app.put(&format!("{path}/{info_id}"))
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "user_authentication_oidc_profile_info", "oidc_profile_id": uuid::Uuid::new_v4().to_string(), "issuer": ""}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'OIDCProfileID' on the 'immutable' tag; field 'Issuer' on the 'min' tag.",
        );

    // Another user's path does not reach this record.
    app.get(&format!(
        "{}/{info_id}",
        oidc_info_path(&app, other["id"].as_str().unwrap())
    ))
    .bearer(&setup.admin)
    .send()
    .await
    .expect_error(404, "user authentication oidc profile info not found");
    app.delete(&format!("{path}/{info_id}"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("{path}/{info_id}"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(404, "user authentication oidc profile info not found");

    // Deleting the user takes its infos along: the identity is free again.
    app.delete(&app.realm_path(&format!(
        "/user-authentication-info/{}",
        other["id"].as_str().unwrap()
    )))
    .bearer(&setup.admin)
    .send()
    .await
    .expect(204);
    app.post(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": setup.profile_id(),
            "issuer": setup.idp.issuer,
            "subject": "sam-at-idp",
        }}))
        .send()
        .await
        .expect(201);
}

async fn oidc_profile_infos_are_admin_only_and_checked(app: TestApp) {
    let setup = setup(&app).await;
    let user = app
        .create_user(&setup.admin, "Pat", "pat@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    let path = oidc_info_path(&app, user_id);
    app.get(&path)
        .bearer(&setup.implicit)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post(&path)
        .bearer(&setup.implicit)
        .json(json!({"data": {}}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.get(&oidc_info_path(&app, &uuid::Uuid::new_v4().to_string()))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(404, "user authentication info not found");
    app.post(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "user_authentication_oidc_profile_info"}}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'OIDCProfileID' on the 'required' tag; field 'Issuer' on the 'required' tag; field 'Subject' on the 'required' tag.",
        );
    app.post(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": "nope",
            "issuer": "i".repeat(2049),
            "subject": "s".repeat(256),
        }}))
        .send()
        .await
        .expect_error(
            400,
            "Validation failed: field 'OIDCProfileID' on the 'uuid' tag; field 'Issuer' on the 'max' tag; field 'Subject' on the 'max' tag.",
        );
    app.post(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": uuid::Uuid::new_v4().to_string(),
            "issuer": "https://idp",
            "subject": "s",
        }}))
        .send()
        .await
        .expect_error(404, "oidc profile not found");
    app.get(&format!("{path}/{}", uuid::Uuid::new_v4()))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(404, "user authentication oidc profile info not found");
}

async fn deleting_an_oidc_profile_removes_its_infos_and_pending_logins(app: TestApp) {
    let setup = setup(&app).await;
    let user = app
        .create_user(&setup.admin, "Pat", "pat@example.com")
        .await;
    let path = oidc_info_path(&app, user["id"].as_str().unwrap());
    let info = app
        .post(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": setup.profile_id(),
            "issuer": setup.idp.issuer,
            "subject": "pat",
        }}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    // A login waiting at the provider.
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let callback = location(&to_callback, 303);

    app.delete(&app.realm_path(&format!("/oidc-profiles/{}", setup.profile_id())))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("{path}/{}", info["id"].as_str().unwrap()))
        .bearer(&setup.admin)
        .send()
        .await
        .expect_error(404, "user authentication oidc profile info not found");
    let list = app.get(&path).bearer(&setup.admin).send().await.expect(200);
    assert_eq!(list["meta"]["results"]["total"], 0);
    assert_oauth_error(&browse(&app, &callback).await, 400, "invalid_request");
}

async fn the_discovery_document_names_the_login_endpoint(app: TestApp) {
    let setup = setup(&app).await;
    let url = setup.profile["links"]["client-discovery-url"]
        .as_str()
        .unwrap();
    let reply = browse(&app, url).await;
    let document = reply.expect(200);
    let store_id = app.state.deployment.store_id;
    let realm = app.realm_id;
    assert_eq!(
        document,
        json!({
            "issuer": format!("{PUBLIC_BASE_URL}/oidc-idp/stores/{store_id}/authentication-realms/{realm}"),
            "authorization_endpoint": format!("{PUBLIC_BASE_URL}/oidc-idp/login/stores/{store_id}/authentication-realms/{realm}"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
            "subject_types_supported": ["public"],
        })
    );
    let wrong = format!(
        "/oidc-idp/stores/{}/authentication-realms/{realm}/.well-known/openid-configuration",
        uuid::Uuid::new_v4()
    );
    assert_oauth_error(&app.get(&wrong).send().await, 400, "invalid_request");
}

// ---- The flow and the oidc mechanism (docs/oidc.md) --------------------------------------------

async fn a_first_login_creates_a_member_without_accounts(app: TestApp) {
    let setup = setup(&app).await;
    let before = user_count(&app, &setup.admin).await;
    let tokens = sign_in(&app, &setup).await;
    assert_eq!(tokens["data"], json!([]));
    assert_eq!(tokens["meta"]["results"]["total"], 0);
    let member_id = tokens["meta"]["account_member_id"].as_str().unwrap();
    assert_eq!(user_count(&app, &setup.admin).await, before + 1);

    let user = app
        .get(&app.realm_path(&format!("/user-authentication-info/{member_id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(user["name"], "Ann Smith");
    assert_eq!(user["email"], "ann.smith@example.com");
    assert_eq!(user["given_name"], "Ann");
    assert_eq!(user["family_name"], "Smith");
    assert_eq!(user["middle_name"], Value::Null);
    let member = app
        .get(&format!("/v2/account-members/{member_id}"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(member["data"]["email"], "ann.smith@example.com");
    let infos = app
        .get(&oidc_info_path(&app, member_id))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(infos["meta"]["results"]["total"], 1);
    assert_eq!(infos["data"][0]["oidc_profile_id"], setup.profile_id());
    assert_eq!(infos["data"][0]["issuer"], setup.idp.issuer);
    assert_eq!(infos["data"][0]["subject"], setup.idp.subject());

    // An Admin assigns the new member afterwards (docs/oidc.md#the-code-for-the-storefront); the
    // next login gets a token.
    let account = app.create_account(&setup.admin, "Acme").await;
    app.add_membership(&setup.admin, account["id"].as_str().unwrap(), member_id)
        .await;
    let tokens = sign_in(&app, &setup).await;
    assert_eq!(tokens["meta"]["account_member_id"], member_id);
    assert_eq!(tokens["data"][0]["account_id"], account["id"]);
    let token = tokens["data"][0]["token"].as_str().unwrap();
    app.get(&format!("/v2/account-members/{member_id}"))
        .bearer(&setup.implicit)
        .account_token(token)
        .send()
        .await
        .expect(200);
}

async fn the_login_sends_the_browser_to_the_provider_with_its_own_state_nonce_and_pkce(
    app: TestApp,
) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let reply = browse(
        &app,
        &login_url(
            &setup,
            &storefront.params(&[
                ("scope", Some("openid profile name")),
                ("prompt", Some("login")),
                ("ui_locales", Some("fr de")),
                ("ep_report_callback_replay_error", Some("false")),
            ]),
        ),
    )
    .await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let authorize = location(&reply, 303);
    assert!(authorize.starts_with(&format!("{}/authorize?", setup.idp.issuer)));
    let params = query_of(&authorize);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], idp::CLIENT_ID);
    assert_eq!(
        params["redirect_uri"],
        setup.profile["links"]["callback-endpoint"]
    );
    assert_eq!(params["scope"], "openid email profile");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["prompt"], "login");
    assert_eq!(params["ui_locales"], "fr de");
    // accountd's own values, 256 bits each, never the storefront's.
    for name in ["state", "nonce", "code_challenge"] {
        assert_eq!(params[name].len(), 43, "{name}");
    }
    assert_ne!(params["state"], storefront.state);
    assert_ne!(params["code_challenge"], storefront.challenge);
    assert!(!params.contains_key("display"));
    assert_eq!(params.len(), 10, "{params:?}");

    // The provider's token endpoint saw client_secret_basic and accountd's PKCE verifier (it
    // refuses a wrong one), and the callback as redirect_uri.
    let back = browse(&app, &location(&browse(&app, &authorize).await, 303)).await;
    let target = location(&back, 303);
    let query = query_of(&target);
    assert_eq!(query.keys().count(), 2);
    assert_eq!(query["code"].len(), 43);
    let request = setup.idp.state.token_requests.lock().unwrap()[0].clone();
    let (authorization, form) = (request.authorization, request.form);
    assert!(authorization.unwrap().starts_with("Basic "));
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(
        form["redirect_uri"],
        setup.profile["links"]["callback-endpoint"]
    );
    assert_eq!(form["code_verifier"].len(), 43);
}

async fn a_second_login_updates_name_and_email_and_keeps_the_member(app: TestApp) {
    let setup = setup(&app).await;
    let first = sign_in(&app, &setup).await;
    let member_id = first["meta"]["account_member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = app.create_account(&setup.admin, "Acme").await;
    app.add_membership(&setup.admin, account["id"].as_str().unwrap(), &member_id)
        .await;
    let users = user_count(&app, &setup.admin).await;

    setup.idp.set_claim("name", json!("Ann Jones"));
    setup.idp.set_claim("email", json!("ann.jones@example.com"));
    setup.idp.set_claim("family_name", json!("Jones"));
    setup.idp.set_claim("middle_name", json!("Marie"));
    app.clock.advance_seconds(5);
    let second = sign_in(&app, &setup).await;
    assert_eq!(second["meta"]["account_member_id"], member_id.as_str());
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(user_count(&app, &setup.admin).await, users);
    let user = app
        .get(&app.realm_path(&format!("/user-authentication-info/{member_id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(user["name"], "Ann Jones");
    assert_eq!(user["email"], "ann.jones@example.com");
    assert_eq!(user["given_name"], "Ann");
    assert_eq!(user["middle_name"], "Marie");
    assert_eq!(user["family_name"], "Jones");
    assert_ne!(user["meta"]["updated_at"], user["meta"]["created_at"]);

    // Unchanged claims change nothing, not even updated_at.
    app.clock.advance_seconds(5);
    sign_in(&app, &setup).await;
    let again = app
        .get(&app.realm_path(&format!("/user-authentication-info/{member_id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(again["meta"]["updated_at"], user["meta"]["updated_at"]);
}

async fn a_pre_linked_user_signs_in_as_itself(app: TestApp) {
    let setup = setup(&app).await;
    let user = app
        .create_user(&setup.admin, "Pat Existing", "pat@example.com")
        .await;
    let user_id = user["id"].as_str().unwrap();
    app.post(&oidc_info_path(&app, user_id))
        .bearer(&setup.admin)
        .json(json!({"data": {
            "type": "user_authentication_oidc_profile_info",
            "oidc_profile_id": setup.profile_id(),
            "issuer": setup.idp.issuer,
            "subject": setup.idp.subject(),
        }}))
        .send()
        .await
        .expect(201);
    let account = app.create_account(&setup.admin, "Pat's company").await;
    app.add_membership(&setup.admin, account["id"].as_str().unwrap(), user_id)
        .await;
    let users = user_count(&app, &setup.admin).await;
    let tokens = sign_in(&app, &setup).await;
    assert_eq!(tokens["meta"]["account_member_id"], user_id);
    assert_eq!(tokens["data"][0]["account_name"], "Pat's company");
    assert_eq!(user_count(&app, &setup.admin).await, users);
}

async fn a_first_login_never_links_by_email(app: TestApp) {
    let setup = setup(&app).await;
    let existing = app
        .create_user(&setup.admin, "Ann", "ann.smith@example.com")
        .await;
    let tokens = sign_in(&app, &setup).await;
    assert_ne!(tokens["meta"]["account_member_id"], existing["id"]);
    let twins = app
        .get(&app.realm_path("/user-authentication-info?filter=eq(email,ann.smith@example.com)"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(twins["meta"]["results"]["total"], 2);
}

async fn the_duplicate_email_policy_applies_to_first_logins(app: TestApp) {
    let setup = setup(&app).await;
    app.create_user(&setup.admin, "Ann", "ANN.SMITH@example.com")
        .await;
    for policy in ["api_only", "disallowed"] {
        app.put(&app.realm_path(""))
            .bearer(&setup.admin)
            .json(
                json!({"data": {"type": "authentication-realm", "duplicate_email_policy": policy}}),
            )
            .send()
            .await
            .expect(200);
        let storefront = Storefront::new();
        let query = browser_login(&app, &setup, &storefront).await;
        let users = user_count(&app, &setup.admin).await;
        redeem(
            &app,
            &setup.implicit,
            &query["code"],
            STOREFRONT,
            &storefront.verifier,
        )
        .await
        .expect_error(
            409,
            "user authentication info with the given email already exists",
        );
        // Nothing of the sign-in was kept.
        assert_eq!(user_count(&app, &setup.admin).await, users);
    }
    // A later login whose new email is taken is refused the same way.
    app.put(&app.realm_path(""))
        .bearer(&setup.admin)
        .json(
            json!({"data": {"type": "authentication-realm", "duplicate_email_policy": "allowed"}}),
        )
        .send()
        .await
        .expect(200);
    setup
        .idp
        .set_claim("email", json!("someone.else@example.com"));
    let first = sign_in(&app, &setup).await;
    app.put(&app.realm_path(""))
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "authentication-realm", "duplicate_email_policy": "disallowed"}}))
        .send()
        .await
        .expect(200);
    setup.idp.set_claim("email", json!("ann.smith@example.com"));
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect_error(
        409,
        "user authentication info with the given email already exists",
    );
    let member_id = first["meta"]["account_member_id"].as_str().unwrap();
    let user = app
        .get(&app.realm_path(&format!("/user-authentication-info/{member_id}")))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(user["data"]["email"], "someone.else@example.com");
}

async fn auto_create_gives_a_first_login_an_account(app: TestApp) {
    let setup = setup(&app).await;
    app.put("/v2/settings/account-authentication")
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "account_authentication_settings", "auto_create_account_for_account_members": true}}))
        .send()
        .await
        .expect(200);
    let tokens = sign_in(&app, &setup).await;
    let items = tokens["data"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["account_name"], "Ann Smith");
    let account = app
        .get(&format!(
            "/v2/accounts/{}",
            items[0]["account_id"].as_str().unwrap()
        ))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(account["data"]["name"], "Ann Smith");
    assert_eq!(account["data"]["legal_name"], "Ann Smith");
    assert_eq!(account["data"]["parent_id"], Value::Null);
    let memberships = app
        .get(&format!(
            "/v2/accounts/{}/account-memberships",
            items[0]["account_id"].as_str().unwrap()
        ))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        memberships["data"][0]["account_member_id"],
        tokens["meta"]["account_member_id"]
    );
    // Only a first login creates one.
    let again = sign_in(&app, &setup).await;
    assert_eq!(again["data"].as_array().unwrap().len(), 1);
    let accounts = app
        .get("/v2/accounts")
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(accounts["meta"]["results"]["total"], 1);
}

async fn every_id_token_failure_redirects_with_access_denied(app: TestApp) {
    let setup = setup(&app).await;
    let users = user_count(&app, &setup.admin).await;
    for tamper in [
        Tamper::AlgNone,
        Tamper::Hs256WithClientSecret,
        Tamper::SignedByAnotherKey,
        Tamper::WrongIssuer,
        Tamper::WrongAudience,
        Tamper::TwoAudiences,
        Tamper::ExpiredSecondsAgo(61),
        Tamper::IssuedSecondsAhead(61),
        Tamper::WrongNonce,
        Tamper::NoSubject,
    ] {
        setup.idp.behave(|behaviour| behaviour.tamper = tamper);
        let query = failed_callback(&app, &setup).await;
        assert_eq!(query["error"], "access_denied", "{tamper:?}");
        assert!(query.contains_key("error_description"), "{tamper:?}");
    }
    // An invalid email in the claims fails validation too.
    setup
        .idp
        .behave(|behaviour| behaviour.tamper = Tamper::None);
    setup.idp.set_claim("email", json!("not an email"));
    assert_eq!(
        failed_callback(&app, &setup).await["error"],
        "access_denied"
    );
    assert_eq!(user_count(&app, &setup.admin).await, users);
}

async fn id_tokens_within_the_clock_skew_or_without_a_nonce_are_accepted(app: TestApp) {
    let setup = setup(&app).await;
    for tamper in [
        Tamper::ExpiredSecondsAgo(50),
        Tamper::IssuedSecondsAhead(59),
        Tamper::NoNonce,
    ] {
        setup.idp.behave(|behaviour| behaviour.tamper = tamper);
        sign_in(&app, &setup).await;
    }
}

async fn rs256_and_ps256_providers_work(app: TestApp) {
    let idp = TestIdp::start_with(app.clock.clone(), Signer::rsa(Algorithm::RS256)).await;
    let setup = setup_with(&app, idp).await;
    let first = sign_in(&app, &setup).await;
    *setup.idp.state.signer.lock().unwrap() = Signer::rsa(Algorithm::PS256);
    let second = sign_in(&app, &setup).await;
    assert_eq!(
        first["meta"]["account_member_id"],
        second["meta"]["account_member_id"]
    );
}

async fn a_rotated_provider_key_is_fetched_on_an_unknown_kid(app: TestApp) {
    let setup = setup(&app).await;
    sign_in(&app, &setup).await;
    assert_eq!(setup.idp.state.jwks_fetches.load(Ordering::SeqCst), 1);
    sign_in(&app, &setup).await;
    assert_eq!(setup.idp.state.jwks_fetches.load(Ordering::SeqCst), 1);
    setup.idp.rotate_key();
    sign_in(&app, &setup).await;
    assert_eq!(setup.idp.state.jwks_fetches.load(Ordering::SeqCst), 2);
}

async fn discovery_and_keys_are_cached_for_an_hour(app: TestApp) {
    let mut setup = setup(&app).await;
    // Fetched once when the profile was created, then reused.
    assert_eq!(setup.idp.state.discovery_fetches.load(Ordering::SeqCst), 1);
    sign_in(&app, &setup).await;
    sign_in(&app, &setup).await;
    assert_eq!(setup.idp.state.discovery_fetches.load(Ordering::SeqCst), 1);
    assert_eq!(setup.idp.state.jwks_fetches.load(Ordering::SeqCst), 1);
    app.clock.advance_seconds(3601);
    // Bearer tokens last an hour too.
    setup.implicit = app.implicit_token().await;
    sign_in(&app, &setup).await;
    assert_eq!(setup.idp.state.discovery_fetches.load(Ordering::SeqCst), 2);
    assert_eq!(setup.idp.state.jwks_fetches.load(Ordering::SeqCst), 2);
}

async fn email_comes_from_userinfo_when_the_id_token_has_none(app: TestApp) {
    let setup = setup(&app).await;
    setup
        .idp
        .behave(|behaviour| behaviour.email_only_in_userinfo = true);
    let tokens = sign_in(&app, &setup).await;
    let member_id = tokens["meta"]["account_member_id"].as_str().unwrap();
    let member = app
        .get(&format!("/v2/account-members/{member_id}"))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(200);
    assert_eq!(member["data"]["email"], "ann.smith@example.com");

    setup
        .idp
        .behave(|behaviour| behaviour.userinfo_omits = vec!["email".to_owned()]);
    assert_eq!(
        failed_callback(&app, &setup).await["error"],
        "access_denied"
    );
    // UserInfo must speak for the same subject.
    setup.idp.behave(|behaviour| {
        behaviour.userinfo_omits = vec!["sub".to_owned()];
    });
    assert_eq!(
        failed_callback(&app, &setup).await["error"],
        "access_denied"
    );
}

async fn a_replayed_callback_is_refused(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let callback = location(&to_callback, 303);
    location(&browse(&app, &callback).await, 303);
    let replay = browse(&app, &callback).await;
    assert_oauth_error(&replay, 400, "invalid_request");
    assert_eq!(replay.header("cache-control"), Some("no-store"));
}

async fn a_replayed_callback_redirects_when_the_login_asked_for_it(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let params = storefront.params(&[("ep_report_callback_replay_error", Some("true"))]);
    let to_provider = browse(&app, &login_url(&setup, &params)).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let callback = location(&to_callback, 303);
    let first = query_of(&location(&browse(&app, &callback).await, 303));
    assert!(first.contains_key("code"));
    let replay = browse(&app, &callback).await;
    let target = location(&replay, 303);
    assert!(target.starts_with(STOREFRONT));
    let query = query_of(&target);
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(query["state"], storefront.state);
    assert!(!query.contains_key("code"));
    // The first code still works.
    redeem(
        &app,
        &setup.implicit,
        &first["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect(201);
}

async fn a_wrong_pkce_verifier_fails_and_burns_the_code(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    let other = Storefront::new();
    for verifier in [
        other.verifier.as_str(),
        "short",
        storefront.challenge.as_str(),
    ] {
        redeem(&app, &setup.implicit, &query["code"], STOREFRONT, verifier)
            .await
            .expect_error(400, "authentication failed");
    }
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect_error(400, "authentication failed");
}

/// A sign-in is a login like any other: `login.succeeded` naming the member signed in (created
/// by this very sign-in or found by its identity), `login.failed` naming the anonymous caller
/// when a real code is refused, and `accountd_logins_total{mechanism="oidc"}`.
async fn sign_ins_are_audited_and_counted(app: TestApp) {
    let setup = setup(&app).await;
    let first = sign_in(&app, &setup).await;
    let member_id = first["meta"]["account_member_id"].clone();
    app.clock.advance_seconds(1);
    sign_in(&app, &setup).await;
    let succeeded = app.audit_events(&setup.admin, "login.succeeded").await;
    assert_eq!(succeeded.len(), 2, "{succeeded:?}");
    for row in &succeeded {
        assert_eq!(row["subject"], "oidc login");
        assert_eq!(
            row["actor"],
            json!({"class": "account_holder", "id": member_id})
        );
        assert_eq!(row["detail"]["mechanism"], "oidc");
        assert_eq!(row["client_address"], "127.0.0.1");
    }
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        "a wrong verifier of some length",
    )
    .await
    .expect_error(400, "authentication failed");
    // A code nobody issued is refused the same way, but only a real code's refusal is
    // recorded: made-up codes cost nothing to send.
    redeem(
        &app,
        &setup.implicit,
        "a-code-nobody-issued",
        STOREFRONT,
        "a wrong verifier of some length",
    )
    .await
    .expect_error(400, "authentication failed");
    let failed = app.audit_events(&setup.admin, "login.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["subject"], "oidc login");
    assert_eq!(failed[0]["actor"], json!({"class": "shopper", "id": null}));
    let metrics = app.scrape_metrics().await;
    for line in [
        "accountd_logins_total{mechanism=\"oidc\",outcome=\"success\"} 2\n",
        "accountd_logins_total{mechanism=\"oidc\",outcome=\"failed\"} 2\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

async fn a_wrong_redirect_uri_at_redemption_fails(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        &format!("{STOREFRONT}/"),
        &storefront.verifier,
    )
    .await
    .expect_error(400, "authentication failed");

    // A registered URI with a query of its own gets the code appended with `&`.
    let mut storefront = Storefront::new();
    storefront.redirect_uri = "http://localhost:3000/cb?shop=1".to_owned();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let back = browse(&app, &location(&to_callback, 303)).await;
    let target = location(&back, 303);
    assert!(
        target.starts_with("http://localhost:3000/cb?shop=1&code="),
        "{target}"
    );
    let query = query_of(&target);
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        &storefront.redirect_uri,
        &storefront.verifier,
    )
    .await
    .expect(201);
}

async fn a_code_works_once_and_only_for_five_minutes(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    // Any caller class may redeem: here an Admin.
    redeem(
        &app,
        &setup.admin,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect(201);
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect_error(400, "authentication failed");

    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    app.clock.advance_seconds(301);
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect_error(400, "authentication failed");

    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    app.clock.advance_seconds(299);
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect(201);
}

async fn a_code_redeemed_twice_at_once_works_once(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    let (first, second) = tokio::join!(
        redeem(
            &app,
            &setup.implicit,
            &query["code"],
            STOREFRONT,
            &storefront.verifier
        ),
        redeem(
            &app,
            &setup.implicit,
            &query["code"],
            STOREFRONT,
            &storefront.verifier
        ),
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 400]);
    assert_eq!(user_count(&app, &setup.admin).await, 1);
}

async fn an_expired_login_record_is_refused_at_the_callback(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let callback = location(&to_callback, 303);
    app.clock.advance_seconds(601);
    assert_oauth_error(&browse(&app, &callback).await, 400, "invalid_request");
    // The provider was never asked to exchange the code.
    assert!(setup.idp.state.token_requests.lock().unwrap().is_empty());

    // Just inside the ten minutes it works.
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let callback = location(&to_callback, 303);
    app.clock.advance_seconds(599);
    let target = location(&browse(&app, &callback).await, 303);
    assert!(query_of(&target).contains_key("code"));
}

async fn a_login_deleted_with_its_profile_fails_at_redemption(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let query = browser_login(&app, &setup, &storefront).await;
    app.delete(&app.realm_path(&format!("/oidc-profiles/{}", setup.profile_id())))
        .bearer(&setup.admin)
        .send()
        .await
        .expect(204);
    redeem(
        &app,
        &setup.implicit,
        &query["code"],
        STOREFRONT,
        &storefront.verifier,
    )
    .await
    .expect_error(400, "authentication failed");
}

async fn provider_errors_reach_the_storefront(app: TestApp) {
    let setup = setup(&app).await;
    setup.idp.behave(|behaviour| {
        behaviour.authorize_error = Some(("login_required".into(), "the user must log in".into()));
    });
    let query = failed_callback(&app, &setup).await;
    assert_eq!(query["error"], "login_required");
    assert_eq!(query["error_description"], "the user must log in");
    assert!(setup.idp.state.token_requests.lock().unwrap().is_empty());
}

async fn a_provider_down_at_the_token_endpoint_gives_server_error(app: TestApp) {
    let setup = setup(&app).await;
    for (status, error) in [
        (reqwest::StatusCode::SERVICE_UNAVAILABLE, "server_error"),
        (reqwest::StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        (reqwest::StatusCode::BAD_REQUEST, "access_denied"),
        (reqwest::StatusCode::UNAUTHORIZED, "access_denied"),
    ] {
        setup
            .idp
            .behave(|behaviour| behaviour.token_status = Some(status));
        assert_eq!(
            failed_callback(&app, &setup).await["error"],
            error,
            "{status}"
        );
    }
    // Nothing listening at the token endpoint: unreachable, so server_error too. (The new
    // discovery document is picked up once the cached one is an hour old.)
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    setup.idp.behave(|behaviour| {
        behaviour.token_status = None;
        behaviour.token_endpoint = Some(format!("http://{closed}/token"));
    });
    app.clock.advance_seconds(3601);
    assert_eq!(failed_callback(&app, &setup).await["error"], "server_error");
    assert_eq!(setup.idp.state.discovery_fetches.load(Ordering::SeqCst), 2);

    // A wrong client secret is the provider's 401: access denied.
    setup
        .idp
        .behave(|behaviour| behaviour.token_endpoint = None);
    app.clock.advance_seconds(3601);
    let admin = app.admin_token().await;
    app.put(&app.realm_path(&format!("/oidc-profiles/{}", setup.profile_id())))
        .bearer(&admin)
        .json(json!({"data": {"type": "oidc-profile", "client_secret": "wrong"}}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        failed_callback(&app, &setup).await["error"],
        "access_denied"
    );
}

async fn the_login_endpoint_answers_400_where_it_cannot_redirect(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let store_id = app.state.deployment.store_id;
    let realm = app.realm_id;
    let path =
        |store: String, realm: String, profile: Option<String>, params: Vec<(String, String)>| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(profile) = profile {
                query.append_pair("elasticpath_commerce_cloud_profile_id", &profile);
            }
            query.extend_pairs(params);
            format!(
                "/oidc-idp/login/stores/{store}/authentication-realms/{realm}?{}",
                query.finish()
            )
        };
    let profile = Some(setup.profile_id());
    let good = storefront.params(&[]);
    let cases = [
        (
            path(
                uuid::Uuid::new_v4().to_string(),
                realm.to_string(),
                profile.clone(),
                good.clone(),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                uuid::Uuid::new_v4().to_string(),
                profile.clone(),
                good.clone(),
            ),
            "invalid_request",
        ),
        (
            path("x".into(), realm.to_string(), profile.clone(), good.clone()),
            "invalid_request",
        ),
        (
            path(store_id.to_string(), realm.to_string(), None, good.clone()),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                Some(uuid::Uuid::new_v4().to_string()),
                good.clone(),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                Some("nope".into()),
                good.clone(),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[("client_id", None)]),
            ),
            "invalid_client",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[("client_id", Some("accounts"))]),
            ),
            "invalid_client",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[("redirect_uri", None)]),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[("redirect_uri", Some("https://evil.example.com/cb"))]),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[(
                    "redirect_uri",
                    Some("https://shop.example.com/auth/callback/"),
                )]),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[(
                    "redirect_uri",
                    Some("HTTPS://shop.example.com/auth/callback"),
                )]),
            ),
            "invalid_request",
        ),
        (
            path(
                store_id.to_string(),
                realm.to_string(),
                profile.clone(),
                storefront.params(&[(
                    "redirect_uri",
                    Some("https://shop.example.com/auth/callback?x=1"),
                )]),
            ),
            "invalid_request",
        ),
    ];
    for (path, error) in cases {
        let reply = app.get(&path).send().await;
        assert_oauth_error(&reply, 400, error);
        assert!(reply.header("location").is_none(), "{path}");
    }
    // A repeated redirect_uri is ambiguous: not redirectable either.
    let mut twice = good.clone();
    twice.push(("redirect_uri".into(), STOREFRONT.into()));
    let reply = app
        .get(&path(
            store_id.to_string(),
            realm.to_string(),
            profile.clone(),
            twice,
        ))
        .send()
        .await;
    assert_oauth_error(&reply, 400, "invalid_request");
    // Nothing reached the provider.
    assert!(
        setup
            .idp
            .state
            .authorize_requests
            .lock()
            .unwrap()
            .is_empty()
    );
}

async fn the_login_endpoint_redirects_other_errors_with_307(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let long_state = "s".repeat(2049);
    // (parameter changes, expected error, whether the storefront's state comes back)
    type Case<'a> = (Vec<(&'a str, Option<&'a str>)>, &'a str, bool);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
            true,
        ),
        (
            vec![("response_type", None)],
            "unsupported_response_type",
            true,
        ),
        (
            vec![("scope", Some("email profile"))],
            "invalid_scope",
            true,
        ),
        (vec![("scope", Some("openidx"))], "invalid_scope", true),
        (vec![("scope", None)], "invalid_scope", true),
        (vec![("state", None)], "invalid_request", false),
        (vec![("state", Some(""))], "invalid_request", false),
        (
            vec![("state", Some(long_state.as_str()))],
            "invalid_request",
            false,
        ),
        (vec![("code_challenge", None)], "invalid_request", true),
        (
            vec![("code_challenge", Some("too-short"))],
            "invalid_request",
            true,
        ),
        (
            vec![(
                "code_challenge",
                Some("++++++++++++++++++++++++++++++++++++++++++="),
            )],
            "invalid_request",
            true,
        ),
        (
            vec![("code_challenge_method", None)],
            "invalid_request",
            true,
        ),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
            true,
        ),
        (
            vec![("ep_report_callback_replay_error", Some("yes"))],
            "invalid_request",
            true,
        ),
    ];
    for (changes, error, echoes_state) in cases {
        let reply = browse(&app, &login_url(&setup, &storefront.params(&changes))).await;
        let target = location(&reply, 307);
        assert!(target.starts_with(&format!("{STOREFRONT}?")), "{target}");
        let query = query_of(&target);
        assert_eq!(query["error"], error, "{changes:?}");
        assert!(query.contains_key("error_description"));
        if echoes_state {
            assert_eq!(query["state"], storefront.state, "{changes:?}");
        } else {
            assert!(!query.contains_key("state"), "{changes:?}");
        }
    }
    // A state of exactly 2048 characters is fine.
    let max_state = "s".repeat(2048);
    let reply = browse(
        &app,
        &login_url(&setup, &storefront.params(&[("state", Some(&max_state))])),
    )
    .await;
    location(&reply, 303);
    assert_eq!(setup.idp.state.authorize_requests.lock().unwrap().len(), 0);
}

async fn discovery_unavailable_at_login_gives_temporarily_unavailable(app: TestApp) {
    let setup = setup(&app).await;
    setup.idp.behave(|behaviour| {
        behaviour.discovery_status = Some(reqwest::StatusCode::BAD_GATEWAY);
    });
    // The cached document still serves for the hour.
    sign_in(&app, &setup).await;
    app.clock.advance_seconds(3601);
    let storefront = Storefront::new();
    let reply = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let query = query_of(&location(&reply, 307));
    assert_eq!(query["error"], "temporarily_unavailable");
    assert_eq!(query["state"], storefront.state);
}

async fn the_callback_refuses_unknown_states_and_paths(app: TestApp) {
    let setup = setup(&app).await;
    let callback = setup.profile["links"]["callback-endpoint"]
        .as_str()
        .unwrap();
    for query in [
        "",
        "?code=x",
        "?state=unknown&code=x",
        "?state=a&state=b&code=x",
    ] {
        assert_oauth_error(
            &browse(&app, &format!("{callback}{query}")).await,
            400,
            "invalid_request",
        );
    }
    // A real state, but through another profile's callback, is unknown there.
    let other = create_profile(&app, &setup.admin, &setup.idp.discovery_url()).await;
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let real = location(&to_callback, 303);
    let elsewhere = real.replace(&setup.profile_id(), other["id"].as_str().unwrap());
    assert_oauth_error(&browse(&app, &elsewhere).await, 400, "invalid_request");
    let wrong_store = real.replace(
        &app.state.deployment.store_id.to_string(),
        &uuid::Uuid::new_v4().to_string(),
    );
    assert_oauth_error(&browse(&app, &wrong_store).await, 400, "invalid_request");
    // ... and was not spent by those attempts.
    assert!(query_of(&location(&browse(&app, &real).await, 303)).contains_key("code"));
}

async fn a_redirect_uri_unregistered_meanwhile_is_not_used(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let to_callback = browse(&app, &location(&to_provider, 303)).await;
    let callback = location(&to_callback, 303);
    app.put(&app.realm_path(""))
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "authentication-realm", "redirect_uris": []}}))
        .send()
        .await
        .expect(200);
    let reply = browse(&app, &callback).await;
    assert_oauth_error(&reply, 400, "invalid_request");
    assert!(reply.header("location").is_none());
}

async fn oidc_token_request(app: &TestApp, bearer: &str, data: Value) -> Reply {
    app.post("/v2/account-members/tokens")
        .bearer(bearer)
        .json(json!({"data": data}))
        .send()
        .await
}

async fn the_oidc_mechanism_validates_its_fields(app: TestApp) {
    let implicit = app.implicit_token().await;
    oidc_token_request(
        &app,
        &implicit,
        json!({"type": TOKEN_TYPE, "authentication_mechanism": "oidc"}),
    )
    .await
    .expect_error(
        422,
        "Validation failed: field 'OAuthAuthorizationCode' on the 'cannot_be_empty' tag; field 'OAuthRedirectURI' on the 'cannot_be_empty' tag; field 'OAuthCodeVerifier' on the 'cannot_be_empty' tag.",
    );
    oidc_token_request(
        &app,
        &implicit,
        json!({"type": TOKEN_TYPE, "authentication_mechanism": "oidc", "oauth_authorization_code": "", "oauth_redirect_uri": 5, "oauth_code_verifier": "v"}),
    )
    .await
    .expect_error(
        422,
        "Validation failed: field 'OAuthAuthorizationCode' on the 'cannot_be_empty' tag; field 'OAuthRedirectURI' on the 'string' tag.",
    );
    oidc_token_request(
        &app,
        &implicit,
        json!({"type": TOKEN_TYPE, "authentication_mechanism": "oidc", "oauth_authorization_code": "nope", "oauth_redirect_uri": STOREFRONT, "oauth_code_verifier": "v".repeat(43)}),
    )
    .await
    .expect_error(400, "authentication failed");
    app.post("/v2/account-members/tokens")
        .json(json!({"data": {"type": TOKEN_TYPE, "authentication_mechanism": "oidc"}}))
        .send()
        .await
        .expect_error(401, "Unable to validate access token");
}

async fn the_client_secret_appears_in_no_response_and_no_log_line(app: TestApp) {
    let setup = setup(&app).await;
    let tokens = sign_in(&app, &setup).await;
    assert!(!tokens.to_string().contains(idp::CLIENT_SECRET));
    let list = app
        .get(&app.realm_path("/oidc-profiles"))
        .bearer(&setup.admin)
        .send()
        .await;
    assert!(!list.text.contains(idp::CLIENT_SECRET));
    assert!(!list.text.contains("client_secret"));
    // Also with the provider failing, when errors are logged.
    setup.idp.behave(|behaviour| {
        behaviour.token_status = Some(reqwest::StatusCode::BAD_GATEWAY);
    });
    failed_callback(&app, &setup).await;
    let logs = captured_logs();
    assert!(!logs.contains(idp::CLIENT_SECRET));
    assert!(!logs.contains("idp-client-secret"));
}

async fn the_janitor_purges_expired_logins_and_codes(app: TestApp) {
    let setup = setup(&app).await;
    let storefront = Storefront::new();
    browser_login(&app, &setup, &storefront).await;
    // And one the browser never finished.
    let abandoned = browse(&app, &login_url(&setup, &Storefront::new().params(&[]))).await;
    location(&abandoned, 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_logins").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_codes").await, 1);
    accountd::app::janitor_pass(&app.state).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_logins").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_codes").await, 1);
    app.clock.advance_seconds(601);
    accountd::app::janitor_pass(&app.state).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_logins").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM oidc_codes").await, 0);
}

// ---- Mix-ups and destinations: issuer, iat, email_verified, where providers may be ----------

async fn the_issuer_must_be_the_discovery_urls_own_when_saved(app: TestApp) {
    let admin = app.admin_token().await;
    let idp = TestIdp::start(app.clock.clone()).await;
    let create = |discovery_url: String| {
        app.post(&app.realm_path("/oidc-profiles"))
            .bearer(&admin)
            .json(json!({"data": {
                "type": "oidc-profile", "name": "x", "discovery_url": discovery_url,
                "client_id": "c", "client_secret": "s",
            }}))
            .send()
    };
    for published in [
        format!("{}/tenant", idp.issuer),
        "https://another-provider.example.com".to_owned(),
        format!("{}//", idp.issuer),
        idp.issuer.replace("127.0.0.1", "localhost"),
    ] {
        idp.behave(|behaviour| behaviour.published_issuer = Some(published.clone()));
        create(idp.discovery_url())
            .await
            .expect_error(422, "issuer does not match the discovery URL");
    }
    // One trailing slash on the issuer is allowed.
    idp.behave(|behaviour| behaviour.published_issuer = Some(format!("{}/", idp.issuer)));
    let slashed = create(idp.discovery_url()).await.expect(201);
    assert_eq!(
        slashed["data"]["meta"]["issuer"],
        format!("{}/", idp.issuer)
    );

    // A PUT to another provider's URL is held to the same rule and changes nothing on refusal.
    idp.behave(|behaviour| behaviour.published_issuer = None);
    let profile = create_profile(&app, &admin, &idp.discovery_url()).await;
    let other = TestIdp::start(app.clock.clone()).await;
    other.behave(|behaviour| behaviour.published_issuer = Some(idp.issuer.clone()));
    let path = app.realm_path(&format!(
        "/oidc-profiles/{}",
        profile["id"].as_str().unwrap()
    ));
    app.put(&path)
        .bearer(&admin)
        .json(json!({"data": {"type": "oidc-profile", "discovery_url": other.discovery_url()}}))
        .send()
        .await
        .expect_error(422, "issuer does not match the discovery URL");
    let read = app.get(&path).bearer(&admin).send().await.expect(200);
    assert_eq!(read["data"], profile);
}

async fn an_issuer_that_changes_later_is_refused_at_sign_in(app: TestApp) {
    let setup = setup(&app).await;
    let users = user_count(&app, &setup.admin).await;
    let impostor = "https://impostor.example.com".to_owned();

    // At the callback: the login starts with the document cached at save time; by the callback
    // the cache has run out and the provider now names another issuer.
    app.clock.advance_seconds(55 * 60);
    let storefront = Storefront::new();
    let to_provider = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let authorize = location(&to_provider, 303);
    setup
        .idp
        .behave(|behaviour| behaviour.published_issuer = Some(impostor.clone()));
    app.clock.advance_seconds(6 * 60);
    let to_callback = browse(&app, &authorize).await;
    let back = browse(&app, &location(&to_callback, 303)).await;
    let query = query_of(&location(&back, 303));
    assert_eq!(query["error"], "access_denied", "{query:?}");
    assert_eq!(query["state"], storefront.state);
    assert!(!query.contains_key("code"));

    // At the login endpoint: the refetched document is refused, so the browser never goes to the
    // provider.
    let authorize_requests = setup.idp.state.authorize_requests.lock().unwrap().len();
    let storefront = Storefront::new();
    let reply = browse(&app, &login_url(&setup, &storefront.params(&[]))).await;
    let query = query_of(&location(&reply, 307));
    assert_eq!(query["error"], "temporarily_unavailable");
    assert_eq!(
        setup.idp.state.authorize_requests.lock().unwrap().len(),
        authorize_requests
    );
    // Bearer tokens last an hour.
    let admin = app.admin_token().await;
    assert_eq!(user_count(&app, &admin).await, users);

    // The provider's own issuer again: sign-in works.
    setup
        .idp
        .behave(|behaviour| behaviour.published_issuer = None);
    app.clock.advance_seconds(3601);
    let mut setup = setup;
    setup.implicit = app.implicit_token().await;
    sign_in(&app, &setup).await;
}

async fn an_explicitly_unverified_email_is_refused_unless_the_profile_allows_it(app: TestApp) {
    let setup = setup(&app).await;
    assert_eq!(setup.profile["allow_unverified_email"], false);
    let users = user_count(&app, &setup.admin).await;
    for unverified in [json!(false), json!("false")] {
        setup.idp.set_claim("email_verified", unverified.clone());
        let query = failed_callback(&app, &setup).await;
        assert_eq!(query["error"], "access_denied", "{unverified}");
    }
    // From UserInfo too, when the email comes from there.
    setup.idp.set_claim("email_verified", json!(false));
    setup
        .idp
        .behave(|behaviour| behaviour.email_only_in_userinfo = true);
    assert_eq!(
        failed_callback(&app, &setup).await["error"],
        "access_denied"
    );
    assert_eq!(user_count(&app, &setup.admin).await, users);

    // A verified email, or none said either way, signs in.
    setup.idp.set_claim("email_verified", json!(true));
    sign_in(&app, &setup).await;
    setup.idp.behave(|behaviour| {
        behaviour.claims.remove("email_verified");
        behaviour.email_only_in_userinfo = false;
    });
    sign_in(&app, &setup).await;

    // The profile may accept unverified emails.
    let path = app.realm_path(&format!("/oidc-profiles/{}", setup.profile_id()));
    let updated = app
        .put(&path)
        .bearer(&setup.admin)
        .json(json!({"data": {"type": "oidc-profile", "allow_unverified_email": true}}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["allow_unverified_email"], true);
    let read = app
        .get(&path)
        .bearer(&setup.implicit)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"]["allow_unverified_email"], true);
    setup.idp.set_claim("email_verified", json!(false));
    sign_in(&app, &setup).await;
}

async fn internal_provider_destinations_are_refused_when_saved(app: TestApp) {
    let mut config = crate::helpers::test_config(&app.database_url);
    config.destinations.allow_private = false;
    let strict = crate::helpers::spawn_app(config).await;
    let admin = strict.admin_token().await;
    let idp = TestIdp::start(app.clock.clone()).await;
    let port = idp.issuer.rsplit(':').next().unwrap().to_owned();
    for url in [
        // The test provider itself: loopback over plain http.
        idp.discovery_url(),
        format!("https://127.0.0.1:{port}/.well-known/openid-configuration"),
        format!("https://localhost:{port}/.well-known/openid-configuration"),
        "https://169.254.169.254/.well-known/openid-configuration".to_owned(),
        "https://[fd00::1]/.well-known/openid-configuration".to_owned(),
        "https://10.0.0.1/.well-known/openid-configuration".to_owned(),
        "https://user:pass@93.184.216.34/.well-known/openid-configuration".to_owned(),
        "http://93.184.216.34/.well-known/openid-configuration".to_owned(),
    ] {
        strict
            .post(&strict.realm_path("/oidc-profiles"))
            .bearer(&admin)
            .json(json!({"data": {
                "type": "oidc-profile", "name": "x", "discovery_url": url,
                "client_id": "c", "client_secret": "s",
            }}))
            .send()
            .await
            .expect_error(422, "destination is not allowed");
    }
    assert_eq!(idp.state.discovery_fetches.load(Ordering::SeqCst), 0);
}

async fn a_provider_that_is_not_allowed_now_is_never_contacted(app: TestApp) {
    let setup = setup(&app).await;
    let fetches = setup.idp.state.discovery_fetches.load(Ordering::SeqCst);
    app.shut_down().await;
    let mut config = crate::helpers::test_config(&app.database_url);
    config.destinations.allow_private = false;
    let strict = crate::helpers::spawn_app(config).await;
    let storefront = Storefront::new();
    let login = login_url(&setup, &storefront.params(&[]));
    let reply = browse(&strict, &login).await;
    let query = query_of(&location(&reply, 307));
    assert_eq!(query["error"], "temporarily_unavailable");
    assert_eq!(
        setup.idp.state.discovery_fetches.load(Ordering::SeqCst),
        fetches,
        "the provider was contacted"
    );
}
