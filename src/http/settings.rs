//! Account authentication settings and account membership settings: singletons
//! created on first start. Anyone may read the authentication settings (storefronts find the
//! realm id there); only Admins write.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{Admin, Caller, JsonBody};
use super::openapi::{BadRequest, Envelope, Forbidden, Unauthorized};
use super::response::{Linked, SelfLink, Single};
use super::validation::{Body, Presence};
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

/// Account authentication settings as written; every field optional.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct AuthSettingsWrite {
    #[schema(rename = "type", example = "account_authentication_settings")]
    kind: String,
    #[schema(nullable = false)]
    enable_self_signup: Option<bool>,
    #[schema(nullable = false)]
    auto_create_account_for_account_members: Option<bool>,
    #[schema(example = "update_only", nullable = false)]
    account_member_self_management: Option<String>,
    #[schema(minimum = 60, maximum = 2592000, nullable = false)]
    account_management_authentication_token_timeout_secs: Option<i64>,
}

/// Account membership settings as written.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct MembershipSettingsWrite {
    #[schema(rename = "type", example = "account_membership_setting")]
    kind: String,
    #[schema(minimum = 1, maximum = 10000, nullable = false)]
    membership_limit: Option<i64>,
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
    request_body = Envelope<AuthSettingsWrite>,
    responses((status = 200, body = Single<AuthSettingsData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn update_authentication(
    State(state): State<AppState>,
    admin: Admin,
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
    request_body = Envelope<MembershipSettingsWrite>,
    responses((status = 200, body = Single<MembershipSettingsData>), BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []))
)]
async fn update_membership(
    State(state): State<AppState>,
    admin: Admin,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.parse()?;
    let mut fields = Body::open(&body)?;
    fields.resource_type(&["account_membership_setting"]);
    let limit = fields.integer("membership_limit", Presence::Optional, 1, 10_000);
    fields.finish()?;
    let settings = state
        .store
        .update_membership_settings(
            limit.value(),
            state.clock.now(),
            &admin.audit.event("account_membership_settings.updated"),
        )
        .await?;
    Ok(Single::ok(MembershipSettingsData::new(&state, &settings)))
}
