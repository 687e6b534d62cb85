//! Account authentication settings (§13) and account membership settings (§12): singletons
//! created on first start. Anyone may read the authentication settings (storefronts find the
//! realm id there); only Admins write.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use super::extract::{Admin, Caller, JsonBody};
use super::response::{Linked, SelfLink, Single};
use super::validation::{Body, Presence};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{AuthSettings, AuthSettingsPatch, MembershipSettings, SelfManagement};

pub const MIN_TOKEN_TIMEOUT_SECS: i64 = 60;
pub const MAX_TOKEN_TIMEOUT_SECS: i64 = 2_592_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/settings/account-authentication",
            get(read_authentication).put(update_authentication),
        )
        .route(
            "/v2/settings/account-membership",
            get(read_membership).put(update_membership),
        )
}

#[derive(Debug, Serialize)]
struct AuthSettingsData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    enable_self_signup: bool,
    auto_create_account_for_account_members: bool,
    account_member_self_management: &'static str,
    account_management_authentication_token_timeout_secs: i64,
    relationships: AuthSettingsRelationships,
    meta: AuthSettingsMeta,
    links: SelfLink,
}

#[derive(Debug, Serialize)]
struct AuthSettingsRelationships {
    authentication_realm: RealmReference,
}

#[derive(Debug, Serialize)]
struct RealmReference {
    data: RealmReferenceData,
}

#[derive(Debug, Serialize)]
struct RealmReferenceData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    links: SelfLink,
}

#[derive(Debug, Serialize)]
struct AuthSettingsMeta {
    client_id: &'static str,
}

impl Linked for AuthSettingsData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl AuthSettingsData {
    fn new(state: &AppState, settings: &AuthSettings) -> Self {
        let realm_id = state.deployment.realm_id;
        Self {
            id: settings.id,
            kind: "account_authentication_settings",
            enable_self_signup: settings.enable_self_signup,
            auto_create_account_for_account_members: settings
                .auto_create_account_for_account_members,
            account_member_self_management: settings.account_member_self_management.as_str(),
            account_management_authentication_token_timeout_secs: settings.token_timeout_secs,
            relationships: AuthSettingsRelationships {
                authentication_realm: RealmReference {
                    data: RealmReferenceData {
                        id: realm_id,
                        // The reference writes this one with an underscore (§13).
                        kind: "authentication_realm",
                        links: SelfLink::new(
                            state.url(&format!("/v2/authentication-realms/{realm_id}")),
                        ),
                    },
                },
            },
            meta: AuthSettingsMeta {
                client_id: "account-management",
            },
            links: SelfLink::new(state.url("/v2/settings/account-authentication")),
        }
    }
}

#[derive(Debug, Serialize)]
struct MembershipSettingsData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    membership_limit: i64,
    links: SelfLink,
}

impl Linked for MembershipSettingsData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl MembershipSettingsData {
    fn new(state: &AppState, settings: &MembershipSettings) -> Self {
        Self {
            id: settings.id,
            kind: "account_membership_setting",
            membership_limit: settings.membership_limit,
            links: SelfLink::new(state.url("/v2/settings/account-membership")),
        }
    }
}

/// Every caller class may read these; nothing in them is secret (§5.5).
async fn read_authentication(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Response> {
    let settings = state.store.auth_settings().await?;
    Ok(Single::ok(AuthSettingsData::new(&state, &settings)))
}

/// Admins only.
async fn update_authentication(
    State(state): State<AppState>,
    _admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account_authentication_settings"]);
    let enable_self_signup = fields.boolean("enable_self_signup", Presence::Optional);
    let auto_create = fields.boolean(
        "auto_create_account_for_account_members",
        Presence::Optional,
    );
    let self_management = fields.one_of(
        "account_member_self_management",
        Presence::Optional,
        SelfManagement::ALL,
    );
    let timeout = fields.integer(
        "account_management_authentication_token_timeout_secs",
        Presence::Optional,
        MIN_TOKEN_TIMEOUT_SECS,
        MAX_TOKEN_TIMEOUT_SECS,
    );
    fields.finish()?;
    let patch = AuthSettingsPatch {
        enable_self_signup: enable_self_signup.value(),
        auto_create_account_for_account_members: auto_create.value(),
        account_member_self_management: self_management
            .value()
            .as_deref()
            .and_then(SelfManagement::parse),
        token_timeout_secs: timeout.value(),
    };
    let settings = state
        .store
        .update_auth_settings(&patch, state.clock.now())
        .await?;
    Ok(Single::ok(AuthSettingsData::new(&state, &settings)))
}

/// Admins only.
async fn read_membership(State(state): State<AppState>, _admin: Admin) -> ApiResult<Response> {
    let settings = state.store.membership_settings().await?;
    Ok(Single::ok(MembershipSettingsData::new(&state, &settings)))
}

/// Admins only.
async fn update_membership(
    State(state): State<AppState>,
    _admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account_membership_setting"]);
    let limit = fields.integer("membership_limit", Presence::Optional, 1, 10_000);
    fields.finish()?;
    let settings = state
        .store
        .update_membership_settings(limit.value(), state.clock.now())
        .await?;
    Ok(Single::ok(MembershipSettingsData::new(&state, &settings)))
}
