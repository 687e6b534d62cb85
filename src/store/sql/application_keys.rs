//! Application keys and the bearer tokens issued for them (§5.2–§5.4).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, SqlStore};
use crate::store::{
    ApplicationKeyStore, BearerGrant, ClientCredentials, GrantType, NewBearerToken, StoreError,
    StoreResult,
};
use crate::time::Timestamp;

const LAST_USED_GRANULARITY_MS: i64 = 60_000;

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
        let row = sqlx::query_as::<Db, (Uuid, String)>(
            "SELECT application_key_id, grant_type FROM bearer_tokens \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(&token_hash[..])
        .bind(now.millis())
        .fetch_optional(&self.read)
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

    async fn purge_expired_bearer_tokens(&self, now: Timestamp) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM bearer_tokens WHERE expires_at <= $1")
            .bind(now.millis())
            .execute(&self.write)
            .await?;
        Ok(deleted.rows_affected())
    }
}
