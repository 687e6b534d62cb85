//! Typed configuration. Every setting comes from the environment (or `.env` in development), is
//! documented in `.env.example` and `accountd --help`, and is checked once at start-up.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use clap::Args;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::hash_formats::FirebaseScrypt;
use crate::auth::jwt::KeyEntry;
use crate::auth::sealing::MasterKey;
use crate::auth::secret::Secret;
use crate::auth::signing_key::{JwtAlgorithm, KeyMaterial};
use crate::outbound::DestinationPolicy;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/accountd.db?mode=rwc";
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// A new connection gets this long to send its first request's line and headers (slowloris),
/// whatever protocol it speaks.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may wait for its next request: longer than the 60 s a
/// reverse proxy commonly keeps idle upstream connections, so the proxy closes first and never
/// sends a request into a socket accountd is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// How often an HTTP/2 connection is pinged, and how long the answer may take, so a peer that
/// vanished without closing is noticed.
pub const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long a request may take, from its head to its answer (`408` past it).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MANAGEMENT_ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

/// The environment as clap reads it; [`Config::from_args`] turns it into a checked [`Config`].
/// Deliberately not `Debug`: it holds secrets in the clear.
#[derive(Clone, Args)]
pub struct ConfigArgs {
    /// Database URL: `sqlite://…` (embedded, the default) or `postgres://…` (production).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Address the HTTP listener binds.
    #[arg(long, env = "ACCOUNTD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Address of the management listener, which alone serves /metrics (and /healthz, /readyz);
    /// `off` disables it. Must differ from ACCOUNTD_LISTEN. If the default address is taken,
    /// accountd warns and serves the API without it; a configured address that cannot be bound
    /// stops the start. [default: 127.0.0.1:9464]
    #[arg(long, env = "ACCOUNTD_MANAGEMENT_LISTEN")]
    pub management_listen: Option<String>,

    /// The admin console at /admin (docs/console.md): `true` serves it on the API listener,
    /// `management` only on the management listener, `false` not at all (/admin answers 404).
    #[arg(long, env = "ACCOUNTD_CONSOLE", default_value = "false")]
    pub console: String,

    /// Most connections open at once on the API listener; further clients wait in the accept
    /// backlog until one closes. accountd raises its limit on open files to fit, or lowers this
    /// (with a warning) where the hard limit is too low.
    #[arg(long, env = "ACCOUNTD_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Seconds of draining after SIGTERM: /readyz answers 503 and every answer closes its
    /// connection while requests are still served, so load balancers move clients elsewhere.
    #[arg(long, env = "ACCOUNTD_SHUTDOWN_DRAIN", default_value_t = 5)]
    pub shutdown_drain: u64,

    /// Seconds in-flight requests get to finish once the listeners have closed.
    #[arg(long, env = "ACCOUNTD_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,

    /// Base of every absolute URL in `links`; defaults to `http://` + the listen address.
    #[arg(long, env = "ACCOUNTD_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// The store id (UUID) put in every token; generated and persisted on first start if unset.
    #[arg(long, env = "ACCOUNTD_STORE_ID")]
    pub store_id: Option<String>,

    /// Default `page[limit]` of lists (1–100).
    #[arg(long, env = "ACCOUNTD_PAGE_LENGTH", default_value_t = 25)]
    pub page_length: u32,

    /// One JWT signing key (at least 32 bytes); its kid is derived from it. Generated and
    /// persisted if neither this nor ACCOUNTD_JWT_KEYS is set.
    #[arg(long, env = "ACCOUNTD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Several JWT keys for rotation: `kid1=secret1,kid2=secret2`.
    #[arg(long, env = "ACCOUNTD_JWT_KEYS", hide_env_values = true)]
    pub jwt_keys: Option<String>,

    /// The kid of ACCOUNTD_JWT_KEYS that signs new tokens (optional when only one key is listed).
    #[arg(long, env = "ACCOUNTD_JWT_ACTIVE_KID")]
    pub jwt_active_kid: Option<String>,

    /// How account tokens are signed: `HS256` (shared secret, the default), `EdDSA` (Ed25519) or
    /// `ES256` (P-256). Under EdDSA and ES256 the public keys are served at
    /// /.well-known/jwks.json; HS256 keys keep verifying the tokens they signed but sign no more.
    #[arg(long, env = "ACCOUNTD_JWT_ALG")]
    pub jwt_alg: Option<String>,

    /// PKCS#8 PEM private keys (Ed25519 or P-256) to sign with instead of a generated key pair:
    /// comma-separated file paths, the first one signs. Each kid is its RFC 7638 thumbprint.
    #[arg(long, env = "ACCOUNTD_JWT_PRIVATE_KEYS")]
    pub jwt_private_keys: Option<String>,

    /// Client id of the bootstrap application key (with ACCOUNTD_CLIENT_SECRET).
    #[arg(long, env = "ACCOUNTD_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Client secret of the bootstrap application key. When neither is set, a key is generated on
    /// first start and printed once.
    #[arg(long, env = "ACCOUNTD_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// Origins allowed to call from a browser: `*` or a comma-separated list.
    #[arg(long, env = "ACCOUNTD_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    /// Proxies whose X-Forwarded-For is believed: comma-separated IP addresses or CIDR ranges.
    #[arg(long, env = "ACCOUNTD_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,

