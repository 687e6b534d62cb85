//! Request sizes: 64 KiB bodies on the routes a public client id reaches (1 MiB elsewhere),
//! refused before any other check; a declared `Content-Length` over the limit refused at once,
//! without waiting for the body; a stalled body cut off at the request timeout; request targets
//! over 16 KiB (`414`) and header blocks over the limit (`431`) answered in the errors envelope.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::{TestApp, spawn_app, test_config};
use crate::raw_http::{closed_within, connect, exchange, read_reply};
use crate::tests;

tests![
    small_body_routes_refuse_more_than_64_kib_before_any_other_check,
    a_chunked_body_over_the_limit_is_refused_before_the_rate_limit,
    a_declared_length_over_the_limit_is_refused_without_waiting_for_the_body,
    a_stalled_body_is_cut_off_at_the_request_timeout,
    a_request_target_over_16_kib_gets_414_in_the_envelope,
    a_header_block_over_the_limit_gets_431_in_the_envelope,
];

const KIB: usize = 1024;
const PATIENCE: Duration = Duration::from_secs(5);

fn otp_path(app: &TestApp) -> String {
    app.realm_path(&format!(
        "/password-profiles/{}/one-time-password-token-request",
        uuid::Uuid::new_v4()
    ))
}

/// A JSON body of exactly `size` bytes.
fn json_of_size(size: usize) -> Vec<u8> {
    let frame = br#"{"data":{"type":"x","pad":""}}"#.len();
    let body = format!(
        r#"{{"data":{{"type":"x","pad":"{}"}}}}"#,
        "a".repeat(size - frame)
    );
    assert_eq!(body.len(), size);
    body.into_bytes()
}

async fn small_body_routes_refuse_more_than_64_kib_before_any_other_check(app: TestApp) {
    let otp = otp_path(&app);
    // No bearer token and a path whose profile does not exist: without the size check these
    // answer 401 or 404, and at 64 KiB exactly they still do.
    for path in ["/v2/account-members/tokens", otp.as_str()] {
        let at_limit = app.post(path).raw(json_of_size(64 * KIB)).send().await;
        assert_eq!(at_limit.status, 401, "{path}: {}", at_limit.text);
        app.post(path)
            .raw(json_of_size(64 * KIB + 1))
            .send()
            .await
            .expect_error(413, "request body too large");
    }
    let form = |size: usize| format!("grant_type=implicit&client_id={}", "x".repeat(size - 30));
    assert_eq!(form(64 * KIB).len(), 64 * KIB);
    let at_limit = app
        .post("/oauth/access_token")
        .raw(form(64 * KIB))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await;
    assert_ne!(at_limit.status, 413, "{}", at_limit.text);
    app.post("/oauth/access_token")
        .raw(form(64 * KIB + 1))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect_error(413, "request body too large");

    // Other routes keep 1 MiB: a bearer token is checked first there.
    let other = app
        .post("/v2/accounts")
        .raw(json_of_size(64 * KIB + 1))
        .send()
        .await;
    assert_eq!(other.status, 401, "{}", other.text);

    // Before the per-address rate limit too: the 413 comes even when the address is over it.
    let mut config = test_config(&app.database_url);
    config.rate_limit_per_minute = 1;
    let limited = spawn_app(config).await;
    limited
        .post("/v2/account-members/tokens")
        .json(json!({}))
        .send()
        .await
        .expect(401);
    limited
        .post("/v2/account-members/tokens")
        .json(json!({}))
        .send()
        .await
        .expect(429);
    limited
        .post("/v2/account-members/tokens")
        .raw(json_of_size(64 * KIB + 1))
        .send()
        .await
        .expect_error(413, "request body too large");
}

/// Without a declared length the limit still holds, and still comes first.
async fn a_chunked_body_over_the_limit_is_refused_before_the_rate_limit(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.rate_limit_per_minute = 1;
    let limited = spawn_app(config).await;
    limited
        .post("/oauth/access_token")
        .raw("grant_type=implicit&client_id=nobody")
        .send()
        .await;
    let chunk = "a".repeat(16 * KIB);
    let mut request = b"POST /oauth/access_token HTTP/1.1\r\nHost: x\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..5 {
        request.extend(format!("{:x}\r\n{chunk}\r\n", chunk.len()).into_bytes());
    }
    request.extend(b"0\r\n\r\n");
    let reply = exchange(&limited, &request, PATIENCE)
        .await
        .expect("an answer");
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(
        reply.json()["errors"][0]["detail"],
        "request body too large"
    );
}

