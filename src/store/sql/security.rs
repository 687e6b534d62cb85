//! Login throttling counts (the policy is `auth::throttle`) and the audit trail.

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    Db, EVERYTHING, FOR_UPDATE, ListSpec, RELAXED_COMMIT, SqlStore, Tx, insert_rows, newest_first,
};
use crate::auth::throttle::{
    LockedKey, LoginKeys, PairState, RESERVATION_TIMEOUT_SECONDS, ThrottleSnapshot,
    WINDOW_FAILURE_LIMIT, WINDOW_SECONDS, WindowState, after_failure, decide, username_key,
};
use crate::query::filter::Op;
use crate::query::sort::SortSpec;
use crate::query::sql::{FieldKind, FieldSpec};
use crate::store::bulk_rows::{BulkRows, Cell};
use crate::store::{
    Actor, ActorClass, AuditEvent, Entity, ListQuery, LoginAdmission, LoginOutcomeKind,
    LoginReservation, NewAuditEvent, Page, SecurityStore, StoreError, StoreResult,
};
use crate::time::Timestamp;

const AUDIT_COLUMNS: &str =
    "id, event_type, actor_class, actor_id, subject, client_address, detail, created_at";

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
    sorts: &[SortSpec::field("created_at")],
    default_sort: newest_first(),
};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    event_type: String,
    actor_class: String,
    actor_id: Option<String>,
    subject: Option<String>,
    client_address: Option<String>,
    detail: String,
    created_at: i64,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> StoreResult<Self> {
        let actor = Actor {
            class: ActorClass::parse(&row.actor_class)
                .ok_or(StoreError::Corrupt("audit_events.actor_class"))?,
            id: row
                .actor_id
                .map(|id| Uuid::parse_str(&id))
                .transpose()
                .map_err(|_| StoreError::Corrupt("audit_events.actor_id"))?,
        };
        Ok(Self {
            id: row.id,
            event_type: row.event_type,
            actor,
            subject: row.subject,
            client_address: row.client_address,
            detail: serde_json::from_str(&row.detail)
                .map_err(|_| StoreError::Corrupt("audit_events.detail"))?,
            created_at: row.created_at.into(),
        })
    }
}

const WINDOW_MILLIS: i64 = WINDOW_SECONDS * 1000;
const RESERVATION_TIMEOUT_MILLIS: i64 = RESERVATION_TIMEOUT_SECONDS * 1000;
/// How long a pair key's backoff is remembered once its lock has ended and nothing happened:
/// an attacker who pauses for less than this resumes at the long lock, not at 30 s.
const PAIR_MEMORY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// The row names of one attempt's three keys in `throttle_keys`, in the order every
/// transaction locks them (byte order: `addr:` < `pair:` < `user:`), so two attempts never
/// wait on each other in a circle.
struct KeyRows {
    address: String,
    pair: String,
    username: String,
}

impl KeyRows {
    fn of(keys: &LoginKeys) -> Self {
        Self {
            address: format!("addr:{}", keys.address),
            pair: pair_row(&keys.pair),
            username: format!("user:{}", keys.username),
        }
    }
}

fn pair_row(pair_key: &str) -> String {
    format!("pair:{pair_key}")
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    key: String,
    failures: i64,
    locked_until: i64,
    audited_until: i64,
}

/// The counts of the two windowed keys and the pair's attempts in progress, in one statement.
#[derive(sqlx::FromRow)]
struct WindowCounts {
    pair_pending: i64,
    address_failures: i64,
    address_limit_at: Option<i64>,
    address_pending: i64,
    username_failures: i64,
    username_limit_at: Option<i64>,
    username_pending: i64,
    username_addresses: i64,
    username_addresses_with_pending: i64,
}

const WINDOW_COUNTS: &str = "SELECT \
    (SELECT COUNT(*) FROM login_reservations WHERE pair_key = $1) AS pair_pending, \
    (SELECT COUNT(*) FROM login_failures WHERE address = $3 AND failed_at > $4) AS address_failures, \
    (SELECT failed_at FROM login_failures WHERE address = $3 AND failed_at > $4 \
        ORDER BY failed_at DESC LIMIT 1 OFFSET $5) AS address_limit_at, \
    (SELECT COUNT(*) FROM login_reservations WHERE address = $3) AS address_pending, \
    (SELECT COUNT(*) FROM login_failures WHERE username_key = $2 AND failed_at > $4) AS username_failures, \
    (SELECT failed_at FROM login_failures WHERE username_key = $2 AND failed_at > $4 \
        ORDER BY failed_at DESC LIMIT 1 OFFSET $5) AS username_limit_at, \
    (SELECT COUNT(*) FROM login_reservations WHERE username_key = $2) AS username_pending, \
    (SELECT COUNT(DISTINCT address) FROM login_failures WHERE username_key = $2 AND failed_at > $4) \
        AS username_addresses, \
    (SELECT COUNT(*) FROM (SELECT address FROM login_failures WHERE username_key = $2 AND failed_at > $4 \
        UNION SELECT address FROM login_reservations WHERE username_key = $2) AS seen) \
        AS username_addresses_with_pending";

