//! OpenID Connect login (docs/oidc.md): OIDC profiles, the identities linked to users, pending
//! logins and accountd's authorization codes, and the sign-in that turns a verified identity into a
//! member (docs/oidc.md#the-code-for-the-storefront). Logins and codes are found by the SHA-256 of
//! their random value; each is used once, by a single atomic statement, and expired rows are
//! dropped when new ones are added.

use std::marker::PhantomData;

use async_trait::async_trait;
use uuid::Uuid;

use super::change::Change;
use super::member_records;
use super::profile_infos::InfoTable;
use super::sealed::OIDC_CLIENT_SECRET;
use super::users::{create_own_account_if_configured, lock_user};
use super::{Db, EVERYTHING, FOR_UPDATE, ListSpec, SqlStore, Tx, conflict_on, newest_first};
use crate::auth::secret::Secret;
use crate::query::sort::{NAMED_RECORD_SORTS, RECORD_SORTS};
use crate::store::{
    ChangedBy, Conflict, Entity, ListQuery, LoginClaim, NewAuditEvent, NewOidcCode, NewOidcLogin,
    NewOidcProfile, NewOidcProfileInfo, NewUser, OidcCode, OidcIdentity, OidcLogin, OidcProfile,
    OidcProfileInfo, OidcProfileInfoPatch, OidcProfilePatch, OidcSignIn, OidcStore, Page,
    StoreError, StoreResult, UserPatch,
};
use crate::time::Timestamp;

const PROFILE_COLUMNS: &str = "id, name, discovery_url, client_id, client_secret, \
     client_secret_sealed_with, issuer, allow_unverified_email, created_at, updated_at";
const INFO_COLUMNS: &str = "id, user_id, oidc_profile_id, issuer, subject, created_at, updated_at";
const LOGIN_COLUMNS: &str = "oidc_profile_id, redirect_uri, client_state, code_challenge, nonce, code_verifier, report_replay";
const CODE_COLUMNS: &str = "oidc_profile_id, issuer, subject, name, email, given_name, \
     middle_name, family_name, redirect_uri, code_challenge";

const IDENTITY_CONFLICT: &[(&str, Conflict)] = &[(
    "oidc_profile_infos_identity_key",
    Conflict::OidcIdentityTaken,
)];

const PROFILES: ListSpec = ListSpec {
    from: "oidc_profiles",
    columns: PROFILE_COLUMNS,
    id_column: "id",
    fields: &[],
    sorts: NAMED_RECORD_SORTS,
    default_sort: newest_first(),
};

const INFOS: InfoTable<InfoRow> = InfoTable {
    list: ListSpec {
        from: "oidc_profile_infos",
        columns: INFO_COLUMNS,
        id_column: "id",
        fields: &[],
        sorts: RECORD_SORTS,
        default_sort: newest_first(),
    },
    missing: Entity::OidcProfileInfo,
    row: PhantomData,
};

#[derive(sqlx::FromRow)]
struct ProfileRow {
    id: Uuid,
    name: String,
    discovery_url: String,
    client_id: String,
    client_secret: String,
    client_secret_sealed_with: Option<String>,
    issuer: String,
    allow_unverified_email: bool,
    created_at: i64,
    updated_at: i64,
}

