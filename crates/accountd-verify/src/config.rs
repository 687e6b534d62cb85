//! What a [`Verifier`] is built from: the deployment's ids, the keys and the algorithms it accepts,
//! and optionally introspection. Everything is checked when the verifier is built, so a mistake
//! stops the service's start instead of refusing every request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::verifier::Verifier;

/// The shortest HS256 secret accepted: accountd refuses shorter ones too.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The bounds of the pause between two fetches of the JWK Set (see
/// [`VerifierBuilder::jwks_refetch_interval`]).
const REFETCH_INTERVAL_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(300));

/// The default pause between two fetches of the JWK Set: a rotated key reaches the verifier at
/// the first token that names it, while forged `kid`s cost accountd at most one request in ten
/// seconds per verifier.
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// The longest an introspection answer may be reused: long enough to absorb a page's burst of
/// requests with one token, short enough that a revocation takes effect within a minute.
pub const MAX_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(60);

const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_INTROSPECTION_CACHE_ENTRIES: usize = 10_000;

/// How long one request to accountd (the JWK Set or introspection) may take in all.
const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The JWS algorithms accountd signs account tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC-SHA256 with a shared secret (accountd's default).
    Hs256,
    /// Ed25519, verified with a public key from the JWK Set.
    EdDsa,
    /// ECDSA on P-256 with SHA-256, verified with a public key from the JWK Set.
    Es256,
}

impl Algorithm {
    /// The JOSE `alg` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Exactly the JOSE spelling (`alg` is case-sensitive): `none` and every other value is
    /// `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "HS256" => Some(Self::Hs256),
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A shared HS256 secret and the `kid` accountd's tokens name it by. The secret never reaches
/// `Debug`.
#[derive(Clone)]
pub struct Hs256Key {
    pub(crate) kid: String,
    pub(crate) secret: Vec<u8>,
}

impl Hs256Key {
    /// A key as `accountd keys export` prints it (`ACCOUNTD_JWT_KEYS=kid=secret,…`), or as the
    /// operator configured it in `ACCOUNTD_JWT_KEYS`.
    pub fn new(kid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            kid: kid.into(),
            secret: secret.into(),
        }
    }

    /// The key of `ACCOUNTD_JWT_SECRET`, whose `kid` accountd derives from the secret: the first
    /// 16 hex digits of its SHA-256.
    pub fn from_jwt_secret(secret: impl Into<Vec<u8>>) -> Self {
        let secret = secret.into();
        let digest = Sha256::digest(&secret);
        let kid = digest
            .iter()
            .take(8)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self { kid, secret }
    }

    /// The `kid` tokens signed with this key carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl fmt::Debug for Hs256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hs256Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// How the verifier authenticates to accountd's introspection endpoint.
#[derive(Clone)]
pub enum IntrospectionCredentials {
    /// An application key's client id and secret, sent as HTTP Basic. The recommended choice: it
    /// does not expire.
    ApplicationKey {
        /// The application key's `client_id`.
        client_id: String,
        /// The application key's `client_secret`.
        client_secret: String,
    },
    /// An accountd bearer token (an `implicit` one will do). Bearer tokens expire; the service
    /// must build a new verifier with a fresh one before then.
    BearerToken(String),
}

impl fmt::Debug for IntrospectionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApplicationKey { client_id, .. } => f
                .debug_struct("ApplicationKey")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::BearerToken(_) => f.write_str("BearerToken(redacted)"),
        }
    }
}

/// Liveness through accountd's `POST /oauth/introspect` (RFC 7662): a token that passed the
/// offline checks is also asked about, so a deleted membership, a deleted member or account, or a
/// revocation refuses it. Answers are cached by the SHA-256 of the token for a short time.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub(crate) url: String,
    pub(crate) credentials: IntrospectionCredentials,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_entries: usize,
}

