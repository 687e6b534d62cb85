//! HTTP conventions every endpoint shares (docs/http-conventions.md): the error envelope, unknown
//! routes and methods, body limits, malformed bodies, probes.

use serde_json::json;

use crate::helpers::{TestApp, captured_logs, shopper_in};
use crate::tests;

tests![
    unknown_routes_answer_json_404,
    unsupported_methods_answer_json_405,
    oversized_bodies_answer_413,
    malformed_json_answers_400_on_resources,
    data_must_be_an_object_on_resources,
    probes_answer,
    every_response_carries_a_request_id,
    json_answers_say_so_and_are_whole,
    browsers_get_cors_answers,
    a_client_that_trickles_its_headers_is_cut_off,
    generated_bodies_never_cause_a_server_error,
    a_handler_that_panics_answers_the_generic_500,
];

async fn unknown_routes_answer_json_404(app: TestApp) {
    let admin = app.admin_token().await;
    app.get("/v2/nothing-here")
        .bearer(&admin)
        .send()
        .await
        .expect_error(404, "route not found");
    app.get("/nowhere")
        .send()
        .await
        .expect_error(404, "route not found");
}

async fn unsupported_methods_answer_json_405(app: TestApp) {
    let admin = app.admin_token().await;
    // Realms are preset (docs/decisions.md#one-preset-realm): no create, no delete. Routing comes
    // before authentication.
    app.post("/v2/authentication-realms")
        .json(json!({"data": {"type": "authentication-realm", "name": "x"}}))
        .send()
        .await
        .expect_error(405, "method not allowed");
    app.delete(&app.realm_path(""))
        .bearer(&admin)
        .send()
        .await
        .expect_error(405, "method not allowed");
    app.post("/v2/account-members")
        .bearer(&admin)
        .send()
        .await
        .expect_error(405, "method not allowed");
}

async fn oversized_bodies_answer_413(app: TestApp) {
    let admin = app.admin_token().await;
    let name = "x".repeat(1024 * 1024);
    app.post("/v2/accounts")
        .bearer(&admin)
        .json(json!({"data": {"type": "account", "name": name}}))
        .send()
        .await
        .expect_error(413, "request body too large");
}

async fn malformed_json_answers_400_on_resources(app: TestApp) {
    let admin = app.admin_token().await;
    for body in ["{", "", "nul", "{\"data\": {\"type\": \"account\",}}"] {
        app.post("/v2/accounts")
            .bearer(&admin)
            .raw(body)
            .send()
            .await
            .expect_error(400, "Could not parse the request body");
    }
}

async fn data_must_be_an_object_on_resources(app: TestApp) {
    let admin = app.admin_token().await;
    for body in [
        json!({}),
        json!({"data": []}),
        json!({"data": null}),
        json!("x"),
    ] {
        app.post("/v2/accounts")
            .bearer(&admin)
            .json(body)
            .send()
            .await
            .expect_error(
                400,
                "Validation failed: field 'Data' on the 'required' tag.",
            );
    }
}

async fn probes_answer(app: TestApp) {
    assert_eq!(app.get("/healthz").send().await.expect(200)["status"], "ok");
    assert_eq!(
        app.get("/readyz").send().await.expect(200)["status"],
        "ready"
    );
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let reply = app.get("/healthz").send().await;
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty())
    );
    let reply = app
        .get("/healthz")
        .header("X-Request-Id", "trace-me")
        .send()
        .await;
    assert_eq!(reply.header("x-request-id"), Some("trace-me"));
}

/// One of each way a JSON body is written (a created resource, a read, a list, a token list of
/// several tokens): the content type, a body that parses whole, and its length on the wire.
async fn json_answers_say_so_and_are_whole(app: TestApp) {
    let admin = app.admin_token().await;
    let names = ["Body A", "Body B", "Body C", "Body D"];
    let shopper = shopper_in(&app, &admin, &names).await;
    let implicit = app.implicit_token().await;
    let account = format!("/v2/accounts/{}", shopper.accounts[0]);
    let replies = [
        (
            201,
            app.post("/v2/accounts")
                .bearer(&admin)
                .json(json!({"data": {"type": "account", "name": "Body E"}}))
                .send()
                .await,
        ),
        (200, app.get(&account).bearer(&admin).send().await),
        (200, app.get("/v2/accounts").bearer(&admin).send().await),
        (201, app.log_in(&implicit, &shopper).await),
    ];
    for (status, reply) in &replies {
        let body = reply.expect(*status);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(
            reply.header("content-length"),
            Some(reply.text.len().to_string().as_str())
        );
        assert!(
            body["data"].is_object() || body["data"].is_array(),
            "{body}"
        );
    }
    let [_, _, (_, list), (_, tokens)] = &replies;
    assert_eq!(list.json()["data"].as_array().map(Vec::len), Some(5));
    let tokens = tokens.json();
    let tokens = tokens["data"].as_array().expect("token list");
    assert_eq!(tokens.len(), names.len());
    assert!(tokens.iter().all(|token| {
        token["token"]
            .as_str()
            .is_some_and(|jwt| jwt.split('.').count() == 3)
    }));
}

