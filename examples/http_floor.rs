//! The floor under target 2 of `bench/run`: the cheapest HTTP endpoint that runs one database
//! statement per request on this stack. It answers `GET /{aid}` with pgbench's own `-S`
//! statement (`SELECT abalance FROM pgbench_accounts WHERE aid = $1`) on a connection of the
//! same lean pool accountd uses, with no authentication, no JSON and no middleware. A
//! token-checked read cannot beat this figure, so `floor ÷ pgbench` is the most any design on
//! axum, hyper and sqlx reaches on this machine.
//!
//! `cargo run --release --example http_floor -- <database-url> <listen-address>`

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use accountd::store::lean_pool::LeanPool;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::postgres::PgConnectOptions;

async fn balance(
    State(pool): State<Arc<LeanPool>>,
    Path(aid): Path<i32>,
) -> Result<String, StatusCode> {
    let mut lease = pool
        .lease()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let balance: Option<i32> =
        sqlx::query_scalar("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
            .bind(aid)
            .fetch_optional(&mut *lease)
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    lease.release();
    balance
        .map(|value| value.to_string())
        .ok_or(StatusCode::NOT_FOUND)
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: http_floor <database-url> <listen-address>")?;
    let listen = args
        .next()
        .ok_or("usage: http_floor <database-url> <listen-address>")?;
    let options = PgConnectOptions::from_str(&url).map_err(|e| format!("database URL: {e}"))?;
    let pool = Arc::new(LeanPool::new(options, 8, Duration::from_secs(10)));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        let app = Router::new().route("/{aid}", get(balance)).with_state(pool);
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("serve: {e}"))
    })
}