impl SqlStore {
    /// A profile as read, its client secret opened.
    fn profile_from(&self, row: ProfileRow) -> StoreResult<OidcProfile> {
        let client_secret = self.open_text(
            OIDC_CLIENT_SECRET,
            row.id,
            row.client_secret,
            row.client_secret_sealed_with,
        )?;
        Ok(OidcProfile {
            id: row.id,
            name: row.name,
            discovery_url: row.discovery_url,
            client_id: row.client_id,
            client_secret: Secret::new(client_secret),
            issuer: row.issuer,
            allow_unverified_email: row.allow_unverified_email,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    id: Uuid,
    user_id: Uuid,
    oidc_profile_id: Uuid,
    issuer: String,
    subject: String,
    created_at: i64,
    updated_at: i64,
}

impl From<InfoRow> for OidcProfileInfo {
    fn from(row: InfoRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            oidc_profile_id: row.oidc_profile_id,
            issuer: row.issuer,
            subject: row.subject,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    oidc_profile_id: Uuid,
    redirect_uri: String,
    client_state: String,
    code_challenge: String,
    nonce: String,
    code_verifier: String,
    report_replay: bool,
}

impl From<LoginRow> for OidcLogin {
    fn from(row: LoginRow) -> Self {
        Self {
            oidc_profile_id: row.oidc_profile_id,
            redirect_uri: row.redirect_uri,
            client_state: row.client_state,
            code_challenge: row.code_challenge,
            nonce: row.nonce,
            code_verifier: Secret::new(row.code_verifier),
            report_replay: row.report_replay,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    oidc_profile_id: Uuid,
    issuer: String,
    subject: String,
    name: String,
    email: String,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    redirect_uri: String,
    code_challenge: String,
}

impl From<CodeRow> for OidcCode {
    fn from(row: CodeRow) -> Self {
        Self {
            identity: OidcIdentity {
                oidc_profile_id: row.oidc_profile_id,
                issuer: row.issuer,
                subject: row.subject,
                name: row.name,
                email: row.email,
                given_name: row.given_name,
                middle_name: row.middle_name,
                family_name: row.family_name,
            },
            redirect_uri: row.redirect_uri,
            code_challenge: row.code_challenge,
        }
    }
}

#[async_trait]
impl OidcStore for SqlStore {
    async fn create_oidc_profile(
        &self,
        profile: &NewOidcProfile,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfile> {
        let mut change = self.change(audit, now).await?;
        let created = OidcProfile {
            id: Uuid::new_v4(),
            name: profile.name.clone(),
            discovery_url: profile.discovery_url.clone(),
            client_id: profile.client_id.clone(),
            client_secret: profile.client_secret.clone(),
            issuer: profile.issuer.clone(),
            allow_unverified_email: profile.allow_unverified_email,
            created_at: now,
            updated_at: now,
        };
        let (client_secret, sealed_with) = self.seal_text(
            OIDC_CLIENT_SECRET,
            created.id,
            created.client_secret.expose(),
        );
        sqlx::query(
            "INSERT INTO oidc_profiles (id, name, discovery_url, client_id, client_secret, \
             client_secret_sealed_with, issuer, allow_unverified_email, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(created.id)
        .bind(&created.name)
        .bind(&created.discovery_url)
        .bind(&created.client_id)
        .bind(client_secret)
        .bind(sealed_with)
        .bind(&created.issuer)
        .bind(created.allow_unverified_email)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(created)
    }

    async fn oidc_profile(&self, id: Uuid) -> StoreResult<OidcProfile> {
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM oidc_profiles WHERE id = $1");
        let row = sqlx::query_as::<Db, ProfileRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound(Entity::OidcProfile))?;
        self.profile_from(row)
    }

    async fn list_oidc_profiles(&self, query: &ListQuery) -> StoreResult<Page<OidcProfile>> {
        let page = self
            .page::<ProfileRow>(&PROFILES, EVERYTHING, query)
            .await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|row| self.profile_from(row))
                .collect::<StoreResult<_>>()?,
            total: page.total,
        })
    }

    async fn update_oidc_profile(
        &self,
        id: Uuid,
        patch: &OidcProfilePatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfile> {
        let mut change = self.change(audit, now).await?;
        let tx = change.tx();
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM oidc_profiles WHERE id = $1{FOR_UPDATE}");
        let row = sqlx::query_as::<Db, ProfileRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound(Entity::OidcProfile))?;
        let current = self.profile_from(row)?;
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name.clone_from(name);
        }
        if let Some((discovery_url, issuer)) = &patch.discovery {
            next.discovery_url.clone_from(discovery_url);
            next.issuer.clone_from(issuer);
        }
        if let Some(client_id) = &patch.client_id {
            next.client_id.clone_from(client_id);
        }
        if let Some(secret) = &patch.client_secret {
            next.client_secret = secret.clone();
        }
        if let Some(allow) = patch.allow_unverified_email {
            next.allow_unverified_email = allow;
        }
        if next == current {
            change.commit().await?;
            return Ok(current);
        }
        next.updated_at = now;
        let (client_secret, sealed_with) =
            self.seal_text(OIDC_CLIENT_SECRET, id, next.client_secret.expose());
        sqlx::query(
            "UPDATE oidc_profiles SET name = $2, discovery_url = $3, client_id = $4, \
             client_secret = $5, client_secret_sealed_with = $6, issuer = $7, \
             allow_unverified_email = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(&next.name)
        .bind(&next.discovery_url)
        .bind(&next.client_id)
        .bind(client_secret)
        .bind(sealed_with)
        .bind(&next.issuer)
        .bind(next.allow_unverified_email)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
        change.commit().await?;
        Ok(next)
    }

    async fn delete_oidc_profile(
        &self,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = self.change(audit, now).await?;
        // Infos, pending logins and codes go with it (ON DELETE CASCADE), in this statement.
        let deleted = sqlx::query("DELETE FROM oidc_profiles WHERE id = $1")
            .bind(id)
            .execute(&mut **change.tx())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::OidcProfile));
        }
        change.commit().await?;
        Ok(())
    }

    async fn create_oidc_profile_info(
        &self,
        info: &NewOidcProfileInfo,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfileInfo> {
        let mut change = self.change(audit, now).await?;
        lock_user(change.tx(), info.user_id).await?;
        lock_profile(change.tx(), info.oidc_profile_id).await?;
        ensure_identity_free(
            change.tx(),
            info.oidc_profile_id,
            &info.issuer,
            &info.subject,
            None,
        )
        .await?;
        let created = OidcProfileInfo {
            id: Uuid::new_v4(),
            user_id: info.user_id,
            oidc_profile_id: info.oidc_profile_id,
            issuer: info.issuer.clone(),
            subject: info.subject.clone(),
            created_at: now,
            updated_at: now,
        };
        insert_info(change.tx(), &created).await?;
        member_records::touch_user(&mut change, info.user_id).await?;
        change.commit().await?;
        Ok(created)
    }

    async fn oidc_profile_info(&self, user_id: Uuid, id: Uuid) -> StoreResult<OidcProfileInfo> {
        INFOS.read(self, user_id, id).await
    }

    async fn list_oidc_profile_infos(
        &self,
        user_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<OidcProfileInfo>> {
        INFOS.list(self, user_id, query).await
    }

    async fn update_oidc_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        patch: &OidcProfileInfoPatch,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcProfileInfo> {
        let mut change = self.change(audit, now).await?;
        let current: OidcProfileInfo = INFOS.lock(change.tx(), user_id, id).await?;
        let mut next = current.clone();
        if let Some(issuer) = &patch.issuer {
            next.issuer.clone_from(issuer);
        }
        if let Some(subject) = &patch.subject {
            next.subject.clone_from(subject);
        }
        if next == current {
            change.commit().await?;
            return Ok(current);
        }
        ensure_identity_free(
            change.tx(),
            current.oidc_profile_id,
            &next.issuer,
            &next.subject,
            Some(id),
        )
        .await?;
        next.updated_at = now;
        sqlx::query(
            "UPDATE oidc_profile_infos SET issuer = $2, subject = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(&next.issuer)
        .bind(&next.subject)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await
        .map_err(|error| conflict_on(error, IDENTITY_CONFLICT))?;
        member_records::touch_user(&mut change, user_id).await?;
        change.commit().await?;
        Ok(next)
    }

    async fn delete_oidc_profile_info(
        &self,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        INFOS.delete(self, user_id, id, now, audit).await
    }

    async fn create_oidc_login(&self, login: &NewOidcLogin, now: Timestamp) -> StoreResult<()> {
        let record = &login.login;
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, oidc_profile_id, redirect_uri, client_state, \
             code_challenge, nonce, code_verifier, report_replay, used_at, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)",
        )
        .bind(&login.state_hash[..])
        .bind(record.oidc_profile_id)
        .bind(&record.redirect_uri)
        .bind(&record.client_state)
        .bind(&record.code_challenge)
        .bind(&record.nonce)
        .bind(record.code_verifier.expose())
        .bind(record.report_replay)
        .bind(login.expires_at.millis())
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn claim_oidc_login(
        &self,
        state_hash: &[u8; 32],
        oidc_profile_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<LoginClaim> {
        // One statement: of two concurrent callbacks with the same state, exactly one claims it.
        let claim = format!(
            "UPDATE oidc_logins SET used_at = $3 WHERE state_hash = $1 AND oidc_profile_id = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING {LOGIN_COLUMNS}"
        );
        let claimed = sqlx::query_as::<Db, LoginRow>(sqlx::AssertSqlSafe(claim))
            .bind(&state_hash[..])
            .bind(oidc_profile_id)
            .bind(now.millis())
            .fetch_optional(&self.write)
            .await?;
        if let Some(row) = claimed {
            return Ok(LoginClaim::Claimed(row.into()));
        }
        // An expired login counts as unknown whether or not it was used, so the answer does not
        // depend on when expired rows were last dropped.
        let used = format!(
            "SELECT {LOGIN_COLUMNS} FROM oidc_logins WHERE state_hash = $1 \
             AND oidc_profile_id = $2 AND used_at IS NOT NULL AND expires_at > $3"
        );
        let replayed = sqlx::query_as::<Db, LoginRow>(sqlx::AssertSqlSafe(used))
            .bind(&state_hash[..])
            .bind(oidc_profile_id)
            .bind(now.millis())
            .fetch_optional(&self.write)
            .await?;
        Ok(replayed.map_or(LoginClaim::Unknown, |row| LoginClaim::Replayed(row.into())))
    }

    async fn create_oidc_code(&self, code: &NewOidcCode, now: Timestamp) -> StoreResult<()> {
        let identity = &code.code.identity;
        sqlx::query(
            "INSERT INTO oidc_codes (code_hash, oidc_profile_id, issuer, subject, name, email, \
             given_name, middle_name, family_name, redirect_uri, code_challenge, expires_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&code.code_hash[..])
        .bind(identity.oidc_profile_id)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .bind(&identity.name)
        .bind(&identity.email)
        .bind(&identity.given_name)
        .bind(&identity.middle_name)
        .bind(&identity.family_name)
        .bind(&code.code.redirect_uri)
        .bind(&code.code.code_challenge)
        .bind(code.expires_at.millis())
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn purge_oidc_records(&self, now: Timestamp, batch: i64) -> StoreResult<u64> {
        let logins = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash IN (SELECT state_hash FROM oidc_logins \
             WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now.millis())
        .bind(batch)
        .execute(&self.write)
        .await?;
        let codes = sqlx::query(
            "DELETE FROM oidc_codes WHERE code_hash IN (SELECT code_hash FROM oidc_codes \
             WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now.millis())
        .bind(batch)
        .execute(&self.write)
        .await?;
        Ok(logins.rows_affected().max(codes.rows_affected()))
    }
    async fn redeem_oidc_code(
        &self,
        code_hash: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<OidcCode>> {
        // Deleting is the atomic "mark used": a second redemption finds nothing.
        let sql = format!(
            "DELETE FROM oidc_codes WHERE code_hash = $1 AND expires_at > $2 RETURNING {CODE_COLUMNS}"
        );
        Ok(sqlx::query_as::<Db, CodeRow>(sqlx::AssertSqlSafe(sql))
            .bind(&code_hash[..])
            .bind(now.millis())
            .fetch_optional(&self.write)
            .await?
            .map(OidcCode::from))
    }

    async fn sign_in_oidc_identity(
        &self,
        identity: &OidcIdentity,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<OidcSignIn> {
        match sign_in_once(self, identity, now, audit).await {
            // Two first logins of one identity raced on PostgreSQL and the other one linked it
            // first; running again finds the link and signs in to that user.
            Err(StoreError::Conflict(Conflict::OidcIdentityTaken)) => {
                sign_in_once(self, identity, now, audit).await
            }
            other => other,
        }
    }
}

async fn sign_in_once(
    store: &SqlStore,
    identity: &OidcIdentity,
    now: Timestamp,
    audit: &NewAuditEvent,
) -> StoreResult<OidcSignIn> {
    let mut change = store.change(audit, now).await?;
    // Not locked, so that sign-ins through one profile run side by side on PostgreSQL; a profile
    // deleted after this check fails the info's foreign key instead (see `insert_info`).
    let profile = sqlx::query_scalar::<Db, i64>("SELECT COUNT(*) FROM oidc_profiles WHERE id = $1")
        .bind(identity.oidc_profile_id)
        .fetch_one(&mut **change.tx())
        .await?;
    if profile == 0 {
        return Err(StoreError::NotFound(Entity::OidcProfile));
    }
    let linked = sqlx::query_scalar::<Db, Uuid>(
        "SELECT user_id FROM oidc_profile_infos WHERE oidc_profile_id = $1 AND issuer = $2 \
         AND subject = $3",
    )
    .bind(identity.oidc_profile_id)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .fetch_optional(&mut **change.tx())
    .await?;
    let signed_in = match linked {
        Some(user_id) => {
            refresh_user(&mut change, user_id, identity).await?;
            OidcSignIn {
                user_id,
                created: false,
            }
        }
        None => {
            let user_id = create_member(&mut change, identity).await?;
            OidcSignIn {
                user_id,
                created: true,
            }
        }
    };
    change.signed_in(signed_in.user_id);
    change.commit().await?;
    Ok(signed_in)
}

/// A known identity: the provider's current name, email and name parts replace the stored ones
/// when they differ. A name part the provider did not send keeps its stored value.
async fn refresh_user(
    change: &mut Change<'_>,
    user_id: Uuid,
    identity: &OidcIdentity,
) -> StoreResult<()> {
    let current = lock_user(change.tx(), user_id).await?;
    let patch = UserPatch {
        name: Some(identity.name.clone()),
        email: Some(identity.email.clone()),
        given_name: identity.given_name.clone().map(Some),
        middle_name: identity.middle_name.clone().map(Some),
        family_name: identity.family_name.clone().map(Some),
    };
    let Some(next) = patch.apply(&current) else {
        return Ok(());
    };
    // The login acts for the user, as self-management does.
    member_records::update_user(change, &current, &next, ChangedBy::User).await?;
    Ok(())
}

/// A new identity: a new user (never an existing one found by email, docs/oidc.md#identity-links),
/// its OIDC profile info, and with auto-create an account named after it and a membership
/// (docs/decisions.md#self-sign-up-in-one-transaction).
async fn create_member(change: &mut Change<'_>, identity: &OidcIdentity) -> StoreResult<Uuid> {
    let now = change.now();
    let user = NewUser {
        name: identity.name.clone(),
        email: identity.email.clone(),
        given_name: identity.given_name.clone(),
        middle_name: identity.middle_name.clone(),
        family_name: identity.family_name.clone(),
    };
    let created = member_records::create_user(change, &user, ChangedBy::User).await?;
    insert_info(
        change.tx(),
        &OidcProfileInfo {
            id: Uuid::new_v4(),
            user_id: created.id,
            oidc_profile_id: identity.oidc_profile_id,
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    create_own_account_if_configured(change, &created).await?;
    Ok(created.id)
}

async fn lock_profile(tx: &mut Tx, id: Uuid) -> StoreResult<()> {
    let sql = format!("SELECT id FROM oidc_profiles WHERE id = $1{FOR_UPDATE}");
    sqlx::query_scalar::<Db, Uuid>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound(Entity::OidcProfile))?;
    Ok(())
}

async fn insert_info(tx: &mut Tx, info: &OidcProfileInfo) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oidc_profile_infos (id, user_id, oidc_profile_id, issuer, subject, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(info.id)
    .bind(info.user_id)
    .bind(info.oidc_profile_id)
    .bind(&info.issuer)
    .bind(&info.subject)
    .bind(info.created_at.millis())
    .bind(info.updated_at.millis())
    .execute(&mut **tx)
    .await
    .map_err(|error| {
        // The user is locked or new in this transaction, so only the profile can be missing.
        if error
            .as_database_error()
            .is_some_and(|database| database.is_foreign_key_violation())
        {
            return StoreError::NotFound(Entity::OidcProfile);
        }
        conflict_on(error, IDENTITY_CONFLICT)
    })?;
    Ok(())
}

async fn ensure_identity_free(
    tx: &mut Tx,
    oidc_profile_id: Uuid,
    issuer: &str,
    subject: &str,
    except: Option<Uuid>,
) -> StoreResult<()> {
    let holder = sqlx::query_scalar::<Db, Uuid>(
        "SELECT id FROM oidc_profile_infos WHERE oidc_profile_id = $1 AND issuer = $2 \
         AND subject = $3",
    )
    .bind(oidc_profile_id)
    .bind(issuer)
    .bind(subject)
    .fetch_optional(&mut **tx)
    .await?;
    match holder {
        Some(holder) if Some(holder) != except => {
            Err(StoreError::Conflict(Conflict::OidcIdentityTaken))
        }
        _ => Ok(()),
    }
}
