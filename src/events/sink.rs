//! `accountd webhook-sink`: a development receiver that prints every webhook it gets, so a
//! newcomer can try passwordless login without a mail service. It prints OTP codes, which is
//! its purpose; it therefore runs only when started explicitly, as a command of its own, and
//! nothing in `accountd serve` starts it.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;

use super::webhook::{SIGNATURE_HEADER, signature};
use crate::auth::secret::constant_time_eq;

type Out = Arc<Mutex<Box<dyn Write + Send>>>;

#[derive(Clone)]
struct Sink {
    secret_key: Option<String>,
    out: Out,
}

/// Serves on `listen` until the process ends, printing each delivery to `out`. With
/// `secret_key`, each delivery's signature is checked and the verdict printed.
pub async fn run(
    listen: SocketAddr,
    secret_key: Option<String>,
    out: Box<dyn Write + Send>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let sink = Sink {
        secret_key,
        out: Arc::new(Mutex::new(out)),
    };
    print(
        &sink.out,
        &format!(
            "accountd webhook-sink: POST deliveries to http://{address}/ (development only: it prints one-time codes)\n"
        ),
    );
    let app = Router::new()
        .route("/", post(receive))
        .route("/{*path}", post(receive))
        .with_state(sink);
    axum::serve(listener, app).await
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verdict = match (&sink.secret_key, headers.get(SIGNATURE_HEADER)) {
        (None, _) => "not checked (no --secret-key)",
        (Some(_), None) => "MISSING",
        (Some(key), Some(sent))
            if constant_time_eq(sent.as_bytes(), signature(key, &body).as_bytes()) =>
        {
            "valid"
        }
        (Some(_), Some(_)) => "INVALID",
    };
    let shown = match serde_json::from_slice::<Value>(&body) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&body).into_owned(),
    };
    let (event, code) = match serde_json::from_slice::<Value>(&body) {
        Ok(json) => (
            json["triggered_by"].as_str().unwrap_or("?").to_owned(),
            json["payload"]["one_time_password_token"]
                .as_str()
                .map(str::to_owned),
        ),
        Err(_) => ("?".to_owned(), None),
    };
    let mut text = format!("\n--- {event} (signature {verdict})\n");
    if let Some(code) = code {
        text.push_str(&format!("one-time code: {code}\n"));
    }
    text.push_str(&shown);
    text.push('\n');
    print(&sink.out, &text);
    StatusCode::NO_CONTENT
}

fn print(out: &Out, text: &str) {
    if let Ok(mut out) = out.lock() {
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
