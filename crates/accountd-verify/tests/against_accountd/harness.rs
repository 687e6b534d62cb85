//! A real accountd for each test, started in-process on a temporary SQLite file and served on a
//! loopback port; members, accounts and tokens made through its HTTP API; a clock the test moves
//! and the verifier shares; and a counting proxy in front of its JWK Set and introspection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use accountd::auth::keyring;
use accountd::auth::secret::Secret;
use accountd::auth::signing_key::JwtAlgorithm;
use accountd::config::{BootstrapKey, Config, JwtKeySource, ManagementListen};
use accountd::state::AppState;
use accountd::time::ManualClock;
use accountd_verify::{
    Algorithm, Hs256Key, Introspection, IntrospectionCredentials, Verifier, VerifierBuilder,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;

pub const CLIENT_ID: &str = "verify-test-client";
pub const CLIENT_SECRET: &str = "verify-test-client-secret-long-enough";
pub const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";
/// accountd's default token lifetime.
pub const TOKEN_LIFETIME_SECONDS: i64 = 86_400;

/// One running accountd.
pub struct Accountd {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    _database: tempfile::TempDir,
}

/// A member with a password who belongs to one account.
pub struct Shopper {
    pub member_id: Uuid,
    pub account_id: Uuid,
    pub membership_id: String,
    profile_id: String,
    username: String,
    password: String,
}

impl Accountd {
    /// accountd signing with `algorithm`. As in a deployment that moved to public keys, its
    /// configured HS256 key keeps verifying under EdDSA and ES256, and a key pair generated on
    /// first start signs.
    pub async fn start(algorithm: JwtAlgorithm) -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}/accountd.db?mode=rwc",
            directory.path().display()
        );
        let mut config = Config::new(url);
        config.listen = "127.0.0.1:0".to_owned();
        config.management_listen = ManagementListen::Off;
        config.bootstrap_key = Some(BootstrapKey {
            client_id: CLIENT_ID.to_owned(),
            client_secret: Secret::new(CLIENT_SECRET),
        });
        let kid = accountd::config::kid_of_secret(JWT_SECRET.as_bytes());
        config.jwt_keys = JwtKeySource::Configured {
            keys: vec![(kid.clone(), Secret::new(JWT_SECRET))],
            active_kid: kid,
        };
        config.jwt_algorithm = algorithm;
        config.hash_pool_size = 1;
        // Test binaries share two cores with other builds: a slow database is the machine.
        config.db_timeout = Duration::from_secs(10);
        config.shutdown_drain = Duration::ZERO;
        let clock = Arc::new(ManualClock::starting_now());
        let application = accountd::Application::build_with_clock(config, clock.clone())
            .await
            .expect("accountd starts");
        let base = format!(
            "http://{}",
            application.local_addr().expect("a bound listener")
        );
        let state = application.state().clone();
        // The server stops with the test's runtime.
        tokio::spawn(application.run_until(std::future::pending()));
        Self {
            base,
            state,
            clock,
            http: reqwest::Client::new(),
            _database: directory,
        }
    }

    pub fn store_id(&self) -> Uuid {
        self.state.deployment.store_id
    }

    pub fn realm_id(&self) -> Uuid {
        self.state.deployment.realm_id
    }

    /// The clock the verifier reads: accountd's own, so both see time move together.
    pub fn clock(&self) -> Arc<dyn accountd_verify::Clock> {
        Arc::new(SharedClock(Arc::clone(&self.clock)))
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance_seconds(seconds);
    }

    /// A builder for this deployment on the shared clock.
    pub fn verifier(&self) -> VerifierBuilder {
        Verifier::builder(self.store_id(), self.realm_id()).clock(self.clock())
    }

    /// A verifier of `algorithm`'s tokens: the JWK Set at `jwks_base` (accountd, or a proxy in
    /// front of it) for a key pair algorithm, the shared secret for HS256.
    pub fn offline_verifier(&self, algorithm: Algorithm, jwks_base: &str) -> Verifier {
        let builder = self.verifier();
        match algorithm {
            Algorithm::Hs256 => builder.hs256_keys([Hs256Key::from_jwt_secret(JWT_SECRET)]),
            _ => builder.jwks(format!("{jwks_base}/.well-known/jwks.json"), [algorithm]),
        }
        .build()
        .expect("a valid configuration")
    }

    /// Introspection at `base` (accountd or a proxy) with the bootstrap application key.
    pub fn introspection(&self, base: &str) -> Introspection {
        Introspection::new(
            format!("{base}/oauth/introspect"),
            IntrospectionCredentials::ApplicationKey {
                client_id: CLIENT_ID.to_owned(),
                client_secret: CLIENT_SECRET.to_owned(),
            },
        )
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("accountd answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON")
        };
        (status, body)
    }

    async fn created(&self, path: &str, bearer: &str, data: Value) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                path,
                bearer,
                Some(json!({ "data": data })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
        body["data"].clone()
    }

    async fn bearer_token(&self, form: &str) -> String {
        let response = self
            .http
            .post(format!("{}/oauth/access_token", self.base))
            .header(
                header::CONTENT_TYPE.as_str(),
                "application/x-www-form-urlencoded",
            )
            .body(form.to_owned())
            .send()
            .await
            .expect("accountd answers");
        let body: Value = response.json().await.expect("JSON");
        body["access_token"]
            .as_str()
            .expect("a bearer token")
            .to_owned()
    }

    /// A `client_credentials` bearer token: an Admin.
    pub async fn admin_token(&self) -> String {
        self.bearer_token(&format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ))
        .await
    }

    /// An `implicit` bearer token: a storefront.
    pub async fn implicit_token(&self) -> String {
        self.bearer_token(&format!("grant_type=implicit&client_id={CLIENT_ID}"))
            .await
    }

    pub async fn create_account(&self, admin: &str, name: &str, parent: Option<Uuid>) -> Uuid {
        let mut data = json!({"type": "account", "name": name});
        if let Some(parent) = parent {
            data["parent_id"] = json!(parent);
        }
        let account = self.created("/v2/accounts", admin, data).await;
        account["id"]
            .as_str()
            .expect("an id")
            .parse()
            .expect("a UUID")
    }

    /// A member with a password in a new account named `account_name` (under `parent`).
    pub async fn shopper(&self, account_name: &str, parent: Option<Uuid>) -> Shopper {
        let admin = self.admin_token().await;
        let realm = format!("/v2/authentication-realms/{}", self.realm_id());
        let profile = self
            .created(
                &format!("{realm}/password-profiles"),
                &admin,
                json!({"type": "password_profile", "name": "Storefront"}),
            )
            .await;
        let profile_id = profile["id"].as_str().expect("an id").to_owned();
        let suffix = Uuid::new_v4().simple().to_string();
        let username = format!("buyer-{suffix}@example.com");
        let user = self
            .created(
                &format!("{realm}/user-authentication-info"),
                &admin,
                json!({"type": "user_authentication_info", "name": "Buyer", "email": username}),
            )
            .await;
        let member_id: Uuid = user["id"].as_str().expect("an id").parse().expect("a UUID");
        let password = format!("correct horse {suffix}");
        self.created(
            &format!(
                "{realm}/user-authentication-info/{member_id}/user-authentication-password-profile-info"
            ),
            &admin,
            json!({
                "type": "user_authentication_password_profile_info",
                "password_profile_id": profile_id,
                "username": username,
                "password": password,
            }),
        )
        .await;
        let account_id = self.create_account(&admin, account_name, parent).await;
        let membership = self
            .created(
                &format!("/v2/accounts/{account_id}/account-memberships"),
                &admin,
                json!({"type": "account_membership", "account_member_id": member_id}),
            )
            .await;
        Shopper {
            member_id,
            account_id,
            membership_id: membership["id"].as_str().expect("an id").to_owned(),
            profile_id,
            username,
            password,
        }
    }

    /// The shopper's account token, from a password login.
    pub async fn login(&self, shopper: &Shopper) -> String {
        let implicit = self.implicit_token().await;
        let body = self
            .created(
                "/v2/account-members/tokens",
                &implicit,
                json!({
                    "type": "account_management_authentication_token",
                    "authentication_mechanism": "password",
                    "password_profile_id": shopper.profile_id,
                    "username": shopper.username,
                    "password": shopper.password,
                }),
            )
            .await;
        body[0]["token"].as_str().expect("a token").to_owned()
    }

    /// Revokes the shopper's tokens by deleting its membership through the admin API.
    pub async fn delete_membership(&self, shopper: &Shopper) {
        let admin = self.admin_token().await;
        let (status, body) = self
            .call(
                reqwest::Method::DELETE,
                &format!(
                    "/v2/accounts/{}/account-memberships/{}",
                    shopper.account_id, shopper.membership_id
                ),
                &admin,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    /// `accountd keys rotate` to a new key pair of `algorithm`, which the server takes up at
    /// once; the new kid.
    pub async fn rotate(&self, algorithm: JwtAlgorithm) -> String {
        use accountd::time::Clock as _;
        let store = self.state.store.as_ref();
        let key = keyring::rotate(store, algorithm, self.clock.now())
            .await
            .expect("the key rotates");
        self.state
            .keys
            .reload(store)
            .await
            .expect("the keys reload");
        key.kid
    }

    /// accountd's own answer to a token at its forward-auth endpoint: status and body.
    pub async fn forward_auth(&self, token: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}/v2/account-members/tokens/verify", self.base));
        if let Some(token) = token {
            request = request.header(accountd_verify::ACCOUNT_TOKEN_HEADER, token);
        }
        let response = request.send().await.expect("accountd answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }
}

struct SharedClock(Arc<ManualClock>);

impl accountd_verify::Clock for SharedClock {
    fn now(&self) -> SystemTime {
        use accountd::time::Clock as _;
        let millis = self.0.now().millis();
        UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).expect("after 1970"))
    }
}

