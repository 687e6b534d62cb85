//! Password profiles. Deleting one cascades to its password profile infos.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Db, EVERYTHING, FOR_UPDATE, ListSpec, SqlStore, newest_first};
use crate::query::sort::NAMED_RECORD_SORTS;
use crate::store::{
    Entity, ListQuery, NewAuditEvent, NewPasswordProfile, Page, PasswordProfile,
    PasswordProfilePatch, PasswordProfileStore, StoreError, StoreResult, UsernameFormat,
};
use crate::time::Timestamp;

const COLUMNS: &str =
    "id, name, username_format, enable_one_time_password_token, created_at, updated_at";

const LIST: ListSpec = ListSpec {
    from: "password_profiles",
    columns: COLUMNS,
    id_column: "id",
    fields: &[],
    sorts: NAMED_RECORD_SORTS,
    default_sort: newest_first(),
};

#[derive(sqlx::FromRow)]
struct ProfileRow {
    id: Uuid,
    name: String,
    username_format: String,
    enable_one_time_password_token: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ProfileRow> for PasswordProfile {
    type Error = StoreError;

    fn try_from(row: ProfileRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            username_format: UsernameFormat::parse(&row.username_format)
                .ok_or(StoreError::Corrupt("username_format"))?,
            enable_one_time_password_token: row.enable_one_time_password_token,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

#[async_trait]
impl PasswordProfileStore for SqlStore {
    async fn create_password_profile(
        &self,
        profile: &NewPasswordProfile,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfile> {
        let mut change = self.change(audit, now).await?;
        let created = PasswordProfile {
            id: Uuid::new_v4(),
            name: profile.name.clone(),
            username_format: profile.username_format,
            enable_one_time_password_token: profile.enable_one_time_password_token,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO password_profiles \
             (id, name, username_format, enable_one_time_password_token, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(created.id)
        .bind(&created.name)
        .bind(created.username_format.as_str())
        .bind(created.enable_one_time_password_token)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(created)
    }

    async fn password_profile(&self, id: Uuid) -> StoreResult<PasswordProfile> {
        let sql = format!("SELECT {COLUMNS} FROM password_profiles WHERE id = $1");
        sqlx::query_as::<Db, ProfileRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound(Entity::PasswordProfile))?
            .try_into()
    }

    async fn list_password_profiles(
        &self,
        query: &ListQuery,
    ) -> StoreResult<Page<PasswordProfile>> {
        let page = self.page::<ProfileRow>(&LIST, EVERYTHING, query).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(PasswordProfile::try_from)
                .collect::<StoreResult<_>>()?,
            total: page.total,
        })
    }

    async fn update_password_profile(
        &self,
        id: Uuid,
        patch: &PasswordProfilePatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfile> {
        let mut change = self.change(audit, now).await?;
        let sql = format!("SELECT {COLUMNS} FROM password_profiles WHERE id = $1{FOR_UPDATE}");
        let current: PasswordProfile = sqlx::query_as::<Db, ProfileRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **change.tx())
            .await?
            .ok_or(StoreError::NotFound(Entity::PasswordProfile))?
            .try_into()?;
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name.clone_from(name);
        }
        if let Some(format) = patch.username_format {
            next.username_format = format;
        }
        if let Some(enabled) = patch.enable_one_time_password_token {
            next.enable_one_time_password_token = enabled;
        }
        if next == current {
            change.commit().await?;
            return Ok(current);
        }
        next.updated_at = now;
        sqlx::query(
            "UPDATE password_profiles SET name = $2, username_format = $3, \
             enable_one_time_password_token = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(&next.name)
        .bind(next.username_format.as_str())
        .bind(next.enable_one_time_password_token)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(next)
    }

    async fn delete_password_profile(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        let deleted = sqlx::query("DELETE FROM password_profiles WHERE id = $1")
            .bind(id)
            .execute(&mut **change.tx())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::PasswordProfile));
        }
        change.commit().await?;
        Ok(())
    }
}
