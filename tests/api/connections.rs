//! Connections: a new one must send a complete request head within the header deadline,
//! whatever protocol it heads for; a kept-alive one may idle up to the idle limit and no longer;
//! HTTP/2 gets keep-alive pings; the API listener holds at most `max_connections`. The deadlines
//! are shortened through `Config` so no test waits for the real ones.

use std::time::{Duration, Instant};

use accountd::config::{Config, ManagementListen};
use accountd::{Application, app::StartError};
use tokio::io::AsyncWriteExt;

use crate::helpers::{TestApp, spawn_app, test_config};
use crate::raw_http::{
    FLAG_ACK, FLAG_END_STREAM, FRAME_DATA, FRAME_GOAWAY, FRAME_HEADERS, FRAME_PING, FRAME_SETTINGS,
    H2_PREFACE, closed_within, connect, frame, h2_get, read_frame, read_reply,
};
use crate::tests;

tests![
    connections_that_send_no_request_head_are_closed_at_the_header_deadline,
    a_kept_alive_connection_may_idle_past_the_header_deadline_until_the_idle_limit,
    http2_connections_are_pinged_and_closed_with_goaway_when_idle,
    an_http2_peer_that_stops_answering_pings_is_dropped,
    the_api_listener_holds_at_most_max_connections,
    a_configured_management_address_that_is_taken_stops_the_start,
    a_taken_default_management_address_only_warns,
];

const HEADER_DEADLINE: Duration = Duration::from_millis(400);
const IDLE_LIMIT: Duration = Duration::from_millis(1500);
/// Generous: the check is that the server closes at all, and not before its deadline.
const PATIENCE: Duration = Duration::from_secs(5);

