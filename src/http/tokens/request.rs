//! What every token request carries: the page parameters, `type` and the mechanism, and the
//! body's description for the OpenAPI document.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::TOKEN_TYPE;
use super::fields::Fields;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, ListParams};
use crate::metrics::LoginMechanism;
use crate::state::AppState;

/// How a token request proves who the member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mechanism {
    /// Credentials checked now.
    Credentials(CredentialCheck),
    /// A previous account token (docs/account-tokens.md#switching-accounts).
    Switch,
}

/// The mechanisms that check a credential: after them the tokens are freshly minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CredentialCheck {
    Password,
    Passwordless,
    SelfSignup,
    Oidc,
}

impl Mechanism {
    pub(super) fn counted_as(self) -> LoginMechanism {
        match self {
            Self::Credentials(CredentialCheck::Password) => LoginMechanism::Password,
            Self::Credentials(CredentialCheck::Passwordless) => LoginMechanism::Passwordless,
            Self::Credentials(CredentialCheck::SelfSignup) => LoginMechanism::SelfSignup,
            Self::Credentials(CredentialCheck::Oidc) => LoginMechanism::Oidc,
            Self::Switch => LoginMechanism::Switch,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "password" => Some(Self::Credentials(CredentialCheck::Password)),
            "passwordless" => Some(Self::Credentials(CredentialCheck::Passwordless)),
            "self_signup" => Some(Self::Credentials(CredentialCheck::SelfSignup)),
            "oidc" => Some(Self::Credentials(CredentialCheck::Oidc)),
            "account_management_authentication_token" => Some(Self::Switch),
            _ => None,
        }
    }
}

/// A token request (docs/account-tokens.md#the-token-endpoint); which fields are needed depends on
/// `authentication_mechanism`.
///
/// Unlike the resource bodies this one is not a `request_body!` table: whether a field is required
/// depends on the mechanism (and, for `self_signup`, the username rule on the stored profile),
/// and the endpoint answers `422` with tags of its own (`fields.rs`). So `prepare` and each
/// mechanism read the body, and this struct only describes it; keep the two in step.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Describes the body for the OpenAPI document; the mechanisms read it.
pub struct TokenRequest {
    #[schema(rename = "type", example = "account_management_authentication_token")]
    kind: String,
    /// `password`, `passwordless`, `self_signup`, `oidc` or
    /// `account_management_authentication_token`.
    #[schema(example = "password")]
    authentication_mechanism: String,
    #[schema(nullable = false)]
    password_profile_id: Option<Uuid>,
    #[schema(nullable = false)]
    username: Option<String>,
    #[schema(write_only, nullable = false)]
    password: Option<String>,
    /// passwordless: the code the webhook delivered.
    #[schema(write_only, nullable = false)]
    one_time_password_token: Option<String>,
    /// self_signup: the new member's name and email, and optional name parts.
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    email: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
    /// oidc: accountd's code from the storefront callback, the `redirect_uri` used to start the
    /// login, and the PKCE verifier.
    #[schema(nullable = false)]
    oauth_authorization_code: Option<String>,
    #[schema(nullable = false)]
    oauth_redirect_uri: Option<String>,
    #[schema(write_only, nullable = false)]
    oauth_code_verifier: Option<String>,
}

/// A token request that passed the checks common to every mechanism.
pub(super) struct TokenCall {
    pub(super) params: ListParams,
    pub(super) mechanism: Mechanism,
    pub(super) data: Map<String, Value>,
}

/// The page parameters, the envelope, `type` and `authentication_mechanism`
/// (docs/account-tokens.md#order-of-checks-at-the-token-endpoint).
pub(super) fn prepare(
    state: &AppState,
    query: Option<&str>,
    body: JsonBody,
) -> ApiResult<TokenCall> {
    // Only the page parameters mean something here; the links repeat nothing else.
    let all = ListParams::parse(query, state.config.page_length)?;
    let params = ListParams {
        limit: all.limit,
        offset: all.offset,
        ..ListParams::default()
    };
    let mut body = body.parse()?;
    let Some(Value::Object(data)) = body.get_mut("data").map(Value::take) else {
        return Err(ApiError::unprocessable(
            "Validation failed: field 'Data' on the 'required' tag.",
        ));
    };
    let mut fields = Fields::new(&data);
    let kind = match data.get("type").and_then(Value::as_str) {
        Some(TOKEN_TYPE) => Ok(()),
        _ => fields.reject("type", "account_token_type"),
    };
    let mechanism = match data
        .get("authentication_mechanism")
        .and_then(Value::as_str)
        .and_then(Mechanism::parse)
    {
        Some(mechanism) => Ok(mechanism),
        None => fields.reject("authentication_mechanism", "is_invalid"),
    };
    let ((), mechanism) = fields.finish((kind, mechanism))?;
    Ok(TokenCall {
        params,
        mechanism,
        data,
    })
}
