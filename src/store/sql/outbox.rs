//! The transactional outbox (docs/events.md#the-outbox). A change collects its events in an
//! [`Events`] batch, and committing the change (`change.rs`) writes one event row and one delivery
//! row per observing integration *in the same transaction*: the change and its events commit
//! together or not at all. The dispatcher's side (claiming with a lease, recording attempts,
//! scrubbing OTP codes) is the [`OutboxStore`] impl below.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use super::sealed::INTEGRATION_SECRET_KEY;
use super::{Db, SKIP_LOCKED, SqlStore, Tx};
use crate::events::EventKey;
use crate::store::{
    ClaimedDelivery, DeliveryOutcome, DeliveryTarget, EventPayloads, OutboxBacklog, OutboxStore,
    StoreError, StoreResult,
};
use crate::time::Timestamp;

/// Integration logs and delivered events are kept this long (docs/events.md#retention).
const RETENTION_MILLIS: i64 = 7 * 24 * 60 * 60 * 1000;
/// OTP codes are kept for the rolling hour of the issue cap (docs/events.md#retention), then
/// forgotten.
const OTP_RETENTION_MILLIS: i64 = 60 * 60 * 1000;

/// One event of a change, rendered at the moment of the change.
struct NewEvent {
    /// The envelope id receivers see, the same on every attempt and every integration.
    id: Uuid,
    key: EventKey,
    /// Who receives it: every enabled integration observing `key`, or one integration only.
    recipients: Recipients,
    payload: Value,
    /// The plain OTP code, kept beside the payload so it can be scrubbed on its own.
    secret: Option<String>,
    expires_at: Option<Timestamp>,
}

/// The events one transaction emits, in the order of its changes (docs/events.md#event-catalogue).
pub(super) struct Events<'a> {
    payloads: &'a dyn EventPayloads,
    list: Vec<NewEvent>,
}

impl<'a> Events<'a> {
    /// Renders the resource objects of payloads exactly as the GET handlers do.
    pub(super) fn payloads(&self) -> &'a dyn EventPayloads {
        self.payloads
    }

    pub(super) fn push(&mut self, key: EventKey, payload: Value) {
        self.list.push(NewEvent {
            id: Uuid::new_v4(),
            key,
            recipients: Recipients::Observers,
            payload,
            secret: None,
            expires_at: None,
        });
    }

    /// An issued OTP code (docs/login.md#one-time-codes): `payload` lacks the code, which travels
    /// in `secret`.
    pub(super) fn otp_created(&mut self, payload: Value, code: String, expires_at: Timestamp) {
        self.list.push(NewEvent {
            id: Uuid::new_v4(),
            key: EventKey::OtpRequestCreated,
            recipients: Recipients::Observers,
            payload,
            secret: Some(code),
            expires_at: Some(expires_at),
        });
    }

    /// A test event for `integration` alone, whatever it observes
    /// (docs/events.md#test-events); its envelope id.
    pub(super) fn integration_test(&mut self, integration: Uuid, payload: Value) -> Uuid {
        let id = Uuid::new_v4();
        self.list.push(NewEvent {
            id,
            key: EventKey::IntegrationTest,
            recipients: Recipients::Only(integration),
            payload,
            secret: None,
            expires_at: None,
        });
        id
    }
}

/// The integrations an event is delivered to.
#[derive(Clone, Copy)]
enum Recipients {
    /// Every enabled integration observing the event's key, as of the transaction.
    Observers,
    /// This integration only, when it is enabled: a test event asked for by an Admin.
    Only(Uuid),
}

impl SqlStore {
    pub(super) fn events(&self) -> Events<'_> {
        Events {
            payloads: self.payloads.as_ref(),
            list: Vec::new(),
        }
    }

    /// Writes `events` to the outbox inside `tx`, commits, and wakes the dispatcher. Returns the
    /// number of deliveries written. Only a `Change` commits this way, with its audit row.
    pub(super) async fn commit_with_events(
        &self,
        mut tx: Tx,
        events: Events<'_>,
        now: Timestamp,
    ) -> StoreResult<usize> {
        let deliveries = write_events(&mut tx, &events.list, now).await?;
        tx.commit().await?;
        if deliveries > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(deliveries)
    }
}

