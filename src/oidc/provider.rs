//! Outbound calls to identity providers. Every call has a timeout, reads at most
//! [`MAX_BODY_BYTES`], follows a redirect only within the same origin, so a provider (or whoever
//! answers for it) cannot send accountd to another host, and goes only where the destination
//! policy allows: each URL is checked before the call and each resolved address by the client's
//! resolver. A discovery document counts only when its `issuer` is the discovery URL's own
//! (OpenID Connect Discovery 1.0 section 4.3), so one provider cannot stand in for another.
//! Discovery documents and key sets are cached for an hour by the injectable clock; a key set is
//! fetched again early when an ID token names a key it lacks (docs/oidc.md#id-token-validation).
//! Nothing here logs the client secret, codes or tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::Jwk;
use reqwest::Response;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::secret::Secret;
use crate::outbound::{DestinationPolicy, is_refusal};
use crate::time::Timestamp;

/// Per call, from connecting to the last byte (docs/oidc.md#provider-requirements).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a discovery document or key set is reused (docs/oidc.md#provider-requirements).
pub const CACHE_MILLIS: i64 = 3_600_000;
/// Provider documents are small; anything larger is refused rather than buffered.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
const MAX_REDIRECTS: usize = 3;

/// Why a provider call failed. The callback tells the storefront `server_error` for the first
/// and `access_denied` for the second (docs/oidc.md#callback).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No answer, a timeout, or a 5xx: the provider is unavailable.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// An answer, but not one accountd can use (4xx, not JSON, fields missing).
    #[error("the identity provider's answer was refused: {0}")]
    Refused(String),
    /// A URL, or the address its host resolves to, that the destination policy refuses.
    #[error("destination is not allowed")]
    DestinationRefused,
    /// The discovery document names another issuer than the one at whose URL it was found.
    #[error("issuer does not match the discovery URL")]
    IssuerMismatch,
}

/// Where an issuer's discovery document is.
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Whether `issuer`, with one trailing `/` removed, followed by the discovery path is
/// `discovery_url` byte for byte.
pub fn issuer_matches(issuer: &str, discovery_url: &str) -> bool {
    let issuer = issuer.strip_suffix('/').unwrap_or(issuer);
    discovery_url
        .strip_prefix(issuer)
        .is_some_and(|rest| rest == DISCOVERY_PATH)
}

/// The parts of a discovery document accountd uses (docs/oidc.md#provider-requirements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct WireDiscovery {
    issuer: Option<Value>,
    authorization_endpoint: Option<Value>,
    token_endpoint: Option<Value>,
    jwks_uri: Option<Value>,
    userinfo_endpoint: Option<Value>,
}

/// The token endpoint's answer: the ID token, and the access token for UserInfo.
#[derive(Clone)]
pub struct TokenResponse {
    pub id_token: String,
    pub access_token: Option<Secret>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenResponse(***)")
    }
}

struct Cached<T> {
    value: T,
    fetched_at: Timestamp,
}

impl<T: Clone> Cached<T> {
    fn fresh(&self, now: Timestamp) -> Option<T> {
        (now.millis().saturating_sub(self.fetched_at.millis()) < CACHE_MILLIS)
            .then(|| self.value.clone())
    }
}

/// The HTTP client and caches shared by every request; cheap to clone.
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    destinations: DestinationPolicy,
    discovery: Mutex<HashMap<String, Cached<Discovery>>>,
    keys: Mutex<HashMap<String, Cached<Arc<Vec<Jwk>>>>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OidcClient")
    }
}

