//! Bulk moves (docs/moving-in.md): an import batch in one transaction, written through the same
//! record writers, checks, events and audit rows as the admin API, and the export's keyset pages.

use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

use super::accounts::{ensure_registration_id_free, lock_account};
use super::change::Change;
use super::member_records;
use super::memberships::ensure_membership_allowed;
use super::users::ensure_username_free;
use super::{Db, FOR_UPDATE, SqlStore};
use crate::error::ApiError;
use crate::store::{
    Account, Actor, ChangedBy, ExportAccount, ExportCursor, ExportMember, ExportMembership,
    ImportKind, ImportLogin, ImportOutcome, ImportRecord, ImportWrite, Membership, MovingStore,
    NewAuditEvent, NewUser, StoreError, StoreResult, fold_case,
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
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            let outcome = match import_one(&mut change, record).await {
                Ok(outcome) => outcome,
                // Found by a look-up before anything of the record was written: the record
                // alone is refused and the batch goes on.
                Err(Refusal::Rule(error)) => {
                    ImportOutcome::Rejected(ApiError::from(error).detail().to_owned())
                }
                Err(Refusal::Database(error)) => return Err(error),
            };
            outcomes.push(outcome);
        }
        if options.quiet_events {
            change.discard_events();
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

    async fn password_profile_names(&self) -> StoreResult<Vec<(Uuid, String)>> {
        Ok(sqlx::query_as::<Db, (Uuid, String)>(
            "SELECT id, name FROM password_profiles ORDER BY created_at, id",
        )
        .fetch_all(&self.read)
        .await?)
    }
}

/// Why a record was not written: a rule (its own fault, reported on its line) or the database
/// (the batch's fault, retried record by record).
enum Refusal {
    Rule(StoreError),
    Database(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) | StoreError::Conflict(_) | StoreError::Limit(_) => {
                Self::Rule(error)
            }
            other => Self::Database(other),
        }
    }
}

/// A record refused for a reason of its own, worded for the report.
fn rejected(reason: impl Into<String>) -> Result<ImportOutcome, Refusal> {
    Ok(ImportOutcome::Rejected(reason.into()))
}

/// The audit row of one record written, as the admin API names the write, by the system.
fn audit(event_type: &'static str, record: &ImportRecord) -> NewAuditEvent {
    NewAuditEvent::new(event_type, Actor::SYSTEM)
        .subject(format!("import line {}", record.line))
        .detail(json!({"source": "accountd import"}))
}

