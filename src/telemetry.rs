//! Logging: text or JSON lines filtered by `RUST_LOG`, and one span per request carrying its id,
//! method and matched route (never the raw path or query, which may hold personal data). The
//! status is on the debug line that ends each request, not on the span: every line inside a
//! request is written before the status is known, so only that line could ever show it.
//! Headers and bodies are never recorded, so no token, password or secret reaches a log line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, Response};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber; a second call (tests) leaves the first in place. `ansi`
/// colours text lines: only for a terminal, so files and log collectors get plain text (and
/// no escape codes are formatted into every span).
pub fn init<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// `router` inside the layers every listener starts with, outermost first: the request's id
/// (the caller's `X-Request-Id`, or a new one), the request's span and its one log line, and the
/// id sent back on the answer.
pub fn traced<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(record_response)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(RequestUuid))
}

pub fn request_span<B>(request: &Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id,
        // As a plain string: `%` would run the formatting machinery on every request.
        method = request.method().as_str(),
        route,
    )
}

pub fn record_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    // Per-request lines are for debugging (`RUST_LOG=accountd=debug`): at thousands of requests a
    // second they would cost more than the requests; counts and latencies are in /metrics.
    tracing::debug!(
        status = response.status().as_u16(),
        latency_ms = latency.as_millis(),
        "request finished"
    );
}

/// A warning that may repeat thousands of times a second (every request while the database is
/// away): the first occurrence is logged at once, later ones are counted and logged at most once
/// per interval with their count and the latest cause.
pub struct RepeatedLog {
    message: &'static str,
    interval_millis: u64,
    /// Milliseconds since `EPOCH` when a line was last written; 0 before the first.
    last_logged: AtomicU64,
    suppressed: AtomicU64,
}

impl RepeatedLog {
    pub const fn new(message: &'static str, interval: Duration) -> Self {
        Self {
            message,
            interval_millis: interval.as_millis() as u64,
            last_logged: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence; writes a line when the interval has passed since the last one.
    /// Returns whether it wrote.
    pub fn record(&self, cause: &str) -> bool {
        let now = monotonic_millis().max(1);
        let last = self.last_logged.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_millis;
        if !due
            || self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let repeated = self.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(
            cause,
            repeated_since_last_line = repeated,
            "{}",
            self.message
        );
        true
    }
}

fn monotonic_millis() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A random (v4) UUID for each request, as `tower_http`'s `MakeRequestUuid` makes it, but
/// formatted on the stack: one allocation per request instead of two.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestUuid;

impl MakeRequestId for RequestUuid {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_written_once_per_interval() {
        let log = RepeatedLog::new("test warning", Duration::from_secs(3600));
        assert!(log.record("first"));
        let written = (0..1000).filter(|_| log.record("again")).count();
        assert_eq!(written, 0);
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        let request = Request::new(());
        let mut make = RequestUuid;
        let ids: Vec<uuid::Uuid> = (0..3)
            .map(|_| {
                let id = make.make_request_id(&request).unwrap();
                uuid::Uuid::parse_str(id.header_value().to_str().unwrap()).unwrap()
            })
            .collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    }
}
