//! Building and serving the application. Tests call [`Application::build_with_clock`] with their
//! own configuration and clock and get exactly what production runs, on a port of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::keyring::KeyRing;
use crate::auth::password::PasswordHasher;
use crate::auth::sealing::{self, Sealer};
use crate::auth::secret::Secret;
use crate::bootstrap::{self, BootstrapError};
use crate::config::{Config, ManagementListen};
use crate::events::dispatcher::Dispatcher;
use crate::events::webhook::WebhookClient;
use crate::http;
use crate::http::connection::Deadlines;
use crate::http::rate_limit::RateLimiter;
use crate::http::server::ServeOptions;
use crate::lifecycle::Stop;
use crate::metrics::Metrics;
use crate::oidc::OidcClient;
use crate::state::{AppState, Services};
use crate::store::{self, ConfiguredIntegration, Store, StoreError};
use crate::time::{Clock, SystemClock};
use crate::wire::Links;

const KEY_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
const JANITOR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Rows one janitor statement deletes at most.
const JANITOR_BATCH: i64 = 1000;
/// How often the rate limiter forgets clients whose budget is full again.
const LIMITER_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Prometheus and the probes need a handful of connections; the cap only keeps a runaway
/// scraper from holding more.
const MANAGEMENT_MAX_CONNECTIONS: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot start the password hashing threads: {0}")]
    HashPool(std::io::Error),
    #[error("cannot set up the metrics registry: {0}")]
    Metrics(prometheus::Error),
    #[error("cannot build the webhook HTTP client: {0}")]
    WebhookClient(reqwest::Error),
    #[error("cannot set up the HTTP client for OpenID Connect providers: {0}")]
    HttpClient(reqwest::Error),
    #[error(transparent)]
    SecretsAtRest(#[from] crate::auth::sealing::AtRestError),
    #[error(
        "ACCOUNTD_INTEGRATIONS entry {name:?}: destination is not allowed (its host resolves to a \
         loopback, private, link-local or metadata address)"
    )]
    IntegrationDestination { name: String },
}