    /// Requests per client address per minute on the token, access-token and OTP endpoints
    /// (0 disables the limit).
    #[arg(long, env = "ACCOUNTD_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// Threads that run argon2id; defaults to the number of CPU cores.
    #[arg(long, env = "ACCOUNTD_HASH_POOL_SIZE")]
    pub hash_pool_size: Option<usize>,

    /// Hash requests allowed to wait for a thread before new ones get 503.
    #[arg(long, env = "ACCOUNTD_HASH_QUEUE_BOUND", default_value_t = 256)]
    pub hash_queue_bound: usize,

    /// Seconds a request may wait on the database for one step, waiting for a connection
    /// included; past it the answer is 503 with Retry-After: 1.
    #[arg(long, env = "ACCOUNTD_DB_TIMEOUT", default_value_t = 3)]
    pub db_timeout: u64,

    /// Queued or running argon2id jobs one client address (an IPv6 client as its /64) may hold;
    /// beyond it that client gets 503. Defaults to a quarter of ACCOUNTD_HASH_QUEUE_BOUND.
    #[arg(long, env = "ACCOUNTD_HASH_QUEUE_SHARE")]
    pub hash_queue_share: Option<usize>,

    /// Days the audit trail keeps an event; older ones are deleted in the background.
    #[arg(long, env = "ACCOUNTD_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u32,

    /// Webhook integrations managed by configuration: a JSON array of objects with `name`,
    /// `url`, `secret_key` (16-255 characters), `observes` (event keys) and optionally
    /// `description` and `send_secret_key` (default true). Each gets a stable id; the API cannot
    /// change or delete them.
    #[arg(long, env = "ACCOUNTD_INTEGRATIONS", hide_env_values = true)]
    pub integrations: Option<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "ACCOUNTD_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Development only: let webhooks and OpenID Connect providers be reached on loopback,
    /// private, link-local and metadata addresses, over plain http and with user-info in the URL.
    #[arg(
        long,
        env = "ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub allow_private_destinations: bool,

    /// 32 bytes in base64 (standard or URL-safe, padding optional) that encrypt the JWT keys,
    /// OIDC client secrets and integration secret keys in the database. Without it they are
    /// stored in plain text (one warning at start).
    #[arg(long, env = "ACCOUNTD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// The master key being replaced: `accountd keys rewrap` re-encrypts what it sealed under
    /// ACCOUNTD_MASTER_KEY; a server given both reads values sealed by either.
    #[arg(long, env = "ACCOUNTD_MASTER_KEY_PREVIOUS", hide_env_values = true)]
    pub master_key_previous: Option<String>,
    /// Seconds since its last credential check (password, one-time code, sign-up, OpenID
    /// Connect) within which an account token may change its own password, username or email;
    /// older tokens get 403 `re-authentication required`. At least 1.
    #[arg(long, env = "ACCOUNTD_SENSITIVE_ACTION_MAX_AGE", default_value_t = 600)]
    pub sensitive_action_max_age: u64,

    /// A Firebase project's password hash parameters, for members imported with Firebase scrypt
    /// hashes: a JSON object with `signer_key` and `salt_separator` (base64, as the Firebase
    /// console shows them), `rounds` and `mem_cost`.
    #[arg(long, env = "ACCOUNTD_FIREBASE_SCRYPT", hide_env_values = true)]
    pub firebase_scrypt: Option<String>,
}

/// Checked configuration. Tests build one with [`Config::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub listen: String,
    pub management_listen: ManagementListen,
    /// Where the admin console is served, if anywhere.
    pub console: ConsoleListener,
    pub max_connections: usize,
    /// The drain after SIGTERM, and how long in-flight requests then get.
    pub shutdown_drain: Duration,
    pub shutdown_timeout: Duration,
    pub public_base_url: String,
    pub store_id: Option<Uuid>,
    pub page_length: u32,
    pub jwt_keys: JwtKeySource,
    /// The algorithm new account tokens are signed with.
    pub jwt_algorithm: JwtAlgorithm,
    /// Key pairs from `ACCOUNTD_JWT_PRIVATE_KEYS`, the signing one first.
    pub jwt_private_keys: Vec<KeyEntry>,
    pub bootstrap_key: Option<BootstrapKey>,
    pub cors_origins: CorsOrigins,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub rate_limit_per_minute: u32,
    /// How long a new connection may take to send its first request's head. This and the three
    /// deadlines below are not environment settings: tests shorten them.
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight once it has made one.
    pub idle_timeout: Duration,
    /// The interval of HTTP/2 keep-alive pings, and how long an answer may take.
    pub http2_keep_alive_interval: Duration,
    /// How long a request may take, its body included, before it is answered `408`.
    pub request_timeout: Duration,
    pub hash_pool_size: usize,
    pub hash_queue_bound: usize,
    /// Hash jobs one client address may hold, queued or running.
    pub hash_queue_share: usize,
    /// The longest one store call waits on the database (not an environment setting in tests:
    /// they shorten it through this field).
    pub db_timeout: std::time::Duration,
    pub audit_retention_days: u32,
    pub integrations: Vec<IntegrationConfig>,
    pub log_format: LogFormat,
    /// Which webhook and OpenID Connect destinations may be reached.
    pub destinations: DestinationPolicy,
    /// Seals secrets at rest when set.
    pub master_key: Option<MasterKey>,
    /// Opens secrets sealed before a master key change.
    pub master_key_previous: Option<MasterKey>,
    /// Seconds a credential check keeps an account token fresh for self-managed password,
    /// username and email changes.
    pub sensitive_action_max_age: u64,
    /// The Firebase project whose scrypt hashes members may log in with.
    pub firebase_scrypt: Option<FirebaseScrypt>,
}

