//! Users (user authentication info = account members, docs/README.md#domain-model) and their
//! password profile infos. Usernames and emails are compared through lower-case shadow columns
//! that accountd fills in itself (docs/decisions.md#case-insensitive-usernames).

use std::marker::PhantomData;

use async_trait::async_trait;
use uuid::Uuid;

use super::change::Change;
use super::member_records;
use super::profile_infos::InfoTable;
use super::{
    Db, FOR_UPDATE, ListSpec, MAX_INCLUDED, Scope, SqlStore, Tx, conflict_on, newest_first,
    placeholders,
};
use crate::query::filter::Op;
use crate::query::sort::{RECORD_SORTS, SortSpec};
use crate::query::sql::{Bind, FieldKind, FieldSpec};
use crate::store::{
    Account, ChangedBy, Conflict, DuplicateEmailPolicy, Entity, ListQuery, LoginCandidate,
    Membership, NewAuditEvent, NewPasswordProfileInfo, NewUser, Page, PasswordProfileInfo,
    PasswordProfileInfoPatch, SelfSignup, StoreError, StoreResult, User, UserPatch, UserStore,
    fold_case,
};
use crate::time::Timestamp;

const USER_COLUMNS: &str =
    "id, name, email, given_name, middle_name, family_name, created_at, updated_at";
const TEXT_OPS: &[Op] = &[Op::Eq, Op::Like, Op::Ilike];
const NULLABLE_TEXT_OPS: &[Op] = &[Op::Eq, Op::Like, Op::Ilike, Op::IsNull];
const TIME_OPS: &[Op] = &[Op::Eq, Op::Lt, Op::Le, Op::Gt, Op::Ge];

const USERS: ListSpec = ListSpec {
    from: "users",
    columns: USER_COLUMNS,
    id_column: "id",
    fields: &[
        FieldSpec {
            name: "email",
            column: "email",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "name",
            column: "name",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "given_name",
            column: "given_name",
            kind: FieldKind::Text,
            ops: NULLABLE_TEXT_OPS,
        },
        FieldSpec {
            name: "middle_name",
            column: "middle_name",
            kind: FieldKind::Text,
            ops: NULLABLE_TEXT_OPS,
        },
        FieldSpec {
            name: "family_name",
            column: "family_name",
            kind: FieldKind::Text,
            ops: NULLABLE_TEXT_OPS,
        },
        FieldSpec {
            name: "created_at",
            column: "created_at",
            kind: FieldKind::Timestamp,
            ops: TIME_OPS,
        },
        FieldSpec {
            name: "updated_at",
            column: "updated_at",
            kind: FieldKind::Timestamp,
            ops: TIME_OPS,
        },
    ],
    sorts: &[
        SortSpec::field("created_at"),
        SortSpec::field("email"),
        SortSpec::field("id"),
        SortSpec::field("name"),
        SortSpec::field("updated_at"),
    ],
    default_sort: newest_first(),
};

/// Unassigned members filter on `email` and `name` only; sorting as account members.
const UNASSIGNED: ListSpec = ListSpec {
    fields: &[
        FieldSpec {
            name: "email",
            column: "email",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
        FieldSpec {
            name: "name",
            column: "name",
            kind: FieldKind::Text,
            ops: TEXT_OPS,
        },
    ],
    ..USERS
};

const INFO_COLUMNS: &str = "id, user_id, password_profile_id, username, created_at, updated_at";

const INFOS: InfoTable<InfoRow> = InfoTable {
    list: ListSpec {
        from: "password_profile_infos",
        columns: INFO_COLUMNS,
        id_column: "id",
        fields: &[],
        sorts: RECORD_SORTS,
        default_sort: newest_first(),
    },
    missing: Entity::PasswordProfileInfo,
    row: PhantomData,
};

const INFO_CONFLICTS: &[(&str, Conflict)] = &[
    (
        "password_profile_infos_username_key",
        Conflict::UsernameTaken,
    ),
    (
        "password_profile_infos_user_profile_key",
        Conflict::ProfileInfoExists,
    ),
];

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    name: String,
    email: String,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            email: row.email,
            given_name: row.given_name,
            middle_name: row.middle_name,
            family_name: row.family_name,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    id: Uuid,
    user_id: Uuid,
    password_profile_id: Uuid,
    username: String,
    created_at: i64,
    updated_at: i64,
}

