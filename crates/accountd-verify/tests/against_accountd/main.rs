//! The verifier against a real accountd: each test starts the server in-process on a temporary
//! SQLite file, on a loopback port, with a clock the test moves and the verifier shares. Nothing
//! runs outside the test process and nothing needs configuring.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;
mod in_axum;
mod key_set;
mod liveness;
mod offline;