fn quick_config(app: &TestApp) -> Config {
    let mut config = test_config(&app.database_url);
    config.header_read_timeout = HEADER_DEADLINE;
    config.idle_timeout = IDLE_LIMIT;
    config.http2_keep_alive_interval = Duration::from_millis(250);
    config
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

async fn connections_that_send_no_request_head_are_closed_at_the_header_deadline(app: TestApp) {
    let server = spawn_app(quick_config(&app)).await;
    let opened = Instant::now();
    let silent = connect(&server).await;
    let mut half_preface = connect(&server).await;
    half_preface.write_all(&H2_PREFACE[..10]).await.unwrap();
    let mut full_preface = connect(&server).await;
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(frame(FRAME_SETTINGS, 0, 0, &[]));
    full_preface.write_all(&hello).await.unwrap();
    let mut half_head = connect(&server).await;
    half_head
        .write_all(b"POST /oauth/access_token HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for (name, mut stream) in [
        ("nothing sent", silent),
        ("half an HTTP/2 preface", half_preface),
        ("a full h2c preface, then silence", full_preface),
        ("half an HTTP/1 head", half_head),
    ] {
        let closed = closed_within(&mut stream, PATIENCE).await;
        assert!(
            closed.is_some(),
            "{name}: still open {PATIENCE:?} after a {HEADER_DEADLINE:?} header deadline"
        );
        // Checked after the fact: the four deadlines run at once.
        let after = opened.elapsed();
        assert!(
            after >= HEADER_DEADLINE,
            "{name}: closed after {after:?}, before the deadline"
        );
    }
    // A client that sends its head in time is served as usual.
    server.get("/healthz").send().await.expect(200);
}

async fn a_kept_alive_connection_may_idle_past_the_header_deadline_until_the_idle_limit(
    app: TestApp,
) {
    let server = spawn_app(quick_config(&app)).await;
    let mut stream = connect(&server).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let first = read_reply(&mut stream, PATIENCE).await.expect("an answer");
    assert_eq!(first.status, 200);
    // Past the header deadline, well within the idle limit: a proxy reusing its kept-alive
    // connection must find it open.
    tokio::time::sleep(HEADER_DEADLINE * 2).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let second = read_reply(&mut stream, PATIENCE)
        .await
        .expect("the kept-alive connection was closed before the idle limit");
    assert_eq!(second.status, 200);
    let closed = closed_within(&mut stream, IDLE_LIMIT + PATIENCE)
        .await
        .expect("an idle connection stays open past the idle limit");
    assert!(
        closed + Duration::from_millis(300) >= IDLE_LIMIT,
        "closed after {closed:?} of idling, before the idle limit"
    );
}

/// After its one request the connection idles, answering pings like a live client: it gets
/// pings, then a GOAWAY at the idle limit, and is closed.
async fn http2_connections_are_pinged_and_closed_with_goaway_when_idle(app: TestApp) {
    let server = spawn_app(quick_config(&app)).await;
    let mut stream = h2_get(&server, "/healthz").await;
    let mut status_seen = false;
    let mut answered = false;
    let mut pings = 0;
    let mut goaway = false;
    let outcome = tokio::time::timeout(IDLE_LIMIT + PATIENCE, async {
        while let Some(frame_in) = read_frame(&mut stream).await {
            match frame_in.kind {
                FRAME_SETTINGS if frame_in.flags & FLAG_ACK == 0 => {
                    stream
                        .write_all(&frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]))
                        .await
                        .unwrap();
                }
                FRAME_HEADERS if frame_in.stream == 1 => {
                    // `:status: 200` is entry 8 of the HPACK static table.
                    status_seen = frame_in.payload.first() == Some(&0x88);
                    answered |= frame_in.flags & FLAG_END_STREAM != 0;
                }
                FRAME_DATA if frame_in.stream == 1 => {
                    answered |= frame_in.flags & FLAG_END_STREAM != 0;
                }
                FRAME_PING if frame_in.flags & FLAG_ACK == 0 => {
                    pings += 1;
                    let pong = frame(FRAME_PING, FLAG_ACK, 0, &frame_in.payload);
                    if stream.write_all(&pong).await.is_err() {
                        break;
                    }
                }
                FRAME_GOAWAY => goaway = true,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the idle HTTP/2 connection was never closed"
    );
    assert!(
        status_seen && answered,
        "GET /healthz over h2c was answered 200"
    );
    assert!(pings >= 1, "no keep-alive ping in {IDLE_LIMIT:?} of idling");
    assert!(goaway, "the idle connection was closed without a GOAWAY");
}

async fn an_http2_peer_that_stops_answering_pings_is_dropped(app: TestApp) {
    let mut config = quick_config(&app);
    // Only the unanswered pings can close it in time.
    config.idle_timeout = Duration::from_secs(60);
    let server = spawn_app(config).await;
    let mut stream = h2_get(&server, "/healthz").await;
    let closed = closed_within(&mut stream, PATIENCE).await;
    assert!(
        closed.is_some(),
        "a peer that never answers pings was kept for {PATIENCE:?} (ping interval 250 ms)"
    );
}

async fn the_api_listener_holds_at_most_max_connections(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.max_connections = 2;
    let server = spawn_app(config).await;
    let first = connect(&server).await;
    let second = connect(&server).await;
    // The third is queued by the kernel, not accepted: its request waits.
    let mut third = connect(&server).await;
    third.write_all(HEALTHZ).await.unwrap();
    assert!(
        read_reply(&mut third, Duration::from_millis(600))
            .await
            .is_none(),
        "a third connection was served while two were open and the cap is 2"
    );
    drop(first);
    let reply = read_reply(&mut third, PATIENCE)
        .await
        .expect("the queued connection is served once a slot is free");
    assert_eq!(reply.status, 200);
    drop(second);
    drop(third);
    server.get("/healthz").send().await.expect(200);
}

async fn a_configured_management_address_that_is_taken_stops_the_start(app: TestApp) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = test_config(&app.database_url);
    config.management_listen = ManagementListen::Configured(taken.local_addr().unwrap());
    let started = Application::build(config).await;
    assert!(
        matches!(started, Err(StartError::Listen { .. })),
        "the start went on without the configured management listener"
    );
}

/// The default address is shared by every accountd on a machine: the second one serves its
/// API without metrics rather than not at all.
async fn a_taken_default_management_address_only_warns(app: TestApp) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = test_config(&app.database_url);
    config.management_listen = ManagementListen::Default(taken.local_addr().unwrap());
    let server = spawn_app(config).await;
    assert_eq!(server.management_address, None);
    server.get("/healthz").send().await.expect(200);
    assert!(
        crate::helpers::captured_logs()
            .contains("the management listener (/metrics) is not served"),
        "no warning about the missing management listener"
    );

    let mut config = test_config(&app.database_url);
    config.management_listen = ManagementListen::Off;
    let off = spawn_app(config).await;
    assert_eq!(off.management_address, None);
    off.get("/metrics")
        .send()
        .await
        .expect_error(404, "route not found");
}
