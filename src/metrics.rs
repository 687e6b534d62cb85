//! Prometheus metrics on the `prometheus` crate: a registry per application (in `AppState`, so
//! every test server counts only its own requests) holding the series the request path and the
//! hash pool record, and a helper for the families `GET /metrics` reads at scrape time
//! (`http::metrics`).
//!
//! Why this crate: its histograms are lock-free (two shards of atomics, swapped at collection),
//! a registry is a value rather than a process-wide global, and an unscraped server keeps no
//! samples: every series is a fixed set of atomics created on first use. The label sets are
//! bounded by construction (matched route templates, a closed list of methods, five status
//! classes), so nobody can create series by inventing paths or methods.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

/// Upper bounds of the latency buckets, in seconds: from half a millisecond (a token-checked
/// read on a quiet machine) to the 30 s request timeout.
const BUCKETS_SECONDS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
];

/// A latency histogram with the server's buckets, for a family of its own (the hash pool's).
pub fn latency_histogram(name: &str, help: &str) -> prometheus::Result<Histogram> {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(BUCKETS_SECONDS.to_vec()))
}

/// The methods that get their own label value; anything else is `other`, so a client inventing
/// methods cannot create series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class_label(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        0 | 1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
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
        self as usize
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
        self as usize
    }
}

/// The label of requests that matched no route (404s of the fallback): one series, not one per
/// path a scanner tries.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const REQUESTS_TOTAL: &str = "accountd_http_requests_total";
const REQUEST_LABELS: [&str; 3] = ["method", "route", "status"];

/// Everything the server records as it runs, in a registry of its own.
pub struct Metrics {
    registry: Registry,
    /// Keyed by method, matched route template (`/v2/accounts/{account_id}`, never the raw
    /// path) and status class.
    requests: HistogramVec,
    /// Resolved once, indexed by mechanism then outcome: counting a login looks nothing up.
    logins: [[IntCounter; LoginOutcome::ALL.len()]; LoginMechanism::ALL.len()],
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = HistogramVec::new(
            HistogramOpts::new(
                "accountd_http_request_duration_seconds",
                "Time from the request reaching the router to its answer, by method, matched route and status class.",
            )
            .buckets(BUCKETS_SECONDS.to_vec()),
            &REQUEST_LABELS,
        )?;
        registry.register(Box::new(RequestCounts {
            durations: requests.clone(),
            desc: Desc::new(
                REQUESTS_TOTAL.to_owned(),
                "HTTP requests answered, by method, matched route and status class.".to_owned(),
                REQUEST_LABELS.map(str::to_owned).to_vec(),
                std::collections::HashMap::new(),
            )?,
        }))?;
        let login_family = IntCounterVec::new(
            Opts::new(
                "accountd_logins_total",
                "Logins by mechanism (password, passwordless, self_signup, oidc, switch) and outcome: success, failed (credentials or token refused), throttled (429), busy (503), error.",
            ),
            &["mechanism", "outcome"],
        )?;
        registry.register(Box::new(login_family.clone()))?;
        // Every mechanism and outcome is shown from the start, at zero, so a rate over a series
        // that appears late does not miss its first increments.
        let mut logins = Vec::with_capacity(LoginMechanism::ALL.len());
        for mechanism in LoginMechanism::ALL {
            let mut row = Vec::with_capacity(LoginOutcome::ALL.len());
            for outcome in LoginOutcome::ALL {
                row.push(
                    login_family
                        .get_metric_with_label_values(&[mechanism.label(), outcome.label()])?,
                );
            }
            logins.push(to_array(row)?);
        }
        Ok(Self {
            registry,
            requests,
            logins: to_array(logins)?,
        })
    }

    /// Adds a histogram recorded elsewhere (the hash pool's) to this server's registry.
    pub fn register_histogram(&self, histogram: &Histogram) -> prometheus::Result<()> {
        self.registry.register(Box::new(histogram.clone()))
    }

    /// Records one answered request: a hash of its three label values, a shared read lock for
    /// the look-up, and lock-free atomic adds.
    pub fn observe_request(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let labels = [method_label(method), route, status_class_label(status)];
        if let Ok(histogram) = self.requests.get_metric_with_label_values(&labels) {
            histogram.observe(elapsed.as_secs_f64());
        }
    }

    pub fn count_login(&self, mechanism: LoginMechanism, outcome: LoginOutcome) {
        if let Some(counter) = self
            .logins
            .get(mechanism.index())
            .and_then(|row| row.get(outcome.index()))
        {
            counter.inc();
        }
    }

    /// Every family recorded so far, sorted by name.
    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }
}

fn to_array<T, const N: usize>(items: Vec<T>) -> prometheus::Result<[T; N]> {
    items
        .try_into()
        .map_err(|_| prometheus::Error::Msg("a fixed label set changed size".to_owned()))
}

/// `accountd_http_requests_total`, read from the latency histograms' counts when scraped, so the
/// request path records each request once and the two families always agree.
struct RequestCounts {
    durations: HistogramVec,
    desc: Desc,
}

