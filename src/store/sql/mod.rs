//! The SQL both backends share. This module is compiled twice, once inside `postgres.rs` and
//! once inside `sqlite.rs`, against that module's `ThisBackend`; every statement here is written
//! in the common subset of the two dialects (`$N` placeholders, `RETURNING`, `ON CONFLICT`), and
//! the few differences come from the backend's implementation of `store::backend::Backend`,
//! re-exported below under the names the SQL uses.

mod accounts;
mod application_keys;
mod change;
mod deployment;
mod import_plan;
mod integrations;
mod member_records;
mod memberships;
mod moving;
mod oidc;
mod otp;
mod outbox;
mod overview;
mod password_profiles;
mod profile_infos;
mod sealed;
mod security;
mod settings;
mod users;

use std::sync::Arc;

use sqlx::{Database, FromRow, Pool, Transaction};
use tokio::sync::Notify;

/// The most ids one `include` asks for: a page holds at most 100 items.
const MAX_INCLUDED: usize = 100;

pub(super) use accounts::{HolderAccountRow, HolderRead, holder_account_row};
pub(super) use memberships::{SwitchRead, SwitchRow, switch_rows};

use super::ThisBackend;
use crate::auth::sealing::Sealer;
use crate::query::filter::Expr;
use crate::query::sort::{Sort, SortSpec, parse_sort};
use crate::query::sql::{Bind, Dialect, FieldSpec, compile};
use crate::store::EventPayloads;
use crate::store::backend::Backend;
use crate::store::bulk_rows::{BulkRows, Cell};
use crate::store::{Conflict, ListQuery, Page, StoreError, StoreResult};

type Db = <ThisBackend as Backend>::Db;
type LeanPool = <ThisBackend as Backend>::LeanPool;
type HolderReads = <ThisBackend as Backend>::HolderReads;
const DIALECT: Dialect = ThisBackend::DIALECT;
const FOR_UPDATE: &str = ThisBackend::FOR_UPDATE;
const FOR_KEY_SHARE: &str = ThisBackend::FOR_KEY_SHARE;
const SKIP_LOCKED: &str = ThisBackend::SKIP_LOCKED;
const RELAXED_COMMIT: Option<&str> = ThisBackend::RELAXED_COMMIT;
const ANALYZE: Option<&str> = ThisBackend::ANALYZE;

type Tx = Transaction<'static, Db>;
type Row = <Db as Database>::Row;

/// The store over one database. Reads use `read`, writes `write`: the same pool on PostgreSQL,
/// a reader pool and a single writer connection on SQLite. `payloads` renders the objects of
/// outbox events; `outbox_signal` wakes this process's dispatcher after a commit with events.
/// `lean` serves the single-statement reads of the storefront hot paths (see `lean_pool`), and
/// `holder_reads` the token-checked account read (batched on PostgreSQL, see `batch`).
pub struct SqlStore {
    read: Pool<Db>,
    write: Pool<Db>,
    lean: Arc<LeanPool>,
    holder_reads: HolderReads,
    payloads: Arc<dyn EventPayloads>,
    outbox_signal: Arc<Notify>,
    /// Seals the secrets written and opens those read (see `sealed`).
    sealer: Arc<Sealer>,
}

impl SqlStore {
    pub fn new(
        read: Pool<Db>,
        write: Pool<Db>,
        lean: Arc<LeanPool>,
        holder_reads: HolderReads,
        payloads: Arc<dyn EventPayloads>,
        sealer: Arc<Sealer>,
    ) -> Self {
        Self {
            read,
            write,
            lean,
            holder_reads,
            payloads,
            outbox_signal: Arc::new(Notify::new()),
            sealer,
        }
    }

    async fn begin(&self) -> StoreResult<Tx> {
        Ok(ThisBackend::begin_write(&self.write).await?)
    }

