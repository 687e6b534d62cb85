//! accountd: account management authentication tokens for B2B storefronts, wire-compatible with
//! Elastic Path's Account Management API. The binary in `main.rs` is a thin shell around this
//! library so that tests boot exactly what production runs.

/// Start-up: builds the application from configuration and serves it.
pub mod app;
/// Authentication primitives: the password hash pool, account-token JWTs, random secrets.
pub mod auth;
/// First-start records (docs/operations.md#first-start) and the bootstrap application key.
pub mod bootstrap;
/// Typed configuration read from the environment and checked at start-up.
pub mod config;
/// The admin console at `/admin`: server-rendered pages that act through the API.
pub mod console;
/// The development `.env` file, applied whole or not at all.
pub mod env_file;
/// The one error type of the HTTP API and its `errors` envelope.
pub mod error;
/// Events (docs/events.md): the catalogue, the outbox dispatcher, signed webhooks, the development
/// sink.
pub mod events;
/// The HTTP API: routes, extractors and resource handlers.
pub mod http;
/// Handing a generated bootstrap application key to the operator.
pub mod key_handover;
/// Stopping without dropping a request: the drain after SIGTERM.
pub mod lifecycle;
/// Prometheus metrics: request, login and hash-pool counters rendered by `GET /metrics`.
pub mod metrics;
/// Moving members in and out: `accountd import` and `accountd export`.
pub mod moving;
/// OpenID Connect login: accountd as a relying party of the merchant's identity provider.
pub mod oidc;
/// Outbound requests: which webhook and OpenID Connect destinations may be reached.
pub mod outbound;
/// List conventions shared by every collection: filters and sorting.
pub mod query;
/// Shared state handed to every handler.
pub mod state;
/// Storage seam: the `Store` trait and its PostgreSQL and SQLite implementations.
pub mod store;
/// Logging and request tracing.
pub mod telemetry;
/// Time: millisecond timestamps and the injectable clock.
pub mod time;
/// The JSON representations of resources, shared by responses and webhook payloads.
pub mod wire;

pub use app::Application;
pub use config::Config;
