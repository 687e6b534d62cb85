//! Password profiles (§15): username/password login methods of the realm. Every caller class may
//! read them (storefronts need the id to log in); only Admins write.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use super::extract::{Admin, Caller, Ids, JsonBody, ListParams};
use super::realms::check_realm;
use super::response::{FlatTimestamps, Linked, List, SelfLink, Single};
use super::validation::{Body, Presence, parse_uuid};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{
    Entity, NewPasswordProfile, PasswordProfile, PasswordProfilePatch, UsernameFormat,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/authentication-realms/{realm_id}/password-profiles",
            get(list).post(create),
        )
        .route(
            "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}",
            get(read).put(update).delete(remove),
        )
}

#[derive(Debug, Serialize)]
struct PasswordProfileData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    username_format: &'static str,
    enable_one_time_password_token: bool,
    meta: FlatTimestamps,
    links: SelfLink,
}

impl Linked for PasswordProfileData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl PasswordProfileData {
    fn new(state: &AppState, profile: PasswordProfile) -> Self {
        Self {
            links: SelfLink::new(state.url(&format!(
                "/v2/authentication-realms/{}/password-profiles/{}",
                state.deployment.realm_id, profile.id
            ))),
            id: profile.id,
            kind: "password_profile",
            name: profile.name,
            username_format: profile.username_format.as_str(),
            enable_one_time_password_token: profile.enable_one_time_password_token,
            meta: FlatTimestamps {
                created_at: profile.created_at,
                updated_at: profile.updated_at,
            },
        }
    }
}

fn profile_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw).ok_or_else(|| ApiError::not_found(Entity::PasswordProfile))
}

/// Every caller class.
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Ids(raw_realm_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state
        .store
        .list_password_profiles(&params.to_query()?)
        .await?;
    let data = page
        .items
        .into_iter()
        .map(|profile| PasswordProfileData::new(&state, profile))
        .collect();
    let url = state.url(&format!(
        "/v2/authentication-realms/{}/password-profiles",
        state.deployment.realm_id
    ));
    Ok(List::new(data, &url, &params, page.total).ok())
}

/// Every caller class.
async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let profile = state.store.password_profile(profile_id(&raw_id)?).await?;
    Ok(Single::ok(PasswordProfileData::new(&state, profile)))
}

/// Admins only.
async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    Ids(raw_realm_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["password_profile"]);
    let name = fields.text("name", Presence::Required, 1, 255);
    let format = fields.one_of("username_format", Presence::Optional, UsernameFormat::ALL);
    let otp = fields.boolean("enable_one_time_password_token", Presence::Optional);
    fields.finish()?;
    let profile = NewPasswordProfile {
        name: name.value().unwrap_or_default(),
        username_format: format
            .value()
            .as_deref()
            .and_then(UsernameFormat::parse)
            .unwrap_or(UsernameFormat::Any),
        enable_one_time_password_token: otp.value().unwrap_or(false),
    };
    let created = state
        .store
        .create_password_profile(&profile, state.clock.now())
        .await?;
    Ok(Single::created(PasswordProfileData::new(&state, created)))
}

/// Admins only.
async fn update(
    State(state): State<AppState>,
    _admin: Admin,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let id = profile_id(&raw_id)?;
    state.store.password_profile(id).await?;
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["password_profile"]);
    let name = fields.text("name", Presence::Optional, 1, 255);
    let format = fields.one_of("username_format", Presence::Optional, UsernameFormat::ALL);
    let otp = fields.boolean("enable_one_time_password_token", Presence::Optional);
    fields.finish()?;
    let patch = PasswordProfilePatch {
        name: name.value(),
        username_format: format.value().as_deref().and_then(UsernameFormat::parse),
        enable_one_time_password_token: otp.value(),
    };
    let updated = state
        .store
        .update_password_profile(id, &patch, state.clock.now())
        .await?;
    Ok(Single::ok(PasswordProfileData::new(&state, updated)))
}

/// Admins only. The profile's password profile infos go with it.
async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    state
        .store
        .delete_password_profile(profile_id(&raw_id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