/// A webhook integration defined in `ACCOUNTD_INTEGRATIONS`
/// (docs/events.md#integrations-from-configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationConfig {
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub secret_key: Secret,
    pub observes: Vec<String>,
    pub send_secret_key: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationEntry {
    name: String,
    #[serde(default)]
    description: Option<String>,
    url: String,
    secret_key: String,
    observes: Vec<String>,
    #[serde(default = "sends_secret_key_by_default")]
    send_secret_key: bool,
}

fn sends_secret_key_by_default() -> bool {
    true
}

/// Parses and checks `ACCOUNTD_INTEGRATIONS` with the rules of the integrations resource; a URL
/// the destination policy refuses stops the start like any other mistake.
pub fn parse_integrations(
    raw: &str,
    destinations: DestinationPolicy,
) -> Result<Vec<IntegrationConfig>, ConfigError> {
    let entries: Vec<IntegrationEntry> = serde_json::from_str(raw).map_err(|error| {
        ConfigError::new(format!(
            "ACCOUNTD_INTEGRATIONS must be a JSON array of objects with name, url, secret_key and observes: {error}"
        ))
    })?;
    let mut integrations: Vec<IntegrationConfig> = Vec::with_capacity(entries.len());
    for entry in entries {
        let what = format!("ACCOUNTD_INTEGRATIONS entry {:?}", entry.name);
        if !(1..=255).contains(&entry.name.chars().count()) {
            return Err(ConfigError::new(
                "ACCOUNTD_INTEGRATIONS: every name must be 1-255 characters",
            ));
        }
        if integrations.iter().any(|known| known.name == entry.name) {
            // The id is derived from the name, so two entries would be one integration.
            return Err(ConfigError::new(format!("{what} is listed twice")));
        }
        if entry
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1024)
        {
            return Err(ConfigError::new(format!(
                "{what}: description is longer than 1024 characters"
            )));
        }
        if !crate::events::webhook::is_webhook_url(&entry.url) {
            return Err(ConfigError::new(format!(
                "{what}: url must be an absolute http or https URL"
            )));
        }
        if destinations.check_url(&entry.url).is_err() {
            return Err(ConfigError::new(format!(
                "{what}: destination is not allowed (loopback, private, link-local and metadata \
                 addresses, plain http and user-info need ACCOUNTD_ALLOW_PRIVATE_DESTINATIONS=true)"
            )));
        }
        if !(16..=255).contains(&entry.secret_key.chars().count()) {
            return Err(ConfigError::new(format!(
                "{what}: secret_key must be 16-255 characters"
            )));
        }
        if entry.observes.is_empty() || entry.observes.len() > 50 {
            return Err(ConfigError::new(format!(
                "{what}: observes must list 1-50 event keys"
            )));
        }
        if let Some(unknown) = entry
            .observes
            .iter()
            .find(|key| crate::events::EventKey::parse(key).is_none())
        {
            return Err(ConfigError::new(format!(
                "{what}: {unknown:?} is not an event key"
            )));
        }
        integrations.push(IntegrationConfig {
            name: entry.name,
            description: entry.description,
            url: entry.url,
            secret_key: Secret::new(entry.secret_key),
            observes: entry.observes,
            send_secret_key: entry.send_secret_key,
        });
    }
    Ok(integrations)
}

/// Where `/metrics` is served: never on the API listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagementListen {
    Off,
    /// The built-in default: if it cannot be bound (another accountd on this machine), the API
    /// is served without it and a warning says so.
    Default(SocketAddr),
    /// Set by the operator: failing to bind it stops the start.
    Configured(SocketAddr),
}

impl ManagementListen {
    fn parse(raw: Option<&str>, api_listen: SocketAddr) -> Result<Self, ConfigError> {
        let listen = match raw.map(str::trim) {
            None | Some("") => Self::Default(DEFAULT_MANAGEMENT_ADDRESS),
            Some(off) if off.eq_ignore_ascii_case("off") => Self::Off,
            Some(address) => Self::Configured(address.parse().map_err(|_| {
                ConfigError::new(format!(
                    "ACCOUNTD_MANAGEMENT_LISTEN must be an address such as {DEFAULT_MANAGEMENT_ADDRESS}, or off, got {address:?}"
                ))
            })?),
        };
        // Port 0 asks the system for a free port, so two of them never collide.
        if listen.address() == Some(api_listen) && api_listen.port() != 0 {
            return Err(ConfigError::new(format!(
                "ACCOUNTD_MANAGEMENT_LISTEN must differ from ACCOUNTD_LISTEN ({api_listen}): /metrics must not be served on the API listener"
            )));
        }
        Ok(listen)
    }

    pub fn address(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::Default(address) | Self::Configured(address) => Some(address),
        }
    }
}

