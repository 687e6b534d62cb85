//! Authentication primitives and the login policy built on them. Nothing here routes or parses a
//! request: the login guard takes the client address the HTTP layer resolved.

/// The password hash formats accepted and verified: accountd's argon2id and the legacy formats
/// members move in with (docs/login.md#legacy-password-hashes).
pub mod hash_formats;
/// Account management authentication tokens: JWTs (HS256, EdDSA or ES256), minting and full
/// validation (docs/account-tokens.md).
pub mod jwt;
/// The signing keys a running server holds, reloaded when they are rotated.
pub mod keyring;
/// The throttle and audit trail around one password or one-time-code attempt.
pub mod login_guard;
/// Hashing and verification on a bounded pool of dedicated threads, never on the async workers.
pub mod password;
/// Secrets at rest: sealing under the master key, bound to each value's table, column and row.
pub mod sealing;
/// Random secrets, SHA-256 digests and constant-time comparison.
pub mod secret;
/// Signing key material: HS256 secrets, Ed25519 and P-256 key pairs, their JWKs and kids.
pub mod signing_key;
/// Login throttling policy: the keys failures count on and how long they lock.
pub mod throttle;
