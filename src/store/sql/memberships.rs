//! Account memberships, the membership limits, and the two questions a token asks:
//! which accounts may a member get tokens for, and is a presented token still live
//! (docs/account-tokens.md#liveness).

use async_trait::async_trait;
use uuid::Uuid;

use super::member_records;
use super::{Db, FOR_UPDATE, ListSpec, Scope, SqlStore, Tx, bearer_grant, newest_first, parse_ids};
use crate::query::filter::Op;
use crate::query::sort::RECORD_SORTS;
use crate::query::sql::{Bind, FieldKind, FieldSpec};
use crate::store::{
    Conflict, Entity, HolderCheck, HolderSwitch, Limit, ListQuery, Membership, MembershipStore,
    NewAuditEvent, Page, SelfManagement, StoreError, StoreResult, TokenAccount, TokenIssue,
};
use crate::time::Timestamp;

/// The most memberships one account may hold.
pub(super) const ACCOUNT_MEMBERSHIP_CAP: i64 = 1000;
const COLUMNS: &str = "id, account_id, account_member_id, created_at, updated_at";

const LIST: ListSpec = ListSpec {
    from: "account_memberships",
    columns: COLUMNS,
    id_column: "id",
    fields: &[FieldSpec {
        name: "account_member_id",
        column: "account_member_id",
        kind: FieldKind::Uuid,
        ops: &[Op::Eq, Op::Like],
    }],
    sorts: RECORD_SORTS,
    default_sort: newest_first(),
};

#[derive(sqlx::FromRow)]
pub(crate) struct SwitchRow {
    application_key_id: Option<Uuid>,
    grant_type: Option<String>,
    live: bool,
    #[sqlx(flatten)]
    issue: IssueRow,
}

#[derive(sqlx::FromRow)]
pub(crate) struct IssueRow {
    token_timeout_secs: i64,
    account_member_self_management: String,
    account_id: Option<Uuid>,
    account_name: Option<String>,
    ancestor_ids: Option<String>,
    total: i64,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: Uuid,
    account_id: Uuid,
    account_member_id: Uuid,
    created_at: i64,
    updated_at: i64,
}

impl From<MembershipRow> for Membership {
    fn from(row: MembershipRow) -> Self {
        Self {
            id: row.id,
            account_id: row.account_id,
            account_member_id: row.account_member_id,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
    }
}

#[async_trait]
impl MembershipStore for SqlStore {
    async fn create_membership(
        &self,
        account_id: Uuid,
        account_member_id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Membership> {
        let mut change = self.change(audit, now).await?;
        let tx = change.tx();
        // Locking the account serialises concurrent creates against the per-account cap.
        let account_sql = format!("SELECT id FROM accounts WHERE id = $1{FOR_UPDATE}");
        let account = sqlx::query_scalar::<Db, Uuid>(sqlx::AssertSqlSafe(account_sql))
            .bind(account_id)
            .fetch_optional(&mut **tx)
            .await?;
        if account.is_none() {
            return Err(StoreError::NotFound(Entity::Account));
        }
        let member_sql = format!("SELECT id FROM users WHERE id = $1{FOR_UPDATE}");
        let member = sqlx::query_scalar::<Db, Uuid>(sqlx::AssertSqlSafe(member_sql))
            .bind(account_member_id)
            .fetch_optional(&mut **tx)
            .await?;
        if member.is_none() {
            return Err(StoreError::NotFound(Entity::AccountMember));
        }
        ensure_membership_allowed(tx, account_id, account_member_id).await?;
        let created = Membership {
            id: Uuid::new_v4(),
            account_id,
            account_member_id,
            created_at: now,
            updated_at: now,
        };
        member_records::create_membership(&mut change, &created).await?;
        change.commit().await?;
        Ok(created)
    }

    async fn membership(&self, account_id: Uuid, id: Uuid) -> StoreResult<Membership> {
        let sql =
            format!("SELECT {COLUMNS} FROM account_memberships WHERE id = $1 AND account_id = $2");
        Ok(
            sqlx::query_as::<Db, MembershipRow>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(account_id)
                .fetch_optional(&self.read)
                .await?
                .ok_or(StoreError::NotFound(Entity::Membership))?
                .into(),
        )
    }

    async fn list_memberships(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<Membership>> {
        let binds = [Bind::Uuid(account_id)];
        let scope = Scope {
            predicate: "account_id = $1",
            binds: &binds,
        };
        let page = self.page::<MembershipRow>(&LIST, scope, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(Membership::from).collect(),
            total: page.total,
        })
    }

    async fn delete_membership(
        &self,
        account_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        member_records::delete_membership(&mut change, account_id, id)
            .await?
            .ok_or(StoreError::NotFound(Entity::Membership))?;
        change.commit().await?;
        Ok(())
    }

    async fn list_member_memberships(
        &self,
        account_member_id: Uuid,
        query: &ListQuery,
        only_account: Option<Uuid>,
    ) -> StoreResult<Page<Membership>> {
        let mut binds = vec![Bind::Uuid(account_member_id)];
        binds.extend(only_account.map(Bind::Uuid));
        let scope = Scope {
            predicate: if only_account.is_some() {
                "account_member_id = $1 AND account_id = $2"
            } else {
                "account_member_id = $1"
            },
            binds: &binds,
        };
        let page = self.page::<MembershipRow>(&LIST, scope, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(Membership::from).collect(),
            total: page.total,
        })
    }

