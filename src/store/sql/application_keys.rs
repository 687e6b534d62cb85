//! Application keys and the bearer tokens issued for them (docs/authentication.md).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, EVERYTHING, FOR_UPDATE, ListSpec, SqlStore, conflict_on, newest_first};
use crate::query::sort::NAMED_RECORD_SORTS;
use crate::store::{
    ApplicationKey, ApplicationKeyPatch, ApplicationKeyStore, BearerGrant, ClientCredentials,
    Conflict, Entity, GrantType, ListQuery, NewApplicationKey, NewAuditEvent, NewBearerToken, Page,
    StoreError, StoreResult,
};
use crate::time::Timestamp;

const LAST_USED_GRANULARITY_MS: i64 = 60_000;
const COLUMNS: &str = "id, name, client_id, managed_by_configuration, reserved_rate_limit, \
     created_at, updated_at, last_used_at";
const CONFLICTS: &[(&str, Conflict)] = &[(
    "application_keys_name_key",
    Conflict::ApplicationKeyNameTaken,
)];

const LIST: ListSpec = ListSpec {
    from: "application_keys",
    columns: COLUMNS,
    id_column: "id",
    fields: &[],
    sorts: NAMED_RECORD_SORTS,
    default_sort: newest_first(),
};

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    client_id: String,
    managed_by_configuration: bool,
    reserved_rate_limit: i64,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
}

impl From<KeyRow> for ApplicationKey {
    fn from(row: KeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            client_id: row.client_id,
            managed_by_configuration: row.managed_by_configuration,
            reserved_rate_limit: row.reserved_rate_limit,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
            last_used_at: row.last_used_at.map(Into::into),
        }
    }
}

#[async_trait]
impl ApplicationKeyStore for SqlStore {
    async fn find_client(&self, client_id: &str) -> StoreResult<Option<ClientCredentials>> {
        let row = sqlx::query_as::<Db, (Uuid, Vec<u8>)>(
            "SELECT id, secret_hash FROM application_keys WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(
            row.map(|(application_key_id, secret_hash)| ClientCredentials {
                application_key_id,
                secret_hash,
            }),
        )
    }

