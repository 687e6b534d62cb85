//! PostgreSQL, the production store: one pool shared by reads and writes, many replicas against
//! one database. The queries themselves are shared with SQLite (`sql/`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Transaction};

use std::sync::Arc;

pub(super) use super::lean_pool::LeanPool;
use super::{EventPayloads, StoreResult};
use crate::query::sql::Dialect;

pub(super) type Db = sqlx::Postgres;
pub(super) const DIALECT: Dialect = Dialect::Postgres;
pub(super) const BACKEND: &str = "postgres";
/// Row locks make read-modify-write updates safe against concurrent requests.
pub(super) const FOR_UPDATE: &str = " FOR UPDATE";
/// Claiming outbox rows skips those another replica's dispatcher holds locked (§22.3).
pub(super) const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
/// Reads and writes share one pool, so `/metrics` reports it once.
pub(super) const SHARED_POOL: bool = true;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections of the lean pool (hot statements), beside the 16 of the general pool: two cores of
/// PostgreSQL are busy with far fewer statements in flight than that.
const LEAN_CONNECTIONS: u32 = 8;

// The shared SQL is compiled once per backend on purpose: `super::Db` differs.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
pub(super) use sql::SqlStore;

pub(super) async fn connect(url: &str, payloads: Arc<dyn EventPayloads>) -> StoreResult<SqlStore> {
    let options = PgConnectOptions::from_str(url)?;
    // No ping before each acquire: sqlx already pings every connection when it goes back to the
    // pool, and a second round trip per query would double the database work of a read. The
    // hottest statements skip even that ping through the lean pool.
    let lean = LeanPool::new(options.clone(), LEAN_CONNECTIONS, ACQUIRE_TIMEOUT);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .min_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(SqlStore::new(pool.clone(), pool, lean, payloads))
}

pub(super) async fn begin_write(pool: &Pool<Db>) -> sqlx::Result<Transaction<'static, Db>> {
    pool.begin().await
}

/// The lean pool's numbers for `/metrics`.
pub(super) fn lean_stats(lean: &LeanPool) -> Option<(u32, usize, u32)> {
    Some(lean.stats())
}

/// Names the unique constraint a failed statement violated.
pub(super) fn violated_constraint(error: &sqlx::Error) -> Option<String> {
    let database_error = error.as_database_error()?;
    database_error
        .is_unique_violation()
        .then(|| database_error.constraint().map(str::to_owned))
        .flatten()
}