pub struct Application {
    listener: TcpListener,
    management: Option<TcpListener>,
    state: AppState,
    generated_client: Option<(String, Secret)>,
    dispatcher: Dispatcher,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Binds the listeners, then connects, migrates and creates the first-start records. The
    /// listeners come first so that a start that cannot serve (a busy port) generates no
    /// bootstrap key: a generated key is shown only after a successful start, and a key that was
    /// stored but never shown could not be recovered.
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let listener = bind(&config.listen).await?;
        let management = bind_management(config.management_listen).await?;
        let links = Links::new(&config.public_base_url);
        let sealer = Sealer::new(
            config.master_key.clone(),
            config.master_key_previous.clone(),
        );
        let store = store::connect_sealed(
            config.database_url.expose(),
            Arc::new(links.clone()),
            &store::ConnectOptions {
                db_timeout: config.db_timeout,
            },
            sealer.clone(),
        )
        .await?;
        store.migrate().await?;
        sealing::check_at_start(store.as_ref(), &sealer).await?;
        let bootstrapped = bootstrap::run(store.as_ref(), &config, clock.now()).await?;
        sync_integrations(
            store.as_ref(),
            &config,
            bootstrapped.deployment.store_id,
            clock.now(),
        )
        .await?;
        let dispatcher = Dispatcher::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            WebhookClient::new(config.destinations).map_err(StartError::WebhookClient)?,
            bootstrapped.deployment.store_id,
        );
        let hasher = PasswordHasher::start_with_share(
            config.hash_pool_size,
            config.hash_queue_bound,
            config.hash_queue_share,
            config.firebase_scrypt.clone(),
        )
        .map_err(StartError::HashPool)?;
        let oidc = OidcClient::new(config.destinations).map_err(StartError::HttpClient)?;
        let metrics = Metrics::new().map_err(StartError::Metrics)?;
        for histogram in [&hasher.stats().wait, &hasher.stats().work] {
            metrics
                .register_histogram(histogram)
                .map_err(StartError::Metrics)?;
        }
        let keys = Arc::new(KeyRing::new(bootstrapped.keys, bootstrapped.key_plan));
        let state = AppState::new(Services {
            links,
            rate_limiter: Arc::new(RateLimiter::new(
                config.rate_limit_per_minute,
                Arc::clone(&clock),
            )),
            config: Arc::new(config),
            store,
            keys,
            clock,
            hasher,
            deployment: bootstrapped.deployment,
            oidc,
            metrics: Arc::new(metrics),
            lifecycle: Arc::default(),
            console_sessions: Arc::default(),
        });
        Ok(Self {
            listener,
            management,
            state,
            generated_client: bootstrapped.generated_client,
            dispatcher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served; `None` when the management listener is off, or its default
    /// address was taken.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The bootstrap application key generated by this start, to be shown once.
    pub fn generated_client(&self) -> Option<&(String, Secret)> {
        self.generated_client.as_ref()
    }

    pub fn router(&self) -> Router {
        http::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish. The outbox
    /// dispatcher runs alongside and stops with the server; deliveries it had not finished are
    /// picked up after their lease by this or another replica.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = Stop> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = http::router(self.state.clone());
        let janitor = tokio::spawn(janitor(self.state.clone()));
        let refresher = tokio::spawn(refresh_keys(self.state.clone()));
        let limiter_sweeper = tokio::spawn(forget_idle_clients(self.state.clone()));
        let dispatcher = tokio::spawn(self.dispatcher.run());
        let config = &self.state.config;
        let api_options = ServeOptions {
            max_connections: http::server::affordable_connections(
                u32::try_from(config.max_connections).unwrap_or(u32::MAX),
            ),
            deadlines: Deadlines {
                first_request: config.header_read_timeout,
                idle: config.idle_timeout,
                closing: config.header_read_timeout,
            },
            http2_keep_alive_interval: config.http2_keep_alive_interval,
            shutdown_timeout: config.shutdown_timeout,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let management = self.management.map(|listener| {
            let options = ServeOptions {
                max_connections: MANAGEMENT_MAX_CONNECTIONS,
                ..api_options
            };
            let router = http::management_router(self.state.clone());
            tokio::spawn(http::server::serve(
                listener,
                router,
                options,
                self.state.lifecycle.subscribe(),
                stop_signal(stopped),
            ))
        });
        let lifecycle = Arc::clone(&self.state.lifecycle);
        let drain = config.shutdown_drain;
        let draining = self.state.lifecycle.subscribe();
        let served =
            http::server::serve(self.listener, router, api_options, draining, async move {
                if shutdown.await == Stop::Drain && !drain.is_zero() {
                    tracing::info!(
                        seconds = drain.as_secs_f64(),
                        "draining: /readyz answers 503, answers close their connections"
                    );
                    lifecycle.start_draining();
                    tokio::time::sleep(drain).await;
                }
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stop.send(true);
            })
            .await;
        if let Some(management) = management {
            match management.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the management listener failed"),
                Err(error) => tracing::warn!(%error, "the management listener's task failed"),
            }
        }
        janitor.abort();
        refresher.abort();
        limiter_sweeper.abort();
        dispatcher.abort();
        served
    }
}

async fn bind(address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Listen {
            address: address.to_owned(),
            source,
        })
}

/// The management listener (`/metrics`). Only the built-in default address may be missing: two
/// servers on one machine (or `cargo run` beside a running one) then both serve their API.
async fn bind_management(listen: ManagementListen) -> Result<Option<TcpListener>, StartError> {
    match listen {
        ManagementListen::Off => Ok(None),
        ManagementListen::Configured(address) => bind(&address.to_string()).await.map(Some),
        ManagementListen::Default(address) => match TcpListener::bind(address).await {
            Ok(listener) => Ok(Some(listener)),
            Err(error) => {
                tracing::warn!(
                    %address,
                    %error,
                    "the management listener (/metrics) is not served: its default address cannot \
                     be bound; set ACCOUNTD_MANAGEMENT_LISTEN to a free address, or to off"
                );
                Ok(None)
            }
        },
    }
}

