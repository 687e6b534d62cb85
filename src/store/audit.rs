//! The audit trail's records: who acted (as the caller extractor decided), the event type the
//! handler or command names, and the bound every row keeps to. A change's row is written by the
//! change's own transaction, so a write that fails leaves no row claiming it happened.

use serde_json::Value;
use uuid::Uuid;

use crate::time::Timestamp;

/// The caller classes an audit row can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorClass {
    /// A `client_credentials` bearer token: the row names its application key.
    Admin,
    /// An `implicit` bearer token without an account token. Implicit client ids are public
    /// (every storefront ships one), so naming the key would name no one: the id is `None`.
    Shopper,
    /// A member: the caller of an account token, or the member a login proved.
    AccountHolder,
    /// accountd itself or its operator's command line (`accountd keys …`).
    System,
}

impl ActorClass {
    pub const ALL: [Self; 4] = [
        Self::Admin,
        Self::Shopper,
        Self::AccountHolder,
        Self::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Shopper => "shopper",
            Self::AccountHolder => "account_holder",
            Self::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == text)
    }
}

/// Who made a change or an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Actor {
    pub class: ActorClass,
    /// The application key id of an admin, the member id of an account holder, else `None`.
    pub id: Option<Uuid>,
}

impl Actor {
    pub const SHOPPER: Self = Self {
        class: ActorClass::Shopper,
        id: None,
    };
    pub const SYSTEM: Self = Self {
        class: ActorClass::System,
        id: None,
    };

    pub const fn admin(application_key_id: Uuid) -> Self {
        Self {
            class: ActorClass::Admin,
            id: Some(application_key_id),
        }
    }

    pub const fn account_holder(member_id: Uuid) -> Self {
        Self {
            class: ActorClass::AccountHolder,
            id: Some(member_id),
        }
    }
}

/// A security event to append to the audit trail. Never a password, code or token.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    /// Named where the event happens (`account.created`, `login.failed`), never derived from a
    /// route, so renaming a route cannot change it.
    pub event_type: &'static str,
    pub actor: Actor,
    /// What it concerns: the request path of an API write, `<mechanism> login`, `jwt_key:<kid>`.
    pub subject: Option<String>,
    pub client_address: Option<String>,
    pub detail: Value,
}

impl NewAuditEvent {
    /// An event with no subject, address or detail yet.
    pub fn new(event_type: &'static str, actor: Actor) -> Self {
        Self {
            event_type,
            actor,
            subject: None,
            client_address: None,
            detail: Value::Object(serde_json::Map::new()),
        }
    }

    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    #[must_use]
    pub fn client_address(mut self, address: impl Into<String>) -> Self {
        self.client_address = Some(address.into());
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// The event with every text cut to [`MAX_AUDIT_TEXT_BYTES`], cut texts ending in `…`.
    pub fn bounded(&self) -> Self {
        Self {
            event_type: self.event_type,
            actor: self.actor,
            subject: self.subject.as_deref().map(bound_audit_text),
            client_address: self.client_address.as_deref().map(bound_audit_text),
            detail: bound_audit_value(&self.detail),
        }
    }
}

/// At most this many bytes of any one text go into an audit row: the text may come from a
/// client (a username, a path), and rows are written even for failed and refused attempts.
pub const MAX_AUDIT_TEXT_BYTES: usize = 256;

fn bound_audit_text(text: &str) -> String {
    if text.len() <= MAX_AUDIT_TEXT_BYTES {
        return text.to_owned();
    }
    const MARK: char = '…';
    let mut end = MAX_AUDIT_TEXT_BYTES - MARK.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(MAX_AUDIT_TEXT_BYTES);
    cut.push_str(&text[..end]);
    cut.push(MARK);
    cut
}

fn bound_audit_value(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(bound_audit_text(text)),
        Value::Array(items) => Value::Array(items.iter().map(bound_audit_value).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (bound_audit_text(key), bound_audit_value(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub event_type: String,
    pub actor: Actor,
    pub subject: Option<String>,
    pub client_address: Option<String>,
    pub detail: Value,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rows_keep_at_most_256_bytes_of_any_text() {
        let long = "ü".repeat(10_000);
        let event = NewAuditEvent::new("login.failed", Actor::SHOPPER)
            .subject("x".repeat(300))
            .client_address("192.0.2.1")
            .detail(serde_json::json!({"username": long, "nested": [long], "n": 5}))
            .bounded();
        let username = event.detail["username"].as_str().unwrap();
        assert!(username.len() <= MAX_AUDIT_TEXT_BYTES, "{}", username.len());
        assert!(username.ends_with('…'));
        assert!(event.detail["nested"][0].as_str().unwrap().len() <= MAX_AUDIT_TEXT_BYTES);
        assert_eq!(event.detail["n"], 5);
        assert_eq!(event.subject.unwrap().len(), MAX_AUDIT_TEXT_BYTES);
        assert_eq!(event.client_address.as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn actor_classes_read_back_as_written() {
        for class in ActorClass::ALL {
            assert_eq!(ActorClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(ActorClass::parse("cli"), None);
    }
}
