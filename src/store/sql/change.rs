//! The write transaction of an audited change. It carries the change's event batch and its audit
//! row, and its only way to commit writes both with the change: the rows, their events and the
//! row naming who made them commit together or not at all (dropped unfinished, it rolls back).
//! The writers of accounts, members and memberships (`member_records`) take one of these, so no
//! path can change those rows without their events.

use super::outbox::Events;
use super::security::insert_audit_events;
use super::{SqlStore, Tx};
use crate::store::{Actor, NewAuditEvent, StoreResult};
use crate::time::Timestamp;

pub(super) struct Change<'s> {
    store: &'s SqlStore,
    tx: Tx,
    events: Events<'s>,
    /// One row for an API write; one per record written for an import batch.
    audit: Vec<NewAuditEvent>,
    now: Timestamp,
}

impl SqlStore {
    /// Begins a change that `audit` describes, made at `now`.
    pub(super) async fn change(
        &self,
        audit: &NewAuditEvent,
        now: Timestamp,
    ) -> StoreResult<Change<'_>> {
        Ok(Change {
            store: self,
            tx: self.begin().await?,
            events: self.events(),
            audit: vec![audit.clone()],
            now,
        })
    }

    /// Begins a change of several records, each adding its own audit row
    /// ([`Change::audit`]): one batch of an import.
    pub(super) async fn batch_change(&self, now: Timestamp) -> StoreResult<Change<'_>> {
        Ok(Change {
            store: self,
            tx: self.begin().await?,
            events: self.events(),
            audit: Vec::new(),
            now,
        })
    }
}

impl<'s> Change<'s> {
    /// The transaction, for reads and for rows that emit no events.
    pub(super) fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    pub(super) fn now(&self) -> Timestamp {
        self.now
    }

    pub(super) fn events(&mut self) -> &mut Events<'s> {
        &mut self.events
    }

    /// A sign-in learns which member it signs in only inside its transaction (a first OpenID
    /// Connect login creates it): that member is the actor of its audit row.
    pub(super) fn signed_in(&mut self, member_id: uuid::Uuid) {
        for audit in &mut self.audit {
            audit.actor = Actor::account_holder(member_id);
        }
    }

    /// One more audit row, for a record of a batch.
    pub(super) fn audit(&mut self, event: NewAuditEvent) {
        self.audit.push(event);
    }

    /// Drops the events and audit rows pushed so far: an import run with `--quiet-events`, the
    /// one documented way to write members without announcing them, which records the run in
    /// one audit row of its own instead (docs/moving-in.md#events-and-audit).
    pub(super) fn discard_events_and_audit(&mut self) {
        self.events = self.store.events();
        self.audit.clear();
    }

    /// Writes the audit rows and the events, commits, and wakes the dispatcher. Returns the
    /// number of deliveries written.
    pub(super) async fn commit(mut self) -> StoreResult<usize> {
        insert_audit_events(&mut self.tx, &self.audit, self.now).await?;
        self.store
            .commit_with_events(self.tx, self.events, self.now)
            .await
    }

    /// Undoes everything: an import's dry run, or a batch one of whose records failed.
    pub(super) async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
