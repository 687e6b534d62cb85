//! SQLite, the embedded default: a file next to the binary, no server to install. WAL lets
//! readers run beside the writer; all writes go through one connection and start with
//! `BEGIN IMMEDIATE`, so concurrent requests queue for the write lock instead of failing with
//! "database is locked". The queries themselves are shared with PostgreSQL (`sql/`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Transaction};

use std::sync::Arc;

use super::{EventPayloads, StoreResult};
use crate::query::sql::Dialect;

pub(super) type Db = sqlx::Sqlite;
pub(super) const DIALECT: Dialect = Dialect::Sqlite;
pub(super) const BACKEND: &str = "sqlite";
/// SQLite has no row locks; `BEGIN IMMEDIATE` already holds the database's write lock.
pub(super) const FOR_UPDATE: &str = "";
/// A claim runs under `BEGIN IMMEDIATE`: the one writer already excludes other dispatchers.
pub(super) const SKIP_LOCKED: &str = "";
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
/// Readers and the writer are separate pools (an in-memory database shares the writer, and then
/// `/metrics` shows the same connection twice).
pub(super) const SHARED_POOL: bool = false;

const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

// The shared SQL is compiled once per backend on purpose: `super::Db` differs.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
pub(super) use sql::SqlStore;

pub(super) async fn connect(
    url: &str,
    payloads: Arc<dyn EventPayloads>,
    sealer: Arc<crate::auth::sealing::Sealer>,
) -> StoreResult<SqlStore> {
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
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
        .acquire_timeout(BUSY_TIMEOUT)
        .connect_with(options.clone())
        .await?;
    if !in_memory {
        // The database holds the JWT signing key and hashes: readable by its owner only.
        restrict_to_owner(&file).map_err(sqlx::Error::Io)?;
    }
    if in_memory {
        // Every connection to `:memory:` is a database of its own: share the single writer.
        let lean = Arc::new(LeanPool(writer.clone()));
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
        .acquire_timeout(BUSY_TIMEOUT)
        .connect_lazy_with(options.read_only(true));
    let lean = Arc::new(LeanPool(readers.clone()));
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
/// check on release costs no round trip (PostgreSQL has a lean pool of its own).
pub(super) struct LeanPool(Pool<Db>);

impl LeanPool {
    pub(super) async fn lease(&self) -> sqlx::Result<LeanLease> {
        Ok(LeanLease(self.0.acquire().await?))
    }
}

pub(super) struct LeanLease(PoolConnection<Db>);

impl LeanLease {
    pub(super) fn release(self) {}
}

impl std::ops::Deref for LeanLease {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &sqlx::SqliteConnection {
        &self.0
    }
}

impl std::ops::DerefMut for LeanLease {
    fn deref_mut(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.0
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
        let mut lease = self.0.lease().await?;
        let rows = sql::switch_rows(&mut lease, &read).await?;
        lease.release();
        Ok(rows)
    }

    pub(super) async fn account(
        &self,
        read: sql::HolderRead,
    ) -> StoreResult<sql::HolderAccountRow> {
        let mut lease = self.0.lease().await?;
        let row = sql::holder_account_row(&mut lease, &read).await?;
        lease.release();
        Ok(row)
    }
}

/// Already counted as the reader pool.
pub(super) fn lean_stats(_lean: &LeanPool) -> Option<(u32, usize, u32)> {
    None
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

pub(super) async fn begin_write(pool: &Pool<Db>) -> sqlx::Result<Transaction<'static, Db>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Names the unique constraint a failed statement violated. SQLite reports the columns
/// ("UNIQUE constraint failed: accounts.registration_id"), so map them to the constraint names
/// the PostgreSQL schema gives the same indexes.
pub(super) fn violated_constraint(error: &sqlx::Error) -> Option<String> {
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
