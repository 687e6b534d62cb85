//! Stopping without dropping a request: on SIGTERM the server drains (readiness 503 on both
//! listeners, every other request still served, HTTP/1 answers with `Connection: close`, HTTP/2
//! connections a GOAWAY), then closes its listeners and lets in-flight requests finish within
//! the shutdown timeout. SIGINT skips the drain.

use std::time::{Duration, Instant};

use accountd::lifecycle::Stop;
use tokio::io::AsyncWriteExt;

use crate::helpers::{TestApp, spawn_app, test_config};
use crate::raw_http::{
    FLAG_ACK, FRAME_GOAWAY, FRAME_SETTINGS, connect, frame, h2_get, read_frame, read_reply,
};
use crate::tests;

tests![
    sigterm_drains_with_readiness_503_and_closing_answers_before_the_listeners_close,
    http2_connections_get_a_goaway_when_the_drain_starts,
    a_request_in_flight_when_the_listeners_close_is_answered,
    the_shutdown_timeout_cuts_off_a_request_that_never_finishes,
    sigint_stops_without_a_drain,
];

const DRAIN: Duration = Duration::from_millis(1500);

async fn wait_for_readiness(app: &TestApp, status: u16) -> bool {
    for _ in 0..100 {
        if app.get("/readyz").send().await.status.as_u16() == status {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn sigterm_drains_with_readiness_503_and_closing_answers_before_the_listeners_close(
    app: TestApp,
) {
    let mut config = test_config(&app.database_url);
    config.shutdown_drain = DRAIN;
    let server = spawn_app(config).await;
    server.get("/readyz").send().await.expect(200);
    let started = Instant::now();
    let stopped = server.begin_stop(Stop::Drain).expect("running");
    assert!(
        wait_for_readiness(&server, 503).await,
        "readiness never said 503"
    );
    let body = server.get("/readyz").send().await;
    assert_eq!(body.json()["status"], "draining");
    let on_management = server.management_get("/readyz").send().await;
    assert_eq!(on_management.status.as_u16(), 503);
    // Everything else is still served, and each answer closes its connection.
    let admin = server.admin_token().await;
    let served = server.get("/v2/accounts").bearer(&admin).send().await;
    served.expect(200);
    assert_eq!(served.header("connection"), Some("close"));
    stopped.await.unwrap().unwrap();
    let took = started.elapsed();
    assert!(
        took >= DRAIN,
        "stopped after {took:?}, before the drain ended"
    );
    assert!(
        tokio::net::TcpStream::connect(server.address.trim_start_matches("http://"))
            .await
            .is_err(),
        "the listener is closed"
    );
}

async fn http2_connections_get_a_goaway_when_the_drain_starts(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.shutdown_drain = Duration::from_secs(5);
    let server = spawn_app(config).await;
    let mut stream = h2_get(&server, "/healthz").await;
    // Read until the answer to the request came, acknowledging the server's settings.
    let mut answered = false;
    while !answered {
        let frame_in = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream))
            .await
            .expect("frames")
            .expect("a frame");
        if frame_in.kind == FRAME_SETTINGS && frame_in.flags & FLAG_ACK == 0 {
            stream
                .write_all(&frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]))
                .await
                .unwrap();
        }
        answered = frame_in.stream == 1 && frame_in.flags & 0x1 != 0;
    }
    let started = Instant::now();
    let stopped = server.begin_stop(Stop::Drain).expect("running");
    let goaway = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(frame_in) = read_frame(&mut stream).await {
            if frame_in.kind == FRAME_GOAWAY {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(goaway, Ok(true), "no GOAWAY when the drain started");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the GOAWAY came at the start of the drain, not at its end"
    );
    stopped.abort();
}

async fn a_request_in_flight_when_the_listeners_close_is_answered(app: TestApp) {
    let server = spawn_app(test_config(&app.database_url)).await;
    let admin = server.admin_token().await;
    let body = br#"{"data":{"type":"account","name":"In flight"}}"#;
    let mut stream = connect(&server).await;
    let head = format!(
        "POST /v2/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    // Give the server the head, so the request is in flight, then stop it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = server.begin_stop(Stop::Now).expect("running");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let reply = read_reply(&mut stream, Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(reply.status, 201, "{}", reply.body);
    stopped.await.unwrap().unwrap();
}

async fn the_shutdown_timeout_cuts_off_a_request_that_never_finishes(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.shutdown_timeout = Duration::from_millis(500);
    let server = spawn_app(config).await;
    let admin = server.admin_token().await;
    let mut stream = connect(&server).await;
    let head = format!(
        "POST /v2/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.stop(Stop::Now).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "a body that never came held the shutdown for {took:?}"
    );
}

async fn sigint_stops_without_a_drain(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.shutdown_drain = Duration::from_secs(30);
    let server = spawn_app(config).await;
    server.get("/readyz").send().await.expect(200);
    let started = Instant::now();
    server.stop(Stop::Now).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGINT waited for the 30 s drain"
    );
}
