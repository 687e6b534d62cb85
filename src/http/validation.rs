//! The vocabulary of validation failures in the reference wording
//! (docs/http-conventions.md#validation-wording): every failing field is reported once, in the order
//! of the body's field table, as `Validation failed: field 'Name' on the 'min' tag; field 'Email' on
//! the 'email' tag.` Resource bodies are read by `http::body`; the token endpoint by its own readers.

use uuid::Uuid;

/// The failures found so far: (position in the field table, JSON name, tag). Failures at one
/// position keep the order they were recorded in.
#[derive(Debug, Default)]
pub struct Violations(Vec<(usize, String, &'static str)>);

/// Proof that a failure was recorded: only [`Violations::push`] makes one, so a field that
/// failed always has its failure in the list, and a parse that holds every field's value needs
/// no branch for "checked above".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded(());

/// A field's value, or the failure recorded for it.
pub type Checked<T> = Result<T, Recorded>;

/// Several checked fields as one: every value, or a failure (each one is recorded already).
pub trait AllChecked {
    type Values;
    fn all(self) -> Checked<Self::Values>;
}

macro_rules! all_checked {
    ($($name:ident),+) => {
        impl<$($name),+> AllChecked for ($(Checked<$name>,)+) {
            type Values = ($($name,)+);

            #[allow(non_snake_case)]
            fn all(self) -> Checked<Self::Values> {
                let ($($name,)+) = self;
                Ok(($($name?,)+))
            }
        }
    };
}

all_checked!(A, B);
all_checked!(A, B, C);
all_checked!(A, B, C, D);
all_checked!(A, B, C, D, E);
all_checked!(A, B, C, D, E, F);
all_checked!(A, B, C, D, E, F, G);
all_checked!(A, B, C, D, E, F, G, H);

impl Violations {
    /// Records a failure after those recorded so far.
    pub fn push(&mut self, json_name: &str, tag: &'static str) -> Recorded {
        let last = self.0.last().map_or(0, |(position, _, _)| *position);
        self.push_at(last, json_name, tag)
    }

    /// Records a failure of the field at `position` in the table.
    pub fn push_at(&mut self, position: usize, json_name: &str, tag: &'static str) -> Recorded {
        self.0.push((position, json_name.to_owned(), tag));
        Recorded(())
    }

    /// The failures as (JSON name, tag), in table order.
    pub fn into_keys(self) -> Vec<(String, &'static str)> {
        self.in_order()
            .into_iter()
            .map(|(_, key, tag)| (key, tag))
            .collect()
    }

    fn in_order(self) -> Vec<(usize, String, &'static str)> {
        let mut failures = self.0;
        failures.sort_by_key(|(position, _, _)| *position);
        failures
    }

    /// The values when nothing failed; otherwise the message naming every failure.
    pub fn settle<T>(self, values: Checked<T>) -> Result<T, String> {
        match values {
            Ok(values) if self.is_empty() => Ok(values),
            _ => Err(self.describe()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn describe(&self) -> String {
        let mut failures: Vec<&(usize, String, &'static str)> = self.0.iter().collect();
        failures.sort_by_key(|(position, _, _)| *position);
        let parts: Vec<String> = failures
            .into_iter()
            .map(|(_, key, tag)| format!("field '{}' on the '{tag}' tag", field_name(key)))
            .collect();
        format!("Validation failed: {}.", parts.join("; "))
    }
}

/// Go-style PascalCase with initialisms in upper case, as the reference names fields:
/// `password_profile_id` → `PasswordProfileID`, `redirect_uris` → `RedirectURIs`.
pub fn field_name(json: &str) -> String {
    json.split('_')
        .map(|word| match word {
            "id" => "ID".to_owned(),
            "uri" => "URI".to_owned(),
            "uris" => "URIs".to_owned(),
            "url" => "URL".to_owned(),
            "oauth" => "OAuth".to_owned(),
            "oidc" => "OIDC".to_owned(),
            other => {
                let mut chars = other.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                })
            }
        })
        .collect()
}

/// Only the canonical hyphenated form, so an id always reads back the way it was written.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::parse_str(text).ok()
}

/// A pragmatic syntax check: one `@`, a local part without spaces, and a domain of dot-separated
/// labels of letters, digits and hyphens (internationalised letters included).
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@()<>[]\\,;:\"".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_the_reference_spelling() {
        assert_eq!(field_name("password_profile_id"), "PasswordProfileID");
        assert_eq!(field_name("redirect_uris"), "RedirectURIs");
        assert_eq!(field_name("discovery_url"), "DiscoveryURL");
        assert_eq!(field_name("oauth_redirect_uri"), "OAuthRedirectURI");
        assert_eq!(field_name("oidc_profile_id"), "OIDCProfileID");
        assert_eq!(
            field_name("account_management_authentication_token_timeout_secs"),
            "AccountManagementAuthenticationTokenTimeoutSecs"
        );
        assert_eq!(field_name("data"), "Data");
    }

    #[test]
    fn emails_are_checked_for_shape() {
        for good in [
            "a@b.com",
            "john.doe+tag@banks.co.uk",
            "x@localhost",
            "émile@exämple.fr",
        ] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "@b.com",
            "a@",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "a@b.com.",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_field_name_converts(name in "[a-z_]{0,40}") {
                let _ = field_name(&name);
            }
        }
    }
}