    async fn token_accounts(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Page<TokenAccount>> {
        let (total, rows) = self
            .lean
            .run(
                &(account_member_id, i64::from(limit), i64::from(offset)),
                |connection, (member_id, limit, offset)| {
                    Box::pin(async move {
                        let total = sqlx::query_scalar::<Db, i64>(
                            "SELECT COUNT(*) FROM account_memberships WHERE account_member_id = $1",
                        )
                        .bind(*member_id)
                        .fetch_one(&mut *connection)
                        .await?;
                        let rows = sqlx::query_as::<Db, (Uuid, String, String)>(
                            "SELECT a.id, a.name, a.ancestor_ids FROM account_memberships m \
                             JOIN accounts a ON a.id = m.account_id WHERE m.account_member_id = $1 \
                             ORDER BY a.name, a.id LIMIT $2 OFFSET $3",
                        )
                        .bind(*member_id)
                        .bind(*limit)
                        .bind(*offset)
                        .fetch_all(&mut *connection)
                        .await?;
                        Ok((total, rows))
                    })
                },
            )
            .await?;
        let items = rows
            .into_iter()
            .map(|(account_id, account_name, ancestors)| {
                Ok(TokenAccount {
                    account_id,
                    account_name,
                    ancestors: parse_ids(&ancestors)?,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn token_issue(
        &self,
        account_member_id: Uuid,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Option<TokenIssue>> {
        // The settings row anchors the LEFT JOINs, as in `switch_as_holder`.
        let rows = self
            .lean
            .run(
                &(account_member_id, i64::from(limit), i64::from(offset)),
                |connection, (member_id, limit, offset)| {
                    Box::pin(
                        sqlx::query_as::<Db, IssueRow>(
                            "SELECT s.token_timeout_secs, s.account_member_self_management, \
                             a.id AS account_id, a.name AS account_name, a.ancestor_ids, \
                             COUNT(a.id) OVER () AS total \
                             FROM account_authentication_settings s \
                             LEFT JOIN account_memberships m ON m.account_member_id = $1 \
                             LEFT JOIN accounts a ON a.id = m.account_id \
                             ORDER BY a.name, a.id LIMIT $2 OFFSET $3",
                        )
                        .bind(*member_id)
                        .bind(*limit)
                        .bind(*offset)
                        .fetch_all(connection),
                    )
                },
            )
            .await?;
        token_issue_from(rows)
    }

    async fn switch_as_holder(
        &self,
        check: &HolderCheck,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Option<HolderSwitch>> {
        let rows = self.holder_reads.switch((*check, limit, offset)).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let bearer = bearer_grant(first.application_key_id, first.grant_type.clone())?;
        let live = first.live;
        let Some(issue) = token_issue_from(rows.into_iter().map(|row| row.issue).collect())? else {
            return Ok(None);
        };
        Ok(Some(HolderSwitch {
            bearer,
            live,
            token_timeout_secs: issue.token_timeout_secs,
            self_management: issue.self_management,
            accounts: issue.accounts,
        }))
    }

    async fn account_token_is_live(
        &self,
        account_member_id: Uuid,
        account_id: Uuid,
        iat: i64,
    ) -> StoreResult<bool> {
        // The membership's foreign keys guarantee that member and account exist.
        let live = sqlx::query_scalar::<Db, i64>(
            "SELECT COUNT(*) FROM account_memberships m JOIN users u ON u.id = m.account_member_id \
             WHERE m.account_member_id = $1 AND m.account_id = $2 AND u.tokens_valid_after <= $3 \
             AND m.created_at / 1000 <= $3",
        )
        .bind(account_member_id)
        .bind(account_id)
        .bind(iat)
        .fetch_one(&self.read)
        .await?;
        Ok(live > 0)
    }
}

/// What one switch needs: the checks and the page of accounts asked for (limit, offset).
pub(crate) type SwitchRead = (HolderCheck, u32, u32);

/// The bearer check, the account token's liveness, the settings and one page of the member's
/// accounts, for one switch. The settings row is the anchor: exactly one, so the LEFT JOINs
/// always give a row unless the page starts past the member's last account. PostgreSQL also has
/// a batched form of it (`postgres.rs`).
pub(crate) async fn switch_rows(
    connection: &mut <Db as sqlx::Database>::Connection,
    (check, limit, offset): &SwitchRead,
) -> sqlx::Result<Vec<SwitchRow>> {
    sqlx::query_as::<Db, SwitchRow>(
        "SELECT b.application_key_id, b.grant_type, \
         EXISTS (SELECT 1 FROM account_memberships lm JOIN users u ON u.id = lm.account_member_id \
                 WHERE lm.account_member_id = $3 AND lm.account_id = $4 \
                 AND u.tokens_valid_after <= $5 AND lm.created_at / 1000 <= $5) AS live, \
         s.token_timeout_secs, s.account_member_self_management, \
         a.id AS account_id, a.name AS account_name, a.ancestor_ids, \
         COUNT(a.id) OVER () AS total \
         FROM account_authentication_settings s \
         LEFT JOIN bearer_tokens b ON b.token_hash = $1 AND b.expires_at > $2 \
         LEFT JOIN account_memberships m ON m.account_member_id = $3 \
         LEFT JOIN accounts a ON a.id = m.account_id \
         ORDER BY a.name, a.id LIMIT $6 OFFSET $7",
    )
    .bind(&check.bearer_hash[..])
    .bind(check.now.millis())
    .bind(check.member_id)
    .bind(check.token_account_id)
    .bind(check.iat)
    .bind(i64::from(*limit))
    .bind(i64::from(*offset))
    .fetch_all(connection)
    .await
}

/// Refuses a membership that exists already (`409`) or would pass the per-account cap or the
/// member's limit (`422`); the caller locked the account and the member.
pub(super) async fn ensure_membership_allowed(
    tx: &mut Tx,
    account_id: Uuid,
    account_member_id: Uuid,
) -> StoreResult<()> {
    let existing = sqlx::query_scalar::<Db, i64>(
        "SELECT COUNT(*) FROM account_memberships WHERE account_id = $1 AND account_member_id = $2",
    )
    .bind(account_id)
    .bind(account_member_id)
    .fetch_one(&mut **tx)
    .await?;
    if existing > 0 {
        return Err(StoreError::Conflict(Conflict::MembershipExists));
    }
    let in_account = sqlx::query_scalar::<Db, i64>(
        "SELECT COUNT(*) FROM account_memberships WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_one(&mut **tx)
    .await?;
    if in_account >= ACCOUNT_MEMBERSHIP_CAP {
        return Err(StoreError::Limit(Limit::AccountMemberships));
    }
    let (of_member, limit) = sqlx::query_as::<Db, (i64, i64)>(
        "SELECT (SELECT COUNT(*) FROM account_memberships WHERE account_member_id = $1), \
         (SELECT membership_limit FROM account_membership_settings)",
    )
    .bind(account_member_id)
    .fetch_one(&mut **tx)
    .await?;
    if of_member >= limit {
        return Err(StoreError::Limit(Limit::MemberMemberships));
    }
    Ok(())
}

/// The memberships of an account (`column` = `account_id`) or of a member
/// (`account_member_id`), oldest first: the order a cascade announces their deletion in.
pub(super) async fn memberships_where(
    tx: &mut Tx,
    column: &'static str,
    id: Uuid,
) -> StoreResult<Vec<Membership>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM account_memberships WHERE {column} = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query_as::<Db, MembershipRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(Membership::from).collect())
}

/// The settings and the page of token accounts from the rows of an issue read (the settings row
/// repeated on each; one row without an account when the member has none); `None` without rows.
fn token_issue_from(rows: Vec<IssueRow>) -> StoreResult<Option<TokenIssue>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let self_management = SelfManagement::parse(&first.account_member_self_management)
        .ok_or(StoreError::Corrupt("account_member_self_management"))?;
    let (token_timeout_secs, total) = (first.token_timeout_secs, first.total);
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if let (Some(account_id), Some(account_name), Some(ancestors)) =
            (row.account_id, row.account_name, row.ancestor_ids)
        {
            items.push(TokenAccount {
                account_id,
                account_name,
                ancestors: parse_ids(&ancestors)?,
            });
        }
    }
    Ok(Some(TokenIssue {
        token_timeout_secs,
        self_management,
        accounts: Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
        },
    }))
}