/// Which listener serves the admin console (docs/console.md#configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsoleListener {
    /// `/admin` answers `404` like any unknown route.
    #[default]
    Off,
    /// On the API listener, beside the API.
    Api,
    /// Only on the management listener, which is usually reachable from the operator's network
    /// alone.
    Management,
}

impl ConsoleListener {
    fn parse(raw: &str, management: ManagementListen) -> Result<Self, ConfigError> {
        let console = match raw.trim() {
            "" | "false" => Self::Off,
            "true" => Self::Api,
            "management" => Self::Management,
            other => {
                return Err(ConfigError::new(format!(
                    "ACCOUNTD_CONSOLE must be true, management or false, got {other:?}"
                )));
            }
        };
        if console == Self::Management && management == ManagementListen::Off {
            return Err(ConfigError::new(
                "ACCOUNTD_CONSOLE=management needs the management listener, but \
                 ACCOUNTD_MANAGEMENT_LISTEN is off",
            ));
        }
        Ok(console)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the JWT signing keys come from (docs/account-tokens.md#signing-keys).
#[derive(Debug, Clone)]
pub enum JwtKeySource {
    /// Generated on first start and kept in the database.
    Persisted,
    Configured {
        keys: Vec<(String, Secret)>,
        active_kid: String,
    },
}

/// Browser origins allowed by CORS (docs/http-conventions.md#paths-and-headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw == "*" {
            return Ok(Self::Any);
        }
        let origins: Vec<String> = raw
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_owned())
            .filter(|origin| !origin.is_empty())
            .collect();
        for origin in &origins {
            let parsed = url::Url::parse(origin).map_err(|_| {
                ConfigError::new(format!(
                    "ACCOUNTD_CORS_ORIGINS: {origin:?} is not an origin"
                ))
            })?;
            if parsed.origin().ascii_serialization() != *origin {
                return Err(ConfigError::new(format!(
                    "ACCOUNTD_CORS_ORIGINS: {origin:?} is not an origin (scheme://host[:port])"
                )));
            }
        }
        Ok(Self::List(origins))
    }
}

#[derive(Debug, Clone)]
pub struct BootstrapKey {
    pub client_id: String,
    pub client_secret: Secret,
}

