//! The relying party's checks on what comes back from the merchant's identity provider
//! (docs/oidc.md#callback): the code exchange, the ID token, UserInfo, and the user data taken from
//! the claims. The browser-facing callback (`http/oidc_idp/callback.rs`) decides where the browser
//! goes next.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::id_token::{self, Expected};
use super::{Discovery, OidcClient, ProviderError};
use crate::http::validation::is_valid_email;
use crate::store::{OidcIdentity, OidcLogin, OidcProfile};
use crate::time::Timestamp;

/// Field limits of user authentication info, which the claims are truncated to
/// (docs/oidc.md#user-data-from-claims).
const MAX_NAME_CHARS: usize = 255;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_SUBJECT_CHARS: usize = 255;
const MAX_ISSUER_CHARS: usize = 2048;

/// Why the provider's side of a callback failed: `server_error` or `access_denied`
/// (docs/oidc.md#callback).
pub enum Refusal {
    Unavailable(String),
    Denied(String),
}

impl Refusal {
    pub fn reason(&self) -> &str {
        match self {
            Self::Unavailable(reason) | Self::Denied(reason) => reason,
        }
    }
}

impl From<ProviderError> for Refusal {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unavailable(_) => Self::Unavailable(error.to_string()),
            ProviderError::Refused(_)
            | ProviderError::DestinationRefused
            | ProviderError::IssuerMismatch => Self::Denied(error.to_string()),
        }
    }
}

impl From<id_token::IdTokenError> for Refusal {
    fn from(error: id_token::IdTokenError) -> Self {
        Self::Denied(error.to_string())
    }
}

/// The relying-party half of the callback: code exchange, ID-token validation, UserInfo when
/// the token lacks `email`, and the identity the claims describe. `callback_uri` is the
/// redirect URI the login sent the provider, which the code exchange must repeat.
pub async fn verify_at_provider(
    client: &OidcClient,
    profile: &OidcProfile,
    login: &OidcLogin,
    provider_code: &str,
    callback_uri: &str,
    now: Timestamp,
) -> Result<OidcIdentity, Refusal> {
    let discovery: Discovery = client
        .discover(&profile.discovery_url, now, false)
        .await
        .map_err(|error| match error {
            // Another issuer's document, or one accountd may not fetch, is a refusal.
            ProviderError::IssuerMismatch | ProviderError::DestinationRefused => {
                Refusal::Denied(error.to_string())
            }
            other => Refusal::Unavailable(other.to_string()),
        })?;
    let tokens = client
        .exchange_code(
            &discovery.token_endpoint,
            &profile.client_id,
            &profile.client_secret,
            provider_code,
            callback_uri,
            &login.code_verifier,
        )
        .await?;
    let (algorithm, kid) = id_token::header(&tokens.id_token)?;
    let mut keys = client.keys(&discovery.jwks_uri, now, false).await?;
    if id_token::candidate_keys(&keys, algorithm, kid.as_deref()).is_empty() {
        // A key the cached set lacks: the provider may have rotated its keys
        // (docs/oidc.md#id-token-validation).
        keys = client.keys(&discovery.jwks_uri, now, true).await?;
    }
    let expected = Expected {
        issuer: &discovery.issuer,
        client_id: &profile.client_id,
        nonce: &login.nonce,
        now,
    };
    let mut claims = id_token::verify(
        &tokens.id_token,
        algorithm,
        &id_token::candidate_keys(&keys, algorithm, kid.as_deref()),
        &expected,
    )?;
    if !claims.get("email").is_some_and(Value::is_string) {
        if let (Some(endpoint), Some(access_token)) =
            (&discovery.userinfo_endpoint, &tokens.access_token)
        {
            let userinfo = client.userinfo(endpoint, access_token).await?;
            // UserInfo speaks for the ID token's subject only (OpenID Connect Core section 5.3.2).
            if userinfo.get("sub") != claims.get("sub") {
                return Err(Refusal::Denied(
                    "the UserInfo sub differs from the ID token's".into(),
                ));
            }
            // The email comes from UserInfo, so its verification does too.
            claims.remove("email_verified");
            for (name, value) in userinfo {
                claims.entry(name).or_insert(value);
            }
        }
    }
    if says_email_unverified(&claims) && !profile.allow_unverified_email {
        return Err(Refusal::Denied(
            "the provider says the email is not verified".into(),
        ));
    }
    identity_from_claims(profile.id, &claims).map_err(|reason| Refusal::Denied(reason.into()))
}