impl SqlStore {
    /// Counts one failure on the pair's backoff and on the two windows. The pair's row is
    /// already locked by the caller's transaction, or is locked here.
    async fn count_login_failure(
        tx: &mut Tx,
        pair_key: &str,
        username_key: &str,
        address: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let row = pair_row(pair_key);
        sqlx::query(
            "INSERT INTO throttle_keys (key, username_key, failures, locked_until, lock_seconds, \
             audited_until, updated_at) VALUES ($1, $2, 0, 0, 0, 0, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&row)
        .bind(username_key)
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        let sql = format!(
            "SELECT failures, locked_until, lock_seconds FROM throttle_keys WHERE key = $1{FOR_UPDATE}"
        );
        let (failures, locked_until, lock_seconds) =
            sqlx::query_as::<Db, (i64, i64, i64)>(sqlx::AssertSqlSafe(sql))
                .bind(&row)
                .fetch_one(&mut **tx)
                .await?;
        let (failures, locked_until, lock_seconds) =
            after_failure(failures, locked_until, lock_seconds, now.millis());
        sqlx::query(
            "UPDATE throttle_keys SET failures = $2, locked_until = $3, lock_seconds = $4, \
             updated_at = $5 WHERE key = $1",
        )
        .bind(&row)
        .bind(failures)
        .bind(locked_until)
        .bind(lock_seconds)
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO login_failures (username_key, address, failed_at) VALUES ($1, $2, $3)",
        )
        .bind(username_key)
        .bind(address)
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Turns timed-out reservations into failures: those of one pair key, or any.
    async fn settle_stale_reservations(
        tx: &mut Tx,
        pair_key: Option<&str>,
        now: Timestamp,
        batch: i64,
    ) -> StoreResult<u64> {
        let stale = now.millis() - RESERVATION_TIMEOUT_MILLIS;
        let settled: Vec<(String, String, String)> =
            match pair_key {
                Some(pair_key) => {
                    sqlx::query_as(
                        "DELETE FROM login_reservations WHERE pair_key = $1 AND created_at <= $2 \
                     RETURNING pair_key, username_key, address",
                    )
                    .bind(pair_key)
                    .bind(stale)
                    .fetch_all(&mut **tx)
                    .await?
                }
                None => sqlx::query_as(
                    "DELETE FROM login_reservations WHERE id IN (SELECT id FROM login_reservations \
                     WHERE created_at <= $1 ORDER BY created_at LIMIT $2) \
                     RETURNING pair_key, username_key, address",
                )
                .bind(stale)
                .bind(batch)
                .fetch_all(&mut **tx)
                .await?,
            };
        for (pair_key, username_key, address) in &settled {
            Self::count_login_failure(tx, pair_key, username_key, address, now).await?;
        }
        Ok(settled.len() as u64)
    }
}

#[async_trait]
impl SecurityStore for SqlStore {
    async fn begin_login_attempt(
        &self,
        keys: &LoginKeys,
        now: Timestamp,
        refusal_audit: &NewAuditEvent,
    ) -> StoreResult<LoginAdmission> {
        let rows = KeyRows::of(keys);
        let mut tx = self.begin().await?;
        // The three rows exist from here on, and are locked in one order by every attempt.
        sqlx::query(
            "INSERT INTO throttle_keys (key, username_key, failures, locked_until, lock_seconds, \
             audited_until, updated_at) VALUES ($1, NULL, 0, 0, 0, 0, $5), ($2, $4, 0, 0, 0, 0, $5), \
             ($3, NULL, 0, 0, 0, 0, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&rows.address)
        .bind(&rows.pair)
        .bind(&rows.username)
        .bind(&keys.username)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let lock = format!(
            "SELECT key, failures, locked_until, audited_until FROM throttle_keys \
             WHERE key IN ($1, $2, $3) ORDER BY key{FOR_UPDATE}"
        );
        let locked: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(lock))
            .bind(&rows.address)
            .bind(&rows.pair)
            .bind(&rows.username)
            .fetch_all(&mut *tx)
            .await?;
        if Self::settle_stale_reservations(&mut tx, Some(&keys.pair), now, 0).await? > 0 {
            // The pair's backoff changed: commit that and decide afresh.
            tx.commit().await?;
            return Box::pin(self.begin_login_attempt(keys, now, refusal_audit)).await;
        }
        let counts: WindowCounts = sqlx::query_as(WINDOW_COUNTS)
            .bind(&keys.pair)
            .bind(&keys.username)
            .bind(&keys.address)
            .bind(now.millis() - WINDOW_MILLIS)
            .bind(WINDOW_FAILURE_LIMIT - 1)
            .fetch_one(&mut *tx)
            .await?;
        let row = |name: &str| locked.iter().find(|row| row.key == name);
        let pair = row(&rows.pair);
        let snapshot = ThrottleSnapshot {
            pair: PairState {
                failures: pair.map_or(0, |pair| pair.failures),
                locked_until_millis: pair.map_or(0, |pair| pair.locked_until),
                pending: counts.pair_pending,
            },
            username: WindowState {
                failures: counts.username_failures,
                limit_failure_at_millis: counts.username_limit_at,
                pending: counts.username_pending,
                failing_addresses: counts.username_addresses,
                addresses_with_pending: counts.username_addresses_with_pending,
            },
            address: WindowState {
                failures: counts.address_failures,
                limit_failure_at_millis: counts.address_limit_at,
                pending: counts.address_pending,
                // One address by definition, once it has anything in its window.
                failing_addresses: i64::from(counts.address_failures > 0),
                addresses_with_pending: i64::from(
                    counts.address_failures + counts.address_pending > 0,
                ),
            },
        };
        if let Some(refusal) = decide(&snapshot, now.millis()) {
            let key = match refusal.key {
                LockedKey::Pair => &rows.pair,
                LockedKey::Username => &rows.username,
                LockedKey::Address => &rows.address,
            };
            let first_of_period = row(key).is_none_or(|row| row.audited_until <= now.millis());
            if first_of_period {
                let until = now.millis().saturating_add(
                    i64::try_from(refusal.retry_after).unwrap_or(i64::MAX / 2_000) * 1000,
                );
                sqlx::query("UPDATE throttle_keys SET audited_until = $2 WHERE key = $1")
                    .bind(key)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
                insert_audit_event(&mut tx, refusal_audit, now).await?;
            }
            tx.commit().await?;
            return Ok(LoginAdmission::Throttled {
                retry_after: refusal.retry_after,
            });
        }
        let reservation = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO login_reservations (id, pair_key, username_key, address, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(reservation)
        .bind(&keys.pair)
        .bind(&keys.username)
        .bind(&keys.address)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(LoginAdmission::Reserved(LoginReservation(reservation)))
    }

    async fn finish_login_attempt(
        &self,
        reservation: LoginReservation,
        outcome: LoginOutcomeKind,
        now: Timestamp,
        audit: Option<&NewAuditEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if let Some(audit) = audit {
            insert_audit_event(&mut tx, audit, now).await?;
        }
        let reserved: Option<(String, String, String)> = sqlx::query_as(
            "DELETE FROM login_reservations WHERE id = $1 RETURNING pair_key, username_key, address",
        )
        .bind(reservation.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((pair_key, username_key, address)) = reserved else {
            // Already counted as a failure when it timed out; the outcome is still recorded.
            tx.commit().await?;
            return Ok(());
        };
        match outcome {
            LoginOutcomeKind::Failed => {
                Self::count_login_failure(&mut tx, &pair_key, &username_key, &address, now).await?;
            }
            LoginOutcomeKind::Succeeded => {
                sqlx::query("DELETE FROM throttle_keys WHERE key = $1")
                    .bind(pair_row(&pair_key))
                    .execute(&mut *tx)
                    .await?;
            }
            LoginOutcomeKind::Released => {}
        }
        tx.commit().await?;
        Ok(())
    }

    async fn clear_lockout(
        &self,
        account_member_id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        let tx = change.tx();
        let exists = sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM users WHERE id = $1")
            .bind(account_member_id)
            .fetch_one(&mut **tx)
            .await?;
        if exists == 0 {
            return Err(StoreError::NotFound(Entity::AccountMember));
        }
        let logins = sqlx::query_as::<Db, (Uuid, String)>(
            "SELECT password_profile_id, username_lower FROM password_profile_infos \
             WHERE user_id = $1",
        )
        .bind(account_member_id)
        .fetch_all(&mut **tx)
        .await?;
        for (profile_id, username_lower) in logins {
            let username = username_key(profile_id, &username_lower);
            sqlx::query("DELETE FROM throttle_keys WHERE username_key = $1 OR key = $2")
                .bind(&username)
                .bind(format!("user:{username}"))
                .execute(&mut **tx)
                .await?;
            // The failures stay on their addresses' windows.
            sqlx::query("UPDATE login_failures SET username_key = NULL WHERE username_key = $1")
                .bind(&username)
                .execute(&mut **tx)
                .await?;
        }
        change.commit().await?;
        Ok(())
    }

    async fn purge_login_throttles(&self, now: Timestamp, batch: i64) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let mut purged = Self::settle_stale_reservations(&mut tx, None, now, batch).await?;
        tx.commit().await?;
        let window_start = now.millis() - WINDOW_MILLIS;
        let failures = sqlx::query(
            "DELETE FROM login_failures WHERE failed_at IN (SELECT failed_at FROM login_failures \
             WHERE failed_at <= $1 ORDER BY failed_at LIMIT $2) AND failed_at <= $1",
        )
        .bind(window_start)
        .bind(batch)
        .execute(&self.write)
        .await?;
        purged += failures.rows_affected();
        // Anchors (no backoff of their own) once their window is empty, and pair keys whose
        // backoff has been idle long enough to forget.
        let keys = sqlx::query(
            "DELETE FROM throttle_keys WHERE key IN (SELECT key FROM throttle_keys \
             WHERE locked_until <= $1 AND audited_until <= $1 AND \
             ((failures = 0 AND updated_at <= $2) OR updated_at <= $3) \
             ORDER BY updated_at LIMIT $4)",
        )
        .bind(now.millis())
        .bind(window_start)
        .bind(now.millis() - PAIR_MEMORY_MILLIS)
        .bind(batch)
        .execute(&self.write)
        .await?;
        purged += keys.rows_affected();
        Ok(purged)
    }

    async fn purge_audit_events(&self, before: Timestamp, batch: i64) -> StoreResult<u64> {
        let deleted = sqlx::query(
            "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events \
             WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(before.millis())
        .bind(batch)
        .execute(&self.write)
        .await?;
        Ok(deleted.rows_affected())
    }

    async fn append_audit_event(&self, event: &NewAuditEvent, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if let Some(relax) = RELAXED_COMMIT {
            sqlx::query(relax).execute(&mut *tx).await?;
        }
        insert_audit_event(&mut tx, event, now).await?;
        tx.commit().await?;
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

/// Writes one audit row in the transaction of what it records, cut to the audit bounds.
/// [`insert_audit_event`] for several rows at once: an import batch writes one row per record.
/// Audit ids are time-ordered (UUID version 7): the log is append-only and read newest first, so
/// its rows and their index entries go to the end of the index instead of anywhere in it.
pub(super) async fn insert_audit_events(
    tx: &mut Tx,
    events: &[NewAuditEvent],
    now: Timestamp,
) -> StoreResult<()> {
    let bounded: Vec<NewAuditEvent> = events.iter().map(NewAuditEvent::bounded).collect();
    let texts: Vec<(Option<String>, String)> = bounded
        .iter()
        .map(|event| {
            (
                event.actor.id.map(|id| id.to_string()),
                event.detail.to_string(),
            )
        })
        .collect();
    let mut rows = BulkRows::new(
        "audit_events",
        &[
            "id",
            "event_type",
            "actor_class",
            "actor_id",
            "subject",
            "client_address",
            "detail",
            "created_at",
        ],
    );
    for (event, (actor_id, detail)) in bounded.iter().zip(&texts) {
        rows.push([
            Cell::uuid(Uuid::now_v7()),
            Cell::text(event.event_type),
            Cell::text(event.actor.class.as_str()),
            Cell::Text(actor_id.as_deref()),
            Cell::Text(event.subject.as_deref()),
            Cell::Text(event.client_address.as_deref()),
            Cell::text(detail),
            Cell::Int(now.millis()),
        ]);
    }
    insert_rows(tx, &rows).await?;
    Ok(())
}

pub(super) async fn insert_audit_event(
    tx: &mut Tx,
    event: &NewAuditEvent,
    now: Timestamp,
) -> StoreResult<()> {
    insert_audit_events(tx, std::slice::from_ref(event), now).await
}