impl From<InfoRow> for PasswordProfileInfo {
    fn from(row: InfoRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            password_profile_id: row.password_profile_id,
            username: row.username,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(
        &self,
        user: &NewUser,
        changed_by: ChangedBy,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<User> {
        let mut change = self.change(audit, now).await?;
        let created = member_records::create_user(&mut change, user, changed_by).await?;
        change.commit().await?;
        Ok(created)
    }

    async fn user(&self, id: Uuid) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(sqlx::query_as::<Db, UserRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound(Entity::UserInfo))?
            .into())
    }

    async fn list_users(&self, query: &ListQuery, only: Option<Uuid>) -> StoreResult<Page<User>> {
        let binds: Vec<Bind> = only.map(Bind::Uuid).into_iter().collect();
        let scope = Scope {
            predicate: if only.is_some() { "id = $1" } else { "1 = 1" },
            binds: &binds,
        };
        let page = self.page::<UserRow>(&USERS, scope, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(User::from).collect(),
            total: page.total,
        })
    }

    async fn update_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        changed_by: ChangedBy,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<User> {
        let mut change = self.change(audit, now).await?;
        let current = lock_user(change.tx(), id).await?;
        let Some(next) = patch.apply(&current) else {
            // Nothing to change: the request still happened, and its audit row says so.
            change.commit().await?;
            return Ok(current);
        };
        let updated = member_records::update_user(&mut change, &current, &next, changed_by).await?;
        change.commit().await?;
        Ok(updated)
    }

    async fn delete_user(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        lock_user(change.tx(), id).await?;
        member_records::delete_user(&mut change, id).await?;
        change.commit().await?;
        Ok(())
    }

    async fn list_unassigned_members(
        &self,
        account_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<User>> {
        let binds = [Bind::Uuid(account_id)];
        let scope = Scope {
            predicate: "NOT EXISTS (SELECT 1 FROM account_memberships m \
                        WHERE m.account_id = $1 AND m.account_member_id = users.id)",
            binds: &binds,
        };
        let page = self.page::<UserRow>(&UNASSIGNED, scope, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(User::from).collect(),
            total: page.total,
        })
    }

    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = &ids[..ids.len().min(MAX_INCLUDED)];
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN {}",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query_as::<Db, UserRow>(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(User::from)
            .collect())
    }

    async fn revoke_account_tokens(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        if !member_records::revoke_tokens(&mut change, id).await? {
            return Err(StoreError::NotFound(Entity::AccountMember));
        }
        change.commit().await?;
        Ok(())
    }

    async fn create_password_profile_info(
        &self,
        info: &NewPasswordProfileInfo,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfileInfo> {
        let mut change = self.change(audit, now).await?;
        let tx = change.tx();
        lock_user(tx, info.user_id).await?;
        let profile_exists =
            sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM password_profiles WHERE id = $1")
                .bind(info.password_profile_id)
                .fetch_one(&mut **tx)
                .await?;
        if profile_exists == 0 {
            return Err(StoreError::NotFound(Entity::PasswordProfile));
        }
        let has_info = sqlx::query_scalar::<Db, i64>(
            "SELECT COUNT(*) FROM password_profile_infos WHERE user_id = $1 AND password_profile_id = $2",
        )
        .bind(info.user_id)
        .bind(info.password_profile_id)
        .fetch_one(&mut **tx)
        .await?;
        if has_info > 0 {
            return Err(StoreError::Conflict(Conflict::ProfileInfoExists));
        }
        let username_lower = fold_case(&info.username);
        ensure_username_free(tx, info.password_profile_id, &username_lower, None).await?;
        let created = PasswordProfileInfo {
            id: Uuid::new_v4(),
            user_id: info.user_id,
            password_profile_id: info.password_profile_id,
            username: info.username.clone(),
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO password_profile_infos (id, user_id, password_profile_id, username, \
             username_lower, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(created.id)
        .bind(created.user_id)
        .bind(created.password_profile_id)
        .bind(&created.username)
        .bind(&username_lower)
        .bind(&info.password_hash)
        .bind(now.millis())
        .execute(&mut **tx)
        .await
        .map_err(|error| conflict_on(error, INFO_CONFLICTS))?;
        member_records::touch_user(&mut change, info.user_id).await?;
        change.commit().await?;
        Ok(created)
    }

    async fn password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<PasswordProfileInfo> {
        INFOS.read(self, user_id, id).await
    }

    async fn list_password_profile_infos(
        &self,
        user_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<PasswordProfileInfo>> {
        INFOS.list(self, user_id, query).await
    }

    async fn update_password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &PasswordProfileInfoPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<PasswordProfileInfo> {
        let mut change = self.change(audit, now).await?;
        let current: PasswordProfileInfo = INFOS.lock(change.tx(), user_id, id).await?;
        let renamed = patch
            .username
            .as_ref()
            .filter(|username| **username != current.username);
        if renamed.is_none() && patch.password_hash.is_none() {
            // Nothing to change: the request still happened, and its audit row says so.
            change.commit().await?;
            return Ok(current);
        }
        let mut next = current.clone();
        next.updated_at = now;
        if let Some(username) = renamed {
            let username_lower = fold_case(username);
            ensure_username_free(
                change.tx(),
                current.password_profile_id,
                &username_lower,
                Some(id),
            )
            .await?;
            sqlx::query(
                "UPDATE password_profile_infos SET username = $2, username_lower = $3, \
                 updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(username)
            .bind(&username_lower)
            .bind(now.millis())
            .execute(&mut **change.tx())
            .await
            .map_err(|error| conflict_on(error, INFO_CONFLICTS))?;
            next.username.clone_from(username);
        }
        if let Some(hash) = &patch.password_hash {
            sqlx::query(
                "UPDATE password_profile_infos SET password_hash = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(hash)
            .bind(now.millis())
            .execute(&mut **change.tx())
            .await?;
            // Every account token issued before this second stops working.
            member_records::revoke_tokens(&mut change, user_id).await?;
            // A new password kills the outstanding OTP codes of this login.
            sqlx::query(
                "UPDATE otp_codes SET status = 'invalidated' \
                 WHERE password_profile_info_id = $1 AND status = 'outstanding'",
            )
            .bind(id)
            .execute(&mut **change.tx())
            .await?;
        }
        member_records::touch_user(&mut change, user_id).await?;
        change.commit().await?;
        Ok(next)
    }

    async fn delete_password_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        INFOS.delete(self, user_id, id, now, audit).await
    }

    async fn upgrade_password_hash(
        &self,
        password_profile_info_id: Uuid,
        current_hash: &str,
        upgraded_hash: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE password_profile_infos SET password_hash = $3 \
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(password_profile_info_id)
        .bind(current_hash)
        .bind(upgraded_hash)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn find_login(
        &self,
        password_profile_id: Uuid,
        username_lower: &str,
    ) -> StoreResult<Option<LoginCandidate>> {
        let row = self
            .lean
            .run(
                &(password_profile_id, username_lower),
                |connection, (profile_id, username_lower)| {
                    Box::pin(
                        sqlx::query_as::<Db, (Uuid, Uuid, String)>(
                            "SELECT user_id, id, password_hash FROM password_profile_infos \
                             WHERE password_profile_id = $1 AND username_lower = $2",
                        )
                        .bind(*profile_id)
                        .bind(*username_lower)
                        .fetch_optional(connection),
                    )
                },
            )
            .await?;
        Ok(row.map(
            |(user_id, password_profile_info_id, password_hash)| LoginCandidate {
                user_id,
                password_profile_info_id,
                password_hash,
            },
        ))
    }

    async fn self_signup(
        &self,
        signup: &SelfSignup,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<Uuid> {
        let mut change = self.change(audit, now).await?;
        // No lock: the unique username constraint settles concurrent sign-ups (409).
        let profile =
            sqlx::query_scalar::<Db, Uuid>("SELECT id FROM password_profiles WHERE id = $1")
                .bind(signup.password_profile_id)
                .fetch_optional(&mut **change.tx())
                .await?;
        if profile.is_none() {
            return Err(StoreError::NotFound(Entity::PasswordProfile));
        }
        let username_lower = fold_case(&signup.username);
        ensure_username_free(
            change.tx(),
            signup.password_profile_id,
            &username_lower,
            None,
        )
        .await?;
        let user = member_records::create_user(&mut change, &signup.user, ChangedBy::User).await?;
        change.signed_in(user.id);
        sqlx::query(
            "INSERT INTO password_profile_infos (id, user_id, password_profile_id, username, \
             username_lower, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(Uuid::new_v4())
        .bind(user.id)
        .bind(signup.password_profile_id)
        .bind(&signup.username)
        .bind(&username_lower)
        .bind(&signup.password_hash)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await
        .map_err(|error| conflict_on(error, INFO_CONFLICTS))?;
        create_own_account_if_configured(&mut change, &user).await?;
        change.commit().await?;
        Ok(user.id)
    }
}

/// With auto-create on (read inside the transaction, so the setting at commit time decides), a
/// new member gets an account named after it and a membership in it. A new account and a new
/// member: neither membership limit can be reached.
pub(super) async fn create_own_account_if_configured(
    change: &mut Change<'_>,
    user: &User,
) -> StoreResult<()> {
    let auto_create: bool = sqlx::query_scalar(
        "SELECT auto_create_account_for_account_members FROM account_authentication_settings",
    )
    .fetch_one(&mut **change.tx())
    .await?;
    if !auto_create {
        return Ok(());
    }
    let now = change.now();
    let account = Account {
        id: Uuid::new_v4(),
        name: user.name.clone(),
        legal_name: Some(user.name.clone()),
        registration_id: None,
        external_ref: None,
        parent_id: None,
        ancestors: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    member_records::create_account(change, &account).await?;
    let membership = Membership {
        id: Uuid::new_v4(),
        account_id: account.id,
        account_member_id: user.id,
        created_at: now,
        updated_at: now,
    };
    member_records::create_membership(change, &membership).await
}

pub(super) async fn lock_user(tx: &mut Tx, id: Uuid) -> StoreResult<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1{FOR_UPDATE}");
    Ok(sqlx::query_as::<Db, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound(Entity::UserInfo))?
        .into())
}

/// Refuses an email another user has when the realm's policy says so. When it does, the realm
/// row is locked for the rest of the transaction so two writers cannot both see the email free.
pub(super) async fn ensure_email_allowed(
    tx: &mut Tx,
    email_lower: &str,
    changed_by: ChangedBy,
) -> StoreResult<()> {
    let policy_sql = "SELECT duplicate_email_policy FROM authentication_realms";
    let policy: String = sqlx::query_scalar(policy_sql).fetch_one(&mut **tx).await?;
    let policy = DuplicateEmailPolicy::parse(&policy)
        .ok_or(StoreError::Corrupt("duplicate_email_policy"))?;
    if !policy.requires_unique_email(changed_by) {
        return Ok(());
    }
    let locked = format!("{policy_sql}{FOR_UPDATE}");
    sqlx::query(sqlx::AssertSqlSafe(locked))
        .execute(&mut **tx)
        .await?;
    let taken = sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM users WHERE email_lower = $1")
        .bind(email_lower)
        .fetch_one(&mut **tx)
        .await?;
    if taken > 0 {
        return Err(StoreError::Conflict(Conflict::EmailTaken));
    }
    Ok(())
}

pub(super) async fn ensure_username_free(
    tx: &mut Tx,
    password_profile_id: Uuid,
    username_lower: &str,
    except: Option<Uuid>,
) -> StoreResult<()> {
    let holder = sqlx::query_scalar::<Db, Uuid>(
        "SELECT id FROM password_profile_infos WHERE password_profile_id = $1 AND username_lower = $2",
    )
    .bind(password_profile_id)
    .bind(username_lower)
    .fetch_optional(&mut **tx)
    .await?;
    match holder {
        Some(holder) if Some(holder) != except => {
            Err(StoreError::Conflict(Conflict::UsernameTaken))
        }
        _ => Ok(()),
    }
}
