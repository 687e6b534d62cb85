//! PostgreSQL, the production store: one pool shared by reads and writes, many replicas against
//! one database. The queries themselves are shared with SQLite (`sql/`).

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Transaction};

use std::sync::Arc;

use sqlx::postgres::{PgConnection, Postgres};

use super::backend::Backend;
use super::batch::{BatchFuture, Batcher};
use super::bulk_rows::{BulkRows, ColumnValues};
use super::lean_pool::LeanPool;
use super::{ConnectOptions, EventPayloads, HolderCheck, PoolStats, StoreResult};
use crate::query::sql::Dialect;

/// PostgreSQL as the shared SQL sees it.
pub(super) enum PostgresBackend {}

/// The backend `sql/` is compiled against in this module.
type ThisBackend = PostgresBackend;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

impl Backend for PostgresBackend {
    type Db = Postgres;
    type LeanPool = LeanPool;
    type HolderReads = HolderReads;

    const NAME: &'static str = "postgres";
    const DIALECT: Dialect = Dialect::Postgres;
    /// Row locks make read-modify-write updates safe against concurrent requests.
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// What a foreign key takes on the row it references: import batches written at once may
    /// all hold the password profile their logins name.
    const FOR_KEY_SHARE: &'static str = " FOR KEY SHARE";
    /// Claiming outbox rows skips those another replica's dispatcher holds locked
    /// (docs/events.md#delivery-and-retries).
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    /// Its commit does not wait for the WAL flush, which on a small disk costs several
    /// milliseconds and made every switch wait for one. A crash of the database server may lose
    /// the last fraction of a second of such transactions, which only ever hold rows that
    /// record, or rows a rerun writes again.
    const RELAXED_COMMIT: Option<&'static str> = Some("SET LOCAL synchronous_commit = off");
    /// Statistics taken while a table was small (or never) make the planner read a batch's
    /// five hundred keys off a whole table, or a whole index range, once a bulk load has
    /// grown it; autovacuum's own `ANALYZE` comes too late during one.
    const ANALYZE: Option<&'static str> = Some("ANALYZE ");
    /// Reads and writes share one pool, so `/metrics` reports it once.
    const SHARED_POOL: bool = true;

    async fn begin_write(pool: &Pool<Postgres>) -> sqlx::Result<Transaction<'static, Postgres>> {
        pool.begin().await
    }

    fn violated_constraint(error: &sqlx::Error) -> Option<String> {
        let database_error = error.as_database_error()?;
        database_error
            .is_unique_violation()
            .then(|| database_error.constraint().map(str::to_owned))
            .flatten()
    }

    /// Migrations may take longer than any request should (an index on a large table), and they
    /// wait for each other across replicas: they run with no statement timeout, on a connection
    /// that gets its session default back afterwards.
    async fn run_migrations(pool: &Pool<Postgres>) -> StoreResult<()> {
        let mut connection = pool.acquire().await?;
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *connection)
            .await?;
        // `run_direct` is what `run` calls on the connection it acquires; called here directly
        // because `run` over a borrowed connection does not satisfy the `Send` bound of the store
        // trait's futures.
        let migrated = MIGRATOR.run_direct(None, &mut *connection, false).await;
        sqlx::query("RESET statement_timeout")
            .execute(&mut *connection)
            .await?;
        migrated?;
        Ok(())
    }

    /// PostgreSQL is backed up with its own tools (`pg_dump`, or the operator's base backups).
    async fn backup_into(_pool: &Pool<Postgres>, _path: &std::path::Path) -> StoreResult<()> {
        Err(super::StoreError::Unsupported(
            "accountd backup copies SQLite databases; back PostgreSQL up with pg_dump (see the README)",
        ))
    }

    /// Many rows as one `INSERT … SELECT * FROM UNNEST($1::uuid[], $2::text[], …)`: one
    /// statement text for any number of rows, so it is parsed and planned once per connection,
    /// and one round trip. (`COPY` would parse less, but sqlx sends its data and its end in two
    /// writes, and the second waits for the server's delayed acknowledgement of the first.)
    /// A few rows as a plain `INSERT`.
    async fn insert_rows(
        tx: &mut Transaction<'static, Postgres>,
        rows: &BulkRows<'_>,
    ) -> sqlx::Result<()> {
        if rows.len() < UNNEST_FROM_ROWS {
            return sql::insert_values(tx, rows).await;
        }
        let mut arrays = Vec::with_capacity(rows.columns.len());
        let mut columns = Vec::with_capacity(rows.columns.len());
        for index in 0..rows.columns.len() {
            let values = rows.column(index);
            let array_type = match values {
                ColumnValues::Uuids(_) => "uuid[]",
                ColumnValues::Texts(_) => "text[]",
                ColumnValues::Ints(_) => "int8[]",
            };
            arrays.push(format!("${}::{array_type}", index + 1));
            columns.push(values);
        }
        let statement = format!(
            "INSERT INTO {} SELECT * FROM UNNEST({})",
            rows.column_list(),
            arrays.join(", ")
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(statement));
        for values in columns {
            insert = match values {
                ColumnValues::Uuids(ids) => insert.bind(ids),
                ColumnValues::Texts(texts) => insert.bind(texts),
                ColumnValues::Ints(numbers) => insert.bind(numbers),
            };
        }
        insert.execute(&mut **tx).await?;
        Ok(())
    }

    fn lean_pool_stats(lean: &LeanPool) -> Option<PoolStats> {
        let (size, idle, max) = lean.stats();
        Some(PoolStats {
            name: "lean",
            size,
            idle,
            max,
            retries: lean.retries(),
        })
    }
}

