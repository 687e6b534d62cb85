//! A test OpenID Connect provider, in process: discovery, JWKS, an authorization endpoint that
//! approves at once, a token endpoint that checks `client_secret_basic` and PKCE, and UserInfo.
//! It signs ID tokens with a key generated at test time and reads the time from the app's clock,
//! so a test that moves accountd's clock moves the provider's too. Knobs let a test break it in
//! each of the ways accountd must notice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use accountd::time::{Clock, ManualClock};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const CLIENT_ID: &str = "accountd-at-the-idp";
pub const CLIENT_SECRET: &str = "idp-client-secret:with+odd&chars";

/// How the next ID token is spoiled, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    AlgNone,
    Hs256WithClientSecret,
    SignedByAnotherKey,
    WrongIssuer,
    WrongAudience,
    TwoAudiences,
    /// `exp` this many seconds ago.
    ExpiredSecondsAgo(i64),
    /// `iat` this many seconds ahead.
    IssuedSecondsAhead(i64),
    WrongNonce,
    NoNonce,
    NoSubject,
}

/// What the provider does on the next requests.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The user's claims: `sub`, `email`, `name` and so on.
    pub claims: Map<String, Value>,
    pub tamper: Tamper,
    /// Leave `email` out of the ID token (UserInfo still has every claim).
    pub email_only_in_userinfo: bool,
    /// Claims UserInfo leaves out.
    pub userinfo_omits: Vec<String>,
    pub authorize_error: Option<(String, String)>,
    pub token_status: Option<StatusCode>,
    pub discovery_status: Option<StatusCode>,
    /// Publish this `token_endpoint` instead of the provider's own.
    pub token_endpoint: Option<String>,
    /// Publish this `issuer` in the discovery document instead of the provider's own (tokens
    /// keep the provider's own `iss`).
    pub published_issuer: Option<String>,
    /// Answer the discovery URL with a redirect within the origin, to `/moved/…`.
    pub discovery_moved: bool,
}

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct Signer {
    pub algorithm: Algorithm,
    pub kid: String,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl Signer {
    pub fn es256() -> Self {
        use p256::ecdsa::SigningKey;
        use p256::pkcs8::EncodePrivateKey;
        let key = SigningKey::random(&mut rsa::rand_core::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let kid = format!("ec-{}", Uuid::new_v4().simple());
        let der = key.to_pkcs8_der().expect("pkcs8");
        Self {
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
                "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
            }),
            kid,
        }
    }

    /// An RSA key, generated once per test run (RSA key generation is slow), used with `alg`.
    pub fn rsa(algorithm: Algorithm) -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        let key = KEY.get_or_init(|| {
            rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key")
        });
        let der = key.to_pkcs1_der().expect("pkcs1");
        let kid = format!("rsa-{}", Uuid::new_v4().simple());
        Self {
            algorithm,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({
                "kty": "RSA", "use": "sig", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            }),
            kid,
        }
    }

    fn sign(&self, claims: &Map<String, Value>) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signed")
    }
}

/// What the token endpoint was sent: the `Authorization` header and the form.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub form: HashMap<String, String>,
}

/// A code the authorization endpoint handed out, and what it was asked for.
#[derive(Debug, Clone)]
struct Grant {
    nonce: Option<String>,
    code_challenge: Option<String>,
    redirect_uri: String,
}

pub struct Idp {
    issuer: String,
    clock: Arc<ManualClock>,
    pub behaviour: Mutex<Behaviour>,
    pub signer: Mutex<Signer>,
    grants: Mutex<HashMap<String, Grant>>,
    access_tokens: Mutex<HashMap<String, Map<String, Value>>>,
    /// Every query the authorization endpoint received.
    pub authorize_requests: Mutex<Vec<HashMap<String, String>>>,
    /// Every request the token endpoint received.
    pub token_requests: Mutex<Vec<TokenRequest>>,
    pub discovery_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
}

/// A running provider; dropped with the test's runtime.
pub struct TestIdp {
    pub issuer: String,
    pub state: Arc<Idp>,
}

impl TestIdp {
    pub async fn start(clock: Arc<ManualClock>) -> Self {
        Self::start_with(clock, Signer::es256()).await
    }

    pub async fn start_with(clock: Arc<ManualClock>, signer: Signer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the provider");
        let issuer = format!("http://{}", listener.local_addr().expect("bound"));
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(format!("user-{}", Uuid::new_v4())));
        claims.insert("email".into(), json!("ann.smith@example.com"));
        claims.insert("name".into(), json!("Ann Smith"));
        claims.insert("given_name".into(), json!("Ann"));
        claims.insert("family_name".into(), json!("Smith"));
        let state = Arc::new(Idp {
            issuer: issuer.clone(),
            clock,
            behaviour: Mutex::new(Behaviour {
                claims,
                tamper: Tamper::None,
                email_only_in_userinfo: false,
                userinfo_omits: Vec::new(),
                authorize_error: None,
                token_status: None,
                discovery_status: None,
                token_endpoint: None,
                published_issuer: None,
                discovery_moved: false,
            }),
            signer: Mutex::new(signer),
            grants: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            authorize_requests: Mutex::new(Vec::new()),
            token_requests: Mutex::new(Vec::new()),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/moved/.well-known/openid-configuration", get(moved))
            .route(
                "/elsewhere/.well-known/openid-configuration",
                get(elsewhere),
            )
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { issuer, state }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    pub fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.state.behaviour.lock().unwrap());
    }

    pub fn set_claim(&self, name: &str, value: Value) {
        self.behave(|behaviour| {
            behaviour.claims.insert(name.to_owned(), value);
        });
    }