async fn browsers_get_cors_answers(app: TestApp) {
    let preflight = app
        .call(reqwest::Method::OPTIONS, "/oauth/access_token")
        .header("Origin", "https://shop.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type, x-moltin-sdk-language",
        )
        .send()
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("content-type, x-moltin-sdk-language")
    );
    let refused = app
        .call(reqwest::Method::OPTIONS, "/v2/accounts")
        .header("Origin", "https://shop.example.com")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-secret-header")
        .send()
        .await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let admin = app.admin_token().await;
    let simple = app
        .get("/v2/accounts")
        .bearer(&admin)
        .header("Origin", "https://shop.example.com")
        .send()
        .await;
    assert_eq!(simple.header("access-control-allow-origin"), Some("*"));
    let probe = app
        .get("/healthz")
        .header("Origin", "https://shop.example.com")
        .send()
        .await;
    assert_eq!(
        probe.header("access-control-allow-origin"),
        None,
        "probes are not for browsers"
    );
}

async fn a_client_that_trickles_its_headers_is_cut_off(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = crate::helpers::test_config(&app.database_url);
    config.header_read_timeout = std::time::Duration::from_millis(300);
    let server = crate::helpers::spawn_app(config).await;
    let address = server.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The head never completes: the server must close the connection on its own.
    let mut buffer = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buffer),
    )
    .await;
    assert!(
        closed.is_ok(),
        "the connection was held open past the header deadline"
    );
    // A client that sends its head in time is served as usual.
    server.get("/healthz").send().await.expect(200);
}

/// Hostile and random bodies on every kind of write: always a 4xx (or a success), never a 5xx.
async fn generated_bodies_never_cause_a_server_error(app: TestApp) {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,30}".prop_map(serde_json::Value::String),
        Just(json!("\u{0}")),
        Just(json!("account_management_authentication_token")),
        Just(json!("password")),
        Just(json!(uuid::Uuid::new_v4())),
    ];
    let fields = prop::collection::btree_map(
        prop_oneof![
            Just("type".to_owned()),
            Just("name".to_owned()),
            Just("email".to_owned()),
            Just("password".to_owned()),
            Just("username".to_owned()),
            Just("password_profile_id".to_owned()),
            Just("authentication_mechanism".to_owned()),
            Just("parent_id".to_owned()),
            Just("redirect_uris".to_owned()),
            "[a-z_]{1,10}",
        ],
        leaf,
        0..6,
    );
    let body = (fields, any::<u8>()).prop_map(|(fields, shape)| match shape % 4 {
        0 => json!({"data": fields}),
        1 => json!({"data": [fields]}),
        2 => json!(fields),
        _ => json!({"data": {"data": fields}}),
    });
    let paths = [
        "/v2/accounts".to_owned(),
        "/v2/account-members/tokens".to_owned(),
        "/v2/application-keys".to_owned(),
        "/v2/integrations".to_owned(),
        app.realm_path("/password-profiles"),
        app.realm_path("/user-authentication-info"),
        app.realm_path("/oidc-profiles"),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 60,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    let mut failures = Vec::new();
    for case in 0..60 {
        let body = body.new_tree(&mut runner).unwrap().current();
        let path = &paths[case % paths.len()];
        let bearer = if case % 3 == 0 { &implicit } else { &admin };
        let reply = app
            .post(path)
            .bearer(bearer)
            .json(body.clone())
            .send()
            .await;
        if reply.status.is_server_error() {
            failures.push(format!(
                "POST {path} {body}: {} {}",
                reply.status, reply.text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "server errors:\n{}",
        failures.join("\n")
    );
}

/// No handler panics on purpose, so the guard is exercised with the API listener's own stack of
/// layers around one that does: the answer is the generic 500 envelope with a request id, the
/// request is counted, and the panic text is neither sent nor logged.
async fn a_handler_that_panics_answers_the_generic_500(app: TestApp) {
    use tower::ServiceExt;

    async fn panics() -> &'static str {
        panic!("secret detail of the panic")
    }
    let router = accountd::http::with_api_layers(
        axum::Router::new().route("/v2/panics", axum::routing::get(panics)),
        app.state.clone(),
    );
    let request = axum::http::Request::get("/v2/panics")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("x-request-id"));
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        json!({"errors": [{
            "status": "500",
            "title": "Internal Server Error",
            "detail": "there was a problem processing your request",
        }]})
    );
    // The cause is logged (so this test's logs are the ones captured), the panic text is not.
    let logs = captured_logs();
    assert!(
        logs.contains("request failed cause=a handler panicked"),
        "{logs}"
    );
    assert!(!logs.contains("secret detail"));
    let metrics = app.scrape_metrics().await;
    assert!(
        metrics.contains(
            "accountd_http_requests_total{method=\"GET\",route=\"/v2/panics\",status=\"5xx\"} 1\n"
        ),
        "{metrics}"
    );
}