/// One outbox row per event that at least one enabled integration observes, and one delivery
/// row per such integration, as of this transaction (docs/events.md#the-outbox): integrations
/// created later do not receive older events.
async fn write_events(tx: &mut Tx, events: &[NewEvent], now: Timestamp) -> StoreResult<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let rows = sqlx::query_as::<Db, (Uuid, String)>(
        "SELECT id, observes FROM integrations WHERE enabled = $1 ORDER BY created_at, id",
    )
    .bind(true)
    .fetch_all(&mut **tx)
    .await?;
    let integrations = rows
        .into_iter()
        .map(|(id, observes)| {
            serde_json::from_str::<Vec<String>>(&observes)
                .map(|observes| (id, observes))
                .map_err(|_| StoreError::Corrupt("integrations.observes"))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let mut written = 0;
    for (ordinal, event) in events.iter().enumerate() {
        let targets: Vec<(Uuid, &str)> = match event.recipients {
            Recipients::Observers => integrations
                .iter()
                .filter_map(|(id, observes)| event.key.triggered_by(observes).map(|key| (*id, key)))
                .collect(),
            Recipients::Only(only) => integrations
                .iter()
                .filter(|(id, _)| *id == only)
                .map(|(id, _)| (*id, event.key.canonical()))
                .collect(),
        };
        if targets.is_empty() {
            continue;
        }
        let ordinal = i64::try_from(ordinal).unwrap_or(i64::MAX);
        let event_id = event.id;
        sqlx::query(
            "INSERT INTO outbox_events (id, event_key, payload, secret, expires_at, created_at, \
             ordinal) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(event_id)
        .bind(event.key.canonical())
        .bind(event.payload.to_string())
        .bind(event.secret.as_deref())
        .bind(event.expires_at.map(Timestamp::millis))
        .bind(now.millis())
        .bind(ordinal)
        .execute(&mut **tx)
        .await?;
        for (integration_id, triggered_by) in targets {
            sqlx::query(
                "INSERT INTO outbox_deliveries (id, event_id, integration_id, triggered_by, \
                 status, attempts, next_attempt_at, created_at, ordinal, updated_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6, $5)",
            )
            .bind(Uuid::new_v4())
            .bind(event_id)
            .bind(integration_id)
            .bind(triggered_by)
            .bind(now.millis())
            .bind(ordinal)
            .execute(&mut **tx)
            .await?;
            written += 1;
        }
    }
    Ok(written)
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    event_id: Uuid,
    triggered_by: String,
    attempts: i64,
    payload: String,
    secret: Option<String>,
    expires_at: Option<i64>,
    integration_id: Uuid,
    name: String,
    description: Option<String>,
    integration_type: String,
    enabled: bool,
    url: String,
    secret_key: String,
    secret_key_sealed_with: Option<String>,
    send_secret_key: bool,
}

const DUE: &str = "status = 'pending' AND next_attempt_at <= $1 \
                   AND (lease_until IS NULL OR lease_until <= $1)";

#[async_trait]
impl OutboxStore for SqlStore {
    fn outbox_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.outbox_signal)
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        // Pending rows are what the partial index `outbox_deliveries_due` holds: cheap to count.
        let (pending, oldest) = sqlx::query_as::<Db, (i64, Option<i64>)>(
            "SELECT COUNT(*), MIN(created_at) FROM outbox_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(OutboxBacklog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_created_at: oldest.map(Timestamp::from),
        })
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // A read first, so an idle dispatcher polling every second never takes the write lock.
        let any_due_sql = format!("SELECT COUNT(*) FROM outbox_deliveries WHERE {DUE}");
        let due = sqlx::query_scalar::<Db, i64>(sqlx::AssertSqlSafe(any_due_sql))
            .bind(now.millis())
            .fetch_one(&self.read)
            .await?;
        if due == 0 {
            return Ok(Vec::new());
        }
        let claim = Uuid::new_v4();
        let mut tx = self.begin().await?;
        let lease_sql = format!(
            "UPDATE outbox_deliveries SET lease_owner = $2, lease_until = $3 WHERE id IN \
             (SELECT id FROM outbox_deliveries WHERE {DUE} \
              ORDER BY next_attempt_at, created_at, ordinal LIMIT $4{SKIP_LOCKED})"
        );
        sqlx::query(sqlx::AssertSqlSafe(lease_sql))
            .bind(now.millis())
            .bind(claim)
            .bind(lease_until.millis())
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query_as::<Db, ClaimRow>(
            "SELECT d.id, d.event_id, d.triggered_by, d.attempts, e.payload, e.secret, \
             e.expires_at, i.id AS integration_id, i.name, i.description, i.integration_type, \
             i.enabled, i.url, i.secret_key, i.secret_key_sealed_with, i.send_secret_key \
             FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id \
             JOIN integrations i ON i.id = d.integration_id \
             WHERE d.lease_owner = $1 ORDER BY d.next_attempt_at, d.created_at, d.ordinal",
        )
        .bind(claim)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|row| {
                let secret_key = self.open_text(
                    INTEGRATION_SECRET_KEY,
                    row.integration_id,
                    row.secret_key,
                    row.secret_key_sealed_with,
                )?;
                Ok(ClaimedDelivery {
                    id: row.id,
                    claim,
                    event_id: row.event_id,
                    triggered_by: row.triggered_by,
                    attempt: row.attempts.saturating_add(1),
                    payload: row.payload,
                    secret: row.secret,
                    expires_at: row.expires_at.map(Timestamp::from_millis),
                    integration: DeliveryTarget {
                        id: row.integration_id,
                        name: row.name,
                        description: row.description,
                        integration_type: row.integration_type,
                        enabled: row.enabled,
                        url: row.url,
                        secret_key,
                        send_secret_key: row.send_secret_key,
                    },
                })
            })
            .collect()
    }

    async fn record_delivery(
        &self,
        delivery: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let (status, attempts, next_attempt_at) = match outcome {
            DeliveryOutcome::Attempted {
                succeeded,
                status_code,
                body,
                error_detail,
                retry_at,
            } => {
                // The integration may have been deleted meanwhile; its logs went with it.
                sqlx::query(
                    "INSERT INTO integration_logs (id, integration_id, event_id, triggered_by, \
                     attempt, succeeded, status_code, body, error_detail, created_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
                     WHERE EXISTS (SELECT 1 FROM integrations WHERE id = $2)",
                )
                .bind(Uuid::new_v4())
                .bind(delivery.integration.id)
                .bind(delivery.event_id)
                .bind(&delivery.triggered_by)
                .bind(delivery.attempt)
                .bind(*succeeded)
                .bind(*status_code)
                .bind(body.as_deref())
                .bind(error_detail.as_deref())
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
                let status = match (succeeded, retry_at) {
                    (true, _) => "succeeded",
                    (false, Some(_)) => "pending",
                    (false, None) => "failed",
                };
                (
                    status,
                    delivery.attempt,
                    retry_at.map_or(now.millis(), Timestamp::millis),
                )
            }
            DeliveryOutcome::Stopped => ("stopped", delivery.attempt - 1, now.millis()),
        };
        // Only while this claim still holds the lease: a delivery taken over after the lease ran
        // out is the new holder's to record.
        sqlx::query(
            "UPDATE outbox_deliveries SET status = $3, attempts = $4, next_attempt_at = $5, \
             lease_owner = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(delivery.id)
        .bind(delivery.claim)
        .bind(status)
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        if delivery.secret.is_some() {
            sqlx::query(
                "UPDATE outbox_events SET secret = NULL WHERE id = $1 AND secret IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM outbox_deliveries \
                                 WHERE event_id = $1 AND status = 'pending')",
            )
            .bind(delivery.event_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn scrub_expired_codes(&self, now: Timestamp) -> StoreResult<u64> {
        const SCRUBBABLE: &str = "secret IS NOT NULL AND (expires_at <= $1 OR NOT EXISTS \
             (SELECT 1 FROM outbox_deliveries d \
              WHERE d.event_id = outbox_events.id AND d.status = 'pending'))";
        let count_sql = format!("SELECT COUNT(*) FROM outbox_events WHERE {SCRUBBABLE}");
        let scrubbable = sqlx::query_scalar::<Db, i64>(sqlx::AssertSqlSafe(count_sql))
            .bind(now.millis())
            .fetch_one(&self.read)
            .await?;
        if scrubbable == 0 {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE outbox_deliveries SET status = 'stopped', lease_owner = NULL, \
             lease_until = NULL, updated_at = $1 \
             WHERE status = 'pending' AND event_id IN \
             (SELECT id FROM outbox_events WHERE expires_at IS NOT NULL AND expires_at <= $1)",
        )
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let scrub_sql = format!("UPDATE outbox_events SET secret = NULL WHERE {SCRUBBABLE}");
        let scrubbed = sqlx::query(sqlx::AssertSqlSafe(scrub_sql))
            .bind(now.millis())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(scrubbed)
    }

    async fn purge_outbox(&self, now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let cutoff = now.millis().saturating_sub(RETENTION_MILLIS);
        let logs = sqlx::query("DELETE FROM integration_logs WHERE created_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let events = sqlx::query(
            "DELETE FROM outbox_events WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM outbox_deliveries d \
              WHERE d.event_id = outbox_events.id AND d.status = 'pending')",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let codes = sqlx::query("DELETE FROM otp_codes WHERE created_at < $1")
            .bind(now.millis().saturating_sub(OTP_RETENTION_MILLIS))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(logs + events + codes)
    }
}
