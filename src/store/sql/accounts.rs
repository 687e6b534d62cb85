//! Accounts. The ancestors of an account are copied onto its row when it is created, root
//! first; `parent_id` never changes, so the copy never goes stale and a token needs no walk up
//! the hierarchy.

use async_trait::async_trait;
use uuid::Uuid;

use super::member_records;
use super::{
    Db, FOR_UPDATE, ListSpec, MAX_INCLUDED, Scope, SqlStore, Tx, bearer_grant, newest_first,
    parse_ids, placeholders,
};
use crate::query::filter::Op;
use crate::query::sort::NAMED_RECORD_SORTS;
use crate::query::sql::{Bind, FieldKind, FieldSpec};
use crate::store::{
    Account, AccountPatch, AccountStore, Conflict, Entity, HolderAccount, HolderCheck, ListQuery,
    NewAccount, NewAuditEvent, Page, StoreError, StoreResult,
};
use crate::time::Timestamp;

const COLUMNS: &str = "id, name, legal_name, registration_id, external_ref, parent_id, \
     ancestor_ids, created_at, updated_at";
const TEXT_OPS: &[Op] = &[Op::Eq, Op::Like, Op::Ilike];
const TIME_OPS: &[Op] = &[Op::Eq, Op::Lt, Op::Le, Op::Gt, Op::Ge];