/// The header and claims of a JWT, unchecked.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = || -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts.next().expect("a segment"))
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    (decode(), decode())
}

/// A token made of `header` and `claims` JSON and `signature` bytes.
pub fn assemble(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An HMAC-SHA256 signature keyed with `key`.
pub fn hmac(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> {
    use hmac::Mac;
    let key = key.to_vec();
    move |input| {
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
            .expect("any key")
            .chain_update(input)
            .finalize()
            .into_bytes()
            .to_vec()
    }
}

/// What the proxy in front of accountd has been asked, and how it answers.
#[derive(Default)]
pub struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    pub jwks_fetches: AtomicUsize,
    pub introspections: AtomicUsize,
    /// Answer the JWK Set with `503` instead of asking accountd.
    pub jwks_failing: AtomicBool,
    /// Replace accountd's `Cache-Control` on the JWK Set.
    pub jwks_cache_control: Mutex<Option<String>>,
    /// Hold each JWK Set answer this long, so concurrent misses overlap a fetch in flight.
    pub jwks_delay_millis: AtomicU64,
}

/// A loopback server in front of accountd's JWK Set and introspection that counts what it
/// forwards: the fetches a verifier made, seen from outside the verifier.
pub struct Proxy {
    pub base: String,
    pub state: Arc<ProxyState>,
}

impl Proxy {
    pub async fn start(accountd: &Accountd) -> Self {
        let state = Arc::new(ProxyState {
            upstream: accountd.base.clone(),
            http: reqwest::Client::new(),
            ..ProxyState::default()
        });
        let router = axum::Router::new()
            .route("/.well-known/jwks.json", axum::routing::get(proxied_jwks))
            .route(
                "/oauth/introspect",
                axum::routing::post(proxied_introspection),
            )
            .with_state(Arc::clone(&state));
        let base = serve(router).await;
        Self { base, state }
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn introspections(&self) -> usize {
        self.state.introspections.load(Ordering::SeqCst)
    }

    pub fn set_jwks_cache_control(&self, value: &str) {
        *self.state.jwks_cache_control.lock().expect("not poisoned") = Some(value.to_owned());
    }
}

async fn proxied_jwks(State(state): State<Arc<ProxyState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let delay = state.jwks_delay_millis.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if state.jwks_failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let upstream = state
        .http
        .get(format!("{}/.well-known/jwks.json", state.upstream))
        .send()
        .await
        .expect("accountd answers");
    let cache_control = state
        .jwks_cache_control
        .lock()
        .expect("not poisoned")
        .clone()
        .or_else(|| {
            upstream
                .headers()
                .get(header::CACHE_CONTROL.as_str())
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let body = upstream.bytes().await.expect("a body");
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}

async fn proxied_introspection(
    State(state): State<Arc<ProxyState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.introspections.fetch_add(1, Ordering::SeqCst);
    let mut request = state
        .http
        .post(format!("{}/oauth/introspect", state.upstream))
        .header(
            header::CONTENT_TYPE.as_str(),
            "application/x-www-form-urlencoded",
        )
        .body(body);
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        request = request.header(
            header::AUTHORIZATION.as_str(),
            authorization.to_str().expect("text"),
        );
    }
    let upstream = request.send().await.expect("accountd answers");
    let status = StatusCode::from_u16(upstream.status().as_u16()).expect("a status");
    let body = upstream.bytes().await.expect("a body");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Serves `router` on a loopback port until the test's runtime ends; its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// A base URL where nothing listens: a port bound and released again.
pub async fn nothing_listening() -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("bound");
    drop(listener);
    format!("http://{address}")
}