impl OidcClient {
    pub fn new(destinations: DestinationPolicy) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Through a proxy, the address checked would be the proxy's, not the provider's.
            .no_proxy()
            .dns_resolver(destinations.resolver())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_origin = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .user_agent(concat!("accountd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                destinations,
                discovery: Mutex::new(HashMap::new()),
                keys: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The discovery document at `url`: from the cache while it is under an hour old, unless
    /// `refresh` asks for a new fetch (profile create and update do). A document whose issuer
    /// is not the URL's own is refused, cached or not.
    pub async fn discover(
        &self,
        url: &str,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Discovery, ProviderError> {
        if !refresh {
            if let Some(cached) = lock(&self.inner.discovery)
                .get(url)
                .and_then(|entry| entry.fresh(now))
            {
                return Ok(cached);
            }
        }
        let response = self
            .checked(url)?
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        let document: WireDiscovery = serde_json::from_slice(&read_ok(response).await?)
            .map_err(|_| ProviderError::Refused("the discovery document is not JSON".into()))?;
        let policy = self.inner.destinations;
        let discovery = Discovery {
            issuer: required_text(document.issuer, "issuer")?,
            authorization_endpoint: required_url(
                policy,
                document.authorization_endpoint,
                "authorization_endpoint",
            )?,
            token_endpoint: required_url(policy, document.token_endpoint, "token_endpoint")?,
            jwks_uri: required_url(policy, document.jwks_uri, "jwks_uri")?,
            userinfo_endpoint: match document.userinfo_endpoint {
                None | Some(Value::Null) => None,
                Some(value) => Some(required_url(policy, Some(value), "userinfo_endpoint")?),
            },
        };
        if !issuer_matches(&discovery.issuer, url) {
            return Err(ProviderError::IssuerMismatch);
        }
        lock(&self.inner.discovery).insert(
            url.to_owned(),
            Cached {
                value: discovery.clone(),
                fetched_at: now,
            },
        );
        Ok(discovery)
    }

    /// The provider's signing keys: from the cache while it is under an hour old, unless
    /// `refresh` asks for a new fetch (an ID token named a key the cached set lacks).
    pub async fn keys(
        &self,
        jwks_uri: &str,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Arc<Vec<Jwk>>, ProviderError> {
        if !refresh {
            if let Some(cached) = lock(&self.inner.keys)
                .get(jwks_uri)
                .and_then(|entry| entry.fresh(now))
            {
                return Ok(cached);
            }
        }
        let response = self
            .checked(jwks_uri)?
            .get(jwks_uri)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        let set: Value = serde_json::from_slice(&read_ok(response).await?)
            .map_err(|_| ProviderError::Refused("the key set is not JSON".into()))?;
        let Some(Value::Array(entries)) = set.get("keys") else {
            return Err(ProviderError::Refused("the key set has no keys".into()));
        };
        // Keys of kinds accountd cannot use are skipped rather than failing the whole set.
        let keys: Vec<Jwk> = entries
            .iter()
            .filter_map(|entry| serde_json::from_value(entry.clone()).ok())
            .collect();
        let keys = Arc::new(keys);
        lock(&self.inner.keys).insert(
            jwks_uri.to_owned(),
            Cached {
                value: Arc::clone(&keys),
                fetched_at: now,
            },
        );
        Ok(keys)
    }

    /// The authorization-code exchange (docs/oidc.md#callback): `client_secret_basic`, with
    /// accountd's PKCE verifier and the callback as `redirect_uri`.
    pub async fn exchange_code(
        &self,
        token_endpoint: &str,
        client_id: &str,
        client_secret: &Secret,
        code: &str,
        redirect_uri: &str,
        code_verifier: &Secret,
    ) -> Result<TokenResponse, ProviderError> {
        let response = self
            .checked(token_endpoint)?
            .post(token_endpoint)
            .header(AUTHORIZATION, basic_authorization(client_id, client_secret))
            .header(ACCEPT, "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier.expose()),
            ])
            .send()
            .await
            .map_err(unavailable)?;
        let body: Value = serde_json::from_slice(&read_ok(response).await?)
            .map_err(|_| ProviderError::Refused("the token response is not JSON".into()))?;
        let Some(id_token) = body.get("id_token").and_then(Value::as_str) else {
            return Err(ProviderError::Refused(
                "the token response has no id_token".into(),
            ));
        };
        Ok(TokenResponse {
            id_token: id_token.to_owned(),
            access_token: body
                .get("access_token")
                .and_then(Value::as_str)
                .map(Secret::new),
        })
    }

    /// The UserInfo claims for an access token (docs/oidc.md#callback: asked only when the ID token
    /// has no `email`).
    pub async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &Secret,
    ) -> Result<Map<String, Value>, ProviderError> {
        let response = self
            .checked(endpoint)?
            .get(endpoint)
            .bearer_auth(access_token.expose())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        match serde_json::from_slice(&read_ok(response).await?) {
            Ok(Value::Object(claims)) => Ok(claims),
            // A signed or encrypted UserInfo answer is not supported
            // (docs/oidc.md#provider-requirements).
            _ => Err(ProviderError::Refused(
                "the UserInfo answer is not a JSON object".into(),
            )),
        }
    }
}

impl OidcClient {
    /// The HTTP client, once `url` passes what the destination policy can judge from the URL
    /// alone (IP-literal hosts never reach the resolver).
    fn checked(&self, url: &str) -> Result<&reqwest::Client, ProviderError> {
        self.inner
            .destinations
            .check_url(url)
            .map_err(|_| ProviderError::DestinationRefused)?;
        Ok(&self.inner.http)
    }
}

/// An absolute `http` or `https` URL with a host: the shape of a provider URL. Whether it may be
/// reached is the destination policy's question (`https` only, unless private destinations are
/// allowed), so the client secret and codes never travel in the clear to another machine.
pub fn is_provider_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// RFC 6749 section 2.3.1: id and secret are form-encoded before they are joined and
/// base64-encoded.
fn basic_authorization(client_id: &str, client_secret: &Secret) -> String {
    let encode = |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let id: String = encode(client_id);
    let secret: String = encode(client_secret.expose());
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave a cache half-written (inserts are single calls).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unavailable(error: reqwest::Error) -> ProviderError {
    if is_refusal(&error) {
        return ProviderError::DestinationRefused;
    }
    // Without the URL: a reqwest error names it, and a provider URL may carry a query.
    ProviderError::Unavailable(error.without_url().to_string())
}

/// The body of a `2xx` answer, at most [`MAX_BODY_BYTES`]; a `5xx` is unavailability, any other
/// status (a redirect that was not followed included) a refusal.
async fn read_ok(mut response: Response) -> Result<Vec<u8>, ProviderError> {
    let status = response.status();
    if status.is_server_error() {
        return Err(ProviderError::Unavailable(format!("status {status}")));
    }
    if !status.is_success() {
        return Err(ProviderError::Refused(format!("status {status}")));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(ProviderError::Refused("the answer is too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ProviderError::Refused("the answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn required_text(value: Option<Value>, field: &str) -> Result<String, ProviderError> {
    match value {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        _ => Err(ProviderError::Refused(format!(
            "the discovery document has no {field}"
        ))),
    }
}

fn required_url(
    policy: DestinationPolicy,
    value: Option<Value>,
    field: &str,
) -> Result<String, ProviderError> {
    let text = required_text(value, field)?;
    if !is_provider_url(&text) {
        return Err(ProviderError::Refused(format!(
            "the discovery document's {field} is not an http or https URL"
        )));
    }
    policy
        .check_url(&text)
        .map_err(|_| ProviderError::DestinationRefused)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls_are_absolute_http_or_https() {
        for good in [
            "https://idp.example.com/.well-known/openid-configuration",
            "http://localhost:8080/x",
            "http://idp.example.com/x",
        ] {
            assert!(is_provider_url(good), "{good}");
        }
        for bad in ["ftp://localhost/x", "/relative", "https://", "not a url"] {
            assert!(!is_provider_url(bad), "{bad}");
        }
    }

    #[test]
    fn the_issuer_must_be_the_discovery_urls_own() {
        let url = "https://idp.example.com/tenant/.well-known/openid-configuration";
        assert!(issuer_matches("https://idp.example.com/tenant", url));
        assert!(issuer_matches("https://idp.example.com/tenant/", url));
        for other in [
            "https://idp.example.com/tenant//",
            "https://idp.example.com",
            "https://idp.example.com/other",
            "https://IDP.example.com/tenant",
            "https://idp.example.com/tenant/x",
            "http://idp.example.com/tenant",
            "",
        ] {
            assert!(!issuer_matches(other, url), "{other}");
        }
        assert!(!issuer_matches(
            "https://idp.example.com",
            "https://idp.example.com/.well-known/openid-configuration/"
        ));
    }

    #[test]
    fn discovery_endpoints_are_held_to_the_destination_policy() {
        let strict = DestinationPolicy::default();
        let url = |text: &str| Some(Value::String(text.to_owned()));
        assert_eq!(
            required_url(strict, url("https://idp.example.com/jwks"), "jwks_uri").unwrap(),
            "https://idp.example.com/jwks"
        );
        for internal in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/token",
            "https://[::1]/userinfo",
            "http://idp.example.com/token",
            "https://user:pass@idp.example.com/token",
        ] {
            assert!(
                matches!(
                    required_url(strict, url(internal), "token_endpoint"),
                    Err(ProviderError::DestinationRefused)
                ),
                "{internal}"
            );
            let development = DestinationPolicy {
                allow_private: true,
            };
            assert!(required_url(development, url(internal), "token_endpoint").is_ok());
        }
    }

    /// The provider client resolves through the guarded resolver: a provider whose name
    /// resolves to loopback is refused before any connection.
    #[tokio::test]
    async fn a_provider_name_that_resolves_inside_is_never_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(500), listener.accept())
                .await
                .is_ok()
        });
        let client = OidcClient::new(DestinationPolicy::default()).unwrap();
        let outcome = client
            .discover(
                &format!("https://localhost:{port}/.well-known/openid-configuration"),
                Timestamp::from_millis(0),
                true,
            )
            .await;
        assert!(
            matches!(outcome, Err(ProviderError::DestinationRefused)),
            "{outcome:?}"
        );
        assert!(!accepted.await.unwrap(), "the listener was connected to");
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let header = basic_authorization("my client", &Secret::new("a:b+c"));
        let decoded = STANDARD
            .decode(header.trim_start_matches("Basic "))
            .unwrap();
        assert_eq!(decoded, b"my+client:a%3Ab%2Bc");
    }

    #[test]
    fn cache_entries_expire_after_an_hour() {
        let entry = Cached {
            value: 1,
            fetched_at: Timestamp::from_millis(0),
        };
        assert_eq!(
            entry.fresh(Timestamp::from_millis(CACHE_MILLIS - 1)),
            Some(1)
        );
        assert_eq!(entry.fresh(Timestamp::from_millis(CACHE_MILLIS)), None);
    }
}