/// Rows from which a bulk insert binds arrays rather than one parameter per value (see
/// `insert_rows`).
const UNNEST_FROM_ROWS: usize = 32;

/// Connections of the lean pool (hot statements), beside the 16 of the general pool: the two
/// batched reads hold up to `2 × IN_FLIGHT` of them, and the login look-ups and token issue must
/// not queue behind those.
const LEAN_CONNECTIONS: u32 = 12;

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
    // The server cancels a statement that outlives the deadline, so a slow query does not keep
    // running (and holding locks) after the request has been answered 503.
    let statement_timeout = deadline.as_millis().to_string();
    let options = PgConnectOptions::from_str(url)?
        .options([("statement_timeout", statement_timeout.as_str())]);
    // No ping before each acquire: sqlx already pings every connection when it goes back to the
    // pool, and a second round trip per query would double the database work of a read. The
    // hottest statements skip even that ping through the lean pool.
    // Generic plans on the hot connections: the batched statements take arrays, and with custom
    // plans PostgreSQL planned each execution anew (about a millisecond a batch, more than running
    // it). The single-row statements there gain nothing from custom plans either.
    let lean = Arc::new(LeanPool::new(
        options
            .clone()
            .options([("plan_cache_mode", "force_generic_plan")]),
        LEAN_CONNECTIONS,
        deadline,
    ));
    let holder_reads = HolderReads {
        accounts: Batcher::on_lean_pool(
            Arc::clone(&lean),
            run_holder_reads,
            IN_FLIGHT,
            MAX_BATCH,
            deadline,
        ),
        switches: Batcher::on_lean_pool(
            Arc::clone(&lean),
            run_switches,
            IN_FLIGHT,
            MAX_BATCH,
            deadline,
        ),
    };
    // A connection that died while idle (a database restart) is found by the ping before it is
    // handed out and replaced, so admin requests after a restart do not fail on stale
    // connections. The storefront's hot statements use the lean pool, not this one.
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .min_connections(1)
        .test_before_acquire(true)
        .acquire_timeout(deadline)
        .connect_with(options)
        .await?;
    Ok(SqlStore::new(
        pool.clone(),
        pool,
        lean,
        holder_reads,
        payloads,
        sealer,
    ))
}

/// Statements of each batched read in flight at once, each on a lean connection: with few of
/// them, requests that arrive meanwhile pile up and share the next statement. Measured on two
/// cores, 2 against 4, alternating three times (reads and switches, c=4/16/64): 2 served 15–20 %
/// more at c=16 and c=64 (fewer statements, so fewer database wake-ups per request) and the same
/// at c=4 within the noise; 8 made batches too small to gain at all.
const IN_FLIGHT: usize = 2;
/// Requests in one statement at most.
const MAX_BATCH: usize = 64;