/// A database URL whose password never reaches a log line.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                // set_password only fails for URLs that cannot carry one, which this one does.
                let _ = parsed.set_password(Some("***"));
                write!(f, "{parsed}")
            }
            Ok(parsed) => write!(f, "{parsed}"),
            Err(_) => f.write_str("<unparseable database url>"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Config {
    /// Defaults for everything but the database, as if the environment were empty.
    pub fn new(database_url: impl Into<String>) -> Self {
        let listen = "127.0.0.1:8080".to_owned();
        Self {
            database_url: DatabaseUrl::new(database_url),
            public_base_url: format!("http://{listen}"),
            listen,
            management_listen: ManagementListen::Default(DEFAULT_MANAGEMENT_ADDRESS),
            console: ConsoleListener::Off,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_drain: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            store_id: None,
            page_length: 25,
            jwt_keys: JwtKeySource::Persisted,
            jwt_algorithm: JwtAlgorithm::Hs256,
            jwt_private_keys: Vec::new(),
            bootstrap_key: None,
            cors_origins: CorsOrigins::Any,
            trusted_proxies: Vec::new(),
            rate_limit_per_minute: 600,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            http2_keep_alive_interval: DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            hash_pool_size: default_hash_pool_size(),
            hash_queue_bound: 256,
            hash_queue_share: default_hash_queue_share(256),
            db_timeout: std::time::Duration::from_secs(3),
            audit_retention_days: 90,
            integrations: Vec::new(),
            log_format: LogFormat::Text,
            destinations: DestinationPolicy::default(),
            master_key: None,
            master_key_previous: None,
            sensitive_action_max_age: 600,
            firebase_scrypt: None,
        }
    }

    pub fn from_args(args: ConfigArgs) -> Result<Self, ConfigError> {
        let Ok(api_listen) = args.listen.parse::<SocketAddr>() else {
            return Err(ConfigError::new(format!(
                "ACCOUNTD_LISTEN must be an address such as 127.0.0.1:8080, got {:?}",
                args.listen
            )));
        };
        let management_listen =
            ManagementListen::parse(args.management_listen.as_deref(), api_listen)?;
        let console = ConsoleListener::parse(&args.console, management_listen)?;
        // The semaphore that enforces it counts in u32.
        if args.max_connections == 0 || u32::try_from(args.max_connections).is_err() {
            return Err(ConfigError::new(
                "ACCOUNTD_MAX_CONNECTIONS must be between 1 and 4294967295",
            ));
        }
        let public_base_url = match args.public_base_url {
            Some(url) => parse_base_url(&url)?,
            None => format!("http://{}", args.listen),
        };
        let store_id = match args.store_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                Uuid::parse_str(raw)
                    .map_err(|_| ConfigError::new("ACCOUNTD_STORE_ID must be a UUID"))?,
            ),
        };
        if !(1..=100).contains(&args.page_length) {
            return Err(ConfigError::new(
                "ACCOUNTD_PAGE_LENGTH must be between 1 and 100",
            ));
        }
        let jwt_keys = jwt_key_source(
            args.jwt_secret.as_deref(),
            args.jwt_keys.as_deref(),
            args.jwt_active_kid.as_deref(),
        )?;
        let jwt_private_keys = match args.jwt_private_keys.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(paths) => read_private_keys(paths)?,
        };
        let jwt_algorithm = jwt_algorithm(args.jwt_alg.as_deref(), &jwt_private_keys)?;
        let bootstrap_key = match (args.client_id, args.client_secret) {
            (None, None) => None,
            (Some(client_id), Some(secret)) if !client_id.is_empty() && !secret.is_empty() => {
                Some(BootstrapKey {
                    client_id,
                    client_secret: Secret::new(secret),
                })
            }
            _ => {
                return Err(ConfigError::new(
                    "ACCOUNTD_CLIENT_ID and ACCOUNTD_CLIENT_SECRET must be set together, and not empty",
                ));
            }
        };
        let hash_pool_size = match args.hash_pool_size {
            Some(0) => {
                return Err(ConfigError::new(
                    "ACCOUNTD_HASH_POOL_SIZE must be at least 1",
                ));
            }
            Some(size) => size,
            None => default_hash_pool_size(),
        };
        let hash_queue_share = match args.hash_queue_share {
            Some(0) => {
                return Err(ConfigError::new(
                    "ACCOUNTD_HASH_QUEUE_SHARE must be at least 1",
                ));
            }
            Some(share) => share,
            None => default_hash_queue_share(args.hash_queue_bound),
        };
        if args.db_timeout == 0 || args.db_timeout > 3600 {
            return Err(ConfigError::new(
                "ACCOUNTD_DB_TIMEOUT must be between 1 and 3600 seconds",
            ));
        }
        if args.audit_retention_days == 0 {
            return Err(ConfigError::new(
                "ACCOUNTD_AUDIT_RETENTION_DAYS must be at least 1",
            ));
        }
        if args.sensitive_action_max_age == 0 {
            return Err(ConfigError::new(
                "ACCOUNTD_SENSITIVE_ACTION_MAX_AGE must be at least 1 (seconds)",
            ));
        }
        let log_format = match args.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::new(format!(
                    "ACCOUNTD_LOG_FORMAT must be text or json, got {other:?}"
                )));
            }
        };
        let destinations = DestinationPolicy {
            allow_private: args.allow_private_destinations,
        };
        let firebase_scrypt =
            match args.firebase_scrypt.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(raw) => Some(FirebaseScrypt::from_json(raw).map_err(|error| {
                    ConfigError::new(format!("ACCOUNTD_FIREBASE_SCRYPT {error}"))
                })?),
            };
        let master_key = parse_master_key("ACCOUNTD_MASTER_KEY", args.master_key.as_deref())?;
        let master_key_previous = parse_master_key(
            "ACCOUNTD_MASTER_KEY_PREVIOUS",
            args.master_key_previous.as_deref(),
        )?;
        Ok(Self {
            database_url: DatabaseUrl::new(args.database_url),
            listen: args.listen,
            management_listen,
            console,
            max_connections: args.max_connections,
            shutdown_drain: Duration::from_secs(args.shutdown_drain),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
            public_base_url,
            store_id,
            page_length: args.page_length,
            jwt_keys,
            jwt_algorithm,
            jwt_private_keys,
            bootstrap_key,
            cors_origins: CorsOrigins::parse(&args.cors_origins)?,
            trusted_proxies: parse_trusted_proxies(args.trusted_proxies.as_deref())?,
            rate_limit_per_minute: args.rate_limit_per_minute,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            http2_keep_alive_interval: DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            hash_pool_size,
            hash_queue_bound: args.hash_queue_bound,
            hash_queue_share,
            db_timeout: std::time::Duration::from_secs(args.db_timeout),
            audit_retention_days: args.audit_retention_days,
            integrations: match args.integrations.as_deref().map(str::trim) {
                None | Some("") => Vec::new(),
                Some(raw) => parse_integrations(raw, destinations)?,
            },
            log_format,
            destinations,
            master_key,
            master_key_previous,
            sensitive_action_max_age: args.sensitive_action_max_age,
            firebase_scrypt,
        })
    }
}

/// An optional master key setting; empty counts as unset.
fn parse_master_key(name: &str, raw: Option<&str>) -> Result<Option<MasterKey>, ConfigError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => MasterKey::parse(text)
            .map(Some)
            .map_err(|error| ConfigError::new(format!("{name} {error}"))),
    }
}

/// IP addresses (as /32 or /128) or CIDR ranges, comma-separated.
fn parse_trusted_proxies(raw: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new(format!(
                        "ACCOUNTD_TRUSTED_PROXIES: {entry:?} is not an IP address or CIDR range"
                    ))
                })
        })
        .collect()
}

/// A quarter of the queue, so that at least four clients must flood together to fill it.
pub fn default_hash_queue_share(queue_bound: usize) -> usize {
    (queue_bound / 4).max(1)
}

