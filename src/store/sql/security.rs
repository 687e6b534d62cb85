//! Login throttling counts (§6.10) and the append-only audit trail (§25).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, EVERYTHING, FOR_UPDATE, ListSpec, SqlStore, newest_first};
use crate::auth::throttle::{
    ADDRESS_FAILURE_LIMIT, ADDRESS_WINDOW_SECONDS, FAILURES_BEFORE_LOCK, next_lock_seconds,
    seconds_until, username_key,
};
use crate::query::filter::Op;
use crate::query::sort::SortSpec;
use crate::query::sql::{FieldKind, FieldSpec};
use crate::store::{
    AuditEvent, Entity, ListQuery, NewAuditEvent, Page, SecurityStore, StoreError, StoreResult,
};
use crate::time::Timestamp;

const AUDIT_COLUMNS: &str = "id, event_type, actor, subject, client_address, detail, created_at";

const AUDIT: ListSpec = ListSpec {
    from: "audit_events",
    columns: AUDIT_COLUMNS,
    id_column: "id",
    fields: &[
        FieldSpec {
            name: "event_type",
            column: "event_type",
            kind: FieldKind::Text,
            ops: &[Op::Eq],
        },
        FieldSpec {
            name: "created_at",
            column: "created_at",
            kind: FieldKind::Timestamp,
            ops: &[Op::Eq, Op::Lt, Op::Le, Op::Gt, Op::Ge],
        },
    ],
    sorts: &[SortSpec {
        name: "created_at",
        column: "created_at",
    }],
    default_sort: newest_first(),
};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    event_type: String,
    actor: Option<String>,
    subject: Option<String>,
    client_address: Option<String>,
    detail: String,
    created_at: i64,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.id,
            event_type: row.event_type,
            actor: row.actor,
            subject: row.subject,
            client_address: row.client_address,
            detail: serde_json::from_str(&row.detail)
                .map_err(|_| StoreError::Corrupt("audit_events.detail"))?,
            created_at: row.created_at.into(),
        })
    }
}

const WINDOW_MILLIS: i64 = ADDRESS_WINDOW_SECONDS * 1000;

#[async_trait]
impl SecurityStore for SqlStore {
    async fn login_lock(
        &self,
        username_key: &str,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<Option<u64>> {
        // Both keys in one statement. The address is locked while its window holds the limit:
        // it unlocks when the oldest of the most recent `limit` failures leaves the window.
        let mut lease = self.lean.lease().await?;
        let (locked_until, oldest_of_limit): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT locked_until FROM login_throttles WHERE key = $1), \
             (SELECT failed_at FROM address_failures WHERE address = $2 AND failed_at > $3 \
              ORDER BY failed_at DESC LIMIT 1 OFFSET $4)",
        )
        .bind(username_key)
        .bind(address)
        .bind(now.millis() - WINDOW_MILLIS)
        .bind(ADDRESS_FAILURE_LIMIT - 1)
        .fetch_one(&mut *lease)
        .await?;
        lease.release();
        let username_wait = locked_until
            .filter(|until| *until > now.millis())
            .map(|until| seconds_until(until, now.millis()));
        let address_wait = oldest_of_limit
            .map(|failed_at| seconds_until(failed_at + WINDOW_MILLIS, now.millis()).max(1));
        Ok(match (username_wait, address_wait) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (wait, None) | (None, wait) => wait,
        })
    }

    async fn record_login_failure(
        &self,
        username_key: &str,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO address_failures (address, failed_at) VALUES ($1, $2)")
            .bind(address)
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO login_throttles (key, failures, locked_until, lock_seconds, updated_at) \
             VALUES ($1, 0, 0, 0, $2) ON CONFLICT DO NOTHING",
        )
        .bind(username_key)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "SELECT failures, locked_until, lock_seconds FROM login_throttles WHERE key = $1{FOR_UPDATE}"
        );
        let (failures, locked_until, lock_seconds) =
            sqlx::query_as::<Db, (i64, i64, i64)>(sqlx::AssertSqlSafe(sql))
                .bind(username_key)
                .fetch_one(&mut *tx)
                .await?;
        let failures = failures + 1;
        let (locked_until, lock_seconds) =
            if failures >= FAILURES_BEFORE_LOCK && now.millis() >= locked_until {
                let lock = next_lock_seconds(lock_seconds);
                (now.millis() + lock * 1000, lock)
            } else {
                (locked_until, lock_seconds)
            };
        sqlx::query(
            "UPDATE login_throttles SET failures = $2, locked_until = $3, lock_seconds = $4, \
             updated_at = $5 WHERE key = $1",
        )
        .bind(username_key)
        .bind(failures)
        .bind(locked_until)
        .bind(lock_seconds)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_login_success(&self, username_key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_throttles WHERE key = $1")
            .bind(username_key)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn clear_lockout(&self, account_member_id: Uuid) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM users WHERE id = $1")
            .bind(account_member_id)
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Err(StoreError::NotFound(Entity::AccountMember));
        }
        let logins = sqlx::query_as::<Db, (Uuid, String)>(
            "SELECT password_profile_id, username_lower FROM password_profile_infos \
             WHERE user_id = $1",
        )
        .bind(account_member_id)
        .fetch_all(&mut *tx)
        .await?;
        for (profile_id, username_lower) in logins {
            sqlx::query("DELETE FROM login_throttles WHERE key = $1")
                .bind(username_key(profile_id, &username_lower))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_address_failures(&self, before: Timestamp) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM address_failures WHERE failed_at <= $1")
            .bind(before.millis())
            .execute(&self.write)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn append_audit_event(&self, event: &NewAuditEvent, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, event_type, actor, subject, client_address, detail, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(Uuid::new_v4())
        .bind(&event.event_type)
        .bind(&event.actor)
        .bind(&event.subject)
        .bind(&event.client_address)
        .bind(event.detail.to_string())
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn list_audit_events(&self, query: &ListQuery) -> StoreResult<Page<AuditEvent>> {
        let page = self.page::<AuditRow>(&AUDIT, EVERYTHING, query).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(AuditEvent::try_from)
                .collect::<StoreResult<_>>()?,
            total: page.total,
        })
    }
}
