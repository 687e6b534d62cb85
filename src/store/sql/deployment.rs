//! Migrations, readiness and the first-start records (docs/operations.md#first-start).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, FOR_UPDATE, SqlStore, ThisBackend, Tx};
use crate::auth::signing_key::JwtAlgorithm;
use crate::store::backend::Backend;
use crate::store::{
    BatchStats, BootstrapPlan, Deployment, DeploymentStore, FirstStart, Initialised, NewAuditEvent,
    PoolStats, StoreError, StoreResult, StoredJwtKey,
};
use crate::time::Timestamp;

const REALM_NAME: &str = "Account Management Realm";
const DEFAULT_TOKEN_TIMEOUT_SECS: i64 = 86_400;
const DEFAULT_MEMBERSHIP_LIMIT: i64 = 10_000;
const BOOTSTRAP_KEY_NAME: &str = "bootstrap";

#[async_trait]
impl DeploymentStore for SqlStore {
    async fn migrate(&self) -> StoreResult<()> {
        ThisBackend::run_migrations(&self.write).await
    }

    async fn initialise(&self, plan: &FirstStart) -> StoreResult<Initialised> {
        let mut tx = self.begin().await?;
        let now = plan.now.millis();

        // The singleton is named explicitly: on SQLite an INTEGER PRIMARY KEY left out of an
        // INSERT takes the next rowid rather than its default.
        sqlx::query(
            "INSERT INTO deployment (singleton, store_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(true)
        .bind(plan.configured_store_id.unwrap_or(plan.new_store_id))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let store_id: Uuid = sqlx::query_scalar("SELECT store_id FROM deployment")
            .fetch_one(&mut *tx)
            .await?;
        if plan
            .configured_store_id
            .is_some_and(|configured| configured != store_id)
        {
            return Err(StoreError::StoreIdMismatch);
        }

        sqlx::query(
            "INSERT INTO authentication_realms \
             (id, name, redirect_uris, duplicate_email_policy, created_at, updated_at) \
             VALUES ($1, $2, '[]', 'allowed', $3, $3) ON CONFLICT DO NOTHING",
        )
        .bind(plan.new_realm_id)
        .bind(REALM_NAME)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO account_authentication_settings \
             (id, enable_self_signup, auto_create_account_for_account_members, \
              account_member_self_management, token_timeout_secs, created_at, updated_at) \
             VALUES ($1, $2, $2, 'disabled', $3, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(plan.new_auth_settings_id)
        .bind(false)
        .bind(DEFAULT_TOKEN_TIMEOUT_SECS)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO account_membership_settings (id, membership_limit, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT DO NOTHING",
        )
        .bind(plan.new_membership_settings_id)
        .bind(DEFAULT_MEMBERSHIP_LIMIT)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        if let Some(key) = &plan.generated_jwt_key {
            let secret = self.seal_jwt_secret(&key.kid, &key.secret);
            sqlx::query(
                "INSERT INTO jwt_keys (kid, secret, secret_sealed_with, active, created_at, algorithm) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM jwt_keys) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&key.kid)
            .bind(&secret.bytes)
            .bind(&secret.sealed_with)
            .bind(true)
            .bind(now)
            .bind(key.algorithm.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let jwt_keys = self.read_jwt_keys(&mut *tx).await?;

        let generated_bootstrap_key = match &plan.bootstrap_key {
            BootstrapPlan::Configured {
                client_id,
                secret_hash,
            } => {
                upsert_configured_key(&mut tx, client_id, secret_hash, plan).await?;
                false
            }
            BootstrapPlan::GenerateIfNone {
                client_id,
                secret_hash,
            } => {
                // A key that configuration once managed becomes an ordinary one when the
                // configuration no longer names it.
                sqlx::query(
                    "UPDATE application_keys SET managed_by_configuration = $1 \
                     WHERE managed_by_configuration",
                )
                .bind(false)
                .execute(&mut *tx)
                .await?;
                let inserted = sqlx::query(
                    "INSERT INTO application_keys \
                     (id, name, client_id, secret_hash, managed_by_configuration, \
                      reserved_rate_limit, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $5, 0, $6, $6 \
                     WHERE NOT EXISTS (SELECT 1 FROM application_keys) ON CONFLICT DO NOTHING",
                )
                .bind(Uuid::new_v4())
                .bind(BOOTSTRAP_KEY_NAME)
                .bind(client_id)
                .bind(&secret_hash[..])
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                inserted.rows_affected() == 1
            }
        };

        let realm_id = sqlx::query_scalar("SELECT id FROM authentication_realms")
            .fetch_one(&mut *tx)
            .await?;
        let auth_settings_id = sqlx::query_scalar("SELECT id FROM account_authentication_settings")
            .fetch_one(&mut *tx)
            .await?;
        let membership_settings_id =
            sqlx::query_scalar("SELECT id FROM account_membership_settings")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Initialised {
            deployment: Deployment {
                store_id,
                realm_id,
                auth_settings_id,
                membership_settings_id,
            },
            jwt_keys,
            generated_bootstrap_key,
        })
    }

    async fn jwt_keys(&self) -> StoreResult<Vec<StoredJwtKey>> {
        self.read_jwt_keys(&self.read).await
    }

    async fn rotate_jwt_key(
        &self,
        key: &StoredJwtKey,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        // The partial unique index allows one active key: retire the old one first. Its tokens
        // live at most the token timeout in force now, so it verifies (and stays published)
        // until then plus a minute for clocks and caches.
        sqlx::query(
            "UPDATE jwt_keys SET active = $1, verifies_until = $2 + \
             ((SELECT token_timeout_secs FROM account_authentication_settings) + 60) * 1000 \
             WHERE active",
        )
        .bind(false)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        let secret = self.seal_jwt_secret(&key.kid, &key.secret);
        sqlx::query(
            "INSERT INTO jwt_keys (kid, secret, secret_sealed_with, active, created_at, algorithm) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&secret.bytes)
        .bind(&secret.sealed_with)
        .bind(true)
        .bind(now.millis())
        .bind(key.algorithm.as_str())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(())
    }

    async fn remove_jwt_key(
        &self,
        kid: &str,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut change = self.change(audit, now).await?;
        let sql = format!("SELECT active FROM jwt_keys WHERE kid = $1{FOR_UPDATE}");
        let active = sqlx::query_scalar::<Db, bool>(sqlx::AssertSqlSafe(sql))
            .bind(kid)
            .fetch_optional(&mut **change.tx())
            .await?;
        match active {
            None => Ok(false),
            Some(true) => Err(StoreError::Conflict(crate::store::Conflict::ActiveJwtKey)),
            Some(false) => {
                sqlx::query("DELETE FROM jwt_keys WHERE kid = $1")
                    .bind(kid)
                    .execute(&mut **change.tx())
                    .await?;
                change.commit().await?;
                Ok(true)
            }
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        // Every pool at once: the readiness probe has one second for all of them.
        let read = sqlx::query("SELECT 1").execute(&self.read);
        let write = async {
            if ThisBackend::SHARED_POOL {
                Ok(())
            } else {
                sqlx::query("SELECT 1").execute(&self.write).await.map(drop)
            }
        };
        let (read, write, lean) = tokio::join!(read, write, self.lean.ping());
        read?;
        write?;
        lean?;
        Ok(())
    }

    async fn backup_into(&self, path: &std::path::Path) -> StoreResult<()> {
        ThisBackend::backup_into(&self.read, path).await
    }

    fn backend(&self) -> &'static str {
        ThisBackend::NAME
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |name, pool: &sqlx::Pool<Db>| PoolStats {
            name,
            size: pool.size(),
            idle: pool.num_idle(),
            max: pool.options().get_max_connections(),
            retries: 0,
        };
        let mut pools = if ThisBackend::SHARED_POOL {
            vec![stats("primary", &self.write)]
        } else {
            vec![stats("read", &self.read), stats("write", &self.write)]
        };
        pools.extend(ThisBackend::lean_pool_stats(&self.lean));
        pools
    }

    fn batch_stats(&self) -> Vec<BatchStats> {
        self.holder_reads.stats()
    }
}

type JwtKeyRow = (String, Vec<u8>, Option<String>, bool, String, Option<i64>);

impl SqlStore {
    async fn read_jwt_keys<'e, E>(&self, executor: E) -> StoreResult<Vec<StoredJwtKey>>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        let rows = sqlx::query_as::<Db, JwtKeyRow>(
            "SELECT kid, secret, secret_sealed_with, active, algorithm, verifies_until \
             FROM jwt_keys ORDER BY created_at, kid",
        )
        .fetch_all(executor)
        .await?;
        rows.into_iter()
            .map(
                |(kid, secret, sealed_with, active, algorithm, verifies_until)| {
                    Ok(StoredJwtKey {
                        secret: self.open_jwt_secret(&kid, secret, sealed_with)?,
                        kid,
                        active,
                        algorithm: JwtAlgorithm::parse(&algorithm)
                            .ok_or(StoreError::Corrupt("jwt_keys.algorithm"))?,
                        verifies_until: verifies_until.map(Timestamp::from_millis),
                    })
                },
            )
            .collect()
    }
}

/// Upserts the configured bootstrap key, keeping its id and its bearer tokens unless the secret
/// changed (docs/authentication.md#application-keys), so a replica starting beside running ones
/// disturbs nothing.
async fn upsert_configured_key(
    tx: &mut Tx,
    client_id: &str,
    secret_hash: &[u8; 32],
    plan: &FirstStart,
) -> StoreResult<()> {
    let now = plan.now.millis();
    sqlx::query(
        "INSERT INTO application_keys \
         (id, name, client_id, secret_hash, managed_by_configuration, reserved_rate_limit, \
          created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(BOOTSTRAP_KEY_NAME)
    .bind(client_id)
    .bind(&secret_hash[..])
    .bind(true)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let sql = format!(
        "SELECT id, client_id, secret_hash, managed_by_configuration FROM application_keys \
         WHERE name = $1{FOR_UPDATE}"
    );
    let (id, stored_client_id, stored_hash, managed) =
        sqlx::query_as::<Db, (Uuid, String, Vec<u8>, bool)>(sqlx::AssertSqlSafe(sql))
            .bind(BOOTSTRAP_KEY_NAME)
            .fetch_one(&mut **tx)
            .await?;
    let secret_changed = stored_hash.as_slice() != secret_hash.as_slice();
    if secret_changed || stored_client_id != client_id || !managed {
        sqlx::query(
            "UPDATE application_keys SET client_id = $2, secret_hash = $3, \
             managed_by_configuration = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(client_id)
        .bind(&secret_hash[..])
        .bind(true)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    if secret_changed || stored_client_id != client_id {
        sqlx::query("DELETE FROM bearer_tokens WHERE application_key_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