impl Introspection {
    /// Introspection at `url` (such as `https://accounts.example.com/oauth/introspect`), its
    /// answers cached for 5 seconds, at most 10,000 of them.
    pub fn new(url: impl Into<String>, credentials: IntrospectionCredentials) -> Self {
        Self {
            url: url.into(),
            credentials,
            cache_ttl: DEFAULT_INTROSPECTION_CACHE_TTL,
            cache_entries: DEFAULT_INTROSPECTION_CACHE_ENTRIES,
        }
    }

    /// How long an answer is reused: a revoked token is refused at most this long after its
    /// revocation. At most [`MAX_INTROSPECTION_CACHE_TTL`]; zero asks accountd every time.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many answers are kept at most; the oldest go first.
    pub fn cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries;
        self
    }
}

/// A mistake in the configuration, found when the verifier is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a JWK Set nor an HS256 key was given: no token could ever verify.
    #[error("name a JWK Set URL with its algorithms, or HS256 keys, or both")]
    NoKeys,
    /// A JWK Set was given with no algorithm, or with HS256 (a shared secret is never published).
    #[error(
        "a JWK Set needs its algorithms named, EdDSA and/or ES256 (HS256 keys are given as keys)"
    )]
    JwksAlgorithms,
    /// A URL that is not `http` or `https`.
    #[error("the {what} URL must be an absolute http or https URL")]
    Url {
        /// Which URL.
        what: &'static str,
    },
    /// An HS256 key with an empty `kid`.
    #[error("every HS256 key needs a kid")]
    EmptyKid,
    /// Two HS256 keys with one `kid`.
    #[error("the HS256 kid {0:?} is given twice")]
    DuplicateKid(String),
    /// An HS256 secret shorter than [`MIN_HS256_SECRET_BYTES`].
    #[error("the HS256 secret of kid {0:?} is shorter than 32 bytes")]
    WeakSecret(String),
    /// A refetch interval outside 1 s to 5 min.
    #[error("the JWK Set refetch interval must be between 1 s and 5 min")]
    RefetchInterval,
    /// An introspection cache TTL above [`MAX_INTROSPECTION_CACHE_TTL`], or a cache of no entries
    /// with a TTL.
    #[error("the introspection cache TTL must be at most 60 s, with room for at least one entry")]
    IntrospectionCache,
    /// Introspection credentials with an empty client id, or a bearer token that is empty or
    /// not visible ASCII.
    #[error("the introspection credentials are empty or not usable in a header")]
    Credentials,
    /// The HTTP client could not be built (no TLS roots, for example).
    #[error("the HTTP client cannot be built: {0}")]
    HttpClient(String),
}

/// Builds a [`Verifier`]; see [`Verifier::builder`].
#[must_use]
pub struct VerifierBuilder {
    pub(crate) store_id: Uuid,
    pub(crate) realm_id: Uuid,
    pub(crate) hs256_keys: Vec<Hs256Key>,
    pub(crate) jwks: Option<(String, Vec<Algorithm>)>,
    pub(crate) refetch_interval: Duration,
    pub(crate) introspection: Option<Introspection>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http_client: Option<reqwest::Client>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("store_id", &self.store_id)
            .field("realm_id", &self.realm_id)
            .field("hs256_keys", &self.hs256_keys)
            .field("jwks", &self.jwks)
            .field("refetch_interval", &self.refetch_interval)
            .field("introspection", &self.introspection)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    pub(crate) fn new(store_id: Uuid, realm_id: Uuid) -> Self {
        Self {
            store_id,
            realm_id,
            hs256_keys: Vec::new(),
            jwks: None,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            introspection: None,
            clock: Arc::new(SystemClock),
            http_client: None,
        }
    }

    /// Verifies HS256 tokens with these shared secrets, each by its `kid`; several keys cover a
    /// rotation. Accepting HS256 is implied by giving keys.
    pub fn hs256_keys(mut self, keys: impl IntoIterator<Item = Hs256Key>) -> Self {
        self.hs256_keys.extend(keys);
        self
    }

