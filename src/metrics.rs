//! Prometheus metrics, hand-rolled: a registry of atomic counters and fixed-bucket histograms that
//! the request path updates without locks held across awaits, rendered in the text exposition
//! format by `GET /metrics` (`http::metrics`).
//!
//! Why not the `metrics` crate family: its recorder is a process-wide global (tests could not
//! each own one), and `metrics-exporter-prometheus` keeps raw histogram samples until it is
//! scraped or upkept, so memory would grow on a server nobody scrapes. Here every series is a
//! fixed set of atomics created on first use, and the label sets are bounded by construction
//! (matched route templates, a closed list of methods, five status classes).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};

/// Upper bounds of the latency buckets, in seconds: from half a millisecond (a token-checked
/// read on a quiet machine) to the 30 s request timeout.
const BUCKETS_SECONDS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
];

/// A latency histogram: one counter per bucket (not cumulative; rendering sums them) and a sum
/// in nanoseconds. Observing is a scan of 16 constants and two relaxed atomic adds; the count is
/// the sum of the buckets, so `_count` and the `+Inf` bucket always agree.
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_SECONDS.len()],
    /// Observations above the last bound (the `+Inf` bucket minus the others).
    overflow: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            overflow: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        match BUCKETS_SECONDS.iter().position(|bound| seconds <= *bound) {
            Some(index) => {
                if let Some(bucket) = self.buckets.get(index) {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .chain(std::iter::once(&self.overflow))
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .fold(0, u64::saturating_add)
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines of `name` with `labels` (already
    /// formatted, `key="value",…`, possibly empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (bound, bucket) in BUCKETS_SECONDS.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(bucket.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative = cumulative.saturating_add(self.overflow.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {cumulative}"
        );
        // Precision beyond nanoseconds means nothing here; f64 holds 2^53 ns (104 days) exactly.
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// The methods that get their own label value; anything else is `other`, so a client inventing
/// methods cannot create series.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn method_index(method: &Method) -> usize {
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    known
        .iter()
        .position(|candidate| candidate == method)
        .unwrap_or(METHODS.len() - 1)
}

fn status_class_index(status: StatusCode) -> usize {
    usize::from(status.as_u16() / 100)
        .saturating_sub(1)
        .min(STATUS_CLASSES.len() - 1)
}

/// The series of one route: a histogram per (method, status class), allocated on first use.
struct RouteSeries {
    slots: [[OnceLock<Box<Histogram>>; STATUS_CLASSES.len()]; METHODS.len()],
}

impl RouteSeries {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
        }
    }

    fn histogram(&self, method: usize, class: usize) -> Option<&Histogram> {
        let slot = self.slots.get(method)?.get(class)?;
        Some(slot.get_or_init(Box::default))
    }
}

/// How a member logged in, as `accountd_logins_total{mechanism}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMechanism {
    Password,
    Passwordless,
    SelfSignup,
    Oidc,
    /// A previous account token exchanged for new ones.
    Switch,
}

impl LoginMechanism {
    const ALL: [Self; 5] = [
        Self::Password,
        Self::Passwordless,
        Self::SelfSignup,
        Self::Oidc,
        Self::Switch,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Passwordless => "passwordless",
            Self::SelfSignup => "self_signup",
            Self::Oidc => "oidc",
            Self::Switch => "switch",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|mechanism| *mechanism == self)
            .unwrap_or(0)
    }
}

/// How a login ended (docs/login.md#login-audit), as `accountd_logins_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Tokens were issued.
    Success,
    /// Credentials refused: `400 authentication failed`, or a switch's account token refused
    /// (`401`).
    Failed,
    /// Refused by login throttling before any hashing (`429`).
    Throttled,
    /// The hash queue was full (`503` with `Retry-After`).
    Busy,
    /// Anything else: a malformed request (`422`) or a server error.
    Error,
}

impl LoginOutcome {
    const ALL: [Self; 5] = [
        Self::Success,
        Self::Failed,
        Self::Throttled,
        Self::Busy,
        Self::Error,
    ];

    /// Classifies by the answer's status, so a new refusal (throttling) is counted right as soon
    /// as it answers with its status.
    pub fn of_status(status: Option<StatusCode>) -> Self {
        match status {
            None => Self::Success,
            Some(StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) => Self::Failed,
            Some(StatusCode::TOO_MANY_REQUESTS) => Self::Throttled,
            Some(StatusCode::SERVICE_UNAVAILABLE) => Self::Busy,
            Some(_) => Self::Error,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
            Self::Busy => "busy",
            Self::Error => "error",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|outcome| *outcome == self)
            .unwrap_or(0)
    }
}

/// Everything the request path records. One per application (in `AppState`), not global, so
/// every test server counts only its own requests.
pub struct Metrics {
    /// Keyed by the matched route template (`/v2/accounts/{account_id}`), never the raw path.
    routes: RwLock<HashMap<Box<str>, RouteSeries>>,
    /// Indexed by mechanism, then outcome.
    logins: [[AtomicU64; LoginOutcome::ALL.len()]; LoginMechanism::ALL.len()],
}

/// The label of requests that matched no route (404s of the fallback): one series, not one per
/// path a scanner tries.
pub const UNMATCHED_ROUTE: &str = "unmatched";