fn default_hash_pool_size() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn parse_base_url(raw: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(raw)
        .map_err(|_| ConfigError::new("ACCOUNTD_PUBLIC_BASE_URL must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            "ACCOUNTD_PUBLIC_BASE_URL must be an http or https URL",
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The kid of a single configured secret: the first 16 hex digits of SHA-256(secret), so every
/// replica and every restart agrees on it (docs/account-tokens.md#signing-keys).
pub fn kid_of_secret(secret: &[u8]) -> String {
    let digest = Sha256::digest(secret);
    hex::encode(&digest[..8])
}

/// `ACCOUNTD_JWT_ALG`, which must agree with the first private key when keys are given (and
/// defaults to its algorithm then).
fn jwt_algorithm(
    raw: Option<&str>,
    private_keys: &[KeyEntry],
) -> Result<JwtAlgorithm, ConfigError> {
    let signing = private_keys.first().map(|key| key.material.algorithm());
    let algorithm = match raw.map(str::trim) {
        None | Some("") => signing.unwrap_or_default(),
        Some(raw) => JwtAlgorithm::parse(raw).ok_or_else(|| {
            ConfigError::new(format!(
                "ACCOUNTD_JWT_ALG must be HS256, EdDSA or ES256, got {raw:?}"
            ))
        })?,
    };
    match signing {
        Some(signing) if signing != algorithm => Err(ConfigError::new(format!(
            "the first of ACCOUNTD_JWT_PRIVATE_KEYS is an {signing} key, but ACCOUNTD_JWT_ALG is {algorithm}"
        ))),
        _ => Ok(algorithm),
    }
}

/// The PKCS#8 PEM files of `ACCOUNTD_JWT_PRIVATE_KEYS`; each kid is the key's thumbprint.
fn read_private_keys(paths: &str) -> Result<Vec<KeyEntry>, ConfigError> {
    let mut keys: Vec<KeyEntry> = Vec::new();
    for path in paths
        .split(',')
        .map(str::trim)
        .filter(|path| !path.is_empty())
    {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::new(format!(
                "ACCOUNTD_JWT_PRIVATE_KEYS: cannot read {path:?}: {error}"
            ))
        })?;
        let material = KeyMaterial::from_pkcs8_pem(&text).map_err(|error| {
            ConfigError::new(format!("ACCOUNTD_JWT_PRIVATE_KEYS: {path:?}: {error}"))
        })?;
        let kid = material.new_kid();
        if keys.iter().any(|key| key.kid == kid) {
            return Err(ConfigError::new(format!(
                "ACCOUNTD_JWT_PRIVATE_KEYS lists the key in {path:?} twice"
            )));
        }
        keys.push(KeyEntry {
            kid,
            material,
            verifies_until: None,
        });
    }
    Ok(keys)
}

fn jwt_key_source(
    single: Option<&str>,
    several: Option<&str>,
    active: Option<&str>,
) -> Result<JwtKeySource, ConfigError> {
    let single = single.filter(|value| !value.is_empty());
    let several = several.filter(|value| !value.is_empty());
    match (single, several) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "set either ACCOUNTD_JWT_SECRET or ACCOUNTD_JWT_KEYS, not both",
        )),
        (None, None) => Ok(JwtKeySource::Persisted),
        (Some(secret), None) => {
            check_secret_length("ACCOUNTD_JWT_SECRET", secret)?;
            let kid = kid_of_secret(secret.as_bytes());
            Ok(JwtKeySource::Configured {
                keys: vec![(kid.clone(), Secret::new(secret))],
                active_kid: kid,
            })
        }
        (None, Some(list)) => {
            let mut keys: Vec<(String, Secret)> = Vec::new();
            for entry in list.split(',') {
                let Some((kid, secret)) = entry.split_once('=') else {
                    return Err(ConfigError::new(
                        "ACCOUNTD_JWT_KEYS entries must look like kid=secret",
                    ));
                };
                let kid = kid.trim();
                if kid.is_empty() {
                    return Err(ConfigError::new("ACCOUNTD_JWT_KEYS has an empty kid"));
                }
                if keys.iter().any(|(known, _)| known == kid) {
                    return Err(ConfigError::new(format!(
                        "ACCOUNTD_JWT_KEYS lists kid {kid:?} twice"
                    )));
                }
                check_secret_length(&format!("the ACCOUNTD_JWT_KEYS secret of {kid:?}"), secret)?;
                keys.push((kid.to_owned(), Secret::new(secret)));
            }
            let active_kid = match active.filter(|kid| !kid.is_empty()) {
                Some(kid) if keys.iter().any(|(known, _)| known == kid) => kid.to_owned(),
                Some(kid) => {
                    return Err(ConfigError::new(format!(
                        "ACCOUNTD_JWT_ACTIVE_KID {kid:?} is not one of ACCOUNTD_JWT_KEYS"
                    )));
                }
                None => match keys.as_slice() {
                    [(kid, _)] => kid.clone(),
                    _ => {
                        return Err(ConfigError::new(
                            "ACCOUNTD_JWT_ACTIVE_KID is required when ACCOUNTD_JWT_KEYS lists several keys",
                        ));
                    }
                },
            };
            Ok(JwtKeySource::Configured { keys, active_kid })
        }
    }
}

