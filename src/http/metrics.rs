//! `GET /metrics` in the Prometheus text format, and the layer that times every request by its
//! matched route. Served only by the management listener: its gauges (the outbox backlog, login
//! failures) move with what the API hides, such as whether a username exists, so the public
//! listener must not show them.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::metrics::{UNMATCHED_ROUTE, family, render_histogram, sample};
use crate::state::AppState;
use crate::store::BatchStats;

/// Text exposition format 0.0.4, what every Prometheus version scrapes.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Times the request and counts it under its route template (`/v2/accounts/{account_id}`), so
/// ids in paths never become label values.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The route is an `Arc<str>` inside axum: cloning it costs a reference count, not a copy.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    state
        .metrics
        .observe_request(&method, route, response.status(), started.elapsed());
    response
}

/// Whoever reaches the management listener: the server's counters for Prometheus (see the
/// README's "Metrics").
pub async fn scrape(State(state): State<AppState>) -> Response {
    let mut out = String::with_capacity(16 * 1024);
    state.metrics.render(&mut out);
    render_hash_pool(&state, &mut out);
    render_database_pools(&state, &mut out);
    render_batches(&state, &mut out);
    render_outbox(&state, &mut out).await;
    let mut response = out.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn render_hash_pool(state: &AppState, out: &mut String) {
    let hasher = &state.hasher;
    let stats = hasher.stats();
    family(
        out,
        "accountd_hash_pool_threads",
        "gauge",
        "Threads that run argon2id.",
    );
    sample(out, "accountd_hash_pool_threads", "", hasher.threads());
    family(
        out,
        "accountd_hash_queue_bound",
        "gauge",
        "Hash requests that may wait for a thread before new ones get 503.",
    );
    sample(out, "accountd_hash_queue_bound", "", hasher.queue_bound());
    family(
        out,
        "accountd_hash_queue_depth",
        "gauge",
        "Hash requests waiting for a thread now.",
    );
    sample(out, "accountd_hash_queue_depth", "", stats.queue_depth());
    family(
        out,
        "accountd_hash_rejected_total",
        "counter",
        "Hash requests refused because the queue was full (answered 503).",
    );
    sample(out, "accountd_hash_rejected_total", "", stats.rejected());
    render_histogram(
        out,
        "accountd_hash_wait_seconds",
        "Time a hash request waited in the queue before a thread took it.",
        &stats.wait,
    );
    render_histogram(
        out,
        "accountd_hash_work_seconds",
        "Time a thread spent on one argon2id hash or verification.",
        &stats.work,
    );
}

/// A counter family of the batch statistics: name, help text, and which count it shows.
type BatchFamily = (&'static str, &'static str, fn(&BatchStats) -> u64);

fn render_batches(state: &AppState, out: &mut String) {
    let batches = state.store.batch_stats();
    if batches.is_empty() {
        return;
    }
    let families: [BatchFamily; 3] = [
        (
            "accountd_db_batch_statements_total",
            "Statements run by the batched hot reads (PostgreSQL), by statement.",
            |batch| batch.statements,
        ),
        (
            "accountd_db_batched_requests_total",
            "Requests those statements served; divided by the statements, the mean batch size.",
            |batch| batch.requests,
        ),
        (
            "accountd_db_batch_worker_restarts_total",
            "Batch workers replaced after a panic; the requests of their batch got 503.",
            |batch| batch.worker_restarts,
        ),
    ];
    for (name, help, value) in families {
        family(out, name, "counter", help);
        for batch in &batches {
            let labels = format!("statement=\"{}\"", batch.statement);
            sample(out, name, &labels, value(batch));
        }
    }
}

fn render_database_pools(state: &AppState, out: &mut String) {
    let pools = state.store.pool_stats();
    family(
        out,
        "accountd_db_pool_connections",
        "gauge",
        "Open database connections by pool and state (idle or in_use).",
    );
    for pool in &pools {
        let in_use = usize::try_from(pool.size)
            .unwrap_or(usize::MAX)
            .saturating_sub(pool.idle);
        let idle = format!("pool=\"{}\",state=\"idle\"", pool.name);
        let busy = format!("pool=\"{}\",state=\"in_use\"", pool.name);
        sample(out, "accountd_db_pool_connections", &idle, pool.idle);
        sample(out, "accountd_db_pool_connections", &busy, in_use);
    }
    family(
        out,
        "accountd_db_pool_max_connections",
        "gauge",
        "The most connections each pool opens.",
    );
    for pool in &pools {
        let labels = format!("pool=\"{}\"", pool.name);
        sample(out, "accountd_db_pool_max_connections", &labels, pool.max);
    }
    family(
        out,
        "accountd_db_read_retries_total",
        "counter",
        "Reads run a second time on a fresh connection because theirs had died.",
    );
    for pool in &pools {
        let labels = format!("pool=\"{}\"", pool.name);
        sample(out, "accountd_db_read_retries_total", &labels, pool.retries);
    }
}

/// Read at scrape time, so it is as fresh as the scrape; a failed read leaves the family out
/// rather than failing the whole scrape (the pool gauges then tell why).
async fn render_outbox(state: &AppState, out: &mut String) {
    let backlog = match state.store.outbox_backlog().await {
        Ok(backlog) => backlog,
        Err(error) => {
            tracing::warn!(%error, "outbox backlog unavailable for /metrics");
            return;
        }
    };
    family(
        out,
        "accountd_outbox_backlog",
        "gauge",
        "Webhook deliveries not yet delivered or given up.",
    );
    sample(out, "accountd_outbox_backlog", "", backlog.pending);
    let age = backlog.oldest_created_at.map_or(0.0, |oldest| {
        let millis = state.clock.now().millis().saturating_sub(oldest.millis());
        // Millisecond counts fit an f64 exactly for any realistic age.
        #[allow(clippy::cast_precision_loss)]
        let seconds = millis.max(0) as f64 / 1000.0;
        seconds
    });
    family(
        out,
        "accountd_outbox_oldest_pending_age_seconds",
        "gauge",
        "How long the oldest pending webhook delivery has waited (0 when none).",
    );
    sample(out, "accountd_outbox_oldest_pending_age_seconds", "", age);
}
