//! Who a verified account token speaks for.

use std::time::SystemTime;

use uuid::Uuid;

/// The identity of a verified account token: the account it acts for (`scope`) and the member
/// acting (`sub`), with what else the token carries. Only this crate makes one, so an
/// `AccountIdentity` in a request's extensions was put there by a verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountIdentity {
    /// The account the token is scoped to (the `scope` claim).
    pub account_id: Uuid,
    /// The account member acting (the `sub` claim).
    pub account_member_id: Uuid,
    /// The account's name, which only accountd knows: present when introspection confirmed the
    /// token, `None` when it was verified offline.
    pub account_name: Option<String>,
    /// When the token expires (`exp`).
    pub expires: SystemTime,
    /// When it was issued (`iat`).
    pub issued_at: SystemTime,
    /// The last credential check the token descends from (`auth_time`), when it carries one.
    pub auth_time: Option<SystemTime>,
    /// The deployment's store (`store_id`), which the verifier was configured with.
    pub store_id: Uuid,
    /// The token's unique id (`jti`).
    pub jti: Uuid,
    /// The account's ancestors, root first, parent last; empty for a root account.
    pub ancestors: Vec<Uuid>,
    /// Whether accountd's introspection confirmed the token live (the membership, member and
    /// account exist and the member's tokens were not revoked), at most the cache TTL ago.
    pub confirmed_live: bool,
}
