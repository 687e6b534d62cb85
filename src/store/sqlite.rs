//! SQLite, the embedded default: a file next to the binary, no server to install. WAL lets
//! readers run beside the writer; all writes go through one connection and start with
//! `BEGIN IMMEDIATE`, so concurrent requests queue for the write lock instead of failing with
//! "database is locked". The queries themselves are shared with PostgreSQL (`sql/`).

use std::str::FromStr;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Pool, Transaction};

use super::backend::Backend;
use super::bulk_rows::BulkRows;
use super::{ConnectOptions, EventPayloads, PoolStats, StoreResult};
use crate::query::sql::Dialect;

/// SQLite as the shared SQL sees it.
pub(super) enum SqliteBackend {}

/// The backend `sql/` is compiled against in this module.
type ThisBackend = SqliteBackend;

type Db = sqlx::Sqlite;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

impl Backend for SqliteBackend {
    type Db = Db;
    type LeanPool = LeanPool;
    type HolderReads = HolderReads;

    const NAME: &'static str = "sqlite";
    const DIALECT: Dialect = Dialect::Sqlite;
    /// SQLite has no row locks; `BEGIN IMMEDIATE` already holds the database's write lock.
    const FOR_UPDATE: &'static str = "";
    /// As for `FOR_UPDATE`: the writer holds the database's write lock.
    const FOR_KEY_SHARE: &'static str = "";
    /// A claim runs under `BEGIN IMMEDIATE`: the one writer already excludes other dispatchers.
    const SKIP_LOCKED: &'static str = "";
    /// Nothing to relax: in WAL mode with `synchronous = NORMAL` no commit waits for a flush.
    const RELAXED_COMMIT: Option<&'static str> = None;
    /// Without statistics SQLite takes an index for an equality look-up whenever one exists.
    const ANALYZE: Option<&'static str> = None;
    /// Readers and the writer are separate pools (an in-memory database shares the writer, and
    /// then `/metrics` shows the same connection twice).
    const SHARED_POOL: bool = false;

    async fn begin_write(pool: &Pool<Db>) -> sqlx::Result<Transaction<'static, Db>> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// SQLite reports the columns ("UNIQUE constraint failed: accounts.registration_id"), so
    /// they are mapped to the constraint names the PostgreSQL schema gives the same indexes.
    fn violated_constraint(error: &sqlx::Error) -> Option<String> {
        let database_error = error.as_database_error()?;
        if !database_error.is_unique_violation() {
            return None;
        }
        let columns = database_error
            .message()
            .strip_prefix("UNIQUE constraint failed: ")?;
        let name = match columns {
            "application_keys.name" => "application_keys_name_key",
            "application_keys.client_id" => "application_keys_client_id_key",
            "password_profile_infos.password_profile_id, password_profile_infos.username_lower" => {
                "password_profile_infos_username_key"
            }
            "password_profile_infos.user_id, password_profile_infos.password_profile_id" => {
                "password_profile_infos_user_profile_key"
            }
            "accounts.registration_id" => "accounts_registration_id_key",
            "account_memberships.account_member_id, account_memberships.account_id" => {
                "account_memberships_pair_key"
            }
            "outbox_deliveries.event_id, outbox_deliveries.integration_id" => {
                "outbox_deliveries_pair_key"
            }
            "oidc_profile_infos.oidc_profile_id, oidc_profile_infos.issuer, oidc_profile_infos.subject" => {
                "oidc_profile_infos_identity_key"
            }
            other => other,
        };
        Some(name.to_owned())
    }

    async fn insert_rows(
        tx: &mut Transaction<'static, Db>,
        rows: &BulkRows<'_>,
    ) -> sqlx::Result<()> {
        sql::insert_values(tx, rows).await
    }

    async fn run_migrations(pool: &Pool<Db>) -> StoreResult<()> {
        MIGRATOR.run(pool).await?;
        Ok(())
    }

    /// `VACUUM INTO` on a reader: a consistent snapshot (one read transaction) written to a new
    /// file, while writers go on; the copy is readable by its owner only, like the database.
    async fn backup_into(pool: &Pool<Db>, path: &std::path::Path) -> StoreResult<()> {
        if path.exists() {
            return Err(super::StoreError::Unsupported(
                "the backup file already exists; choose a new path",
            ));
        }
        let target = path.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await?;
        restrict_to_owner(path).map_err(sqlx::Error::Io)?;
        Ok(())
    }

