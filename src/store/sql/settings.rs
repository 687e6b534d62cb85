//! The singletons admins tune: account authentication settings, membership settings and the
//! preset authentication realm.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, FOR_UPDATE, SqlStore};
use crate::store::{
    AuthSettings, AuthSettingsPatch, DuplicateEmailPolicy, MembershipSettings, NewAuditEvent,
    Realm, RealmPatch, SelfManagement, SettingsStore, StoreError, StoreResult,
};
use crate::time::Timestamp;

const AUTH_SETTINGS_COLUMNS: &str = "id, enable_self_signup, auto_create_account_for_account_members, \
     account_member_self_management, token_timeout_secs, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct AuthSettingsRow {
    id: Uuid,
    enable_self_signup: bool,
    auto_create_account_for_account_members: bool,
    account_member_self_management: String,
    token_timeout_secs: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AuthSettingsRow> for AuthSettings {
    type Error = StoreError;

    fn try_from(row: AuthSettingsRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.id,
            enable_self_signup: row.enable_self_signup,
            auto_create_account_for_account_members: row.auto_create_account_for_account_members,
            account_member_self_management: SelfManagement::parse(
                &row.account_member_self_management,
            )
            .ok_or(StoreError::Corrupt("account_member_self_management"))?,
            token_timeout_secs: row.token_timeout_secs,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct RealmRow {
    id: Uuid,
    name: String,
    redirect_uris: String,
    duplicate_email_policy: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RealmRow> for Realm {
    type Error = StoreError;

    fn try_from(row: RealmRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            redirect_uris: serde_json::from_str(&row.redirect_uris)
                .map_err(|_| StoreError::Corrupt("redirect_uris"))?,
            duplicate_email_policy: DuplicateEmailPolicy::parse(&row.duplicate_email_policy)
                .ok_or(StoreError::Corrupt("duplicate_email_policy"))?,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn auth_settings(&self) -> StoreResult<AuthSettings> {
        let sql = format!("SELECT {AUTH_SETTINGS_COLUMNS} FROM account_authentication_settings");
        let row = self
            .lean
            .run(sql.as_str(), |connection, sql| {
                Box::pin(
                    sqlx::query_as::<Db, AuthSettingsRow>(sqlx::AssertSqlSafe(sql))
                        .fetch_one(connection),
                )
            })
            .await?;
        row.try_into()
    }

    async fn update_auth_settings(
        &self,
        patch: &AuthSettingsPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<AuthSettings> {
        let mut change = self.change(audit, now).await?;
        let sql = format!(
            "SELECT {AUTH_SETTINGS_COLUMNS} FROM account_authentication_settings{FOR_UPDATE}"
        );
        let current: AuthSettings = sqlx::query_as::<Db, AuthSettingsRow>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut **change.tx())
            .await?
            .try_into()?;
        let mut next = current.clone();
        if let Some(value) = patch.enable_self_signup {
            next.enable_self_signup = value;
        }
        if let Some(value) = patch.auto_create_account_for_account_members {
            next.auto_create_account_for_account_members = value;
        }
        if let Some(value) = patch.account_member_self_management {
            next.account_member_self_management = value;
        }
        if let Some(value) = patch.token_timeout_secs {
            next.token_timeout_secs = value;
        }
        if next == current {
            change.commit().await?;
            return Ok(current);
        }
        next.updated_at = now;
        sqlx::query(
            "UPDATE account_authentication_settings SET enable_self_signup = $1, \
             auto_create_account_for_account_members = $2, account_member_self_management = $3, \
             token_timeout_secs = $4, updated_at = $5",
        )
        .bind(next.enable_self_signup)
        .bind(next.auto_create_account_for_account_members)
        .bind(next.account_member_self_management.as_str())
        .bind(next.token_timeout_secs)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(next)
    }

    async fn membership_settings(&self) -> StoreResult<MembershipSettings> {
        let (id, membership_limit, created_at, updated_at) = sqlx::query_as::<
            Db,
            (Uuid, i64, i64, i64),
        >(
            "SELECT id, membership_limit, created_at, updated_at FROM account_membership_settings",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(MembershipSettings {
            id,
            membership_limit,
            created_at: created_at.into(),
            updated_at: updated_at.into(),
        })
    }

    async fn update_membership_settings(
        &self,
        membership_limit: Option<i64>,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<MembershipSettings> {
        let mut change = self.change(audit, now).await?;
        if let Some(limit) = membership_limit {
            sqlx::query(
                "UPDATE account_membership_settings SET membership_limit = $1, updated_at = $2 \
                 WHERE membership_limit <> $1",
            )
            .bind(limit)
            .bind(now.millis())
            .execute(&mut **change.tx())
            .await?;
        }
        change.commit().await?;
        self.membership_settings().await
    }

    async fn realm(&self) -> StoreResult<Realm> {
        sqlx::query_as::<Db, RealmRow>(
            "SELECT id, name, redirect_uris, duplicate_email_policy, created_at, updated_at \
             FROM authentication_realms",
        )
        .fetch_one(&self.read)
        .await?
        .try_into()
    }

    async fn update_realm(
        &self,
        patch: &RealmPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Realm> {
        let mut change = self.change(audit, now).await?;
        let sql = format!(
            "SELECT id, name, redirect_uris, duplicate_email_policy, created_at, updated_at \
             FROM authentication_realms{FOR_UPDATE}"
        );
        let current: Realm = sqlx::query_as::<Db, RealmRow>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut **change.tx())
            .await?
            .try_into()?;
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name.clone_from(name);
        }
        if let Some(uris) = &patch.redirect_uris {
            next.redirect_uris.clone_from(uris);
        }
        if let Some(policy) = patch.duplicate_email_policy {
            next.duplicate_email_policy = policy;
        }
        if next == current {
            change.commit().await?;
            return Ok(current);
        }
        next.updated_at = now;
        let uris = serde_json::to_string(&next.redirect_uris)
            .map_err(|_| StoreError::Corrupt("redirect_uris"))?;
        sqlx::query(
            "UPDATE authentication_realms SET name = $1, redirect_uris = $2, \
             duplicate_email_policy = $3, updated_at = $4",
        )
        .bind(&next.name)
        .bind(uris)
        .bind(next.duplicate_email_policy.as_str())
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(next)
    }
}
