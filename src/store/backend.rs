//! What a SQL backend provides to the shared SQL of `sql/`. That module is compiled once inside
//! `postgres.rs` and once inside `sqlite.rs` (its statements are written once, but sqlx types
//! them per database); each backend module implements [`Backend`] on a marker type and names it
//! `ThisBackend`, and `sql/mod.rs` takes everything backend-specific from that implementation.
//! The compiler thereby checks that both backends provide the same things, and this trait is the
//! one place a reader finds what differs between the dialects.

use std::future::Future;
use std::path::Path;

use sqlx::{Pool, Transaction};

use super::bulk_rows::BulkRows;
use super::{PoolStats, StoreResult};
use crate::query::sql::Dialect;

pub(super) trait Backend {
    /// The sqlx database the shared SQL runs on.
    type Db: sqlx::Database;

    /// The pool of the hot single-statement reads. The shared SQL calls `run` (a statement on
    /// one connection, bounded by the database deadline) and `ping` on it; their signatures name
    /// the backend's connection type, so they are inherent methods rather than part of this trait.
    type LeanPool: Send + Sync;

    /// The token-checked account read and the switch. The shared SQL calls `account`, `switch`
    /// and `stats` on it (PostgreSQL batches concurrent requests, SQLite runs one statement each);
    /// their signatures name row types of the shared SQL, which differ per compilation, so they
    /// are inherent methods rather than part of this trait.
    type HolderReads: Send + Sync;

    /// The backend's name in the start-up and migration log lines.
    const NAME: &'static str;

    /// How filters compile for this database (`like` and `ilike` differ).
    const DIALECT: Dialect;

    /// Appended to a `SELECT` that reads a row it is about to change within a write transaction.
    const FOR_UPDATE: &'static str;

    /// Appended to a `SELECT` that reads a row which must not be deleted (nor its key changed)
    /// before the transaction commits, while other transactions may read it the same way.
    const FOR_KEY_SHARE: &'static str;

    /// Appended to the `SELECT` that claims outbox deliveries, so that dispatchers of other
    /// processes do not wait for (or claim) the same rows.
    const SKIP_LOCKED: &'static str;

    /// Run first in a transaction whose commit need not wait for a durable flush, where the
    /// database would otherwise make it wait; `None` where no commit waits. Two kinds of
    /// transaction qualify: one that records something but changes nothing (an audit row of a
    /// switch or of a refused attempt), and an import batch before a run's last (a database
    /// crash loses at most batches a rerun of the same input writes again, and the last
    /// batch's durable commit flushes every one before it, the log being written in order).
    const RELAXED_COMMIT: Option<&'static str>;

    /// Followed by a list of tables, refreshes the planner's statistics of those an import
    /// batch looks records up in, where the planner needs them to keep choosing the indexes as
    /// a bulk load grows those tables; `None` where it does not.
    const ANALYZE: Option<&'static str>;

    /// Whether reads and writes share one pool (then `/metrics` reports it once).
    const SHARED_POOL: bool;

    /// Begins a write transaction on the write pool, so that concurrent writers serialise
    /// instead of failing halfway.
    fn begin_write(
        pool: &Pool<Self::Db>,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::Db>>> + Send;

    /// The name of the unique constraint a failed statement violated, as the PostgreSQL schema
    /// names it, or `None` for any other error.
    fn violated_constraint(error: &sqlx::Error) -> Option<String>;

    /// Applies the backend's migrations (`migrations/postgres/` or `migrations/sqlite/`).
    fn run_migrations(pool: &Pool<Self::Db>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Writes a consistent copy of the database to `path`, where the backend can.
    fn backup_into(
        pool: &Pool<Self::Db>,
        path: &Path,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Writes `rows` in the transaction, in as few round trips as the database allows.
    fn insert_rows(
        tx: &mut Transaction<'static, Self::Db>,
        rows: &BulkRows<'_>,
    ) -> impl Future<Output = sqlx::Result<()>> + Send;

    /// The lean pool's numbers for `/metrics`, unless it is already counted as another pool.
    fn lean_pool_stats(lean: &Self::LeanPool) -> Option<PoolStats>;
}
