//! The OpenAPI document: valid OpenAPI 3.1, served without a bearer token, listing every
//! route the server has — and only those — with schemas and error responses.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::TestApp;
use crate::tests;

tests![
    the_document_is_valid_openapi_and_needs_no_bearer,
    the_document_lists_exactly_the_routes_of_the_server,
    every_documented_route_is_served,
    operations_document_bodies_responses_and_errors,
    the_docs_page_renders_the_document,
];

/// Every route of accountd, by (method, path template). A route added to the server must be
/// added here too: the test below fails otherwise.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/docs"),
    ("GET", "/v2/openapi.json"),
    ("POST", "/oauth/access_token"),
    ("POST", "/oauth/introspect"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/v2/account-members/tokens"),
    ("GET", "/v2/account-members/tokens/verify"),
    ("GET", "/v2/accounts"),
    ("POST", "/v2/accounts"),
    ("GET", "/v2/accounts/{account_id}"),
    ("PUT", "/v2/accounts/{account_id}"),
    ("DELETE", "/v2/accounts/{account_id}"),
    ("GET", "/v2/accounts/{account_id}/account-memberships"),
    ("POST", "/v2/accounts/{account_id}/account-memberships"),
    (
        "GET",
        "/v2/accounts/{account_id}/account-memberships/unassigned-account-members",
    ),
    (
        "GET",
        "/v2/accounts/{account_id}/account-memberships/{membership_id}",
    ),
    (
        "PUT",
        "/v2/accounts/{account_id}/account-memberships/{membership_id}",
    ),
    (
        "DELETE",
        "/v2/accounts/{account_id}/account-memberships/{membership_id}",
    ),
    ("GET", "/v2/account-members"),
    ("GET", "/v2/account-members/{account_member_id}"),
    (
        "GET",
        "/v2/account-members/{account_member_id}/account-memberships",
    ),
    ("DELETE", "/v2/account-members/{account_member_id}/tokens"),
    ("GET", "/v2/account-members/{account_member_id}/lockout"),
    ("DELETE", "/v2/account-members/{account_member_id}/lockout"),
    ("GET", "/v2/audit-events"),
    (
        "GET",
        "/oidc-idp/login/stores/{store_id}/authentication-realms/{realm_id}",
    ),
    (
        "GET",
        "/oidc-idp/callback/stores/{store_id}/authentication-realms/{realm_id}/oidc-profiles/{profile_id}",
    ),
    (
        "GET",
        "/oidc-idp/stores/{store_id}/authentication-realms/{realm_id}/.well-known/openid-configuration",
    ),
    ("GET", "/v2/authentication-realms/{realm_id}/oidc-profiles"),
    ("POST", "/v2/authentication-realms/{realm_id}/oidc-profiles"),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/oidc-profiles/{profile_id}",
    ),
    (
        "PUT",
        "/v2/authentication-realms/{realm_id}/oidc-profiles/{profile_id}",
    ),
    (
        "DELETE",
        "/v2/authentication-realms/{realm_id}/oidc-profiles/{profile_id}",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info",
    ),
    (
        "POST",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info/{info_id}",
    ),
    (
        "PUT",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info/{info_id}",
    ),
    (
        "DELETE",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-oidc-profile-info/{info_id}",
    ),
    ("GET", "/v2/integrations"),
    ("POST", "/v2/integrations"),
    ("GET", "/v2/integrations/logs"),
    ("GET", "/v2/integrations/{integration_id}"),
    ("PUT", "/v2/integrations/{integration_id}"),
    ("DELETE", "/v2/integrations/{integration_id}"),
    ("GET", "/v2/integrations/{integration_id}/logs"),
    ("POST", "/v2/integrations/{integration_id}/test-event"),
    (
        "POST",
        "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}/one-time-password-token-request",
    ),
    ("GET", "/v2/application-keys"),
    ("POST", "/v2/application-keys"),
    ("GET", "/v2/application-keys/{application_key_id}"),
    ("PUT", "/v2/application-keys/{application_key_id}"),
    ("DELETE", "/v2/application-keys/{application_key_id}"),
    ("GET", "/v2/settings/account-authentication"),
    ("PUT", "/v2/settings/account-authentication"),
    ("GET", "/v2/settings/account-membership"),
    ("PUT", "/v2/settings/account-membership"),
    ("GET", "/v2/authentication-realms"),
    ("GET", "/v2/authentication-realms/{realm_id}"),
    ("PUT", "/v2/authentication-realms/{realm_id}"),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/password-profiles",
    ),
    (
        "POST",
        "/v2/authentication-realms/{realm_id}/password-profiles",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}",
    ),
    (
        "PUT",
        "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}",
    ),
    (
        "DELETE",
        "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/user-authentication-info",
    ),
    (
        "POST",
        "/v2/authentication-realms/{realm_id}/user-authentication-info",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}",
    ),
    (
        "PUT",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}",
    ),
    (
        "DELETE",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info",
    ),
    (
        "POST",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info",
    ),
    (
        "GET",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info/{info_id}",
    ),
    (
        "PUT",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info/{info_id}",
    ),
    (
        "DELETE",
        "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info/{info_id}",
    ),
];

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn document(app: &TestApp) -> Value {
    let reply = app.get("/v2/openapi.json").send().await;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.expect(200)
}

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

