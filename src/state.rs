//! The state every handler receives. Nothing global: tests build their own with their own
//! clock, keys and database.

use std::sync::Arc;

use crate::auth::keyring::KeyRing;
use crate::auth::password::PasswordHasher;
use crate::config::Config;
use crate::console::Sessions as ConsoleSessions;
use crate::http::rate_limit::RateLimiter;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::oidc::OidcClient;
use crate::store::{Deployment, Store};
use crate::time::Clock;
use crate::wire::Links;

/// Cheap to clone: every middleware layer and extractor takes its own copy per request, so the
/// fields sit behind one `Arc` and a clone is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub deployment: Deployment,
    pub links: Links,
    pub rate_limiter: Arc<RateLimiter>,
    /// Outbound calls to OIDC providers, with their discovery and key caches
    /// (docs/oidc.md#provider-requirements).
    pub oidc: OidcClient,
    pub metrics: Arc<Metrics>,
    /// Whether the server is draining before it stops.
    pub lifecycle: Arc<Lifecycle>,
    /// The admin console's sessions, in this process's memory (docs/console.md#sessions).
    pub console_sessions: Arc<ConsoleSessions>,
}

impl Services {
    /// An absolute URL for `path` (which starts with `/`), built from `public_base_url`
    /// (docs/http-conventions.md#responses).
    pub fn url(&self, path: &str) -> String {
        self.links.url(path)
    }
}
