//! The wire format: JSON representations of resources and the pieces they share (self links,
//! timestamps, references). HTTP responses and webhook payloads both use them, so an event
//! carries exactly what the corresponding GET returns (docs/events.md#event-catalogue).

use serde::Serialize;
use uuid::Uuid;

use crate::store::{Account, Membership, User};
use crate::time::Timestamp;

/// Builds the absolute URLs of `links` from `public_base_url` (docs/http-conventions.md#responses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    base: String,
}

impl Links {
    pub fn new(public_base_url: &str) -> Self {
        Self {
            base: public_base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// An absolute URL for `path`, which starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SelfLink {
    #[serde(rename = "self")]
    pub href: String,
}

impl SelfLink {
    pub fn new(href: String) -> Self {
        Self { href }
    }
}

/// `meta.timestamps.created_at` / `updated_at`, the layout of accounts, members, memberships.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimestampsMeta {
    pub timestamps: Timestamps,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Timestamps {
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TimestampsMeta {
    pub fn new(created_at: Timestamp, updated_at: Timestamp) -> Self {
        Self {
            timestamps: Timestamps {
                created_at,
                updated_at,
            },
        }
    }
}

/// `meta.created_at` / `updated_at`, the layout of the realm and its sub-resources.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlatTimestamps {
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A resource reference inside `relationships`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reference {
    pub data: ReferenceData,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferenceData {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: Uuid,
}

impl Reference {
    pub fn new(kind: &'static str, id: Uuid) -> Self {
        Self {
            data: ReferenceData { kind, id },
        }
    }
}

/// Anything that knows its own `links.self`.
pub trait Linked {
    fn self_link(&self) -> &str;
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountData {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub legal_name: Option<String>,
    pub registration_id: Option<String>,
    pub external_ref: Option<String>,
    pub parent_id: Option<Uuid>,
    pub meta: TimestampsMeta,
    pub relationships: AccountRelationships,
    pub links: SelfLink,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountRelationships {
    pub parent: Parent,
    pub ancestors: Vec<Reference>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Parent {
    pub data: Option<ReferenceData>,
}

impl Linked for AccountData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl AccountData {
    pub fn new(links: &Links, account: Account) -> Self {
        Self {
            links: SelfLink::new(links.url(&format!("/v2/accounts/{}", account.id))),
            id: account.id,
            kind: "account",
            meta: TimestampsMeta::new(account.created_at, account.updated_at),
            relationships: AccountRelationships {
                parent: Parent {
                    data: account.parent_id.map(|id| ReferenceData {
                        kind: "account",
                        id,
                    }),
                },
                ancestors: account
                    .ancestors
                    .iter()
                    .map(|id| Reference::new("account", *id))
                    .collect(),
            },
            name: account.name,
            legal_name: account.legal_name,
            registration_id: account.registration_id,
            external_ref: account.external_ref,
            parent_id: account.parent_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountMemberData {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub family_name: Option<String>,
    pub meta: TimestampsMeta,
    pub links: SelfLink,
}

impl Linked for AccountMemberData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl AccountMemberData {
    pub fn new(links: &Links, user: User) -> Self {
        Self {
            links: SelfLink::new(links.url(&format!("/v2/account-members/{}", user.id))),
            id: user.id,
            kind: "account_member",
            meta: TimestampsMeta::new(user.created_at, user.updated_at),
            name: user.name,
            email: user.email,
            given_name: user.given_name,
            middle_name: user.middle_name,
            family_name: user.family_name,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MembershipData {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub account_member_id: Uuid,
    pub meta: TimestampsMeta,
    pub relationships: MembershipRelationships,
    pub links: SelfLink,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MembershipRelationships {
    pub account: Reference,
    pub account_member: Reference,
}

impl Linked for MembershipData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl MembershipData {
    pub fn new(links: &Links, membership: &Membership) -> Self {
        Self {
            id: membership.id,
            kind: "account_membership",
            account_member_id: membership.account_member_id,
            meta: TimestampsMeta::new(membership.created_at, membership.updated_at),
            relationships: MembershipRelationships {
                account: Reference::new("account", membership.account_id),
                account_member: Reference::new("account_member", membership.account_member_id),
            },
            links: SelfLink::new(links.url(&format!(
                "/v2/accounts/{}/account-memberships/{}",
                membership.account_id, membership.id
            ))),
        }
    }
}

/// `included` of a response that asked for related resources (docs/http-conventions.md#includes):
/// each object once, as its own GET returns it.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Included {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_members: Option<Vec<AccountMemberData>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountData>>,
}

/// Event payloads carry exactly what the corresponding GET returns
/// (docs/events.md#event-catalogue); the store asks for them through this seam at the moment of the
/// change.
impl crate::store::EventPayloads for Links {
    fn account(&self, account: &Account) -> serde_json::Value {
        serde_json::to_value(AccountData::new(self, account.clone())).unwrap_or_default()
    }

    fn account_member(&self, user: &User) -> serde_json::Value {
        serde_json::to_value(AccountMemberData::new(self, user.clone())).unwrap_or_default()
    }

    fn membership(&self, membership: &Membership) -> serde_json::Value {
        serde_json::to_value(MembershipData::new(self, membership)).unwrap_or_default()
    }
}
