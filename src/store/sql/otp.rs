//! One-time password codes (docs/login.md#one-time-codes): issued with their outbox event in one
//! transaction, stored only as argon2id hashes, single use, dead after five exchanges, only the
//! newest valid.

use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

use super::{Db, FOR_UPDATE, SqlStore};
use crate::store::{NewAuditEvent, NewOtp, OtpAttempt, OtpIssue, OtpStore, StoreResult};
use crate::time::Timestamp;

/// A code is valid for 10 minutes from issue.
pub(super) const OTP_VALIDITY_SECS: i64 = 600;
/// At most this many codes per password profile info per rolling hour.
const ISSUE_CAP_PER_HOUR: i64 = 5;
const HOUR_MILLIS: i64 = 60 * 60 * 1000;
/// Exchanges allowed against one code; the next one finds it dead.
const MAX_ATTEMPTS: i64 = 5;

#[derive(sqlx::FromRow)]
struct Holder {
    info_id: Uuid,
    user_id: Uuid,
    username: String,
    name: String,
    email: String,
}

#[async_trait]
impl OtpStore for SqlStore {
    async fn issue_otp(
        &self,
        otp: &NewOtp,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OtpIssue> {
        let mut change = self.change(audit, now).await?;
        let tx = change.tx();
        // The lock serialises concurrent requests for one username: the cap and the
        // "only the newest code" rule both read what the other wrote.
        let holder_sql = format!(
            "SELECT i.id AS info_id, i.user_id, i.username, u.name, u.email \
             FROM password_profile_infos i JOIN users u ON u.id = i.user_id \
             WHERE i.password_profile_id = $1 AND i.username_lower = $2{FOR_UPDATE}"
        );
        let holder = sqlx::query_as::<Db, Holder>(sqlx::AssertSqlSafe(holder_sql))
            .bind(otp.password_profile_id)
            .bind(&otp.username_lower)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(holder) = holder else {
            change.commit().await?;
            return Ok(OtpIssue::UnknownUsername);
        };
        let issued_this_hour = sqlx::query_scalar::<Db, i64>(
            "SELECT COUNT(*) FROM otp_codes WHERE password_profile_info_id = $1 AND created_at > $2",
        )
        .bind(holder.info_id)
        .bind(now.millis().saturating_sub(HOUR_MILLIS))
        .fetch_one(&mut **tx)
        .await?;
        if issued_this_hour >= ISSUE_CAP_PER_HOUR {
            change.commit().await?;
            return Ok(OtpIssue::RateCapped);
        }
        sqlx::query(
            "UPDATE otp_codes SET status = 'superseded' \
             WHERE password_profile_info_id = $1 AND status = 'outstanding'",
        )
        .bind(holder.info_id)
        .execute(&mut **tx)
        .await?;
        let expires_at = now.plus_seconds(OTP_VALIDITY_SECS);
        sqlx::query(
            "INSERT INTO otp_codes (id, password_profile_info_id, purpose, code_hash, status, \
             attempts, expires_at, created_at) VALUES ($1, $2, $3, $4, 'outstanding', 0, $5, $6)",
        )
        .bind(Uuid::new_v4())
        .bind(holder.info_id)
        .bind(otp.purpose.as_str())
        .bind(&otp.code_hash)
        .bind(expires_at.millis())
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        let realm_id: Uuid = sqlx::query_scalar("SELECT id FROM authentication_realms")
            .fetch_one(&mut **tx)
            .await?;
        // The reference payload (docs/events.md#event-catalogue) without the code, which the outbox
        // keeps apart.
        let payload = json!({
            "authentication_realm_id": realm_id,
            "password_profile_id": otp.password_profile_id,
            "purpose": otp.purpose.as_str(),
            "created_at": now,
            "updated_at": now,
            "expires_at": expires_at,
            "user_authentication_info": {
                "id": holder.user_id,
                "name": holder.name,
                "email": holder.email,
            },
            "user_authentication_password_profile_info": {
                "id": holder.info_id,
                "password_profile_id": otp.password_profile_id,
                "username": holder.username,
            },
        });
        change
            .events()
            .otp_created(payload, otp.code.expose().to_owned(), expires_at);
        let deliveries = change.commit().await?;
        Ok(OtpIssue::Issued { deliveries })
    }

    async fn reserve_otp_attempt(
        &self,
        password_profile_id: Uuid,
        username_lower: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OtpAttempt>> {
        let mut tx = self.begin().await?;
        let candidate = sqlx::query_as::<Db, (Uuid, Uuid, String)>(
            "SELECT c.id, i.user_id, c.code_hash FROM otp_codes c \
             JOIN password_profile_infos i ON i.id = c.password_profile_info_id \
             JOIN password_profiles p ON p.id = i.password_profile_id \
             WHERE i.password_profile_id = $1 AND i.username_lower = $2 \
             AND p.enable_one_time_password_token = $3 AND c.status = 'outstanding' \
             AND c.expires_at > $4 AND c.attempts < $5 \
             ORDER BY c.created_at DESC, c.id LIMIT 1",
        )
        .bind(password_profile_id)
        .bind(username_lower)
        .bind(true)
        .bind(now.millis())
        .bind(MAX_ATTEMPTS)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((code_id, user_id, code_hash)) = candidate else {
            return Ok(None);
        };
        // Counted before the hash is checked: five concurrent guesses use up the code exactly
        // as five sequential ones would.
        let reserved = sqlx::query(
            "UPDATE otp_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND status = 'outstanding' AND attempts < $2",
        )
        .bind(code_id)
        .bind(MAX_ATTEMPTS)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((reserved == 1).then_some(OtpAttempt {
            code_id,
            user_id,
            code_hash,
        }))
    }

    async fn consume_otp(&self, code_id: Uuid, now: Timestamp) -> StoreResult<bool> {
        let consumed = sqlx::query(
            "UPDATE otp_codes SET status = 'consumed' \
             WHERE id = $1 AND status = 'outstanding' AND expires_at > $2",
        )
        .bind(code_id)
        .bind(now.millis())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(consumed == 1)
    }
}