async fn a_declared_length_over_the_limit_is_refused_without_waiting_for_the_body(app: TestApp) {
    let otp = otp_path(&app);
    let cases = [
        ("/oauth/access_token".to_owned(), 64 * KIB + 1),
        ("/v2/account-members/tokens".to_owned(), 64 * KIB + 1),
        (otp, 64 * KIB + 1),
        ("/v2/accounts".to_owned(), 1024 * KIB + 1),
    ];
    for (path, length) in cases {
        // The head alone: the body never comes. Waiting for it would end at the 30 s request
        // timeout with a 408.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        let started = Instant::now();
        let reply = exchange(&app, head.as_bytes(), PATIENCE)
            .await
            .unwrap_or_else(|| panic!("{path}: no answer within {PATIENCE:?}"));
        assert_eq!(reply.status, 413, "{path}: {reply:?}");
        assert_eq!(
            reply.json(),
            json!({"errors": [{"status": "413", "title": "Payload Too Large", "detail": "request body too large"}]})
        );
        assert!(started.elapsed() < PATIENCE, "{path}");
    }
}

/// A body that stops arriving holds its request until the request timeout, then gets `408`
/// and its connection is closed: nothing of it stays.
async fn a_stalled_body_is_cut_off_at_the_request_timeout(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.request_timeout = Duration::from_millis(500);
    let server = spawn_app(config).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(
            b"POST /v2/account-members/tokens HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"data\":",
        )
        .await
        .unwrap();
    let reply = read_reply(&mut stream, PATIENCE)
        .await
        .expect("a stalled body is answered");
    assert_eq!(reply.status, 408, "{reply:?}");
    assert_eq!(reply.json()["errors"][0]["detail"], "request timed out");
    assert!(
        closed_within(&mut stream, PATIENCE).await.is_some(),
        "the connection of a cut-off body stays open"
    );
}

async fn a_request_target_over_16_kib_gets_414_in_the_envelope(app: TestApp) {
    let long = format!("/v2/accounts?filter={}", "a".repeat(16 * KIB));
    app.get(&long)
        .send()
        .await
        .expect_error(414, "request line too long");
    // Unknown paths too: the size is checked before anything else.
    let unknown = format!("/{}", "b".repeat(20 * KIB));
    app.get(&unknown)
        .send()
        .await
        .expect_error(414, "request line too long");
    // At the limit it is an ordinary request.
    let at_limit = format!("/v2/accounts?filter={}", "a".repeat(16 * KIB - 20));
    assert_eq!(at_limit.len(), 16 * KIB);
    app.get(&at_limit).send().await.expect(401);
    // Past hyper's own limit (64 KiB) its bare 414 is what comes back.
    let huge = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "c".repeat(70 * KIB));
    let reply = exchange(&app, huge.as_bytes(), PATIENCE)
        .await
        .expect("an answer");
    assert!(
        matches!(reply.status, 414 | 431),
        "a 70 KiB request target: {reply:?}"
    );
}

async fn a_header_block_over_the_limit_gets_431_in_the_envelope(app: TestApp) {
    app.get("/healthz")
        .header("X-Padding", &"p".repeat(40 * KIB))
        .send()
        .await
        .expect_error(431, "request headers too large");
    // Many small headers add up the same way.
    let mut call = app.get("/v2/accounts");
    for index in 0..80 {
        call = call.header(&format!("x-pad-{index}"), &"q".repeat(500));
    }
    call.send()
        .await
        .expect_error(431, "request headers too large");
    // Past what hyper reads at all: its bare 431 and a closed connection (the close may reach
    // the client as a reset before the answer, as the rest of the head is never read).
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "r".repeat(200 * KIB)
    );
    let reply = exchange(&app, huge.as_bytes(), PATIENCE).await;
    assert!(
        reply.as_ref().is_none_or(|reply| reply.status == 431),
        "a 200 KiB header block: {reply:?}"
    );
    app.get("/healthz")
        .header("X-Padding", &"p".repeat(8 * KIB))
        .send()
        .await
        .expect(200);
}