    pub fn subject(&self) -> String {
        self.state.behaviour.lock().unwrap().claims["sub"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs with a new key from now on and publishes only that one.
    pub fn rotate_key(&self) {
        *self.state.signer.lock().unwrap() = Signer::es256();
    }
}

async fn discovery(State(idp): State<Arc<Idp>>) -> Response {
    if idp.behaviour.lock().unwrap().discovery_moved {
        return Redirect::temporary("/moved/.well-known/openid-configuration").into_response();
    }
    document(&idp)
}

fn document(idp: &Idp) -> Response {
    idp.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let behaviour = idp.behaviour.lock().unwrap().clone();
    if let Some(status) = behaviour.discovery_status {
        return status.into_response();
    }
    let issuer = &idp.issuer;
    let token_endpoint = behaviour
        .token_endpoint
        .unwrap_or_else(|| format!("{issuer}/token"));
    axum::Json(json!({
        "issuer": behaviour.published_issuer.as_deref().unwrap_or(issuer),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": token_endpoint,
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

/// Where a moved discovery document is (a redirect within the provider's origin, which accountd
/// follows).
async fn moved(State(idp): State<Arc<Idp>>) -> Response {
    document(&idp)
}

/// The same document, but through another origin (`localhost` for `127.0.0.1`), which accountd
/// must not follow.
async fn elsewhere(State(idp): State<Arc<Idp>>) -> Response {
    let target = idp.issuer.replace("127.0.0.1", "localhost");
    Redirect::temporary(&format!("{target}/.well-known/openid-configuration")).into_response()
}

async fn jwks(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let jwk = idp.signer.lock().unwrap().jwk.clone();
    axum::Json(json!({"keys": [jwk]})).into_response()
}

async fn authorize(
    State(idp): State<Arc<Idp>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    idp.authorize_requests.lock().unwrap().push(params.clone());
    let Some(redirect_uri) = params.get("redirect_uri").cloned() else {
        return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
    };
    if params.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let state = params.get("state").cloned().unwrap_or_default();
    let mut location = url::Url::parse(&redirect_uri).expect("an absolute redirect_uri");
    let error = idp.behaviour.lock().unwrap().authorize_error.clone();
    if let Some((error, description)) = error {
        location
            .query_pairs_mut()
            .append_pair("error", &error)
            .append_pair("error_description", &description)
            .append_pair("state", &state);
        return Redirect::to(location.as_str()).into_response();
    }
    let code = Uuid::new_v4().simple().to_string();
    idp.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: params.get("nonce").cloned(),
            code_challenge: params.get("code_challenge").cloned(),
            redirect_uri,
        },
    );
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    Redirect::to(location.as_str()).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

/// `client_secret_basic` as RFC 6749 section 2.3.1 has it: form-encoded, then base64.
fn client_from(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |text: &str| -> String {
        url::form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

async fn token(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    idp.token_requests.lock().unwrap().push(TokenRequest {
        authorization,
        form: form.clone(),
    });
    let behaviour = idp.behaviour.lock().unwrap().clone();
    if let Some(status) = behaviour.token_status {
        return oauth_error(status, "temporarily_unavailable");
    }
    if client_from(&headers) != Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some(grant) = form
        .get("code")
        .and_then(|code| idp.grants.lock().unwrap().remove(code))
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    // PKCE S256 towards the provider: the verifier must match the challenge sent to /authorize.
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if grant.code_challenge.as_deref() != Some(challenge.as_str()) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = idp.clock.now().seconds();
    let mut claims = behaviour.claims.clone();
    claims.insert("iss".into(), json!(idp.issuer));
    claims.insert("aud".into(), json!(CLIENT_ID));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if behaviour.email_only_in_userinfo {
        claims.remove("email");
        claims.remove("email_verified");
    }
    let signer = idp.signer.lock().unwrap().clone();
    let id_token = match behaviour.tamper {
        Tamper::None => signer.sign(&claims),
        Tamper::AlgNone => {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string());
            format!("{header}.{payload}.")
        }
        Tamper::Hs256WithClientSecret => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(signer.kid.clone());
            jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
            )
            .expect("signed")
        }
        Tamper::SignedByAnotherKey => {
            let mut impostor = Signer::es256();
            impostor.kid = signer.kid.clone();
            impostor.sign(&claims)
        }
        Tamper::WrongIssuer => {
            claims.insert("iss".into(), json!("https://impostor.example.com"));
            signer.sign(&claims)
        }
        Tamper::WrongAudience => {
            claims.insert("aud".into(), json!("another-client"));
            signer.sign(&claims)
        }
        Tamper::TwoAudiences => {
            claims.insert("aud".into(), json!([CLIENT_ID, "another-client"]));
            signer.sign(&claims)
        }
        Tamper::ExpiredSecondsAgo(seconds) => {
            claims.insert("exp".into(), json!(now - seconds));
            signer.sign(&claims)
        }
        Tamper::IssuedSecondsAhead(seconds) => {
            claims.insert("iat".into(), json!(now + seconds));
            signer.sign(&claims)
        }
        Tamper::WrongNonce => {
            claims.insert("nonce".into(), json!("not-the-nonce"));
            signer.sign(&claims)
        }
        Tamper::NoNonce => {
            claims.remove("nonce");
            signer.sign(&claims)
        }
        Tamper::NoSubject => {
            claims.remove("sub");
            signer.sign(&claims)
        }
    };
    let access_token = Uuid::new_v4().simple().to_string();
    let mut userinfo = behaviour.claims.clone();
    for omitted in &behaviour.userinfo_omits {
        userinfo.remove(omitted);
    }
    idp.access_tokens
        .lock()
        .unwrap()
        .insert(access_token.clone(), userinfo);
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn userinfo(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let claims = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| idp.access_tokens.lock().unwrap().get(token).cloned());
    match claims {
        Some(claims) => axum::Json(Value::Object(claims)).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
