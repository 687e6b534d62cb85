//! One webhook attempt (§22.4): the reference envelope, signed with HMAC-SHA256 over the exact
//! body bytes, sent with `Content-Length` (never chunked), a 10-second limit and no redirects.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use crate::store::ClaimedDelivery;

/// A receiver must answer `2xx` within this time (§22.3).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The receiver's answer is logged up to this many bytes (§22.1).
const LOGGED_BODY_BYTES: usize = 1024;

pub const SIGNATURE_HEADER: &str = "x-accountd-signature";
pub const SECRET_KEY_HEADER: &str = "x-moltin-secret-key";

const NON_2XX: &str = "Received a status code outside of 2xx range - treating webhook as a fail";
const TIMED_OUT: &str = "The webhook did not answer within 10 seconds - treating webhook as a fail";
const UNREACHABLE: &str = "Could not connect to the webhook URL - treating webhook as a fail";
const FAILED: &str = "The webhook request failed - treating webhook as a fail";

/// An absolute `http` or `https` URL with a host: where a webhook may be sent (§22.1).
pub fn is_webhook_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// `sha256=<lowercase hex HMAC-SHA256(key = secret_key bytes, message = body)>`.
pub fn signature(secret_key: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Serialize)]
struct Envelope<'a> {
    id: Uuid,
    triggered_by: &'a str,
    attempt: i64,
    store_id: Uuid,
    integration: EnvelopeIntegration<'a>,
    payload: Value,
    configuration: EnvelopeConfiguration<'a>,
}

#[derive(Serialize)]
struct EnvelopeIntegration<'a> {
    id: Uuid,
    integration_type: &'a str,
    name: &'a str,
    description: Option<&'a str>,
}

#[derive(Serialize)]
struct EnvelopeConfiguration<'a> {
    url: &'a str,
    secret_key: &'a str,
}

/// The body of one attempt. The OTP code, kept apart in the outbox so it can be scrubbed, is
/// put back into the payload here.
pub fn envelope(delivery: &ClaimedDelivery, store_id: Uuid) -> Result<Vec<u8>, serde_json::Error> {
    let mut payload: Value = serde_json::from_str(&delivery.payload)?;
    if let (Some(code), Value::Object(fields)) = (&delivery.secret, &mut payload) {
        fields.insert(
            "one_time_password_token".to_owned(),
            Value::String(code.clone()),
        );
    }
    let target = &delivery.integration;
    serde_json::to_vec(&Envelope {
        id: delivery.event_id,
        triggered_by: &delivery.triggered_by,
        attempt: delivery.attempt,
        store_id,
        integration: EnvelopeIntegration {
            id: target.id,
            integration_type: &target.integration_type,
            name: &target.name,
            description: target.description.as_deref(),
        },
        payload,
        configuration: EnvelopeConfiguration {
            url: &target.url,
            secret_key: &target.secret_key,
        },
    })
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub succeeded: bool,
    /// `None` when no HTTP response arrived.
    pub status_code: Option<u16>,
    /// The receiver's body, at most 1 KiB.
    pub body: Option<String>,
    pub error_detail: Option<String>,
}

/// The HTTP client every attempt of one process shares.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
}

impl WebhookClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("accountd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }

    /// POSTs `body` to `url`. The body is a byte vector of known length, so the request carries
    /// `Content-Length` and is never chunked.
    pub async fn send(&self, url: &str, secret_key: &str, body: Vec<u8>) -> Answer {
        let signature = signature(secret_key, &body);
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(SECRET_KEY_HEADER, secret_key)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return failure(None, None, transport_detail(&error)),
        };
        let status = response.status();
        let mut read = Vec::new();
        // Only the first KiB is kept, so only that much is read; a body that breaks off
        // changes nothing, the status already answered.
        while read.len() < LOGGED_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        read.truncate(LOGGED_BODY_BYTES);
        let body = Some(String::from_utf8_lossy(&read).into_owned());
        if status.is_success() {
            Answer {
                succeeded: true,
                status_code: Some(status.as_u16()),
                body,
                error_detail: None,
            }
        } else {
            // Redirects are not followed and land here too (§22.3).
            failure(Some(status.as_u16()), body, NON_2XX)
        }
    }
}

fn failure(status_code: Option<u16>, body: Option<String>, detail: &str) -> Answer {
    Answer {
        succeeded: false,
        status_code,
        body,
        error_detail: Some(detail.to_owned()),
    }
}

fn transport_detail(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        TIMED_OUT
    } else if error.is_connect() {
        UNREACHABLE
    } else {
        FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_absolute_http_or_https() {
        assert!(is_webhook_url("https://hooks.example.com/otp"));
        assert!(is_webhook_url("http://127.0.0.1:9000"));
        assert!(!is_webhook_url("ftp://hooks.example.com"));
        assert!(!is_webhook_url("/relative"));
        assert!(!is_webhook_url("hooks.example.com"));
    }

    #[test]
    fn the_signature_is_a_lowercase_hex_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
