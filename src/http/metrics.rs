//! `GET /metrics` in the Prometheus text format, and the layer that times every request by its
//! matched route. Served only by the management listener: its gauges (the outbox backlog, login
//! failures) move with what the API hides, such as whether a username exists, so the public
//! listener must not show them.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::proto::{MetricFamily, MetricType};

use crate::error::ApiError;
use crate::metrics::{Sample, UNMATCHED_ROUTE, render, sampled_family};
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
    let mut families = state.metrics.gather();
    families.extend(hash_pool(&state));
    families.extend(database_pools(&state));
    families.extend(batches(&state));
    families.extend(outbox(&state).await);
    match render(&mut families) {
        Ok(text) => {
            let mut response = text.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(error) => {
            tracing::error!(%error, "rendering /metrics failed");
            ApiError::internal("rendering /metrics failed").into_response()
        }
    }
}

/// One unlabelled sample.
fn single(value: f64) -> [Sample; 1] {
    [(Vec::new(), value)]
}

/// A count as a sample value; counts and sizes here stay far below 2^53, where `f64` is exact.
#[allow(clippy::cast_precision_loss)]
fn count(value: impl TryInto<u64>) -> f64 {
    value.try_into().unwrap_or(u64::MAX) as f64
}

fn hash_pool(state: &AppState) -> [MetricFamily; 4] {
    let hasher = &state.hasher;
    let stats = hasher.stats();
    [
        sampled_family(
            "accountd_hash_pool_threads",
            "Threads that run argon2id.",
            MetricType::GAUGE,
            single(count(hasher.threads())),
        ),
        sampled_family(
            "accountd_hash_queue_bound",
            "Hash requests that may wait for a thread before new ones get 503.",
            MetricType::GAUGE,
            single(count(hasher.queue_bound())),
        ),
        sampled_family(
            "accountd_hash_queue_depth",
            "Hash requests waiting for a thread now.",
            MetricType::GAUGE,
            single(count(stats.queue_depth())),
        ),
        sampled_family(
            "accountd_hash_rejected_total",
            "Hash requests refused because the queue was full (answered 503).",
            MetricType::COUNTER,
            single(count(stats.rejected())),
        ),
    ]
}

/// A counter family of the batch statistics: name, help text, and which count it shows.
type BatchFamily = (&'static str, &'static str, fn(&BatchStats) -> u64);

/// PostgreSQL only: SQLite runs no batches, and shows none of these families.
fn batches(state: &AppState) -> Vec<MetricFamily> {
    let batches = state.store.batch_stats();
    if batches.is_empty() {
        return Vec::new();
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
    families
        .into_iter()
        .map(|(name, help, value)| {
            let samples = batches.iter().map(|batch| {
                (
                    vec![("statement", batch.statement.to_string())],
                    count(value(batch)),
                )
            });
            sampled_family(name, help, MetricType::COUNTER, samples)
        })
        .collect()
}

fn database_pools(state: &AppState) -> [MetricFamily; 3] {
    let pools = state.store.pool_stats();
    let mut connections = Vec::new();
    for pool in &pools {
        let in_use = usize::try_from(pool.size)
            .unwrap_or(usize::MAX)
            .saturating_sub(pool.idle);
        let name = pool.name.to_string();
        connections.push((
            vec![("pool", name.clone()), ("state", "idle".to_owned())],
            count(pool.idle),
        ));
        connections.push((
            vec![("pool", name), ("state", "in_use".to_owned())],
            count(in_use),
        ));
    }
    let per_pool = |value: fn(&crate::store::PoolStats) -> f64| -> Vec<Sample> {
        pools
            .iter()
            .map(|pool| (vec![("pool", pool.name.to_string())], value(pool)))
            .collect()
    };
    [
        sampled_family(
            "accountd_db_pool_connections",
            "Open database connections by pool and state (idle or in_use).",
            MetricType::GAUGE,
            connections,
        ),
        sampled_family(
            "accountd_db_pool_max_connections",
            "The most connections each pool opens.",
            MetricType::GAUGE,
            per_pool(|pool| count(pool.max)),
        ),
        sampled_family(
            "accountd_db_read_retries_total",
            "Reads run a second time on a fresh connection because theirs had died.",
            MetricType::COUNTER,
            per_pool(|pool| count(pool.retries)),
        ),
    ]
}

/// Read at scrape time, so it is as fresh as the scrape; a failed read leaves the families out
/// rather than failing the whole scrape (the pool gauges then tell why).
async fn outbox(state: &AppState) -> Vec<MetricFamily> {
    let backlog = match state.store.outbox_backlog().await {
        Ok(backlog) => backlog,
        Err(error) => {
            tracing::warn!(%error, "outbox backlog unavailable for /metrics");
            return Vec::new();
        }
    };
    let age = backlog.oldest_created_at.map_or(0.0, |oldest| {
        let millis = state.clock.now().millis().saturating_sub(oldest.millis());
        // Millisecond counts fit an f64 exactly for any realistic age.
        #[allow(clippy::cast_precision_loss)]
        let seconds = millis.max(0) as f64 / 1000.0;
        seconds
    });
    vec![
        sampled_family(
            "accountd_outbox_backlog",
            "Webhook deliveries not yet delivered or given up.",
            MetricType::GAUGE,
            single(count(backlog.pending)),
        ),
        sampled_family(
            "accountd_outbox_oldest_pending_age_seconds",
            "How long the oldest pending webhook delivery has waited (0 when none).",
            MetricType::GAUGE,
            single(age),
        ),
    ]
}