/// Whether the claims say explicitly that the email is not verified. Some providers send the
/// claim as a string; an absent claim says nothing and is accepted.
fn says_email_unverified(claims: &Map<String, Value>) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(verified)) => !verified,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// The user data (docs/oidc.md#user-data-from-claims): `email` required and valid, `name` from
/// `name`, else the name parts, else the email; everything truncated to the field
/// limits of user authentication info.
fn identity_from_claims(
    oidc_profile_id: Uuid,
    claims: &Map<String, Value>,
) -> Result<OidcIdentity, &'static str> {
    let text = |name: &str| -> Option<String> {
        // U+0000 cannot be stored (docs/http-conventions.md#request-bodies) and means nothing in a
        // name.
        let value = claims.get(name)?.as_str()?.replace('\0', "");
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|issuer| issuer.chars().count() <= MAX_ISSUER_CHARS)
        .ok_or("the issuer is too long")?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|subject| subject.chars().count() <= MAX_SUBJECT_CHARS && !subject.contains('\0'))
        .ok_or("the subject is too long")?;
    let email = text("email")
        .map(|email| truncate(&email, MAX_EMAIL_CHARS))
        .filter(|email| is_valid_email(email))
        .ok_or("no valid email in the ID token or UserInfo")?;
    let given_name = text("given_name").map(|value| truncate(&value, MAX_NAME_CHARS));
    let middle_name = text("middle_name").map(|value| truncate(&value, MAX_NAME_CHARS));
    let family_name = text("family_name").map(|value| truncate(&value, MAX_NAME_CHARS));
    let parts: Vec<&str> = [given_name.as_deref(), family_name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let name = text("name")
        .or_else(|| (!parts.is_empty()).then(|| parts.join(" ")))
        .unwrap_or_else(|| email.clone());
    Ok(OidcIdentity {
        oidc_profile_id,
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        name: truncate(&name, MAX_NAME_CHARS),
        email,
        given_name,
        middle_name,
        family_name,
    })
}

fn truncate(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn only_an_explicit_false_says_the_email_is_unverified() {
        assert!(says_email_unverified(&claims(
            json!({"email_verified": false})
        )));
        assert!(says_email_unverified(&claims(
            json!({"email_verified": "false"})
        )));
        assert!(!says_email_unverified(&claims(
            json!({"email_verified": true})
        )));
        assert!(!says_email_unverified(&claims(
            json!({"email_verified": "true"})
        )));
        assert!(!says_email_unverified(&claims(json!({}))));
        assert!(!says_email_unverified(&claims(
            json!({"email_verified": null})
        )));
    }

    #[test]
    fn the_name_falls_back_to_the_parts_then_the_email() {
        let id = Uuid::new_v4();
        let base = json!({"iss": "https://idp", "sub": "s", "email": "a@b.com"});
        let mut with_name = base.clone();
        with_name["name"] = json!("Ann Smith");
        assert_eq!(
            identity_from_claims(id, &claims(with_name)).unwrap().name,
            "Ann Smith"
        );
        let mut with_parts = base.clone();
        with_parts["given_name"] = json!("Ann");
        with_parts["family_name"] = json!("Smith");
        let identity = identity_from_claims(id, &claims(with_parts)).unwrap();
        assert_eq!(identity.name, "Ann Smith");
        assert_eq!(identity.given_name.as_deref(), Some("Ann"));
        assert_eq!(
            identity_from_claims(id, &claims(base)).unwrap().name,
            "a@b.com"
        );
    }

    #[test]
    fn long_values_are_truncated_and_bad_emails_refused() {
        let id = Uuid::new_v4();
        let long = "x".repeat(300);
        let identity = identity_from_claims(
            id,
            &claims(json!({"iss": "i", "sub": "s", "email": "a@b.com", "name": long})),
        )
        .unwrap();
        assert_eq!(identity.name.chars().count(), 255);
        assert!(
            identity_from_claims(
                id,
                &claims(json!({"iss": "i", "sub": "s", "email": "not-an-email"}))
            )
            .is_err()
        );
        assert!(identity_from_claims(id, &claims(json!({"iss": "i", "sub": "s"}))).is_err());
        assert!(
            identity_from_claims(
                id,
                &claims(json!({"iss": "i", "sub": "s".repeat(256), "email": "a@b.com"}))
            )
            .is_err()
        );
    }
}
