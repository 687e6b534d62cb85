//! User authentication password profile info: a user's username and password for one
//! password profile. The password is write-only and stored as an argon2id hash, or created from
//! a hash made elsewhere (docs/login.md#legacy-password-hashes); changing it
//! revokes the member's earlier account tokens (docs/decisions.md#tokens-valid-after). Admins
//! manage these; an account holder reads its own and, under `update_only`, changes its username and
//! password (docs/self-management.md).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Id, Password, PasswordHash, Text};
use super::body::{Optional, Required, request_body};
use super::extract::{
    Admin, AuditedCaller, Caller, ClientAddress, Ids, JsonBody, ListParams, Reader, path_id,
};
use super::openapi::{BadRequest, Busy, Conflict, Forbidden, ListQuery, NotFound, Unauthorized};
use super::profile_info::{collection_url, path_user};
use super::realms::check_realm;
use super::response::{FlatTimestamps, Linked, List, SelfLink, Single};
use super::self_management::{RequestedChange, require_fresh_credentials, require_self_management};
use super::validation::{Checked, is_valid_email};
use crate::auth::hash_formats::StoredHash;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{
    Entity, NewPasswordProfileInfo, PasswordProfileInfo, PasswordProfileInfoPatch, UsernameFormat,
};

const TYPE: &str = "user_authentication_password_profile_info";
/// The collection under a user.
const COLLECTION: &str = "user-authentication-password-profile-info";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// A password login as created, with exactly one of `password` and `password_hash`; neither
    /// is ever returned.
    pub struct PasswordProfileInfoCreate {
        type: [TYPE, "user-authentication-password-profile-info"],
        password_profile_id: Required<Id>,
        username: Required<Text<1, 255>>,
        /// 8 characters to 1024 bytes; never returned. Required unless `password_hash` is sent.
        password: Optional<Password>,
        /// accountd extension, instead of `password`: a hash made by another system, stored as
        /// given and replaced by accountd's argon2id at the member's next login. Formats:
        /// argon2id and argon2i PHC strings, bcrypt ($2a$, $2b$, $2y$), scrypt PHC, Django's
        /// pbkdf2_sha256$…, and $firebase-scrypt$<salt>$<hash> when ACCOUNTD_FIREBASE_SCRYPT is
        /// set (docs/login.md#legacy-password-hashes). Any other value fails on the `oneof` tag.
        password_hash: Optional<PasswordHash>,
    }
}

request_body! {
    /// A password login as updated: absent fields keep their value.
    pub struct PasswordProfileInfoUpdate {
        type: [TYPE, "user-authentication-password-profile-info"],
        /// Immutable: accepted only when it repeats the current profile.
        password_profile_id: Optional<Id>,
        username: Optional<Text<1, 255>>,
        /// 8 characters to 1024 bytes; never returned.
        password: Optional<Password>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InfoData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    username: String,
    password_profile_id: Uuid,
    meta: FlatTimestamps,
    links: SelfLink,
}

impl Linked for InfoData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl InfoData {
    fn new(state: &AppState, info: PasswordProfileInfo) -> Self {
        Self {
            links: SelfLink::new(format!(
                "{}/{}",
                collection_url(state, info.user_id, COLLECTION),
                info.id
            )),
            id: info.id,
            kind: TYPE,
            username: info.username,
            password_profile_id: info.password_profile_id,
            meta: FlatTimestamps {
                created_at: info.created_at,
                updated_at: info.updated_at,
            },
        }
    }
}

/// Admins any user's; an account holder its own.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info", tag = "realm",
    summary = "List a user's password logins",
    description = "No filters. Sort: created_at, id, updated_at.",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = List<InfoData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Ids((raw_realm_id, raw_user_id)): Ids<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &reader, &raw_user_id).await?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state
        .store
        .list_password_profile_infos(user, &params.to_query()?)
        .await?;
    Ok(List::of_page(
        page,
        |info| InfoData::new(&state, info),
        &collection_url(&state, user, COLLECTION),
        &params,
    )
    .ok())
}

