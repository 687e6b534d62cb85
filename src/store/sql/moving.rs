//! Bulk moves (docs/moving-in.md): an import batch in one transaction, decided and written by
//! `import_plan` through the record writers of `member_records` with the admin API's checks,
//! events and audit rows, and the export's keyset pages.

use async_trait::async_trait;
use uuid::Uuid;

use super::security::insert_audit_event;
use super::{ANALYZE, Db, RELAXED_COMMIT, SqlStore, import_plan};
use crate::store::{
    ExportAccount, ExportCursor, ExportMember, ExportMembership, ImportLogin, ImportOutcome,
    ImportRecord, ImportWrite, ImportedTables, MovingStore, NewAuditEvent, StoreResult,
};
use crate::time::Timestamp;

#[async_trait]
impl MovingStore for SqlStore {
    async fn import_batch(
        &self,
        records: &[ImportRecord],
        options: ImportWrite,
        now: Timestamp,
    ) -> StoreResult<Vec<ImportOutcome>> {
        let mut change = self.batch_change(now).await?;
        if let Some(relax) = RELAXED_COMMIT {
            sqlx::query(relax).execute(&mut **change.tx()).await?;
        }
        let outcomes = import_plan::import(&mut change, records).await?;
        if options.quiet_events {
            change.discard_events_and_audit();
        }
        if options.dry_run {
            change.rollback().await?;
        } else {
            change.commit().await?;
        }
        Ok(outcomes)
    }

    async fn export_accounts(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportAccount>> {
        type AccountLine = (
            Uuid,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<Uuid>,
            Option<String>,
            i64,
            i64,
        );
        // Deeper accounts have longer ancestor lists, so ordering by that length puts every
        // parent before its children.
        let rows = sqlx::query_as::<Db, AccountLine>(
            "SELECT a.id, a.external_ref, a.name, a.legal_name, a.registration_id, a.parent_id, \
             p.external_ref, CAST(LENGTH(a.ancestor_ids) AS BIGINT), a.created_at \
             FROM accounts a LEFT JOIN accounts p ON p.id = a.parent_id \
             WHERE (CAST(LENGTH(a.ancestor_ids) AS BIGINT), a.created_at, a.id) > ($1, $2, $3) \
             ORDER BY CAST(LENGTH(a.ancestor_ids) AS BIGINT), a.created_at, a.id LIMIT $4",
        )
        .bind(after.rank)
        .bind(after.created_at)
        .bind(after.id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    external_ref,
                    name,
                    legal_name,
                    registration_id,
                    parent_id,
                    parent_ref,
                    rank,
                    created_at,
                )| {
                    ExportAccount {
                        cursor: ExportCursor {
                            rank,
                            created_at,
                            id,
                        },
                        id,
                        external_ref,
                        name,
                        legal_name,
                        registration_id,
                        parent_id,
                        parent_external_ref: parent_ref,
                    }
                },
            )
            .collect())
    }

    async fn export_members(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportMember>> {
        type MemberLine = (
            Uuid,
            String,
            String,
            i64,
            Option<Uuid>,
            Option<String>,
            Option<String>,
        );
        let rows = sqlx::query_as::<Db, MemberLine>(
            "SELECT u.id, u.email, u.name, u.created_at, \
             p.password_profile_id, p.username, p.password_hash \
             FROM users u LEFT JOIN password_profile_infos p ON p.id = ( \
                 SELECT i.id FROM password_profile_infos i WHERE i.user_id = u.id \
                 ORDER BY i.created_at, i.id LIMIT 1) \
             WHERE (u.created_at, u.id) > ($1, $2) \
             ORDER BY u.created_at, u.id LIMIT $3",
        )
        .bind(after.created_at)
        .bind(after.id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, email, name, created_at, profile, username, hash)| ExportMember {
                    cursor: ExportCursor {
                        rank: 0,
                        created_at,
                        id,
                    },
                    email,
                    name,
                    login: match (profile, username, hash) {
                        (Some(password_profile_id), Some(username), Some(password_hash)) => {
                            Some(ImportLogin {
                                password_profile_id,
                                username,
                                password_hash,
                            })
                        }
                        _ => None,
                    },
                },
            )
            .collect())
    }

    async fn export_memberships(
        &self,
        after: ExportCursor,
        limit: i64,
    ) -> StoreResult<Vec<ExportMembership>> {
        let rows = sqlx::query_as::<Db, (Uuid, i64, Uuid, Option<String>, String)>(
            "SELECT m.id, m.created_at, a.id, a.external_ref, u.email \
             FROM account_memberships m \
             JOIN accounts a ON a.id = m.account_id \
             JOIN users u ON u.id = m.account_member_id \
             WHERE (m.created_at, m.id) > ($1, $2) \
             ORDER BY m.created_at, m.id LIMIT $3",
        )
        .bind(after.created_at)
        .bind(after.id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, created_at, account_id, account_external_ref, member_email)| {
                    ExportMembership {
                        cursor: ExportCursor {
                            rank: 0,
                            created_at,
                            id,
                        },
                        account_id,
                        account_external_ref,
                        member_email,
                    }
                },
            )
            .collect())
    }

    async fn refresh_import_statistics(&self, grown: ImportedTables) -> StoreResult<()> {
        let Some(analyze) = ANALYZE else {
            return Ok(());
        };
        let mut tables = Vec::new();
        if grown.accounts {
            tables.push("accounts");
        }
        if grown.members {
            tables.extend(["users", "password_profile_infos"]);
        }
        if grown.memberships {
            tables.push("account_memberships");
        }
        if !tables.is_empty() {
            let statement = format!("{analyze}{}", tables.join(", "));
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    async fn finish_import(&self, summary: &NewAuditEvent, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_audit_event(&mut tx, summary, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn password_profile_names(&self) -> StoreResult<Vec<(Uuid, String)>> {
        Ok(sqlx::query_as::<Db, (Uuid, String)>(
            "SELECT id, name FROM password_profiles ORDER BY created_at, id",
        )
        .fetch_all(&self.read)
        .await?)
    }
}
