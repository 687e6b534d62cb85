//! Reads that summarise recent activity for the console's dashboard and member pages: logins a
//! minute from the audit trail, delivery attempts that failed, and whether a member's password
//! logins are locked now. They read only; every count comes from rows other writers keep.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, SqlStore};
use crate::auth::throttle::username_key;
use crate::store::{LoginMinute, OverviewStore, StoreResult};
use crate::time::Timestamp;

const MINUTE_MILLIS: i64 = 60_000;

#[async_trait]
impl OverviewStore for SqlStore {
    async fn login_minutes(&self, since: Timestamp) -> StoreResult<Vec<LoginMinute>> {
        // The (event_type, created_at) index holds exactly these rows, so the count reads
        // the last hour's entries and nothing older.
        let rows = sqlx::query_as::<Db, (i64, String, i64)>(
            "SELECT created_at / 60000 AS minute, event_type, COUNT(*) FROM audit_events \
             WHERE event_type IN ('login.succeeded', 'login.failed', 'login.throttled') \
             AND created_at >= $1 GROUP BY 1, 2 ORDER BY 1",
        )
        .bind(since.millis())
        .fetch_all(&self.read)
        .await?;
        let mut minutes: Vec<LoginMinute> = Vec::new();
        for (minute, event_type, count) in rows {
            let started_at = Timestamp::from(minute.saturating_mul(MINUTE_MILLIS));
            if minutes
                .last()
                .is_none_or(|last| last.started_at != started_at)
            {
                minutes.push(LoginMinute {
                    started_at,
                    succeeded: 0,
                    failed: 0,
                    throttled: 0,
                });
            }
            let Some(current) = minutes.last_mut() else {
                continue;
            };
            let count = u64::try_from(count).unwrap_or(0);
            match event_type.as_str() {
                "login.succeeded" => current.succeeded = count,
                "login.failed" => current.failed = count,
                _ => current.throttled = count,
            }
        }
        Ok(minutes)
    }

    async fn failed_deliveries_since(&self, since: Timestamp) -> StoreResult<u64> {
        let failed = sqlx::query_scalar::<Db, i64>(
            "SELECT COUNT(*) FROM integration_logs WHERE created_at >= $1 AND NOT succeeded",
        )
        .bind(since.millis())
        .fetch_one(&self.read)
        .await?;
        Ok(u64::try_from(failed).unwrap_or(0))
    }

    async fn member_locked_until(
        &self,
        account_member_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        let logins = sqlx::query_as::<Db, (Uuid, String)>(
            "SELECT password_profile_id, username_lower FROM password_profile_infos \
             WHERE user_id = $1",
        )
        .bind(account_member_id)
        .fetch_all(&self.read)
        .await?;
        let mut latest: Option<i64> = None;
        for (profile_id, username_lower) in logins {
            // Pair keys (one per address) carry the username digest that a lockout clearing
            // looks for, and their backoff's end.
            let until = sqlx::query_scalar::<Db, Option<i64>>(
                "SELECT MAX(locked_until) FROM throttle_keys \
                 WHERE username_key = $1 AND locked_until > $2",
            )
            .bind(username_key(profile_id, &username_lower))
            .bind(now.millis())
            .fetch_one(&self.read)
            .await?;
            latest = latest.max(until);
        }
        Ok(latest.map(Timestamp::from))
    }
}