fn check_secret_length(what: &str, secret: &str) -> Result<(), ConfigError> {
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::new(format!(
            "{what} must be at least {MIN_JWT_SECRET_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_short_jwt_secret_refuses_to_start() {
        assert!(jwt_key_source(Some("short"), None, None).is_err());
    }

    #[test]
    fn the_jwt_algorithm_defaults_to_hs256_and_must_agree_with_the_first_private_key() {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        assert_eq!(jwt_algorithm(None, &[]).unwrap(), JwtAlgorithm::Hs256);
        assert_eq!(
            jwt_algorithm(Some("ES256"), &[]).unwrap(),
            JwtAlgorithm::Es256
        );
        assert!(
            jwt_algorithm(Some("eddsa"), &[]).is_err(),
            "JOSE names are case-sensitive"
        );
        assert!(jwt_algorithm(Some("RS256"), &[]).is_err());

        let dir = tempfile::tempdir().unwrap();
        let ed_path = dir.path().join("ed25519.pem");
        let ed = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        std::fs::write(
            &ed_path,
            ed.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
        )
        .unwrap();
        let ec_path = dir.path().join("p256.pem");
        let ec = p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap();
        std::fs::write(
            &ec_path,
            ec.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
        )
        .unwrap();
        let list = format!("{}, {}", ed_path.display(), ec_path.display());
        let keys = read_private_keys(&list).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].kid, keys[0].material.thumbprint().unwrap());
        assert_eq!(jwt_algorithm(None, &keys).unwrap(), JwtAlgorithm::EdDsa);
        assert!(jwt_algorithm(Some("ES256"), &keys).is_err());
        assert!(jwt_algorithm(Some("HS256"), &keys).is_err());

        let twice = format!("{}, {}", ed_path.display(), ed_path.display());
        assert!(read_private_keys(&twice).is_err());
        assert!(read_private_keys("/no/such/key.pem").is_err());
        let not_a_key = dir.path().join("garbage.pem");
        std::fs::write(&not_a_key, "hello").unwrap();
        assert!(read_private_keys(&not_a_key.display().to_string()).is_err());
    }

    #[test]
    fn both_jwt_forms_refuse_to_start() {
        let several = format!("a={LONG}");
        assert!(jwt_key_source(Some(LONG), Some(&several), None).is_err());
    }

    #[test]
    fn a_single_secret_gets_a_stable_derived_kid() {
        let Ok(JwtKeySource::Configured { active_kid, keys }) =
            jwt_key_source(Some(LONG), None, None)
        else {
            panic!("expected configured keys");
        };
        assert_eq!(active_kid.len(), 16);
        assert_eq!(active_kid, kid_of_secret(LONG.as_bytes()));
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn several_keys_need_an_active_kid_that_is_listed() {
        let list = format!("k1={LONG},k2={LONG}x");
        assert!(jwt_key_source(None, Some(&list), None).is_err());
        assert!(jwt_key_source(None, Some(&list), Some("k3")).is_err());
        assert!(matches!(
            jwt_key_source(None, Some(&list), Some("k2")),
            Ok(JwtKeySource::Configured { active_kid, .. }) if active_kid == "k2"
        ));
    }

    #[test]
    fn cors_origins_are_star_or_a_list_of_origins() {
        assert_eq!(CorsOrigins::parse("*").unwrap(), CorsOrigins::Any);
        assert_eq!(
            CorsOrigins::parse("https://shop.example.com, http://localhost:3000/").unwrap(),
            CorsOrigins::List(vec![
                "https://shop.example.com".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
        assert!(CorsOrigins::parse("https://shop.example.com/path").is_err());
        assert!(CorsOrigins::parse("shop").is_err());
    }

    #[test]
    fn integrations_are_parsed_and_checked() {
        let good = r#"[{"name":"OTP mailer","url":"https://hooks.example.com/otp",
            "secret_key":"0123456789abcdef","observes":["one-time-password-token-request.created","account.created"]}]"#;
        let parsed = parse_integrations(good, DestinationPolicy::default()).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].name, "OTP mailer");
        assert!(parsed[0].send_secret_key);
        assert!(!format!("{parsed:?}").contains("0123456789abcdef"));
        for bad in [
            "{}",
            r#"[{"name":"a","url":"ftp://x","secret_key":"0123456789abcdef","observes":["account.created"]}]"#,
            r#"[{"name":"a","url":"https://x","secret_key":"short","observes":["account.created"]}]"#,
            r#"[{"name":"a","url":"https://x","secret_key":"0123456789abcdef","observes":["nope"]}]"#,
            r#"[{"name":"a","url":"https://x","secret_key":"0123456789abcdef","observes":[]}]"#,
            r#"[{"name":"a","url":"https://x","secret_key":"0123456789abcdef","observes":["account.created"]},
                {"name":"a","url":"https://y","secret_key":"0123456789abcdef","observes":["account.created"]}]"#,
        ] {
            assert!(
                parse_integrations(bad, DestinationPolicy::default()).is_err(),
                "{bad}"
            );
        }
        let quiet = r#"[{"name":"a","url":"https://hooks.example.com","secret_key":"0123456789abcdef",
            "observes":["account.created"],"send_secret_key":false}]"#;
        let parsed = parse_integrations(quiet, DestinationPolicy::default()).unwrap();
        assert!(!parsed[0].send_secret_key);
    }

    #[test]
    fn configured_integrations_follow_the_destination_policy() {
        let entry = |url: &str| {
            format!(
                r#"[{{"name":"a","url":"{url}","secret_key":"0123456789abcdef","observes":["account.created"]}}]"#
            )
        };
        let strict = DestinationPolicy::default();
        let development = DestinationPolicy {
            allow_private: true,
        };
        for refused in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://user:pass@hooks.example.com/x",
        ] {
            let error = parse_integrations(&entry(refused), strict).unwrap_err();
            assert!(
                error.to_string().contains("destination is not allowed"),
                "{refused}: {error}"
            );
            assert!(
                parse_integrations(&entry(refused), development).is_ok(),
                "{refused}"
            );
        }
        assert!(parse_integrations(&entry("https://hooks.example.com/x"), strict).is_ok());
    }

    #[test]
    fn master_keys_are_checked_at_start_and_never_echoed() {
        let key = MasterKey::generate_text();
        assert!(
            parse_master_key("ACCOUNTD_MASTER_KEY", Some(&key))
                .unwrap()
                .is_some()
        );
        assert!(
            parse_master_key("ACCOUNTD_MASTER_KEY", Some(""))
                .unwrap()
                .is_none()
        );
        assert!(
            parse_master_key("ACCOUNTD_MASTER_KEY", None)
                .unwrap()
                .is_none()
        );
        let short = &key[..20];
        let error = parse_master_key("ACCOUNTD_MASTER_KEY", Some(short)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("configuration: ACCOUNTD_MASTER_KEY must be 32 bytes")
        );
        assert!(!error.to_string().contains(short));
    }

    #[test]
    fn the_sensitive_action_max_age_is_a_whole_number_of_seconds_of_at_least_one() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            config: ConfigArgs,
        }
        let parse = |value: &str| {
            Cli::try_parse_from(["accountd", "--sensitive-action-max-age", value])
                .map(|cli| cli.config)
        };
        let config = Config::from_args(parse("60").unwrap()).unwrap();
        assert_eq!(config.sensitive_action_max_age, 60);
        assert!(Config::from_args(parse("0").unwrap()).is_err());
        assert!(parse("-1").is_err());
        assert!(parse("1.5").is_err());
        assert_eq!(Config::new("sqlite::memory:").sensitive_action_max_age, 600);
    }

    #[test]
    fn firebase_scrypt_parameters_are_checked_at_start_and_never_echoed() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            config: ConfigArgs,
        }
        let parse = |value: &str| {
            let cli = Cli::try_parse_from(["accountd", "--firebase-scrypt", value]).unwrap();
            Config::from_args(cli.config)
        };
        let good = r#"{"signer_key":"c2lnbmVyLWtleS1zZWNyZXQ=","salt_separator":"Bw==","rounds":8,"mem_cost":14}"#;
        let config = parse(good).unwrap();
        assert!(config.firebase_scrypt.is_some());
        assert!(!format!("{config:?}").contains("c2lnbmVy"));
        assert!(parse("").unwrap().firebase_scrypt.is_none());
        assert!(Config::new("sqlite::memory:").firebase_scrypt.is_none());
        let error = parse(&good.replace("\"rounds\":8", "\"rounds\":\"8\"")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("configuration: ACCOUNTD_FIREBASE_SCRYPT must be a JSON object"),
            "{error}"
        );
        assert!(!error.to_string().contains("c2lnbmVy"), "{error}");
        assert!(parse(&good.replace("14", "40")).is_err());
    }

    #[test]
    fn the_management_listener_is_on_by_default_can_be_off_and_never_shares_the_api_address() {
        let api: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            ManagementListen::parse(None, api).unwrap(),
            ManagementListen::Default(DEFAULT_MANAGEMENT_ADDRESS)
        );
        assert_eq!(
            ManagementListen::parse(Some("off"), api).unwrap(),
            ManagementListen::Off
        );
        assert_eq!(
            ManagementListen::parse(Some("0.0.0.0:9100"), api).unwrap(),
            ManagementListen::Configured("0.0.0.0:9100".parse().unwrap())
        );
        assert!(ManagementListen::parse(Some("127.0.0.1:8080"), api).is_err());
        assert!(ManagementListen::parse(Some("localhost"), api).is_err());
        assert!(ManagementListen::parse(None, DEFAULT_MANAGEMENT_ADDRESS).is_err());
        // Two requests for a free port get two different ports.
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(ManagementListen::parse(Some("127.0.0.1:0"), any).is_ok());
    }

    #[test]
    fn the_console_is_off_by_default_and_served_on_one_listener_when_asked() {
        let on = ManagementListen::Default(DEFAULT_MANAGEMENT_ADDRESS);
        assert_eq!(
            ConsoleListener::parse("", on).unwrap(),
            ConsoleListener::Off
        );
        assert_eq!(
            ConsoleListener::parse("false", on).unwrap(),
            ConsoleListener::Off
        );
        assert_eq!(
            ConsoleListener::parse("true", on).unwrap(),
            ConsoleListener::Api
        );
        assert_eq!(
            ConsoleListener::parse(" management ", on).unwrap(),
            ConsoleListener::Management
        );
        assert!(ConsoleListener::parse("yes", on).is_err());
        assert!(ConsoleListener::parse("management", ManagementListen::Off).is_err());
        assert_eq!(
            ConsoleListener::parse("true", ManagementListen::Off).unwrap(),
            ConsoleListener::Api
        );
        assert_eq!(Config::new("sqlite::memory:").console, ConsoleListener::Off);
    }

    #[test]
    fn database_url_debug_hides_the_password() {
        let url = DatabaseUrl::new("postgres://user:hunter2@db.example/accountd");
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