const LIST: ListSpec = ListSpec {
    from: "accounts",
    columns: COLUMNS,
    id_column: "id",
    fields: &[
        FieldSpec {
            name: "id",
            column: "id",
            kind: FieldKind::Uuid,
            ops: &[Op::Eq, Op::In, Op::Lt, Op::Le, Op::Gt, Op::Ge],
        },
        FieldSpec {
            name: "parent_id",
            column: "parent_id",
            kind: FieldKind::Uuid,
            ops: &[Op::Eq, Op::In],
        },
        FieldSpec {
            name: "created_at",
            column: "created_at",
            kind: FieldKind::Timestamp,
            ops: TIME_OPS,
        },
        FieldSpec {
            name: "updated_at",
            column: "updated_at",
            kind: FieldKind::Timestamp,
            ops: TIME_OPS,
        },
        FieldSpec {
            name: "name",
            column: "name",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "legal_name",
            column: "legal_name",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "registration_id",
            column: "registration_id",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "external_ref",
            column: "external_ref",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
    ],
    sorts: NAMED_RECORD_SORTS,
    default_sort: newest_first(),
};

/// What one token-checked read of an account needs: the checks and the account asked for.
pub(crate) type HolderRead = (HolderCheck, Uuid);

/// One row of `account_as_holder`: every column may be missing (no bearer, no account).
#[derive(sqlx::FromRow)]
pub(crate) struct HolderAccountRow {
    application_key_id: Option<Uuid>,
    grant_type: Option<String>,
    live: bool,
    id: Option<Uuid>,
    name: Option<String>,
    legal_name: Option<String>,
    registration_id: Option<String>,
    external_ref: Option<String>,
    parent_id: Option<Uuid>,
    ancestor_ids: Option<String>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
}

/// The bearer check, the account token's liveness and the account itself, for one request
/// (docs/account-tokens.md#one-statement-for-the-hot-reads). PostgreSQL also has a batched form of
/// it (`postgres.rs`).
pub(crate) async fn holder_account_row(
    connection: &mut <Db as sqlx::Database>::Connection,
    (check, account_id): &HolderRead,
) -> sqlx::Result<HolderAccountRow> {
    sqlx::query_as::<Db, HolderAccountRow>(
        "SELECT b.application_key_id, b.grant_type, \
         EXISTS (SELECT 1 FROM account_memberships m JOIN users u ON u.id = m.account_member_id \
                 WHERE m.account_member_id = $3 AND m.account_id = $4 \
                 AND u.tokens_valid_after <= $5 AND m.created_at / 1000 <= $5) AS live, \
         a.id, a.name, a.legal_name, a.registration_id, a.external_ref, a.parent_id, \
         a.ancestor_ids, a.created_at, a.updated_at \
         FROM (SELECT 1 AS anchor) AS one \
         LEFT JOIN bearer_tokens b ON b.token_hash = $1 AND b.expires_at > $2 \
         LEFT JOIN accounts a ON a.id = $6",
    )
    .bind(&check.bearer_hash[..])
    .bind(check.now.millis())
    .bind(check.member_id)
    .bind(check.token_account_id)
    .bind(check.iat)
    .bind(*account_id)
    .fetch_one(connection)
    .await
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    name: String,
    legal_name: Option<String>,
    registration_id: Option<String>,
    external_ref: Option<String>,
    parent_id: Option<Uuid>,
    ancestor_ids: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            legal_name: row.legal_name,
            registration_id: row.registration_id,
            external_ref: row.external_ref,
            parent_id: row.parent_id,
            ancestors: parse_ids(&row.ancestor_ids)?,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_account(
        &self,
        account: &NewAccount,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Account> {
        let mut change = self.change(audit, now).await?;
        let ancestors = match account.parent_id {
            None => Vec::new(),
            Some(parent_id) => {
                let parent =
                    lock_account(change.tx(), parent_id)
                        .await
                        .map_err(|error| match error {
                            StoreError::NotFound(_) => StoreError::NotFound(Entity::ParentAccount),
                            other => other,
                        })?;
                let mut ancestors = parent.ancestors;
                ancestors.push(parent.id);
                ancestors
            }
        };
        if let Some(registration_id) = &account.registration_id {
            ensure_registration_id_free(change.tx(), registration_id, None).await?;
        }
        let created = Account {
            id: Uuid::new_v4(),
            name: account.name.clone(),
            legal_name: account.legal_name.clone(),
            registration_id: account.registration_id.clone(),
            external_ref: account.external_ref.clone(),
            parent_id: account.parent_id,
            ancestors,
            created_at: now,
            updated_at: now,
        };
        member_records::create_account(&mut change, &created).await?;
        change.commit().await?;
        Ok(created)
    }

    async fn account(&self, id: Uuid) -> StoreResult<Account> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        sqlx::query_as::<Db, AccountRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound(Entity::Account))?
            .try_into()
    }

    async fn list_accounts(
        &self,
        query: &ListQuery,
        only: Option<Uuid>,
    ) -> StoreResult<Page<Account>> {
        let binds: Vec<Bind> = only.map(Bind::Uuid).into_iter().collect();
        let scope = Scope {
            predicate: if only.is_some() { "id = $1" } else { "1 = 1" },
            binds: &binds,
        };
        let page = self.page::<AccountRow>(&LIST, scope, query).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(Account::try_from)
                .collect::<StoreResult<_>>()?,
            total: page.total,
        })
    }

    async fn update_account(
        &self,
        id: Uuid,
        patch: &AccountPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Account> {
        let mut change = self.change(audit, now).await?;
        let current = lock_account(change.tx(), id).await?;
        let Some(mut next) = patch.apply(&current) else {
            // Nothing to change: the request still happened, and its audit row says so.
            change.commit().await?;
            return Ok(current);
        };
        if next.registration_id != current.registration_id {
            if let Some(registration_id) = &next.registration_id {
                ensure_registration_id_free(change.tx(), registration_id, Some(id)).await?;
            }
        }
        next.updated_at = now;
        member_records::update_account(&mut change, &next).await?;
        change.commit().await?;
        Ok(next)
    }

    async fn accounts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<Account>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = &ids[..ids.len().min(MAX_INCLUDED)];
        let sql = format!(
            "SELECT {COLUMNS} FROM accounts WHERE id IN {}",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query_as::<Db, AccountRow>(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(Account::try_from)
            .collect()
    }

    async fn account_as_holder(
        &self,
        check: &HolderCheck,
        account_id: Uuid,
    ) -> StoreResult<HolderAccount> {
        let row = self.holder_reads.account((*check, account_id)).await?;
        let bearer = bearer_grant(row.application_key_id, row.grant_type)?;
        let account = match (
            row.id,
            row.name,
            row.ancestor_ids,
            row.created_at,
            row.updated_at,
        ) {
            (Some(id), Some(name), Some(ancestor_ids), Some(created_at), Some(updated_at)) => {
                Some(Account {
                    id,
                    name,
                    legal_name: row.legal_name,
                    registration_id: row.registration_id,
                    external_ref: row.external_ref,
                    parent_id: row.parent_id,
                    ancestors: parse_ids(&ancestor_ids)?,
                    created_at: created_at.into(),
                    updated_at: updated_at.into(),
                })
            }
            _ => None,
        };
        Ok(HolderAccount {
            bearer,
            live: row.live,
            account,
        })
    }

    async fn delete_account(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        lock_account(change.tx(), id).await?;
        let children =
            sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM accounts WHERE parent_id = $1")
                .bind(id)
                .fetch_one(&mut **change.tx())
                .await?;
        if children > 0 {
            return Err(StoreError::Conflict(Conflict::AccountHasChildren));
        }
        member_records::delete_account(&mut change, id).await?;
        change.commit().await?;
        Ok(())
    }
}

pub(super) async fn lock_account(tx: &mut Tx, id: Uuid) -> StoreResult<Account> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1{FOR_UPDATE}");
    sqlx::query_as::<Db, AccountRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound(Entity::Account))?
        .try_into()
}

pub(super) async fn ensure_registration_id_free(
    tx: &mut Tx,
    registration_id: &str,
    except: Option<Uuid>,
) -> StoreResult<()> {
    let holder =
        sqlx::query_scalar::<Db, Uuid>("SELECT id FROM accounts WHERE registration_id = $1")
            .bind(registration_id)
            .fetch_optional(&mut **tx)
            .await?;
    match holder {
        Some(holder) if Some(holder) != except => {
            Err(StoreError::Conflict(Conflict::RegistrationIdTaken))
        }
        _ => Ok(()),
    }
}
