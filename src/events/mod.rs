//! Events and their delivery (docs/events.md): the catalogue of event keys, the dispatcher that
//! delivers the transactional outbox as signed webhooks, and a development sink that prints
//! deliveries.

pub mod dispatcher;
pub mod sink;
pub mod webhook;

/// The event catalogue (docs/events.md#event-catalogue). Each key has a canonical form; the member,
/// account and membership events also answer to the short forms Elastic Path's integration docs
/// list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKey {
    OtpRequestCreated,
    MemberCreated,
    MemberUpdated,
    MemberDeleted,
    AccountCreated,
    AccountUpdated,
    AccountDeleted,
    MembershipCreated,
    MembershipDeleted,
    /// Sent to one integration when an Admin asks for it (docs/events.md#test-events); no
    /// integration observes it, so it is not in [`EventKey::ALL`] and `observes` refuses it.
    IntegrationTest,
}

impl EventKey {
    /// The keys `observes` may list: every key but [`EventKey::IntegrationTest`].
    pub const ALL: [Self; 9] = [
        Self::OtpRequestCreated,
        Self::MemberCreated,
        Self::MemberUpdated,
        Self::MemberDeleted,
        Self::AccountCreated,
        Self::AccountUpdated,
        Self::AccountDeleted,
        Self::MembershipCreated,
        Self::MembershipDeleted,
    ];

    pub fn canonical(self) -> &'static str {
        match self {
            Self::OtpRequestCreated => "one-time-password-token-request.created",
            Self::MemberCreated => "account-member.event.created",
            Self::MemberUpdated => "account-member.event.updated",
            Self::MemberDeleted => "account-member.event.deleted",
            Self::AccountCreated => "account.event.created",
            Self::AccountUpdated => "account.event.updated",
            Self::AccountDeleted => "account.event.deleted",
            Self::MembershipCreated => "account-membership.event.created",
            Self::MembershipDeleted => "account-membership.event.deleted",
            Self::IntegrationTest => "integration.test",
        }
    }

    /// The short form accepted in `observes` (docs/events.md#integrations), where there is one.
    pub fn alias(self) -> Option<&'static str> {
        match self {
            Self::OtpRequestCreated => None,
            Self::MemberCreated => Some("account-member.created"),
            Self::MemberUpdated => Some("account-member.updated"),
            Self::MemberDeleted => Some("account-member.deleted"),
            Self::AccountCreated => Some("account.created"),
            Self::AccountUpdated => Some("account.updated"),
            Self::AccountDeleted => Some("account.deleted"),
            Self::MembershipCreated => Some("account-membership.created"),
            Self::MembershipDeleted => Some("account-membership.deleted"),
            Self::IntegrationTest => None,
        }
    }

    /// A key as `observes` may list it: canonical or alias.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|key| key.canonical() == text || key.alias() == Some(text))
    }

    /// The key an integration observing `observes` receives this event under, or `None` when it
    /// does not observe it. Listing both forms means one delivery, under the canonical key.
    pub fn triggered_by<S: AsRef<str>>(self, observes: &[S]) -> Option<&'static str> {
        let listed = |key: &str| observes.iter().any(|entry| entry.as_ref() == key);
        if listed(self.canonical()) {
            Some(self.canonical())
        } else {
            self.alias().filter(|alias| listed(alias))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_to_the_same_key() {
        assert_eq!(
            EventKey::parse("account.created"),
            Some(EventKey::AccountCreated)
        );
        assert_eq!(
            EventKey::parse("account.event.created"),
            Some(EventKey::AccountCreated)
        );
        assert_eq!(EventKey::parse("account.event.renamed"), None);
        assert_eq!(
            EventKey::parse("one-time-password-token-request.event.created"),
            None
        );
        assert_eq!(EventKey::parse("integration.test"), None);
    }

    #[test]
    fn triggered_by_repeats_the_listed_form_and_prefers_the_canonical_one() {
        let alias_only = ["account-member.created"];
        assert_eq!(
            EventKey::MemberCreated.triggered_by(&alias_only),
            Some("account-member.created")
        );
        let both = ["account-member.created", "account-member.event.created"];
        assert_eq!(
            EventKey::MemberCreated.triggered_by(&both),
            Some("account-member.event.created")
        );
        assert_eq!(EventKey::MemberUpdated.triggered_by(&both), None);
    }
}