    /// One page of a list plus the filtered total. `scope` is a trusted predicate with its own
    /// binds (`$1`…); the filter's binds follow it.
    async fn page<T>(
        &self,
        list: &ListSpec,
        scope: Scope<'_>,
        query: &ListQuery,
    ) -> StoreResult<Page<T>>
    where
        T: for<'r> FromRow<'r, Row> + Send + Unpin,
    {
        let filter = compile_filter(&query.filter, list.fields, scope.binds.len() + 1)?;
        let sort = match query.sort.as_deref() {
            Some(raw) => parse_sort(raw, list.sorts).map_err(|_| StoreError::InvalidSort)?,
            None => list.default_sort.clone(),
        };
        let condition = format!("{}{}", scope.predicate, filter.sql);
        let mut binds: Vec<Bind> = scope.binds.to_vec();
        binds.extend(filter.binds);

        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", list.from);
        let mut count = sqlx::query_scalar::<Db, i64>(sqlx::AssertSqlSafe(count_sql));
        for bind in &binds {
            count = match bind {
                Bind::Text(text) => count.bind(text.clone()),
                Bind::Uuid(id) => count.bind(*id),
                Bind::Int(number) => count.bind(*number),
            };
        }
        let total = count.fetch_one(&self.read).await?;

        let next = binds.len() + 1;
        let page_sql = format!(
            "SELECT {} FROM {} WHERE {condition} ORDER BY {} LIMIT ${next} OFFSET ${}",
            list.columns,
            list.from,
            sort.order_by(list.id_column),
            next + 1
        );
        let mut rows = sqlx::query_as::<Db, T>(sqlx::AssertSqlSafe(page_sql));
        for bind in &binds {
            rows = match bind {
                Bind::Text(text) => rows.bind(text.clone()),
                Bind::Uuid(id) => rows.bind(*id),
                Bind::Int(number) => rows.bind(*number),
            };
        }
        let items = rows
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.read)
            .await?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// What a list offers: its table, selectable columns, filterable and sortable fields.
struct ListSpec {
    from: &'static str,
    columns: &'static str,
    id_column: &'static str,
    fields: &'static [FieldSpec],
    sorts: &'static [SortSpec],
    default_sort: Sort,
}

/// A trusted `WHERE` predicate that narrows a list (a parent id, an account holder's scope).
struct Scope<'a> {
    predicate: &'a str,
    binds: &'a [Bind],
}

const EVERYTHING: Scope<'static> = Scope {
    predicate: "1 = 1",
    binds: &[],
};

fn compile_filter(
    filter: &[Expr],
    fields: &[FieldSpec],
    first_param: usize,
) -> StoreResult<crate::query::sql::Compiled> {
    if filter.is_empty() {
        return Ok(crate::query::sql::Compiled::default());
    }
    compile(filter, fields, DIALECT, first_param).map_err(|_| StoreError::InvalidFilter)
}

/// The newest-first default of most lists (docs/http-conventions.md#sorting).
const fn newest_first() -> Sort {
    Sort {
        column: "created_at",
        descending: true,
    }
}

/// Maps a unique violation to its conflict, leaving other errors as they are.
fn conflict_on(error: sqlx::Error, constraints: &[(&str, Conflict)]) -> StoreError {
    if let Some(name) = ThisBackend::violated_constraint(&error) {
        if let Some((_, conflict)) = constraints.iter().find(|(known, _)| *known == name) {
            return StoreError::Conflict(*conflict);
        }
    }
    StoreError::from(error)
}

/// Parses a comma-separated id list as stored in `accounts.ancestor_ids`.
fn parse_ids(text: &str) -> StoreResult<Vec<uuid::Uuid>> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| uuid::Uuid::parse_str(part).map_err(|_| StoreError::Corrupt("ancestor_ids")))
        .collect()
}

/// `($first, $first+1, …)` for an `IN` list of `count` binds.
/// Writes `rows` in the transaction, the backend's fastest way (see `bulk_rows`).
async fn insert_rows(tx: &mut Tx, rows: &BulkRows<'_>) -> sqlx::Result<()> {
    ThisBackend::insert_rows(tx, rows).await
}

/// Bind parameters one multi-row `INSERT` carries: below SQLite's limit of 32,766 and
/// PostgreSQL's of 65,535.
const BINDS_PER_INSERT: usize = 9_000;

/// `rows` as multi-row `INSERT`s, each with as many rows as fit [`BINDS_PER_INSERT`].
pub(super) async fn insert_values(tx: &mut Tx, rows: &BulkRows<'_>) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows_per_statement = (BINDS_PER_INSERT / rows.columns.len()).max(1);
    let all: Vec<&[Cell<'_>]> = rows.rows().collect();
    for chunk in all.chunks(rows_per_statement) {
        let mut insert =
            sqlx::QueryBuilder::<Db>::new(format!("INSERT INTO {} ", rows.column_list()));
        insert.push_values(chunk, |mut row, cells| {
            for cell in *cells {
                match *cell {
                    Cell::Uuid(id) => row.push_bind(id),
                    Cell::Text(text) => row.push_bind(text.map(str::to_owned)),
                    Cell::Int(number) => row.push_bind(number),
                };
            }
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

fn placeholders(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// A bearer token's grant from the columns of a LEFT JOIN on `bearer_tokens`.
fn bearer_grant(
    application_key_id: Option<uuid::Uuid>,
    grant_type: Option<String>,
) -> StoreResult<Option<crate::store::BearerGrant>> {
    match (application_key_id, grant_type) {
        (Some(application_key_id), Some(grant)) => {
            let grant_type = crate::store::GrantType::parse(&grant)
                .ok_or(StoreError::Corrupt("bearer_tokens.grant_type"))?;
            Ok(Some(crate::store::BearerGrant {
                application_key_id,
                grant_type,
            }))
        }
        _ => Ok(None),
    }
}

fn join_ids(ids: &[uuid::Uuid]) -> String {
    ids.iter()
        .map(uuid::Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