/// Resolves once `stopped` turns true, or its sender is gone.
async fn stop_signal(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Upserts the integrations of `ACCOUNTD_INTEGRATIONS` with ids derived from their names in the
/// store id's namespace, and deletes configured ones no longer listed
/// (docs/events.md#integrations-from-configuration). An entry whose host resolves to an address the
/// destination policy refuses stops the start (its URL itself was judged with the configuration).
async fn sync_integrations(
    store: &dyn Store,
    config: &Config,
    store_id: uuid::Uuid,
    now: crate::time::Timestamp,
) -> Result<(), StartError> {
    for integration in &config.integrations {
        if config
            .destinations
            .check_url_and_resolve(&integration.url)
            .await
            .is_err()
        {
            return Err(StartError::IntegrationDestination {
                name: integration.name.clone(),
            });
        }
    }
    let configured: Vec<ConfiguredIntegration> = config
        .integrations
        .iter()
        .map(|integration| ConfiguredIntegration {
            id: uuid::Uuid::new_v5(&store_id, integration.name.as_bytes()),
            name: integration.name.clone(),
            description: integration.description.clone(),
            url: integration.url.clone(),
            secret_key: integration.secret_key.expose().to_owned(),
            observes: integration.observes.clone(),
            send_secret_key: integration.send_secret_key,
        })
        .collect();
    Ok(store.sync_configured_integrations(&configured, now).await?)
}

async fn janitor(state: AppState) {
    let mut every = tokio::time::interval(JANITOR_INTERVAL);
    loop {
        every.tick().await;
        janitor_pass(&state).await;
    }
}

/// One pass of the janitor, which the server runs every few minutes and tests run on demand.
/// Every table a stranger can make accountd write to is bounded here: expired bearer tokens
/// (every storefront visit leaves one), old delivery logs and delivered events, spent OTP
/// codes, OpenID Connect login records and codes, throttle rows, and audit events past their
/// retention.
pub async fn janitor_pass(state: &AppState) {
    match state.store.purge_outbox(state.clock.now()).await {
        Ok(0) => {}
        Ok(purged) => tracing::debug!(purged, "purged old outbox rows"),
        Err(error) => tracing::warn!(%error, "purging the outbox failed"),
    }
    purge_in_batches(state, "expired bearer tokens", |state| {
        Box::pin(
            state
                .store
                .purge_expired_bearer_tokens(state.clock.now(), JANITOR_BATCH),
        )
    })
    .await;
    purge_in_batches(state, "OpenID Connect login records and codes", |state| {
        Box::pin(
            state
                .store
                .purge_oidc_records(state.clock.now(), JANITOR_BATCH),
        )
    })
    .await;
    purge_in_batches(state, "login throttle rows", |state| {
        Box::pin(
            state
                .store
                .purge_login_throttles(state.clock.now(), JANITOR_BATCH),
        )
    })
    .await;
    let retention_start = state
        .clock
        .now()
        .plus_seconds(-i64::from(state.config.audit_retention_days) * 24 * 60 * 60);
    purge_in_batches(state, "audit events", |state| {
        Box::pin(
            state
                .store
                .purge_audit_events(retention_start, JANITOR_BATCH),
        )
    })
    .await;
}

type PurgeFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<u64, StoreError>> + Send + 'a>>;

/// Runs one purge in batches of [`JANITOR_BATCH`] rows until a batch comes back short, so a
/// large backlog never holds the write lock (on SQLite, the only writer) for long.
async fn purge_in_batches(
    state: &AppState,
    what: &str,
    purge: impl for<'a> Fn(&'a AppState) -> PurgeFuture<'a>,
) {
    let mut total = 0;
    loop {
        match purge(state).await {
            Ok(purged) => {
                total += purged;
                if purged < JANITOR_BATCH.unsigned_abs() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(error) => {
                tracing::warn!(%error, "purging {what} failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::debug!(purged = total, "purged old {what}");
    }
}

/// Keeps the rate limiter's memory to the clients of the last minute, off the request path.
async fn forget_idle_clients(state: AppState) {
    let mut every = tokio::time::interval(LIMITER_SWEEP_INTERVAL);
    loop {
        every.tick().await;
        state.rate_limiter.forget_idle();
    }
}

/// Persisted keys may be rotated by `accountd keys rotate` while replicas run: take up the new
/// active key within a minute (a token with an unknown kid reloads at once, see `KeyRing`).
async fn refresh_keys(state: AppState) {
    if !state.keys.is_persisted() {
        return;
    }
    let mut every = tokio::time::interval(KEY_REFRESH_INTERVAL);
    loop {
        every.tick().await;
        if let Err(error) = state.keys.reload(state.store.as_ref()).await {
            tracing::warn!(%error, "reloading the JWT keys failed");
        }
    }
}