/// Token-checked account reads and switches, batched (see `batch`).
pub(super) struct HolderReads {
    accounts: Batcher<sql::HolderRead, sql::HolderAccountRow>,
    switches: Batcher<sql::SwitchRead, Vec<sql::SwitchRow>>,
}

impl HolderReads {
    pub(super) fn stats(&self) -> Vec<super::BatchStats> {
        let stats = |statement, counts: super::batch::BatcherCounts| super::BatchStats {
            statement,
            statements: counts.statements,
            requests: counts.requests,
            worker_restarts: counts.worker_restarts,
        };
        vec![
            stats("account_read", self.accounts.counts()),
            stats("switch", self.switches.counts()),
        ]
    }

    pub(super) async fn account(
        &self,
        read: sql::HolderRead,
    ) -> StoreResult<sql::HolderAccountRow> {
        Ok(self.accounts.run(read).await?)
    }

    pub(super) async fn switch(&self, read: sql::SwitchRead) -> StoreResult<Vec<sql::SwitchRow>> {
        Ok(self.switches.run(read).await?)
    }
}

/// `sql::holder_account_row` over many requests: the same checks for each, a row each, in input
/// order. A lone request takes the single statement, which PostgreSQL runs in less work.
fn run_holder_reads<'c>(
    connection: &'c mut PgConnection,
    reads: &'c [sql::HolderRead],
) -> BatchFuture<'c, sql::HolderAccountRow> {
    Box::pin(async move {
        if let [read] = reads {
            return Ok(vec![sql::holder_account_row(connection, read).await?]);
        }
        let checks = CheckColumns::of(reads.iter().map(|(check, _)| check));
        let account_ids: Vec<_> = reads.iter().map(|(_, account_id)| *account_id).collect();
        // LATERAL … LIMIT 1 keeps each look-up an index probe per request, whatever the planner
        // guesses about the size of the arrays.
        let rows = sqlx::query_as::<Postgres, OrderedHolderRow>(
            "SELECT r.ord, b.application_key_id, b.grant_type, \
             EXISTS (SELECT 1 FROM account_memberships m JOIN users u ON u.id = m.account_member_id \
                     WHERE m.account_member_id = r.member_id AND m.account_id = r.token_account_id \
                     AND u.tokens_valid_after <= r.iat AND m.created_at / 1000 <= r.iat) AS live, \
             a.id, a.name, a.legal_name, a.registration_id, a.external_ref, a.parent_id, \
             a.ancestor_ids, a.created_at, a.updated_at \
             FROM unnest($1::bytea[], $2::int8[], $3::uuid[], $4::uuid[], $5::int8[], $6::uuid[]) \
                  WITH ORDINALITY AS r(bearer_hash, now, member_id, token_account_id, iat, account_id, ord) \
             LEFT JOIN LATERAL (SELECT application_key_id, grant_type FROM bearer_tokens \
                                WHERE token_hash = r.bearer_hash AND expires_at > r.now LIMIT 1) b ON true \
             LEFT JOIN LATERAL (SELECT * FROM accounts WHERE id = r.account_id LIMIT 1) a ON true \
             ORDER BY r.ord",
        )
        .bind(checks.bearer_hashes)
        .bind(checks.nows)
        .bind(checks.member_ids)
        .bind(checks.token_account_ids)
        .bind(checks.iats)
        .bind(account_ids)
        .fetch_all(connection)
        .await?;
        let mut ordered = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            if usize::try_from(row.ord).ok() != Some(index + 1) {
                return Err(sqlx::Error::Protocol(format!(
                    "batched read: row {} came back as {}",
                    index + 1,
                    row.ord
                )));
            }
            ordered.push(row.row);
        }
        Ok(ordered)
    })
}

