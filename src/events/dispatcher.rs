//! The in-process dispatcher of the transactional outbox (docs/events.md#delivery-and-retries). It
//! wakes when this process commits events and polls every second for the rest (retries coming due,
//! events committed by other replicas). Each due delivery is leased before it is attempted, so
//! replicas sharing one database never run the same attempt at once; a lease left by a crashed
//! replica simply runs out. Delivery is at least once: an attempt whose outcome could not be
//! recorded is retried.
//!
//! Every instant here (when a retry is due, when a lease or an OTP code runs out) comes from
//! the injectable clock, so tests move time instead of sleeping through the backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::webhook::{Attempt, WebhookClient, envelope};
use crate::store::{ClaimedDelivery, DeliveryOutcome, Store};
use crate::time::{Clock, Timestamp};

/// The longest the dispatcher sleeps without looking at the outbox.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Attempts per delivery before it is marked failed (docs/events.md#delivery-and-retries).
pub const MAX_ATTEMPTS: i64 = 10;
/// Attempts running at once in one process.
const MAX_IN_FLIGHT: usize = 16;
/// A lease outlives the 10-second request limit comfortably; after it another replica may take
/// the delivery over.
const LEASE_SECONDS: i64 = 60;
const FIRST_RETRY_MILLIS: i64 = 30_000;
const LONGEST_WAIT_MILLIS: i64 = 3_600_000;
const JITTER: f64 = 0.2;

/// The wait before attempt `attempts_made + 1`: min(30 s × 2^(n−1), 1 h), scaled by `jitter`
/// (a factor within ±20 %).
pub fn backoff_millis(attempts_made: i64, jitter: f64) -> i64 {
    let doublings = u32::try_from(attempts_made.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let base = FIRST_RETRY_MILLIS
        .saturating_mul(1_i64 << doublings)
        .min(LONGEST_WAIT_MILLIS);
    let factor = 1.0 + jitter.clamp(-JITTER, JITTER);
    // Exact enough: the base is at most an hour of milliseconds.
    (base as f64 * factor).round() as i64
}

/// One process's dispatcher. Cheap to clone: every attempt task holds a clone.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: WebhookClient,
    store_id: Uuid,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        client: WebhookClient,
        store_id: Uuid,
    ) -> Self {
        Self {
            store,
            clock,
            client,
            store_id,
        }
    }

    /// Runs until the task is aborted. Attempts in flight when it is aborted keep their lease
    /// until it runs out; then any replica retries them.
    pub async fn run(self) {
        let signal = self.store.outbox_signal();
        let mut in_flight = JoinSet::new();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_scrub: Option<Instant> = None;
        loop {
            if last_scrub.is_none_or(|at| at.elapsed() >= POLL_INTERVAL) {
                last_scrub = Some(Instant::now());
                self.scrub().await;
            }
            let capacity = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
            if capacity > 0 {
                for delivery in self.claim(capacity).await {
                    let dispatcher = self.clone();
                    in_flight.spawn(async move { dispatcher.deliver(delivery).await });
                }
            }
            tokio::select! {
                () = signal.notified() => {}
                _ = poll.tick() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
    }

    async fn claim(&self, capacity: usize) -> Vec<ClaimedDelivery> {
        let now = self.clock.now();
        let limit = u32::try_from(capacity).unwrap_or(1);
        match self
            .store
            .claim_deliveries(now, now.plus_seconds(LEASE_SECONDS), limit)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "claiming webhook deliveries failed");
                Vec::new()
            }
        }
    }

    /// OTP codes leave the outbox once delivered or expired
    /// (docs/events.md#one-time-codes-in-the-outbox).
    async fn scrub(&self) {
        match self.store.scrub_expired_codes(self.clock.now()).await {
            Ok(0) => {}
            Ok(scrubbed) => tracing::debug!(scrubbed, "scrubbed one-time codes from the outbox"),
            Err(error) => tracing::warn!(%error, "scrubbing one-time codes failed"),
        }
    }

    /// One attempt of one delivery, and its record. Nothing of the payload is logged.
    async fn deliver(&self, delivery: ClaimedDelivery) {
        let outcome = self.attempt(&delivery).await;
        match &outcome {
            DeliveryOutcome::Attempted {
                succeeded,
                status_code,
                retry_at,
                ..
            } => tracing::info!(
                delivery_id = %delivery.id,
                event_id = %delivery.event_id,
                integration_id = %delivery.integration.id,
                triggered_by = %delivery.triggered_by,
                attempt = delivery.attempt,
                succeeded,
                status_code,
                retry_at = retry_at.map(|at| at.to_string()),
                "webhook attempt"
            ),
            DeliveryOutcome::Stopped => tracing::info!(
                delivery_id = %delivery.id,
                integration_id = %delivery.integration.id,
                triggered_by = %delivery.triggered_by,
                "webhook delivery stopped: integration disabled or code expired"
            ),
        }
        if let Err(error) = self
            .store
            .record_delivery(&delivery, &outcome, self.clock.now())
            .await
        {
            // The lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(%error, delivery_id = %delivery.id, "recording a webhook attempt failed");
        }
    }

    async fn attempt(&self, delivery: &ClaimedDelivery) -> DeliveryOutcome {
        let now = self.clock.now();
        let code_dead = delivery
            .expires_at
            .is_some_and(|expires_at| expires_at <= now || delivery.secret.is_none());
        if !delivery.integration.enabled || code_dead {
            return DeliveryOutcome::Stopped;
        }
        let answer = match envelope(delivery, self.store_id) {
            Ok(body) => {
                let target = &delivery.integration;
                self.client
                    .send(Attempt {
                        url: &target.url,
                        secret_key: &target.secret_key,
                        send_secret_key: target.send_secret_key,
                        event_id: delivery.event_id,
                        timestamp: now.seconds(),
                        body,
                    })
                    .await
            }
            Err(_) => {
                return DeliveryOutcome::Attempted {
                    succeeded: false,
                    status_code: None,
                    body: None,
                    error_detail: Some("the stored event is not valid JSON".to_owned()),
                    retry_at: None,
                };
            }
        };
        let retry_at = (!answer.succeeded && delivery.attempt < MAX_ATTEMPTS).then(|| {
            let jitter = rand::rng().random_range(-JITTER..=JITTER);
            Timestamp::from_millis(
                self.clock
                    .now()
                    .millis()
                    .saturating_add(backoff_millis(delivery.attempt, jitter)),
            )
        });
        DeliveryOutcome::Attempted {
            succeeded: answer.succeeded,
            status_code: answer.status_code.map(i64::from),
            body: answer.body,
            error_detail: answer.error_detail,
            retry_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff_millis(n, 0.0) / 1000).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        // About three hours in total (docs/events.md#delivery-and-retries).
        assert_eq!(waits.iter().sum::<i64>(), 11_010);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(backoff_millis(1, 0.2), 36_000);
        assert_eq!(backoff_millis(1, -0.2), 24_000);
        assert_eq!(backoff_millis(1, 5.0), 36_000);
    }
}
