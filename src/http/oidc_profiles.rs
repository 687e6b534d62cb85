//! OIDC profiles (docs/oidc.md#oidc-profiles): the merchant's identity providers. Every caller
//! class may read them, so a storefront can show one login button per profile; only Admins write.
//! The `client_secret` is write-only: accountd needs it for the code exchange but never returns or
//! logs it. Setting a `discovery_url` fetches the provider's discovery document first: `422` when
//! the destination policy refuses the URL, when the fetch fails, or when the document names another
//! issuer.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Boolean, Text, WriteOnly, string_schema, text};
use super::body::{Failure, Optional, Required, Rule, request_body};
use super::extract::{Admin, Caller, Ids, JsonBody, ListParams, path_id};
use super::oidc_idp::{authorization_endpoint, callback_endpoint, client_discovery_url};
use super::openapi::{BadRequest, Forbidden, ListQuery, NotFound, Unauthorized, Unprocessable};
use super::realms::{check_realm, realm_url};
use super::response::{Linked, List, Single};

use crate::auth::secret::Secret;
use crate::error::{ApiError, ApiResult};
use crate::oidc::{ProviderError, is_provider_url};
use crate::outbound::NOT_ALLOWED;
use crate::state::AppState;
use crate::store::{Entity, NewOidcProfile, OidcProfile, OidcProfilePatch};
use crate::time::Timestamp;

const TYPE: &str = "oidc-profile";
/// The collection under the realm.
const COLLECTION: &str = "/oidc-profiles";
const DISCOVERY_FAILED: &str = "could not retrieve the OpenID Connect discovery document";
const ISSUER_MISMATCH: &str = "issuer does not match the discovery URL";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

request_body! {
    /// An OIDC profile as created (docs/oidc.md#oidc-profiles); the client secret is write-only.
    pub struct OidcProfileCreate {
        type: [TYPE],
        name: Required<Text<1, 255>>,
        /// The provider's `{issuer}/.well-known/openid-configuration`: `https`, to a globally
        /// reachable address (other URLs need `ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true`).
        discovery_url: Required<DiscoveryUrl>,
        client_id: Required<Text<1, 255>>,
        client_secret: Required<WriteOnly<Text<1, 1024>>>,
        /// Accept sign-ins whose ID token (or UserInfo) says `email_verified: false`; default
        /// `false`. An absent claim is always accepted.
        allow_unverified_email: Optional<Boolean>,
    }
}

request_body! {
    /// An OIDC profile as updated: absent fields keep their value; a changed `discovery_url` is
    /// fetched before anything is stored.
    pub struct OidcProfileUpdate {
        type: [TYPE],
        name: Optional<Text<1, 255>>,
        /// The provider's `{issuer}/.well-known/openid-configuration`: `https`, to a globally
        /// reachable address (other URLs need `ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true`).
        discovery_url: Optional<DiscoveryUrl>,
        client_id: Optional<Text<1, 255>>,
        client_secret: Optional<WriteOnly<Text<1, 1024>>>,
        allow_unverified_email: Optional<Boolean>,
    }
}

/// A discovery URL of 1 to 2048 characters in the shape of a provider URL (`url`); whether it
/// may be reached is checked once the body is valid.
pub struct DiscoveryUrl;

impl Rule for DiscoveryUrl {
    type Value = String;

    fn read(value: &serde_json::Value) -> Result<String, Failure> {
        let url = text(value, 1, 2048)?;
        if !is_provider_url(url) {
            return Err("url".into());
        }
        Ok(url.to_owned())
    }

