//! Verifies accountd account tokens (the `EP-Account-Management-Authentication-Token` header) in
//! other Rust services: offline against accountd's public JWK Set (EdDSA, ES256) or a shared HS256
//! secret, and optionally live through accountd's introspection endpoint. What accountd checks and
//! why is in docs/account-tokens.md#downstream-verification; this crate applies the same steps
//! short of the database (docs/account-tokens.md#validation-steps, steps 1 to 5) and leaves
//! liveness (step 6) to introspection.
//!
//! A [`Verifier`] accepts only the algorithms its configuration names: HS256 when it holds shared
//! secrets, and the algorithms given with the JWK Set URL. A token's header never chooses the
//! algorithm; the key its `kid` names must be of the algorithm the header states.
//!
//! In axum, either add [`AccountTokenLayer`] to the routes that need an account (it refuses with
//! `401` before the handler runs and puts the [`AccountIdentity`] in the request's extensions),
//! or take [`VerifiedAccount`] in a handler's signature, with the [`Verifier`] in the router's
//! state (through `FromRef`). The extractor reuses the layer's verdict when both are present.
//!
//! ```no_run
//! use accountd_verify::{AccountTokenLayer, Algorithm, VerifiedAccount, Verifier};
//! use axum::{Router, routing::get};
//!
//! # async fn run(store_id: uuid::Uuid, realm_id: uuid::Uuid) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(store_id, realm_id)
//!     .jwks("https://accounts.example.com/.well-known/jwks.json", [Algorithm::EdDsa])
//!     .build()?;
//! let app = Router::new()
//!     .route("/carts/mine", get(|VerifiedAccount(who): VerifiedAccount| async move {
//!         format!("cart of account {}", who.account_id)
//!     }))
//!     .layer(AccountTokenLayer::new(verifier.clone()))
//!     .with_state(verifier);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod cache;
mod claims;
mod clock;
mod config;
mod error;
mod extract;
mod fetch;
mod identity;
mod introspection;
mod jwks;
mod keys;
mod layer;
mod verifier;

pub use clock::{Clock, SystemClock};
pub use config::{
    Algorithm, ConfigError, Hs256Key, Introspection, IntrospectionCredentials,
    MAX_INTROSPECTION_CACHE_TTL, MIN_HS256_SECRET_BYTES, VerifierBuilder,
};
pub use error::{FetchError, VerifyError};
pub use extract::{ACCOUNT_TOKEN_HEADER, VerifiedAccount};
pub use identity::AccountIdentity;
pub use layer::{AccountTokenLayer, AccountTokenService};
pub use verifier::{Verifier, VerifierStats};