impl Default for Metrics {
    fn default() -> Self {
        Self {
            routes: RwLock::new(HashMap::new()),
            logins: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl Metrics {
    /// Records one answered request. The read lock is held only for a hash lookup; the write lock
    /// only the first time a route is seen.
    pub fn observe_request(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = method_index(method);
        let class = status_class_index(status);
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = routes.get(route) {
                if let Some(histogram) = series.histogram(method, class) {
                    histogram.observe(elapsed);
                }
                return;
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let series = routes.entry(route.into()).or_insert_with(RouteSeries::new);
        if let Some(histogram) = series.histogram(method, class) {
            histogram.observe(elapsed);
        }
    }

    pub fn count_login(&self, mechanism: LoginMechanism, outcome: LoginOutcome) {
        if let Some(counter) = self
            .logins
            .get(mechanism.index())
            .and_then(|row| row.get(outcome.index()))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends the HTTP and login families to `out`.
    pub fn render(&self, out: &mut String) {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = routes.keys().map(AsRef::as_ref).collect();
        names.sort_unstable();
        let mut series = Vec::new();
        for name in names {
            let Some(route) = routes.get(name) else {
                continue;
            };
            for (method, row) in METHODS.iter().zip(&route.slots) {
                for (class, slot) in STATUS_CLASSES.iter().zip(row) {
                    if let Some(histogram) = slot.get() {
                        let labels = format!(
                            "method=\"{method}\",route=\"{}\",status=\"{class}\"",
                            escape_label(name)
                        );
                        series.push((labels, histogram.as_ref()));
                    }
                }
            }
        }

        family(
            out,
            "accountd_http_requests_total",
            "counter",
            "HTTP requests answered, by method, matched route and status class.",
        );
        for (labels, histogram) in &series {
            let _ = writeln!(
                out,
                "accountd_http_requests_total{{{labels}}} {}",
                histogram.count()
            );
        }
        family(
            out,
            "accountd_http_request_duration_seconds",
            "histogram",
            "Time from the request reaching the router to its answer, by method, matched route and status class.",
        );
        for (labels, histogram) in &series {
            histogram.render(out, "accountd_http_request_duration_seconds", labels);
        }
        drop(routes);

        family(
            out,
            "accountd_logins_total",
            "counter",
            "Logins by mechanism (password, passwordless, self_signup, oidc, switch) and outcome: success, failed (credentials or token refused), throttled (429), busy (503), error.",
        );
        for mechanism in LoginMechanism::ALL {
            for outcome in LoginOutcome::ALL {
                let count = self
                    .logins
                    .get(mechanism.index())
                    .and_then(|row| row.get(outcome.index()))
                    .map_or(0, |counter| counter.load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "accountd_logins_total{{mechanism=\"{}\",outcome=\"{}\"}} {count}",
                    mechanism.label(),
                    outcome.label()
                );
            }
        }
    }
}

/// Appends the `# HELP` and `# TYPE` lines of a family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Appends one unlabelled or labelled sample.
pub fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Renders a histogram owned elsewhere (the hash pool's) as a family of its own.
pub fn render_histogram(out: &mut String, name: &str, help: &str, histogram: &Histogram) {
    family(out, name, "histogram", help);
    histogram.render(out, name, "");
}

/// Label values escape `\`, `"` and newlines (text exposition format 0.0.4).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_a_sum_and_a_count() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram.render(&mut out, "x", "route=\"/a\"");
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.0005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.005\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"30\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_count{route=\"/a\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{route=\"/a\"} 60.0033\n"), "{out}");
    }

    #[test]
    fn requests_are_counted_by_route_template_method_and_status_class() {
        let metrics = Metrics::default();
        let route = "/v2/accounts/{account_id}";
        metrics.observe_request(
            &Method::GET,
            route,
            StatusCode::OK,
            Duration::from_millis(1),
        );
        metrics.observe_request(
            &Method::GET,
            route,
            StatusCode::OK,
            Duration::from_millis(1),
        );
        metrics.observe_request(
            &Method::from_bytes(b"BREW").unwrap(),
            route,
            StatusCode::NOT_FOUND,
            Duration::from_millis(1),
        );
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains("accountd_http_requests_total{method=\"GET\",route=\"/v2/accounts/{account_id}\",status=\"2xx\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("accountd_http_requests_total{method=\"other\",route=\"/v2/accounts/{account_id}\",status=\"4xx\"} 1\n"),
            "{out}"
        );
    }

    #[test]
    fn every_login_mechanism_and_outcome_is_rendered_even_at_zero() {
        let metrics = Metrics::default();
        metrics.count_login(LoginMechanism::Password, LoginOutcome::of_status(None));
        metrics.count_login(
            LoginMechanism::Password,
            LoginOutcome::of_status(Some(StatusCode::SERVICE_UNAVAILABLE)),
        );
        metrics.count_login(
            LoginMechanism::Switch,
            LoginOutcome::of_status(Some(StatusCode::UNAUTHORIZED)),
        );
        let mut out = String::new();
        metrics.render(&mut out);
        for line in [
            "accountd_logins_total{mechanism=\"password\",outcome=\"success\"} 1\n",
            "accountd_logins_total{mechanism=\"password\",outcome=\"busy\"} 1\n",
            "accountd_logins_total{mechanism=\"password\",outcome=\"throttled\"} 0\n",
            "accountd_logins_total{mechanism=\"switch\",outcome=\"failed\"} 1\n",
            "accountd_logins_total{mechanism=\"oidc\",outcome=\"success\"} 0\n",
        ] {
            assert!(out.contains(line), "{line} in {out}");
        }
        assert_eq!(out.matches("accountd_logins_total{").count(), 25);
    }
}
