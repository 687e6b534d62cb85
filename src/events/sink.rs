//! `accountd webhook-sink`: a development receiver that prints every webhook it gets, so a
//! newcomer can try passwordless login without a mail service. It prints OTP codes, which is
//! its purpose; it therefore runs only when started explicitly, as a command of its own, and
//! nothing in `accountd serve` starts it. Given the integration's key it checks both signatures
//! as a receiver should: `X-Accountd-Signature` over the body, and the Standard Webhooks headers
//! (signature over id, timestamp and body; a timestamp more than five minutes away is a replay).

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

use super::webhook::{
    SIGNATURE_HEADER, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
    signature, standard_signature_matches,
};
use crate::auth::secret::constant_time_eq;

/// How far a `webhook-timestamp` may be from now (the Standard Webhooks libraries' tolerance).
const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;

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

/// The verdict on the Standard Webhooks headers of one delivery.
fn standard_verdict(key: &str, headers: &HeaderMap, body: &[u8], now_seconds: i64) -> &'static str {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        text(WEBHOOK_ID_HEADER),
        text(WEBHOOK_TIMESTAMP_HEADER),
        text(WEBHOOK_SIGNATURE_HEADER),
    ) else {
        return "MISSING";
    };
    if !standard_signature_matches(key.as_bytes(), id, timestamp, signatures, body) {
        return "INVALID";
    }
    match timestamp.parse::<i64>() {
        Ok(sent) if (now_seconds - sent).abs() <= TIMESTAMP_TOLERANCE_SECONDS => "valid",
        _ => "TOO OLD OR IN THE FUTURE (a replay?)",
    }
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let standard = match &sink.secret_key {
        None => "not checked (no --secret-key)",
        Some(key) => standard_verdict(key, &headers, &body, chrono::Utc::now().timestamp()),
    };
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
    let mut text = format!("\n--- {event} (signature {verdict}, webhook-signature {standard})\n");
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::events::webhook::standard_signature;

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: &str| {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        };
        set(WEBHOOK_ID_HEADER, id);
        set(WEBHOOK_TIMESTAMP_HEADER, &timestamp.to_string());
        set(WEBHOOK_SIGNATURE_HEADER, signature);
        headers
    }

    #[test]
    fn the_sink_checks_the_standard_signature_and_its_age() {
        let key = "a-webhook-secret-of-some-length";
        let body = br#"{"id":"e1"}"#;
        let now = 1_700_000_000;
        let signed = standard_signature(key.as_bytes(), "e1", now, body);
        assert_eq!(
            standard_verdict(key, &headers("e1", now, &signed), body, now),
            "valid"
        );
        assert_eq!(
            standard_verdict(key, &headers("e1", now, &signed), body, now + 301),
            "TOO OLD OR IN THE FUTURE (a replay?)"
        );
        assert_eq!(
            standard_verdict(key, &headers("e2", now, &signed), body, now),
            "INVALID"
        );
        assert_eq!(
            standard_verdict(key, &headers("e1", now, &signed), b"{}", now),
            "INVALID"
        );
        assert_eq!(
            standard_verdict(key, &HeaderMap::new(), body, now),
            "MISSING"
        );
    }
}