async fn import_one(
    change: &mut Change<'_>,
    record: &ImportRecord,
) -> Result<ImportOutcome, Refusal> {
    match &record.kind {
        ImportKind::Account {
            external_ref,
            name,
            legal_name,
            registration_id,
            parent_external_ref,
        } => {
            match accounts_with_ref(change, external_ref).await?.as_slice() {
                [] => {}
                [_] => return Ok(ImportOutcome::Unchanged),
                _ => return rejected("external_ref matches several accounts"),
            }
            let ancestors = match parent_external_ref {
                None => Vec::new(),
                Some(parent_ref) => match accounts_with_ref(change, parent_ref).await?.as_slice() {
                    [parent_id] => {
                        let parent = lock_account(change.tx(), *parent_id).await?;
                        let mut ancestors = parent.ancestors;
                        ancestors.push(parent.id);
                        ancestors
                    }
                    [] => return rejected("parent account not found"),
                    _ => return rejected("parent_external_ref matches several accounts"),
                },
            };
            if let Some(registration_id) = registration_id {
                ensure_registration_id_free(change.tx(), registration_id, None).await?;
            }
            let now = change.now();
            let account = Account {
                id: Uuid::new_v4(),
                name: name.clone(),
                legal_name: legal_name.clone(),
                registration_id: registration_id.clone(),
                external_ref: Some(external_ref.clone()),
                parent_id: ancestors.last().copied(),
                ancestors,
                created_at: now,
                updated_at: now,
            };
            member_records::create_account(change, &account)
                .await
                .map_err(Refusal::Database)?;
            change.audit(audit("account.created", record));
            Ok(ImportOutcome::Created)
        }
        ImportKind::Member { email, name, login } => {
            if let Some(login) = login {
                let username_lower = fold_case(&login.username);
                let holder = sqlx::query_scalar::<Db, Uuid>(
                    "SELECT user_id FROM password_profile_infos \
                     WHERE password_profile_id = $1 AND username_lower = $2",
                )
                .bind(login.password_profile_id)
                .bind(&username_lower)
                .fetch_optional(&mut **change.tx())
                .await
                .map_err(|error| Refusal::Database(error.into()))?;
                if holder.is_some() {
                    return Ok(ImportOutcome::Unchanged);
                }
            }
            match members_with_email(change, email).await?.len() {
                0 => {}
                1 => return Ok(ImportOutcome::Unchanged),
                _ => return rejected("email matches several members"),
            }
            let profile = sqlx::query_scalar::<Db, Uuid>(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM password_profiles WHERE id = $1{FOR_UPDATE}"
            )));
            if let Some(login) = login {
                let found = profile
                    .bind(login.password_profile_id)
                    .fetch_optional(&mut **change.tx())
                    .await
                    .map_err(|error| Refusal::Database(error.into()))?;
                if found.is_none() {
                    return rejected("password profile not found");
                }
                ensure_username_free(
                    change.tx(),
                    login.password_profile_id,
                    &fold_case(&login.username),
                    None,
                )
                .await?;
            }
            let user = NewUser {
                name: name.clone(),
                email: email.clone(),
                given_name: None,
                middle_name: None,
                family_name: None,
            };
            let created = member_records::create_user(change, &user, ChangedBy::Admin).await?;
            change.audit(audit("user_authentication_info.created", record));
            if let Some(login) = login {
                let now = change.now();
                sqlx::query(
                    "INSERT INTO password_profile_infos (id, user_id, password_profile_id, \
                     username, username_lower, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(Uuid::new_v4())
                .bind(created.id)
                .bind(login.password_profile_id)
                .bind(&login.username)
                .bind(fold_case(&login.username))
                .bind(&login.password_hash)
                .bind(now.millis())
                .execute(&mut **change.tx())
                .await
                .map_err(|error| Refusal::Database(error.into()))?;
                change.audit(audit("password_profile_info.created", record));
            }
            Ok(ImportOutcome::Created)
        }
        ImportKind::Membership {
            account_external_ref,
            member_email,
        } => {
            let account_id = match accounts_with_ref(change, account_external_ref)
                .await?
                .as_slice()
            {
                [id] => *id,
                [] => return rejected("account not found"),
                _ => return rejected("account_external_ref matches several accounts"),
            };
            let member_id = match members_with_email(change, member_email).await?.as_slice() {
                [id] => *id,
                [] => return rejected("account member not found"),
                _ => return rejected("member_email matches several members"),
            };
            let existing = sqlx::query_scalar::<Db, i64>(
                "SELECT COUNT(*) FROM account_memberships \
                 WHERE account_id = $1 AND account_member_id = $2",
            )
            .bind(account_id)
            .bind(member_id)
            .fetch_one(&mut **change.tx())
            .await
            .map_err(|error| Refusal::Database(error.into()))?;
            if existing > 0 {
                return Ok(ImportOutcome::Unchanged);
            }
            lock_account(change.tx(), account_id).await?;
            ensure_membership_allowed(change.tx(), account_id, member_id).await?;
            let now = change.now();
            let membership = Membership {
                id: Uuid::new_v4(),
                account_id,
                account_member_id: member_id,
                created_at: now,
                updated_at: now,
            };
            member_records::create_membership(change, &membership)
                .await
                .map_err(Refusal::Database)?;
            change.audit(audit("membership.created", record));
            Ok(ImportOutcome::Created)
        }
    }
}

/// The accounts whose `external_ref` is `external_ref` (nothing makes it unique).
async fn accounts_with_ref(
    change: &mut Change<'_>,
    external_ref: &str,
) -> Result<Vec<Uuid>, Refusal> {
    sqlx::query_scalar::<Db, Uuid>("SELECT id FROM accounts WHERE external_ref = $1 LIMIT 2")
        .bind(external_ref)
        .fetch_all(&mut **change.tx())
        .await
        .map_err(|error| Refusal::Database(error.into()))
}

/// The members with this email, compared case-insensitively (at most two: more is ambiguous).
async fn members_with_email(change: &mut Change<'_>, email: &str) -> Result<Vec<Uuid>, Refusal> {
    sqlx::query_scalar::<Db, Uuid>("SELECT id FROM users WHERE email_lower = $1 LIMIT 2")
        .bind(fold_case(email))
        .fetch_all(&mut **change.tx())
        .await
        .map_err(|error| Refusal::Database(error.into()))
}