/// `sql::switch_rows` over many switches: each request's page, in input order (a request whose
/// page starts past its last account gets no rows, as alone).
fn run_switches<'c>(
    connection: &'c mut PgConnection,
    reads: &'c [sql::SwitchRead],
) -> BatchFuture<'c, Vec<sql::SwitchRow>> {
    Box::pin(async move {
        if let [read] = reads {
            return Ok(vec![sql::switch_rows(connection, read).await?]);
        }
        let checks = CheckColumns::of(reads.iter().map(|(check, _, _)| check));
        let limits: Vec<_> = reads
            .iter()
            .map(|(_, limit, _)| i64::from(*limit))
            .collect();
        let offsets: Vec<_> = reads
            .iter()
            .map(|(_, _, offset)| i64::from(*offset))
            .collect();
        // The per-request statement of `sql::switch_rows`, run once per array element; the
        // outer ORDER BY keeps each request's page in the order it asked for.
        let rows = sqlx::query_as::<Postgres, OrderedSwitchRow>(
            "SELECT r.ord, w.* \
             FROM unnest($1::bytea[], $2::int8[], $3::uuid[], $4::uuid[], $5::int8[], $6::int8[], \
                         $7::int8[]) \
                  WITH ORDINALITY AS r(bearer_hash, now, member_id, token_account_id, iat, page_limit, \
                                       page_offset, ord) \
             CROSS JOIN LATERAL ( \
               SELECT b.application_key_id, b.grant_type, \
               EXISTS (SELECT 1 FROM account_memberships lm \
                       JOIN users u ON u.id = lm.account_member_id \
                       WHERE lm.account_member_id = r.member_id \
                       AND lm.account_id = r.token_account_id \
                       AND u.tokens_valid_after <= r.iat AND lm.created_at / 1000 <= r.iat) AS live, \
               s.token_timeout_secs, s.account_member_self_management, \
               a.id AS account_id, a.name AS account_name, a.ancestor_ids, \
               COUNT(a.id) OVER () AS total \
               FROM account_authentication_settings s \
               LEFT JOIN bearer_tokens b ON b.token_hash = r.bearer_hash AND b.expires_at > r.now \
               LEFT JOIN account_memberships m ON m.account_member_id = r.member_id \
               LEFT JOIN accounts a ON a.id = m.account_id \
               ORDER BY a.name, a.id LIMIT r.page_limit OFFSET r.page_offset \
             ) w \
             ORDER BY r.ord, w.account_name, w.account_id",
        )
        .bind(checks.bearer_hashes)
        .bind(checks.nows)
        .bind(checks.member_ids)
        .bind(checks.token_account_ids)
        .bind(checks.iats)
        .bind(limits)
        .bind(offsets)
        .fetch_all(connection)
        .await?;
        let mut pages: Vec<Vec<sql::SwitchRow>> =
            std::iter::repeat_with(Vec::new).take(reads.len()).collect();
        for row in rows {
            let page = usize::try_from(row.ord)
                .ok()
                .and_then(|ord| ord.checked_sub(1))
                .and_then(|index| pages.get_mut(index))
                .ok_or_else(|| {
                    sqlx::Error::Protocol(format!("batched switch: row for request {}", row.ord))
                })?;
            page.push(row.row);
        }
        Ok(pages)
    })
}

/// The `HolderCheck`s of a batch as one array per field: the first five parameters of both
/// batched statements.
struct CheckColumns {
    bearer_hashes: Vec<[u8; 32]>,
    nows: Vec<i64>,
    member_ids: Vec<uuid::Uuid>,
    token_account_ids: Vec<uuid::Uuid>,
    iats: Vec<i64>,
}

impl CheckColumns {
    fn of<'a>(checks: impl ExactSizeIterator<Item = &'a HolderCheck>) -> Self {
        let mut columns = Self {
            bearer_hashes: Vec::with_capacity(checks.len()),
            nows: Vec::with_capacity(checks.len()),
            member_ids: Vec::with_capacity(checks.len()),
            token_account_ids: Vec::with_capacity(checks.len()),
            iats: Vec::with_capacity(checks.len()),
        };
        for check in checks {
            columns.bearer_hashes.push(check.bearer_hash);
            columns.nows.push(check.now.millis());
            columns.member_ids.push(check.member_id);
            columns.token_account_ids.push(check.token_account_id);
            columns.iats.push(check.iat);
        }
        columns
    }
}

#[derive(sqlx::FromRow)]
struct OrderedSwitchRow {
    ord: i64,
    #[sqlx(flatten)]
    row: sql::SwitchRow,
}

#[derive(sqlx::FromRow)]
struct OrderedHolderRow {
    ord: i64,
    #[sqlx(flatten)]
    row: sql::HolderAccountRow,
}
