//! Integrations, those defined in configuration, and their delivery logs (docs/events.md).

use async_trait::async_trait;
use uuid::Uuid;

use super::sealed::INTEGRATION_SECRET_KEY;
use super::{Db, EVERYTHING, FOR_UPDATE, ListSpec, Scope, SqlStore, Tx, newest_first};
use crate::query::sort::{NAMED_RECORD_SORTS, SortSpec};
use crate::query::sql::Bind;
use crate::store::{
    ConfiguredIntegration, Conflict, Entity, Integration, IntegrationLog, IntegrationPatch,
    IntegrationStore, ListQuery, NewAuditEvent, NewIntegration, Page, StoreError, StoreResult,
};
use crate::time::Timestamp;

const COLUMNS: &str = "id, name, description, enabled, integration_type, observes, url, \
                       secret_key, secret_key_sealed_with, send_secret_key, \
                       managed_by_configuration, created_at, updated_at";
const WEBHOOK: &str = "webhook";

const LIST: ListSpec = ListSpec {
    from: "integrations",
    columns: COLUMNS,
    id_column: "id",
    fields: &[],
    sorts: NAMED_RECORD_SORTS,
    default_sort: newest_first(),
};

const LOG_COLUMNS: &str = "id, integration_id, event_id, triggered_by, attempt, succeeded, \
                           status_code, body, error_detail, created_at";

const LOGS: ListSpec = ListSpec {
    from: "integration_logs",
    columns: LOG_COLUMNS,
    id_column: "id",
    fields: &[],
    sorts: &[SortSpec::field("created_at")],
    default_sort: newest_first(),
};

#[derive(sqlx::FromRow)]
struct IntegrationRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    enabled: bool,
    integration_type: String,
    observes: String,
    url: String,
    secret_key: String,
    secret_key_sealed_with: Option<String>,
    send_secret_key: bool,
    managed_by_configuration: bool,
    created_at: i64,
    updated_at: i64,
}

impl SqlStore {
    /// An integration as read, its secret key opened.
    fn integration_from(&self, row: IntegrationRow) -> StoreResult<Integration> {
        let secret_key = self.open_text(
            INTEGRATION_SECRET_KEY,
            row.id,
            row.secret_key,
            row.secret_key_sealed_with,
        )?;
        Ok(Integration {
            id: row.id,
            name: row.name,
            description: row.description,
            enabled: row.enabled,
            integration_type: row.integration_type,
            observes: serde_json::from_str(&row.observes)
                .map_err(|_| StoreError::Corrupt("integrations.observes"))?,
            url: row.url,
            secret_key,
            send_secret_key: row.send_secret_key,
            managed_by_configuration: row.managed_by_configuration,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: Uuid,
    integration_id: Uuid,
    event_id: Uuid,
    triggered_by: String,
    attempt: i64,
    succeeded: bool,
    status_code: Option<i64>,
    body: Option<String>,
    error_detail: Option<String>,
    created_at: i64,
}

impl From<LogRow> for IntegrationLog {
    fn from(row: LogRow) -> Self {
        Self {
            id: row.id,
            integration_id: row.integration_id,
            event_id: row.event_id,
            triggered_by: row.triggered_by,
            attempt: row.attempt,
            succeeded: row.succeeded,
            status_code: row.status_code,
            body: row.body,
            error_detail: row.error_detail,
            created_at: row.created_at.into(),
        }
    }
}

fn observes_json(observes: &[String]) -> String {
    serde_json::Value::from(observes.to_vec()).to_string()
}

#[async_trait]
impl IntegrationStore for SqlStore {
    async fn create_integration(
        &self,
        integration: &NewIntegration,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Integration> {
        let created = Integration {
            id: Uuid::new_v4(),
            name: integration.name.clone(),
            description: integration.description.clone(),
            enabled: integration.enabled,
            integration_type: WEBHOOK.to_owned(),
            observes: integration.observes.clone(),
            url: integration.url.clone(),
            secret_key: integration.secret_key.clone(),
            send_secret_key: integration.send_secret_key,
            managed_by_configuration: false,
            created_at: now,
            updated_at: now,
        };
        let mut change = self.change(audit, now).await?;
        self.insert(change.tx(), &created).await?;
        change.commit().await?;
        Ok(created)
    }

    async fn integration(&self, id: Uuid) -> StoreResult<Integration> {
        let sql = format!("SELECT {COLUMNS} FROM integrations WHERE id = $1");
        let row = sqlx::query_as::<Db, IntegrationRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound(Entity::Integration))?;
        self.integration_from(row)
    }

    async fn list_integrations(&self, query: &ListQuery) -> StoreResult<Page<Integration>> {
        let page = self
            .page::<IntegrationRow>(&LIST, EVERYTHING, query)
            .await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|row| self.integration_from(row))
                .collect::<StoreResult<_>>()?,
            total: page.total,
        })
    }

