//! One webhook attempt (docs/events.md#webhook-request): the reference envelope, signed twice —
//! HMAC-SHA256 over the exact body bytes (`X-Accountd-Signature`) and the Standard Webhooks headers
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature` over id, timestamp and body, so a
//! receiver can refuse a replayed or altered delivery) — sent with `Content-Length` (never
//! chunked), a 10-second limit, no redirects, and only to destinations the policy allows. The
//! secret key itself travels in clear only while the integration's `send_secret_key` is on.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use crate::auth::secret::constant_time_eq;
use crate::outbound::{DestinationPolicy, NOT_ALLOWED, is_refusal};
use crate::store::ClaimedDelivery;

/// A receiver must answer `2xx` within this time (docs/events.md#delivery-and-retries).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The receiver's answer is logged up to this many bytes (docs/events.md#integrations).
const LOGGED_BODY_BYTES: usize = 1024;

pub const SIGNATURE_HEADER: &str = "x-accountd-signature";
pub const SECRET_KEY_HEADER: &str = "x-moltin-secret-key";
/// The Standard Webhooks headers: the envelope id, the attempt's Unix time, the signature.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

const NON_2XX: &str = "Received a status code outside of 2xx range - treating webhook as a fail";
const TIMED_OUT: &str = "The webhook did not answer within 10 seconds - treating webhook as a fail";
const UNREACHABLE: &str = "Could not connect to the webhook URL - treating webhook as a fail";
const FAILED: &str = "The webhook request failed - treating webhook as a fail";

/// An absolute `http` or `https` URL with a host: where a webhook may be sent
/// (docs/events.md#integrations).
pub fn is_webhook_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// HMAC-SHA256 under `key` over the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `sha256=<lowercase hex HMAC-SHA256(key = secret_key bytes, message = body)>`.
pub fn signature(secret_key: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret_key.as_bytes(), &[body]))
    )
}

/// The Standard Webhooks `webhook-signature`: `v1,` + base64 HMAC-SHA256 under `key` (an
/// integration's `secret_key` bytes, raw) over `{id}.{timestamp}.{body}`.
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// Whether a `webhook-signature` header (space-separated `version,signature` entries) holds a
/// `v1` signature of `id`, `timestamp` and `body` under `key`, compared in constant time.
pub fn standard_signature_matches(
    key: &[u8],
    id: &str,
    timestamp: &str,
    header: &str,
    body: &[u8],
) -> bool {
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    let expected = standard_signature(key, id, timestamp, body);
    header
        .split(' ')
        .any(|entry| constant_time_eq(entry.as_bytes(), expected.as_bytes()))
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
    /// Echoed only while the integration's `send_secret_key` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<&'a str>,
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
            secret_key: target.send_secret_key.then_some(target.secret_key.as_str()),
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

/// One attempt as it goes out.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub url: &'a str,
    pub secret_key: &'a str,
    /// Whether `X-Moltin-Secret-Key` is sent.
    pub send_secret_key: bool,
    /// The envelope id: `webhook-id`.
    pub event_id: Uuid,
    /// The Unix time of this attempt: `webhook-timestamp`.
    pub timestamp: i64,
    pub body: Vec<u8>,
}

/// The HTTP client every attempt of one process shares.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    destinations: DestinationPolicy,
}

impl WebhookClient {
    pub fn new(destinations: DestinationPolicy) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Through a proxy, the address checked would be the proxy's, not the receiver's.
            .no_proxy()
            .dns_resolver(destinations.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("accountd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, destinations })
    }

    /// POSTs the attempt's body to its URL. The body is a byte vector of known length, so the
    /// request carries `Content-Length` and is never chunked. A destination the policy refuses
    /// (by its URL, or by the address its host resolves to now) is a failed attempt that never
    /// connects.
    pub async fn send(&self, attempt: Attempt<'_>) -> Answer {
        if self.destinations.check_url(attempt.url).is_err() {
            return failure(None, None, NOT_ALLOWED);
        }
        let event_id = attempt.event_id.to_string();
        let mut request = self
            .http
            .post(attempt.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(attempt.secret_key, &attempt.body),
            )
            .header(
                WEBHOOK_SIGNATURE_HEADER,
                standard_signature(
                    attempt.secret_key.as_bytes(),
                    &event_id,
                    attempt.timestamp,
                    &attempt.body,
                ),
            )
            .header(WEBHOOK_ID_HEADER, event_id)
            .header(WEBHOOK_TIMESTAMP_HEADER, attempt.timestamp.to_string());
        if attempt.send_secret_key {
            request = request.header(SECRET_KEY_HEADER, attempt.secret_key);
        }
        let mut response = match request.body(attempt.body).send().await {
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
            // Redirects are not followed and land here too (docs/events.md#delivery-and-retries).
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
    if is_refusal(error) {
        NOT_ALLOWED
    } else if error.is_timeout() {
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

    /// The example of the Standard Webhooks specification, whose key is given as base64 after
    /// `whsec_`; accountd's keys are used raw, so the test passes the decoded bytes.
    #[test]
    fn the_standard_signature_matches_the_specifications_example() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signed = standard_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(standard_signature_matches(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            &format!("v1,bm9wZQ== {signed}"),
            body
        ));
        let other_key = b"another-secret-key".as_slice();
        for (id, timestamp, key, body) in [
            ("msg_other", "1614265330", key.as_slice(), &body[..]),
            (
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265331",
                key.as_slice(),
                &body[..],
            ),
            (
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                other_key,
                &body[..],
            ),
            (
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                key.as_slice(),
                b"{}",
            ),
            (
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "soon",
                key.as_slice(),
                &body[..],
            ),
        ] {
            assert!(!standard_signature_matches(
                key, id, timestamp, &signed, body
            ));
        }
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
