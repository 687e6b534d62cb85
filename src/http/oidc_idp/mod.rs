//! The browser-facing OpenID Connect endpoints (docs/oidc.md) and the `oidc` mechanism of the token
//! endpoint (docs/oidc.md#the-code-for-the-storefront). accountd plays two roles here: towards the
//! storefront it is an authorization server (login endpoint, its own single-use codes, PKCE S256);
//! towards the merchant's identity provider it is a relying party (its own state, nonce and PKCE,
//! the code exchange, ID-token validation). The storefront never sees the provider's tokens.
//!
//! Nobody authenticates to these endpoints: the browser calls them. Errors are the OAuth error
//! object, or redirects to the storefront once its `redirect_uri` is known to be registered, so
//! nothing here can redirect anywhere else.
//!
//! One concern a file: `login.rs` starts a sign-in, `callback.rs` takes the provider's answer
//! (the relying party's checks are `crate::oidc::relying_party`), `discovery.rs` serves
//! accountd's discovery document, `redeem.rs` turns accountd's code into a member for the
//! token endpoint; `oauth_error.rs`, `redirect.rs` and `query.rs` are what the browser endpoints
//! share.

mod callback;
mod discovery;
mod login;
mod oauth_error;
mod query;
mod redeem;
mod redirect;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::validation::parse_uuid;
use crate::state::AppState;

pub use oauth_error::OAuthErrorDoc;
pub use redeem::redeem;

/// The only `client_id` storefronts use towards accountd (the settings' `meta.client_id`).
pub const CLIENT_ID: &str = "account-management";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(callback::callback))
        .routes(routes!(discovery::discovery))
}

/// `{base}/oidc-idp/stores/{storeId}/authentication-realms/{realmId}`: accountd's issuer towards
/// storefronts, and the prefix of its discovery document (docs/oidc.md#discovery-document).
fn issuer_url(state: &AppState) -> String {
    state.url(&format!(
        "/oidc-idp/stores/{}/authentication-realms/{}",
        state.deployment.store_id, state.deployment.realm_id
    ))
}

fn login_url(state: &AppState) -> String {
    state.url(&format!(
        "/oidc-idp/login/stores/{}/authentication-realms/{}",
        state.deployment.store_id, state.deployment.realm_id
    ))
}

/// The profile's `authorization-endpoint` link (docs/oidc.md#oidc-profiles).
pub fn authorization_endpoint(state: &AppState, profile_id: Uuid) -> String {
    format!(
        "{}?elasticpath_commerce_cloud_profile_id={profile_id}",
        login_url(state)
    )
}

/// The profile's `callback-endpoint` link, registered at the provider as the redirect URI
/// (docs/oidc.md#oidc-profiles).
pub fn callback_endpoint(state: &AppState, profile_id: Uuid) -> String {
    state.url(&format!(
        "/oidc-idp/callback/stores/{}/authentication-realms/{}/oidc-profiles/{profile_id}",
        state.deployment.store_id, state.deployment.realm_id
    ))
}

/// The `client-discovery-url` link (docs/oidc.md#oidc-profiles).
pub fn client_discovery_url(state: &AppState) -> String {
    format!("{}/.well-known/openid-configuration", issuer_url(state))
}

/// Whether the path names this deployment's store and realm.
fn deployment_matches(state: &AppState, raw_store_id: &str, raw_realm_id: &str) -> bool {
    parse_uuid(raw_store_id) == Some(state.deployment.store_id)
        && parse_uuid(raw_realm_id) == Some(state.deployment.realm_id)
}