    /// Verifies tokens of `algorithms` (EdDSA and/or ES256) with the public keys of the JWK Set
    /// at `url` (such as `https://accounts.example.com/.well-known/jwks.json`), fetched at first
    /// use, kept as long as its `Cache-Control: max-age` says (within 30 s to 1 h), and fetched
    /// again when a token names a `kid` the set lacks.
    pub fn jwks(
        mut self,
        url: impl Into<String>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self {
        self.jwks = Some((url.into(), algorithms.into_iter().collect()));
        self
    }

    /// The least time between two fetches of the JWK Set (10 s unless set; 1 s to 5 min): tokens
    /// with unknown `kid`s meanwhile are refused without asking accountd, and concurrent ones
    /// share one fetch.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Also asks accountd whether each token is live.
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// The clock every expiry and cache decision reads ([`SystemClock`] unless set).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client for the JWK Set and introspection. Unless set, one with rustls, the
    /// bundled and the system's roots, a 2 s connect and a 5 s overall timeout.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Checks the configuration and builds the verifier. Nothing is fetched yet.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if self.hs256_keys.is_empty() && self.jwks.is_none() {
            return Err(ConfigError::NoKeys);
        }
        let mut seen = std::collections::HashSet::new();
        for key in &self.hs256_keys {
            if key.kid.is_empty() {
                return Err(ConfigError::EmptyKid);
            }
            if !seen.insert(key.kid.as_str()) {
                return Err(ConfigError::DuplicateKid(key.kid.clone()));
            }
            if key.secret.len() < MIN_HS256_SECRET_BYTES {
                return Err(ConfigError::WeakSecret(key.kid.clone()));
            }
        }
        let jwks_url = match &self.jwks {
            Some((url, algorithms)) => {
                if algorithms.is_empty() || algorithms.contains(&Algorithm::Hs256) {
                    return Err(ConfigError::JwksAlgorithms);
                }
                Some(http_url(url, "JWK Set")?)
            }
            None => None,
        };
        let (shortest, longest) = REFETCH_INTERVAL_BOUNDS;
        if !(shortest..=longest).contains(&self.refetch_interval) {
            return Err(ConfigError::RefetchInterval);
        }
        let mut introspection_url = None;
        if let Some(introspection) = &self.introspection {
            introspection_url = Some(http_url(&introspection.url, "introspection")?);
            let usable = match &introspection.credentials {
                IntrospectionCredentials::ApplicationKey { client_id, .. } => !client_id.is_empty(),
                // It travels in a header: visible ASCII only.
                IntrospectionCredentials::BearerToken(token) => {
                    !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_graphic())
                }
            };
            if !usable {
                return Err(ConfigError::Credentials);
            }
            if introspection.cache_ttl > MAX_INTROSPECTION_CACHE_TTL
                || (!introspection.cache_ttl.is_zero() && introspection.cache_entries == 0)
            {
                return Err(ConfigError::IntrospectionCache);
            }
        }
        let client = match &self.http_client {
            Some(client) => client.clone(),
            None => reqwest::Client::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .timeout(DEFAULT_HTTP_TIMEOUT)
                // accountd answers these endpoints itself; a redirect would be a misconfiguration.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|error| ConfigError::HttpClient(error.to_string()))?,
        };
        Ok(Verifier::new(
            self,
            Endpoints {
                client,
                jwks: jwks_url,
                introspection: introspection_url,
            },
        ))
    }
}

/// Where a verifier asks accountd, checked, and the client it asks with.
pub(crate) struct Endpoints {
    pub client: reqwest::Client,
    pub jwks: Option<reqwest::Url>,
    pub introspection: Option<reqwest::Url>,
}

