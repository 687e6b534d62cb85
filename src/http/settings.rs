//! Account authentication settings and account membership settings: singletons
//! created on first start. Anyone may read the authentication settings (storefronts find the
//! realm id there); only Admins write.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Boolean, Integer, OneOf};
use super::body::{Optional, request_body};
use super::extract::{Admin, Caller, JsonBody};
use super::openapi::{BadRequest, Forbidden, Unauthorized};
use super::response::{Linked, SelfLink, Single};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{AuthSettings, AuthSettingsPatch, MembershipSettings, SelfManagement};

pub const MIN_TOKEN_TIMEOUT_SECS: i64 = 60;
pub const MAX_TOKEN_TIMEOUT_SECS: i64 = 2_592_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_authentication, update_authentication))
        .routes(routes!(read_membership, update_membership))
}

request_body! {
    /// Account authentication settings as updated: absent fields keep their value.
    pub struct AuthSettingsUpdate {
        type: ["account_authentication_settings"],
        enable_self_signup: Optional<Boolean>,
        auto_create_account_for_account_members: Optional<Boolean>,
        account_member_self_management: Optional<OneOf<SelfManagement>>,
        account_management_authentication_token_timeout_secs:
            Optional<Integer<MIN_TOKEN_TIMEOUT_SECS, MAX_TOKEN_TIMEOUT_SECS>>,
    }
}

request_body! {
    /// Account membership settings as updated.
    pub struct MembershipSettingsUpdate {
        type: ["account_membership_setting"],
        /// How many memberships one account member may have.
        membership_limit: Optional<Integer<1, 10_000>>,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AuthSettingsRelationships {
    authentication_realm: RealmReference,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RealmReference {
    data: RealmReferenceData,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RealmReferenceData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    links: SelfLink,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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
                        // The reference writes this one with an underscore.
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Every caller class may read these; nothing in them is secret
/// (docs/authentication.md#permission-matrix).
#[utoipa::path(
    get, path = "/v2/settings/account-authentication", tag = "settings",
    summary = "Get the account authentication settings",
    responses((status = 200, body = Single<AuthSettingsData>), Unauthorized),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read_authentication(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Response> {
    let settings = state.store.auth_settings().await?;
    Ok(Single::ok(AuthSettingsData::new(&state, &settings)))
}

/// Admins only.
#[utoipa::path(
    put, path = "/v2/settings/account-authentication", tag = "settings",
    summary = "Update the account authentication settings",
    request_body = AuthSettingsUpdate,
    responses((status = 200, body = Single<AuthSettingsData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn update_authentication(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = AuthSettingsUpdate::parse(&body.parse()?)?;
    let patch = AuthSettingsPatch {
        enable_self_signup: body.enable_self_signup,
        auto_create_account_for_account_members: body.auto_create_account_for_account_members,
        account_member_self_management: body.account_member_self_management,
        token_timeout_secs: body.account_management_authentication_token_timeout_secs,
    };
    let settings = state
        .store
        .update_auth_settings(
            &patch,
            state.clock.now(),
            &admin.audit.event("account_authentication_settings.updated"),
        )
        .await?;
    Ok(Single::ok(AuthSettingsData::new(&state, &settings)))
}

/// Admins only.
#[utoipa::path(
    get, path = "/v2/settings/account-membership", tag = "settings",
    summary = "Get the account membership settings",
    responses((status = 200, body = Single<MembershipSettingsData>), Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn read_membership(State(state): State<AppState>, _admin: Admin) -> ApiResult<Response> {
    let settings = state.store.membership_settings().await?;
    Ok(Single::ok(MembershipSettingsData::new(&state, &settings)))
}

/// Admins only.
#[utoipa::path(
    put, path = "/v2/settings/account-membership", tag = "settings",
    summary = "Update the account membership settings",
    request_body = MembershipSettingsUpdate,
    responses((status = 200, body = Single<MembershipSettingsData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn update_membership(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = MembershipSettingsUpdate::parse(&body.parse()?)?;
    let settings = state
        .store
        .update_membership_settings(
            body.membership_limit,
            state.clock.now(),
            &admin.audit.event("account_membership_settings.updated"),
        )
        .await?;
    Ok(Single::ok(MembershipSettingsData::new(&state, &settings)))
}