    fn schema() -> Schema {
        string_schema(1, 2048).into()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OidcProfileData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    discovery_url: String,
    client_id: String,
    allow_unverified_email: bool,
    meta: OidcProfileMeta,
    links: OidcProfileLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OidcProfileMeta {
    issuer: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OidcProfileLinks {
    #[serde(rename = "authorization-endpoint")]
    authorization_endpoint: String,
    #[serde(rename = "callback-endpoint")]
    callback_endpoint: String,
    #[serde(rename = "client-discovery-url")]
    client_discovery_url: String,
    #[serde(rename = "self")]
    href: String,
}

impl Linked for OidcProfileData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl OidcProfileData {
    /// Everything but the client secret, which no response carries (docs/oidc.md#oidc-profiles).
    fn new(state: &AppState, profile: OidcProfile) -> Self {
        Self {
            links: OidcProfileLinks {
                authorization_endpoint: authorization_endpoint(state, profile.id),
                callback_endpoint: callback_endpoint(state, profile.id),
                client_discovery_url: client_discovery_url(state),
                href: realm_url(state, &format!("{COLLECTION}/{}", profile.id)),
            },
            id: profile.id,
            kind: TYPE,
            name: profile.name,
            discovery_url: profile.discovery_url,
            client_id: profile.client_id,
            allow_unverified_email: profile.allow_unverified_email,
            meta: OidcProfileMeta {
                issuer: profile.issuer,
                created_at: profile.created_at,
                updated_at: profile.updated_at,
            },
        }
    }
}

/// The issuer of the discovery document at `url`, fetched now (and cached for the login flow),
/// once the destination policy allows the URL and the addresses its host resolves to.
async fn fetch_issuer(state: &AppState, url: &str) -> ApiResult<String> {
    state
        .config
        .destinations
        .check_url_and_resolve(url)
        .await
        .map_err(|_| ApiError::unprocessable(NOT_ALLOWED))?;
    match state.oidc.discover(url, state.clock.now(), true).await {
        Ok(discovery) => Ok(discovery.issuer),
        Err(ProviderError::DestinationRefused) => Err(ApiError::unprocessable(NOT_ALLOWED)),
        Err(ProviderError::IssuerMismatch) => Err(ApiError::unprocessable(ISSUER_MISMATCH)),
        Err(error) => {
            tracing::warn!(%error, "fetching an OIDC discovery document failed");
            Err(ApiError::unprocessable(DISCOVERY_FAILED))
        }
    }
}

/// Every caller class.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/oidc-profiles", tag = "realm",
    summary = "List OIDC profiles",
    description = "No filters. Sort: created_at, id, name, updated_at.",
    params(("realm_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = List<OidcProfileData>), BadRequest, Unauthorized, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Ids(raw_realm_id): Ids<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    let page = state.store.list_oidc_profiles(&params.to_query()?).await?;
    Ok(List::of_page(
        page,
        |profile| OidcProfileData::new(&state, profile),
        &realm_url(&state, COLLECTION),
        &params,
    )
    .ok())
}

/// Every caller class.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}/oidc-profiles/{profile_id}", tag = "realm",
    summary = "Get an OIDC profile",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    responses((status = 200, body = Single<OidcProfileData>), Unauthorized, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let profile = state
        .store
        .oidc_profile(path_id(Entity::OidcProfile, &raw_id)?)
        .await?;
    Ok(Single::ok(OidcProfileData::new(&state, profile)))
}

/// Admins only.
#[utoipa::path(
    post, path = "/v2/authentication-realms/{realm_id}/oidc-profiles", tag = "realm",
    summary = "Create an OIDC profile (fetches the discovery document)",
    params(("realm_id" = Uuid, Path)),
    request_body = OidcProfileCreate,
    responses((status = 201, body = Single<OidcProfileData>), BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_realm_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let body = OidcProfileCreate::parse(&body.parse()?)?;
    let issuer = fetch_issuer(&state, &body.discovery_url).await?;
    let profile = NewOidcProfile {
        name: body.name,
        discovery_url: body.discovery_url,
        client_id: body.client_id,
        client_secret: Secret::new(body.client_secret),
        issuer,
        allow_unverified_email: body.allow_unverified_email.unwrap_or(false),
    };
    let created = state
        .store
        .create_oidc_profile(
            &profile,
            state.clock.now(),
            &admin.audit.event("oidc_profile.created"),
        )
        .await?;
    Ok(Single::created(OidcProfileData::new(&state, created)))
}

/// Admins only. A changed `discovery_url` is fetched before anything is stored.
#[utoipa::path(
    put, path = "/v2/authentication-realms/{realm_id}/oidc-profiles/{profile_id}", tag = "realm",
    summary = "Update an OIDC profile",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    request_body = OidcProfileUpdate,
    responses((status = 200, body = Single<OidcProfileData>), BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let id = path_id(Entity::OidcProfile, &raw_id)?;
    let current = state.store.oidc_profile(id).await?;
    let body = OidcProfileUpdate::parse(&body.parse()?)?;
    let discovery = match body.discovery_url {
        Some(url) if url != current.discovery_url => {
            let issuer = fetch_issuer(&state, &url).await?;
            Some((url, issuer))
        }
        _ => None,
    };
    let patch = OidcProfilePatch {
        name: body.name,
        discovery,
        client_id: body.client_id,
        client_secret: body.client_secret.map(Secret::new),
        allow_unverified_email: body.allow_unverified_email,
    };
    let updated = state
        .store
        .update_oidc_profile(
            id,
            &patch,
            state.clock.now(),
            &admin.audit.event("oidc_profile.updated"),
        )
        .await?;
    Ok(Single::ok(OidcProfileData::new(&state, updated)))
}

/// Admins only. Its OIDC profile infos and pending logins go with it.
#[utoipa::path(
    delete, path = "/v2/authentication-realms/{realm_id}/oidc-profiles/{profile_id}", tag = "realm",
    summary = "Delete an OIDC profile, its identities and pending logins",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Ids((raw_realm_id, raw_id)): Ids<(String, String)>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    state
        .store
        .delete_oidc_profile(
            path_id(Entity::OidcProfile, &raw_id)?,
            state.clock.now(),
            &admin.audit.event("oidc_profile.deleted"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
