//! The `oidc` mechanism: accountd's code from the OpenID Connect callback, redeemed with the
//! storefront's redirect URI and PKCE verifier.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Login;
use super::fields::Fields;
use crate::error::ApiResult;
use crate::http::oidc_idp;
use crate::store::Actor;

/// accountd's code from the OIDC callback (docs/oidc.md#the-code-for-the-storefront), with the
/// storefront's PKCE verifier.
pub(super) async fn oidc(
    login: &Login<'_>,
    caller: Actor,
    data: &Map<String, Value>,
) -> ApiResult<Uuid> {
    let mut fields = Fields::new(data);
    let code = fields.required_text("oauth_authorization_code");
    let redirect_uri = fields.required_text("oauth_redirect_uri");
    let code_verifier = fields.required_text("oauth_code_verifier");
    let (code, redirect_uri, code_verifier) = fields.finish((code, redirect_uri, code_verifier))?;
    let detail = json!({"mechanism": login.mechanism.label()});
    // The store names the member signed in as the actor once it knows which one.
    let signed_in = login.event("login.succeeded", Actor::SHOPPER, detail.clone());
    let refused = login.event("login.failed", caller, detail);
    oidc_idp::redeem(
        login.state,
        code,
        redirect_uri,
        code_verifier,
        &signed_in,
        &refused,
    )
    .await
}