/// An absolute `http` or `https` URL.
fn http_url(url: &str, what: &'static str) -> Result<reqwest::Url, ConfigError> {
    reqwest::Url::parse(url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or(ConfigError::Url { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> VerifierBuilder {
        VerifierBuilder::new(Uuid::new_v4(), Uuid::new_v4())
    }

    const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

    #[test]
    fn the_kid_of_a_jwt_secret_is_derived_as_accountd_derives_it() {
        // The first 8 bytes of SHA-256("an-hs256-secret-of-at-least-32-bytes!"), in hex.
        let digest = Sha256::digest(SECRET.as_bytes());
        let expected: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(Hs256Key::from_jwt_secret(SECRET).kid(), expected);
        assert_eq!(expected.len(), 16);
    }

    #[test]
    fn secrets_never_reach_debug() {
        let key = Hs256Key::new("k1", SECRET);
        assert!(!format!("{key:?}").contains(SECRET));
        let credentials = IntrospectionCredentials::ApplicationKey {
            client_id: "id".to_owned(),
            client_secret: "the-secret".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("the-secret"));
        let bearer = IntrospectionCredentials::BearerToken("the-token".to_owned());
        assert!(!format!("{bearer:?}").contains("the-token"));
        let built = builder()
            .hs256_keys([key])
            .introspection(Introspection::new(
                "http://127.0.0.1:1/oauth/introspect",
                credentials,
            ))
            .build()
            .unwrap();
        let shown = format!("{built:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("the-secret"),
            "{shown}"
        );
    }

    #[test]
    fn a_configuration_that_could_not_verify_safely_is_refused() {
        assert_eq!(builder().build().unwrap_err(), ConfigError::NoKeys);
        let jwks = "https://accounts.example.com/.well-known/jwks.json";
        assert_eq!(
            builder().jwks(jwks, []).build().unwrap_err(),
            ConfigError::JwksAlgorithms
        );
        assert_eq!(
            builder()
                .jwks(jwks, [Algorithm::EdDsa, Algorithm::Hs256])
                .build()
                .unwrap_err(),
            ConfigError::JwksAlgorithms
        );
        for url in [
            "ftp://example.com/jwks",
            "/jwks.json",
            "not a url",
            "http://",
        ] {
            assert_eq!(
                builder().jwks(url, [Algorithm::EdDsa]).build().unwrap_err(),
                ConfigError::Url { what: "JWK Set" },
                "{url}"
            );
        }
        assert_eq!(
            builder()
                .hs256_keys([Hs256Key::new("k1", "short")])
                .build()
                .unwrap_err(),
            ConfigError::WeakSecret("k1".to_owned())
        );
        assert_eq!(
            builder()
                .hs256_keys([Hs256Key::new("", SECRET)])
                .build()
                .unwrap_err(),
            ConfigError::EmptyKid
        );
        assert_eq!(
            builder()
                .hs256_keys([Hs256Key::new("k1", SECRET), Hs256Key::new("k1", SECRET)])
                .build()
                .unwrap_err(),
            ConfigError::DuplicateKid("k1".to_owned())
        );
        for interval in [Duration::from_millis(999), Duration::from_secs(301)] {
            assert_eq!(
                builder()
                    .jwks(jwks, [Algorithm::Es256])
                    .jwks_refetch_interval(interval)
                    .build()
                    .unwrap_err(),
                ConfigError::RefetchInterval
            );
        }
        let introspection = || {
            Introspection::new(
                "https://accounts.example.com/oauth/introspect",
                IntrospectionCredentials::BearerToken("t".to_owned()),
            )
        };
        assert_eq!(
            builder()
                .jwks(jwks, [Algorithm::EdDsa])
                .introspection(introspection().cache_ttl(Duration::from_secs(61)))
                .build()
                .unwrap_err(),
            ConfigError::IntrospectionCache
        );
        assert_eq!(
            builder()
                .jwks(jwks, [Algorithm::EdDsa])
                .introspection(introspection().cache_entries(0))
                .build()
                .unwrap_err(),
            ConfigError::IntrospectionCache
        );
        // No cache at all is fine.
        assert!(
            builder()
                .jwks(jwks, [Algorithm::EdDsa])
                .introspection(introspection().cache_ttl(Duration::ZERO).cache_entries(0))
                .build()
                .is_ok()
        );
    }
}