async fn the_document_is_valid_openapi_and_needs_no_bearer(app: TestApp) {
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    let parsed: oas3::Spec =
        serde_json::from_value(document.clone()).expect("a valid OpenAPI 3.1 document");
    assert_eq!(parsed.info.title, "accountd");
    let ids: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| METHODS.iter().filter_map(|method| item.get(*method)))
        .map(|operation| operation["operationId"].as_str().expect("an operation id"))
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "operation ids are unique");
    // Every $ref resolves.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let name = target.trim_start_matches("#/components/schemas/");
        assert!(
            document["components"]["schemas"].get(name).is_some(),
            "dangling {target}"
        );
    }
}

async fn the_document_lists_exactly_the_routes_of_the_server(app: TestApp) {
    let documented = operations(&document(&app).await);
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented routes this test does not know: {unknown:?}"
    );
}

async fn every_documented_route_is_served(app: TestApp) {
    let admin = app.admin_token().await;
    let mut unserved = Vec::new();
    for (method, path) in operations(&document(&app).await) {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let reply = app
            .call(method.clone(), &concrete)
            .bearer(&admin)
            .raw("{}")
            .send()
            .await;
        let route_missing =
            reply.status == 405 || (reply.status == 404 && reply.text.contains("route not found"));
        if route_missing || reply.status.is_server_error() {
            unserved.push(format!(
                "{method} {concrete}: {} {}",
                reply.status, reply.text
            ));
        }
    }
    assert!(
        unserved.is_empty(),
        "documented but not served:\n{}",
        unserved.join("\n")
    );
}

async fn operations_document_bodies_responses_and_errors(app: TestApp) {
    let document = document(&app).await;
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            // Browser endpoints succeed with a redirect.
            responses
                .keys()
                .any(|status| status.starts_with('2') || status.starts_with('3')),
            "{method} {path} documents no success"
        );
        let public = [
            "/healthz",
            "/readyz",
            "/docs",
            "/v2/openapi.json",
            "/.well-known/jwks.json",
        ]
        .contains(&path.as_str())
            || path.starts_with("/oidc-idp/");
        if !public {
            assert!(
                responses.keys().any(|status| status.starts_with('4')),
                "{method} {path} documents no error response"
            );
        }
        // A test event is asked for by its address alone.
        let bodyless = path.ends_with("/test-event");
        if (method == "POST" || method == "PUT") && !public && !bodyless {
            assert!(
                operation.get("requestBody").is_some(),
                "{method} {path} documents no body"
            );
        }
        if path.starts_with("/v2/") && path != "/v2/openapi.json" {
            assert!(
                operation.get("security").is_some(),
                "{method} {path} documents no credentials"
            );
        }
    }
    assert!(
        document["components"]["securitySchemes"]
            .get("bearer")
            .is_some()
    );
    assert!(
        document["components"]["securitySchemes"]
            .get("account_token")
            .is_some()
    );
    assert!(
        document["components"]["securitySchemes"]
            .get("basic")
            .is_some()
    );
}

async fn the_docs_page_renders_the_document(app: TestApp) {
    let reply = app.get("/docs").send().await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for (_, path) in ROUTES {
        let escaped = path.replace('&', "&amp;");
        assert!(reply.text.contains(&escaped), "/docs does not show {path}");
    }
    assert!(
        !reply.text.contains("<script"),
        "the page needs no script from anywhere"
    );
}