/// Admins any user's; an account holder its own.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info/{info_id}", tag = "realm",
    summary = "Get a password login",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ("info_id" = Uuid, Path)),
    responses((status = 200, body = Single<InfoData>), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    reader: Reader,
    Ids((raw_realm_id, raw_user_id, raw_id)): Ids<(String, String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &reader, &raw_user_id).await?;
    let info = state
        .store
        .password_profile_info(user, path_id(Entity::PasswordProfileInfo, &raw_id)?)
        .await?;
    Ok(Single::ok(InfoData::new(&state, info)))
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info", tag = "realm",
    summary = "Give a user a username and password",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = PasswordProfileInfoCreate,
    responses((status = 201, body = Single<InfoData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Busy),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientAddress,
    Ids((raw_realm_id, raw_user_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    let PasswordProfileInfoCreate {
        password_profile_id: profile_id,
        username,
        password,
        password_hash,
    } = read_create(&state, &body.parse()?)?;
    let profile = state.store.password_profile(profile_id).await?;
    check_username_format(profile.username_format, &username)?;
    let password_hash = match (password, password_hash) {
        (_, Some(imported)) => imported,
        (Some(password), None) => {
            state
                .hasher
                .for_client(client.bucket())
                .hash(password)
                .await?
        }
        (None, None) => return Err(ApiError::bad_request(MISSING_PASSWORD)),
    };
    let info = NewPasswordProfileInfo {
        user_id: user,
        password_profile_id: profile_id,
        username,
        password_hash,
    };
    let created = state
        .store
        .create_password_profile_info(
            &info,
            state.clock.now(),
            &admin.audit.event("password_profile_info.created"),
        )
        .await?;
    Ok(Single::created(InfoData::new(&state, created)))
}

/// Admins, or the user itself while self-management is `update_only` (docs/self-management.md).
#[utoipa::path(
    put, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info/{info_id}", tag = "realm",
    summary = "Change a username or password (Admin, or the user itself under self-management)",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ("info_id" = Uuid, Path)),
    request_body = PasswordProfileInfoUpdate,
    responses((status = 200, body = Single<InfoData>), BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Busy),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn update(
    State(state): State<AppState>,
    audited: AuditedCaller,
    client: ClientAddress,
    Ids((raw_realm_id, raw_user_id, raw_id)): Ids<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    let AuditedCaller { caller, audit } = audited;
    let reader = match caller {
        Caller::Admin => Reader::Admin,
        Caller::AccountHolder(holder) => Reader::AccountHolder(holder),
        Caller::Shopper => return Err(ApiError::forbidden()),
    };
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &reader, &raw_user_id).await?;
    let current = state
        .store
        .password_profile_info(user, path_id(Entity::PasswordProfileInfo, &raw_id)?)
        .await?;
    let parsed = body.parse();
    if let Reader::AccountHolder(holder) = &reader {
        require_self_management(&state).await?;
        let change = RequestedChange::of(parsed.as_ref().ok());
        let sensitive = change.carries("password") || change.changes("username", &current.username);
        require_fresh_credentials(&state, holder, sensitive)?;
    }
    let mut body = PasswordProfileInfoUpdate::read(&parsed?)?;
    if matches!(body.fields.password_profile_id, Ok(Some(profile)) if profile != current.password_profile_id)
    {
        body.reject("password_profile_id", "immutable");
    }
    let body = body.finish()?;
    let username = body
        .username
        .filter(|username| *username != current.username);
    if let Some(username) = &username {
        let profile = state
            .store
            .password_profile(current.password_profile_id)
            .await?;
        check_username_format(profile.username_format, username)?;
    }
    let password_hash = match body.password {
        Some(password) => Some(
            state
                .hasher
                .for_client(client.bucket())
                .hash(password)
                .await?,
        ),
        None => None,
    };
    let patch = PasswordProfileInfoPatch {
        username,
        password_hash,
    };
    let updated = state
        .store
        .update_password_profile_info(
            user,
            current.id,
            &patch,
            state.clock.now(),
            &audit.event("password_profile_info.updated"),
        )
        .await?;
    Ok(Single::ok(InfoData::new(&state, updated)))
}

/// Admins only.
#[utoipa::path(
    delete, path = "/v2/authentication-realms/{realm_id}/user-authentication-info/{user_id}/user-authentication-password-profile-info/{info_id}", tag = "realm",
    summary = "Delete a password login",
    params(("realm_id" = Uuid, Path), ("user_id" = Uuid, Path), ("info_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_user_id, raw_id)): Ids<(String, String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let user = path_user(&state, &Reader::Admin, &raw_user_id).await?;
    state
        .store
        .delete_password_profile_info(
            user,
            path_id(Entity::PasswordProfileInfo, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("password_profile_info.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

const MISSING_PASSWORD: &str = "Validation failed: field 'Password' on the 'required' tag.";

/// The create body with its one-of rule: `password` or `password_hash`, never both
/// (`excluded_with`, as the reference's validator names it) and never neither (`Password` is
/// `required`, as before the extension); a Firebase hash only when this server can verify it.
fn read_create(state: &AppState, body: &Value) -> ApiResult<PasswordProfileInfoCreate> {
    let mut body = PasswordProfileInfoCreate::read(body)?;
    let sent = |field: &Checked<Option<String>>| !matches!(field, Ok(None));
    match (sent(&body.fields.password), &body.fields.password_hash) {
        (false, Ok(None)) => {
            body.reject("password", "required");
        }
        // A hash that failed on its own is reported once, for that.
        (true, Ok(Some(_))) => {
            body.reject("password_hash", "excluded_with");
        }
        _ => {}
    }
    if let Ok(Some(hash)) = &body.fields.password_hash {
        let firebase = state.config.firebase_scrypt.as_ref();
        if !StoredHash::parse(hash).is_some_and(|stored| stored.is_verifiable(firebase)) {
            body.reject("password_hash", "oneof");
        }
    }
    body.finish()
}

/// Under an `email` profile a username must be an email address, checked when set.
fn check_username_format(format: UsernameFormat, username: &str) -> ApiResult<()> {
    if format == UsernameFormat::Email && !is_valid_email(username) {
        return Err(ApiError::bad_request(
            "Validation failed: field 'Username' on the 'email' tag.",
        ));
    }
    Ok(())
}