    async fn issue_bearer_token(&self, token: &NewBearerToken, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO bearer_tokens (token_hash, application_key_id, grant_type, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.token_hash[..])
        .bind(token.application_key_id)
        .bind(token.grant_type.as_str())
        .bind(token.expires_at.millis())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        // At most one write a minute per key: every storefront visit asks for a token, and a
        // row updated by each would be a lock every token request waits for.
        sqlx::query(
            "UPDATE application_keys SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(token.application_key_id)
        .bind(now.millis())
        .bind(now.millis() - LAST_USED_GRANULARITY_MS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_bearer_token(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<BearerGrant>> {
        let row = self
            .lean
            .run(&(*token_hash, now.millis()), |connection, (hash, now)| {
                Box::pin(
                    sqlx::query_as::<Db, (Uuid, String)>(
                        "SELECT application_key_id, grant_type FROM bearer_tokens \
                         WHERE token_hash = $1 AND expires_at > $2",
                    )
                    .bind(&hash[..])
                    .bind(*now)
                    .fetch_optional(connection),
                )
            })
            .await?;
        row.map(|(application_key_id, grant)| {
            let grant_type =
                GrantType::parse(&grant).ok_or(StoreError::Corrupt("bearer_tokens.grant_type"))?;
            Ok(BearerGrant {
                application_key_id,
                grant_type,
            })
        })
        .transpose()
    }

    async fn purge_expired_bearer_tokens(&self, now: Timestamp, batch: i64) -> StoreResult<u64> {
        let deleted = sqlx::query(
            "DELETE FROM bearer_tokens WHERE token_hash IN (SELECT token_hash FROM bearer_tokens \
             WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now.millis())
        .bind(batch)
        .execute(&self.write)
        .await?;
        Ok(deleted.rows_affected())
    }

    async fn create_application_key(
        &self,
        key: &NewApplicationKey,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<ApplicationKey> {
        let mut change = self.change(audit, now).await?;
        let taken =
            sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM application_keys WHERE name = $1")
                .bind(&key.name)
                .fetch_one(&mut **change.tx())
                .await?;
        if taken > 0 {
            return Err(StoreError::Conflict(Conflict::ApplicationKeyNameTaken));
        }
        let created = ApplicationKey {
            id: Uuid::new_v4(),
            name: key.name.clone(),
            client_id: key.client_id.clone(),
            managed_by_configuration: false,
            reserved_rate_limit: key.reserved_rate_limit,
            created_at: now,
            updated_at: now,
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO application_keys (id, name, client_id, secret_hash, \
             managed_by_configuration, reserved_rate_limit, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(created.id)
        .bind(&created.name)
        .bind(&created.client_id)
        .bind(&key.secret_hash[..])
        .bind(false)
        .bind(created.reserved_rate_limit)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await
        .map_err(|error| conflict_on(error, CONFLICTS))?;
        change.commit().await?;
        Ok(created)
    }

    async fn application_key(&self, id: Uuid) -> StoreResult<ApplicationKey> {
        let sql = format!("SELECT {COLUMNS} FROM application_keys WHERE id = $1");
        Ok(sqlx::query_as::<Db, KeyRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound(Entity::ApplicationKey))?
            .into())
    }

    async fn list_application_keys(&self, query: &ListQuery) -> StoreResult<Page<ApplicationKey>> {
        let page = self.page::<KeyRow>(&LIST, EVERYTHING, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(ApplicationKey::from).collect(),
            total: page.total,
        })
    }

    async fn update_application_key(
        &self,
        id: Uuid,
        patch: &ApplicationKeyPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<ApplicationKey> {
        let mut change = self.change(audit, now).await?;
        let sql = format!("SELECT {COLUMNS} FROM application_keys WHERE id = $1{FOR_UPDATE}");
        let current: ApplicationKey = sqlx::query_as::<Db, KeyRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **change.tx())
            .await?
            .ok_or(StoreError::NotFound(Entity::ApplicationKey))?
            .into();
        if current.managed_by_configuration {
            return Err(StoreError::Conflict(Conflict::ApplicationKeyManaged));
        }
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name.clone_from(name);
        }
        if let Some(limit) = patch.reserved_rate_limit {
            next.reserved_rate_limit = limit;
        }
        if next == current {
            change.commit().await?;
            return Ok(current);
        }
        if next.name != current.name {
            let taken = sqlx::query_scalar::<Db, i64>(
                "SELECT COUNT(*) FROM application_keys WHERE name = $1 AND id <> $2",
            )
            .bind(&next.name)
            .bind(id)
            .fetch_one(&mut **change.tx())
            .await?;
            if taken > 0 {
                return Err(StoreError::Conflict(Conflict::ApplicationKeyNameTaken));
            }
        }
        next.updated_at = now;
        sqlx::query(
            "UPDATE application_keys SET name = $2, reserved_rate_limit = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&next.name)
        .bind(next.reserved_rate_limit)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await
        .map_err(|error| conflict_on(error, CONFLICTS))?;
        change.commit().await?;
        Ok(next)
    }

    async fn delete_application_key(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        let sql = format!(
            "SELECT managed_by_configuration FROM application_keys WHERE id = $1{FOR_UPDATE}"
        );
        let managed = sqlx::query_scalar::<Db, bool>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **change.tx())
            .await?
            .ok_or(StoreError::NotFound(Entity::ApplicationKey))?;
        if managed {
            return Err(StoreError::Conflict(Conflict::ApplicationKeyManaged));
        }
        // Its bearer tokens go with it (ON DELETE CASCADE): they stop working at once.
        sqlx::query("DELETE FROM application_keys WHERE id = $1")
            .bind(id)
            .execute(&mut **change.tx())
            .await?;
        change.commit().await?;
        Ok(())
    }
}