impl Collector for RequestCounts {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.durations.desc();
        descs.push(&self.desc);
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let durations = self.durations.collect();
        let counts: Vec<proto::Metric> = durations
            .iter()
            .flat_map(MetricFamily::get_metric)
            .map(|series| {
                let mut counter = proto::Counter::default();
                // Exact below 2^53 requests.
                #[allow(clippy::cast_precision_loss)]
                counter.set_value(series.get_histogram().get_sample_count() as f64);
                let mut metric = proto::Metric::from_label(series.get_label().to_vec());
                metric.set_counter(counter);
                metric
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::COUNTER);
        family.set_metric(counts);
        let mut families = durations;
        families.push(family);
        families
    }
}

/// One sample of a family read at scrape time: its labels and its value.
pub type Sample = (Vec<(&'static str, String)>, f64);

/// A family whose values are read when scraped (gauges of pools and queues, counters kept by
/// the store) rather than recorded in the registry.
pub fn sampled_family(
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = Sample>,
) -> MetricFamily {
    let metrics = samples
        .into_iter()
        .map(|(labels, value)| {
            let pairs = labels
                .into_iter()
                .map(|(name, value)| {
                    let mut pair = proto::LabelPair::default();
                    pair.set_name(name.to_owned());
                    pair.set_value(value);
                    pair
                })
                .collect();
            let mut metric = proto::Metric::from_label(pairs);
            match kind {
                MetricType::COUNTER => {
                    let mut counter = proto::Counter::default();
                    counter.set_value(value);
                    metric.set_counter(counter);
                }
                _ => {
                    let mut gauge = proto::Gauge::default();
                    gauge.set_value(value);
                    metric.set_gauge(gauge);
                }
            }
            metric
        })
        .collect();
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

/// The families in the text exposition format (0.0.4). A family with no series yet is left
/// out: the format has no way to show one.
pub fn render(families: &mut Vec<MetricFamily>) -> prometheus::Result<String> {
    families.retain(|family| !family.get_metric().is_empty());
    prometheus::TextEncoder::new().encode_to_string(families)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(metrics: &Metrics) -> String {
        render(&mut metrics.gather()).unwrap()
    }

    #[test]
    fn a_histogram_renders_cumulative_buckets_a_sum_and_a_count() {
        let metrics = Metrics::new().unwrap();
        let route = "/a";
        for elapsed in [
            Duration::from_micros(300),
            Duration::from_millis(3),
            Duration::from_secs(60),
        ] {
            metrics.observe_request(&Method::GET, route, StatusCode::OK, elapsed);
        }
        let out = rendered(&metrics);
        let series = "method=\"GET\",route=\"/a\",status=\"2xx\"";
        for line in [
            format!("accountd_http_request_duration_seconds_bucket{{{series},le=\"0.0005\"}} 1\n"),
            format!("accountd_http_request_duration_seconds_bucket{{{series},le=\"0.005\"}} 2\n"),
            format!("accountd_http_request_duration_seconds_bucket{{{series},le=\"30\"}} 2\n"),
            format!("accountd_http_request_duration_seconds_bucket{{{series},le=\"+Inf\"}} 3\n"),
            format!("accountd_http_request_duration_seconds_count{{{series}}} 3\n"),
            format!("accountd_http_request_duration_seconds_sum{{{series}}} 60.0033\n"),
            format!("accountd_http_requests_total{{{series}}} 3\n"),
        ] {
            assert!(out.contains(&line), "{line} in {out}");
        }
    }

    #[test]
    fn requests_are_counted_by_route_template_method_and_status_class() {
        let metrics = Metrics::new().unwrap();
        let route = "/v2/accounts/{account_id}";
        let elapsed = Duration::from_millis(1);
        metrics.observe_request(&Method::GET, route, StatusCode::OK, elapsed);
        metrics.observe_request(&Method::GET, route, StatusCode::OK, elapsed);
        let brew = Method::from_bytes(b"BREW").unwrap();
        metrics.observe_request(&brew, route, StatusCode::NOT_FOUND, elapsed);
        let out = rendered(&metrics);
        assert!(
            out.contains("accountd_http_requests_total{method=\"GET\",route=\"/v2/accounts/{account_id}\",status=\"2xx\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("accountd_http_requests_total{method=\"other\",route=\"/v2/accounts/{account_id}\",status=\"4xx\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE accountd_http_requests_total counter\n"),
            "{out}"
        );
    }

    #[test]
    fn every_login_mechanism_and_outcome_is_rendered_even_at_zero() {
        let metrics = Metrics::new().unwrap();
        metrics.count_login(LoginMechanism::Password, LoginOutcome::of_status(None));
        metrics.count_login(
            LoginMechanism::Password,
            LoginOutcome::of_status(Some(StatusCode::SERVICE_UNAVAILABLE)),
        );
        metrics.count_login(
            LoginMechanism::Switch,
            LoginOutcome::of_status(Some(StatusCode::UNAUTHORIZED)),
        );
        let out = rendered(&metrics);
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

    #[test]
    fn two_servers_count_apart() {
        let first = Metrics::new().unwrap();
        let second = Metrics::new().unwrap();
        first.observe_request(&Method::GET, "/a", StatusCode::OK, Duration::ZERO);
        assert!(rendered(&first).contains("route=\"/a\""));
        assert!(!rendered(&second).contains("route=\"/a\""));
    }
}
