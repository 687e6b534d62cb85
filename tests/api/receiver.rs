//! A real webhook receiver for the tests: a small axum app on 127.0.0.1 that records every
//! request it gets, and can be told to fail the first ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::helpers::TestApp;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Whether `X-Accountd-Signature` is the HMAC-SHA256 of the body under `secret_key`, checked
    /// the way a receiver would: recomputed over the raw bytes, compared in constant time.
    pub fn signature_is_valid(&self, secret_key: &str) -> bool {
        let Some(sent) = self
            .header("x-accountd-signature")
            .and_then(|value| value.strip_prefix("sha256="))
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).unwrap();
        mac.update(&self.body);
        mac.verify_slice(&sent).is_ok()
    }

    /// Whether the Standard Webhooks headers hold a `v1` signature, under the raw bytes of
    /// `secret_key`, of `webhook-id`, `webhook-timestamp` and the body; recomputed here from
    /// the headers as a receiver would.
    pub fn standard_signature_is_valid(&self, secret_key: &str) -> bool {
        use base64::Engine;
        let (Some(id), Some(timestamp), Some(signatures)) = (
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.header("webhook-signature"),
        ) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(&self.body);
        let expected = mac.finalize().into_bytes().to_vec();
        signatures.split(' ').any(|entry| {
            entry
                .strip_prefix("v1,")
                .and_then(|sent| base64::engine::general_purpose::STANDARD.decode(sent).ok())
                .is_some_and(|sent| sent == expected)
        })
    }

    pub fn triggered_by(&self) -> String {
        self.json()["triggered_by"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Delivery>>>,
    failures_left: Arc<AtomicUsize>,
    /// Answer every request with a redirect to this URL instead.
    redirect_to: Option<String>,
}

/// A running receiver. Its URL stays the same across [`Receiver::start_at`] restarts.
pub struct Receiver {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers every request with `204`.
    pub async fn start() -> Self {
        Self::failing_first(0).await
    }

    /// A receiver whose first `failures` requests get `500 Not ready`.
    pub async fn failing_first(failures: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, failures, None)
    }

    /// A receiver that answers every request with `307` to `location`.
    pub async fn redirecting_to(location: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, 0, Some(location.to_owned()))
    }

    /// A receiver on a port nobody listens on yet: requests to `url` are refused until
    /// [`Receiver::start_at`] binds it.
    pub async fn reserve_url() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}/hooks")
    }

    /// A receiver listening at a URL from [`Receiver::reserve_url`].
    pub async fn start_at(url: &str) -> Self {
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches("/hooks")
            .to_owned();
        let listener = TcpListener::bind(&address).await.unwrap();
        Self::serve(listener, 0, None)
    }

    fn serve(listener: TcpListener, failures: usize, redirect_to: Option<String>) -> Self {
        let address = listener.local_addr().unwrap();
        let shared = Shared {
            received: Arc::new(Mutex::new(Vec::new())),
            failures_left: Arc::new(AtomicUsize::new(failures)),
            redirect_to,
        };
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{address}/hooks"),
            shared,
            task,
        }
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits, up to 10 s, until at least `count` requests arrived; returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} webhook requests, got {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that `count` requests arrived and no more will until `app`'s clock moves: once
    /// its outbox has settled, every attempt that was due has been made.
    pub async fn expect_no_more_than(&self, app: &TestApp, count: usize) {
        app.outbox_settled().await;
        assert_eq!(
            self.received().len(),
            count,
            "unexpected extra webhook requests"
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    shared
        .received
        .lock()
        .unwrap()
        .push(Delivery { headers, body });
    if let Some(location) = &shared.redirect_to {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, location.clone())],
            "Moved",
        )
            .into_response();
    }
    let failed = shared
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if failed {
        (StatusCode::INTERNAL_SERVER_ERROR, "Not ready").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