    /// Already counted as the reader pool.
    fn lean_pool_stats(_lean: &LeanPool) -> Option<PoolStats> {
        None
    }
}

const READERS: u32 = 4;

// The shared SQL is compiled once per backend on purpose: sqlx types each statement for one
// database (see `backend`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
pub(super) use sql::SqlStore;

pub(super) async fn connect(
    url: &str,
    payloads: Arc<dyn EventPayloads>,
    connect: &ConnectOptions,
    sealer: Arc<crate::auth::sealing::Sealer>,
) -> StoreResult<SqlStore> {
    let deadline = connect.db_timeout;
    // A write waits for another process's write lock (a backup, a second server on the same
    // file) at most as long as any request waits on the database; then it fails as busy, a 503.
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(deadline);
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let file = options.get_filename().to_path_buf();
    if !in_memory {
        if let Some(folder) = file
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            create_private_dir(folder).map_err(sqlx::Error::Io)?;
        }
    }
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(deadline)
        .connect_with(options.clone())
        .await?;
    if !in_memory {
        // The database holds the JWT signing key and hashes: readable by its owner only.
        restrict_to_owner(&file).map_err(sqlx::Error::Io)?;
    }
    if in_memory {
        // Every connection to `:memory:` is a database of its own: share the single writer.
        let lean = Arc::new(LeanPool {
            pool: writer.clone(),
            deadline,
        });
        return Ok(SqlStore::new(
            writer.clone(),
            writer,
            Arc::clone(&lean),
            HolderReads(lean),
            payloads,
            sealer,
        ));
    }
    let readers = SqlitePoolOptions::new()
        .max_connections(READERS)
        .acquire_timeout(deadline)
        .connect_lazy_with(options.read_only(true));
    let lean = Arc::new(LeanPool {
        pool: readers.clone(),
        deadline,
    });
    Ok(SqlStore::new(
        readers,
        writer,
        Arc::clone(&lean),
        HolderReads(lean),
        payloads,
        sealer,
    ))
}

/// The hot statements use the reader pool as it is: its connections are in-process, so sqlx's
/// check on release costs no round trip (PostgreSQL has a lean pool of its own). Each call is
/// bounded by the database deadline, as there.
pub(super) struct LeanPool {
    pool: Pool<Db>,
    deadline: Duration,
}

/// What a statement run on a lean connection returns.
pub(super) type StatementFuture<'c, T> = Pin<Box<dyn Future<Output = sqlx::Result<T>> + Send + 'c>>;

impl LeanPool {
    pub(super) async fn run<A: Sync + ?Sized, T>(
        &self,
        argument: &A,
        statement: for<'c> fn(&'c mut SqliteConnection, &'c A) -> StatementFuture<'c, T>,
    ) -> sqlx::Result<T> {
        tokio::time::timeout(self.deadline, async {
            let mut connection = self.pool.acquire().await?;
            statement(&mut connection, argument).await
        })
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    /// Answers when a reader answers.
    pub(super) async fn ping(&self) -> sqlx::Result<()> {
        self.run(&(), |connection, ()| Box::pin(connection.ping()))
            .await
    }
}

/// Token-checked account reads and switches, one statement each: batching saves round trips and
/// per-statement work of a database server, and SQLite has neither.
pub(super) struct HolderReads(Arc<LeanPool>);

impl HolderReads {
    pub(super) fn stats(&self) -> Vec<super::BatchStats> {
        Vec::new()
    }

    pub(super) async fn switch(&self, read: sql::SwitchRead) -> StoreResult<Vec<sql::SwitchRow>> {
        Ok(self
            .0
            .run(&read, |connection, read| {
                Box::pin(sql::switch_rows(connection, read))
            })
            .await?)
    }

    pub(super) async fn account(
        &self,
        read: sql::HolderRead,
    ) -> StoreResult<sql::HolderAccountRow> {
        Ok(self
            .0
            .run(&read, |connection, read| {
                Box::pin(sql::holder_account_row(connection, read))
            })
            .await?)
    }
}

fn create_private_dir(folder: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)
}

/// Owner-only permissions on the database file and its WAL companions.
fn restrict_to_owner(file: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut path = file.as_os_str().to_owned();
            path.push(suffix);
            let path = std::path::PathBuf::from(path);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}