    async fn update_integration(
        &self,
        id: Uuid,
        patch: &IntegrationPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Integration> {
        let mut change = self.change(audit, now).await?;
        let current = self.lock(change.tx(), id).await?;
        if current.managed_by_configuration {
            return Err(StoreError::Conflict(Conflict::IntegrationManaged));
        }
        let Some(mut next) = patch.apply(&current) else {
            change.commit().await?;
            return Ok(current);
        };
        next.updated_at = now;
        self.write(change.tx(), &next).await?;
        if current.enabled && !next.enabled {
            // A disabled integration's pending deliveries are dropped.
            drop_pending(change.tx(), id).await?;
        }
        change.commit().await?;
        Ok(next)
    }

    async fn delete_integration(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        let current = self.lock(change.tx(), id).await?;
        if current.managed_by_configuration {
            return Err(StoreError::Conflict(Conflict::IntegrationManaged));
        }
        // Its deliveries and logs go with it (ON DELETE CASCADE), in this transaction.
        sqlx::query("DELETE FROM integrations WHERE id = $1")
            .bind(id)
            .execute(&mut **change.tx())
            .await?;
        change.commit().await?;
        Ok(())
    }

    async fn sync_configured_integrations(
        &self,
        integrations: &[ConfiguredIntegration],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for configured in integrations {
            let wanted = Integration {
                id: configured.id,
                name: configured.name.clone(),
                description: configured.description.clone(),
                enabled: true,
                integration_type: WEBHOOK.to_owned(),
                observes: configured.observes.clone(),
                url: configured.url.clone(),
                secret_key: configured.secret_key.clone(),
                send_secret_key: configured.send_secret_key,
                managed_by_configuration: true,
                created_at: now,
                updated_at: now,
            };
            match self.lock(&mut tx, configured.id).await {
                Ok(current) => {
                    let unchanged = Integration {
                        created_at: current.created_at,
                        updated_at: current.updated_at,
                        ..wanted.clone()
                    };
                    if current != unchanged {
                        self.write(
                            &mut tx,
                            &Integration {
                                created_at: current.created_at,
                                ..wanted
                            },
                        )
                        .await?;
                    }
                }
                // Replicas starting together may both insert; the loser's row is dropped.
                Err(StoreError::NotFound(_)) => self.insert(&mut tx, &wanted).await?,
                Err(other) => return Err(other),
            }
        }
        let managed = sqlx::query_scalar::<Db, Uuid>(
            "SELECT id FROM integrations WHERE managed_by_configuration = $1",
        )
        .bind(true)
        .fetch_all(&mut *tx)
        .await?;
        for id in managed {
            if !integrations.iter().any(|configured| configured.id == id) {
                sqlx::query("DELETE FROM integrations WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_integration_logs(
        &self,
        integration_id: Option<Uuid>,
        query: &ListQuery,
    ) -> StoreResult<Page<IntegrationLog>> {
        let binds: Vec<Bind> = integration_id.map(Bind::Uuid).into_iter().collect();
        let scope = Scope {
            predicate: if integration_id.is_some() {
                "integration_id = $1"
            } else {
                "1 = 1"
            },
            binds: &binds,
        };
        let page = self.page::<LogRow>(&LOGS, scope, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(IntegrationLog::from).collect(),
            total: page.total,
        })
    }

    async fn queue_test_event(
        &self,
        id: Uuid,
        payload: &serde_json::Value,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Uuid> {
        let mut change = self.change(audit, now).await?;
        // Locked, so it cannot be disabled or deleted before the delivery row is written.
        let integration = self.lock(change.tx(), id).await?;
        if !integration.enabled {
            return Err(StoreError::Conflict(Conflict::IntegrationDisabled));
        }
        let event_id = change.events().integration_test(id, payload.clone());
        change.commit().await?;
        Ok(event_id)
    }
}

impl SqlStore {
    async fn lock(&self, tx: &mut Tx, id: Uuid) -> StoreResult<Integration> {
        let sql = format!("SELECT {COLUMNS} FROM integrations WHERE id = $1{FOR_UPDATE}");
        let row = sqlx::query_as::<Db, IntegrationRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound(Entity::Integration))?;
        self.integration_from(row)
    }

    async fn insert(&self, tx: &mut Tx, integration: &Integration) -> StoreResult<()> {
        let (secret_key, sealed_with) = self.seal_text(
            INTEGRATION_SECRET_KEY,
            integration.id,
            &integration.secret_key,
        );
        sqlx::query(
            "INSERT INTO integrations (id, name, description, enabled, integration_type, \
             observes, url, secret_key, secret_key_sealed_with, send_secret_key, \
             managed_by_configuration, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(integration.id)
        .bind(&integration.name)
        .bind(&integration.description)
        .bind(integration.enabled)
        .bind(&integration.integration_type)
        .bind(observes_json(&integration.observes))
        .bind(&integration.url)
        .bind(secret_key)
        .bind(sealed_with)
        .bind(integration.send_secret_key)
        .bind(integration.managed_by_configuration)
        .bind(integration.created_at.millis())
        .bind(integration.updated_at.millis())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn write(&self, tx: &mut Tx, integration: &Integration) -> StoreResult<()> {
        let (secret_key, sealed_with) = self.seal_text(
            INTEGRATION_SECRET_KEY,
            integration.id,
            &integration.secret_key,
        );
        sqlx::query(
            "UPDATE integrations SET name = $2, description = $3, enabled = $4, observes = $5, \
             url = $6, secret_key = $7, secret_key_sealed_with = $8, send_secret_key = $9, \
             managed_by_configuration = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(integration.id)
        .bind(&integration.name)
        .bind(&integration.description)
        .bind(integration.enabled)
        .bind(observes_json(&integration.observes))
        .bind(&integration.url)
        .bind(secret_key)
        .bind(sealed_with)
        .bind(integration.send_secret_key)
        .bind(integration.managed_by_configuration)
        .bind(integration.updated_at.millis())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

async fn drop_pending(tx: &mut Tx, integration_id: Uuid) -> StoreResult<()> {
    sqlx::query("DELETE FROM outbox_deliveries WHERE integration_id = $1 AND status = 'pending'")
        .bind(integration_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
