//! Body validation with the reference wording (docs/http-conventions.md#validation-wording): every
//! failing field is reported once, in the order the resource's field table lists it, as `Validation
//! failed: field 'Name' on the 'min' tag; field 'Email' on the 'email' tag.`

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;

/// A field as the body sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<T> {
    Absent,
    Null,
    Value(T),
    /// Sent but refused; the violation is already recorded.
    Invalid,
}

impl<T> Input<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Self::Value(value) => Some(value),
            _ => None,
        }
    }

    /// For partial updates: `None` keeps the stored value, `Some(None)` clears it.
    pub fn patch(self) -> Option<Option<T>> {
        match self {
            Self::Value(value) => Some(Some(value)),
            Self::Null => Some(None),
            Self::Absent | Self::Invalid => None,
        }
    }
}

/// Whether a field must be sent, may be left out, or may be `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Nullable,
}

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

    /// `Validation failed: field 'X' on the 'tag' tag; …` or `None` when nothing failed.
    pub fn message(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.describe())
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

/// Reads the members of `data` one rule at a time, collecting violations.
pub struct Body<'a> {
    data: &'a Map<String, Value>,
    violations: Violations,
}

impl<'a> Body<'a> {
    /// `data` must be an object (docs/http-conventions.md#request-bodies); otherwise the
    /// `Data`/`required` failure with `status`.
    pub fn open(body: &'a Value) -> Result<Self, ApiError> {
        match body.get("data") {
            Some(Value::Object(data)) => Ok(Self {
                data,
                violations: Violations::default(),
            }),
            _ => Err(ApiError::bad_request(
                "Validation failed: field 'Data' on the 'required' tag.",
            )),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.data.get(key)
    }

    pub fn reject(&mut self, key: &str, tag: &'static str) {
        self.violations.push(key, tag);
    }

    /// `type` must be sent and be one of `accepted`.
    pub fn resource_type(&mut self, accepted: &[&str]) {
        match self.data.get("type") {
            None | Some(Value::Null) => self.reject("type", "required"),
            Some(Value::String(text)) if accepted.contains(&text.as_str()) => {}
            Some(Value::String(_)) => self.reject("type", "eq"),
            Some(_) => self.reject("type", "string"),
        }
    }

    fn present(&mut self, key: &str, presence: Presence) -> Option<Option<&'a Value>> {
        match (self.data.get(key), presence) {
            (None, Presence::Required)
            | (Some(Value::Null), Presence::Required | Presence::Optional) => {
                self.reject(key, "required");
                None
            }
            (None, _) => Some(None),
            (Some(Value::Null), Presence::Nullable) => Some(None),
            (Some(value), _) => Some(Some(value)),
        }
    }

    fn absent_or_null<T>(&self, key: &str) -> Input<T> {
        if self.data.contains_key(key) {
            Input::Null
        } else {
            Input::Absent
        }
    }

    /// A string of `min..=max` characters (Unicode scalar values) without U+0000.
    pub fn text(&mut self, key: &str, presence: Presence, min: usize, max: usize) -> Input<String> {
        let value = match self.present(key, presence) {
            None => return Input::Invalid,
            Some(None) => return self.absent_or_null(key),
            Some(Some(value)) => value,
        };
        let Value::String(text) = value else {
            self.reject(key, "string");
            return Input::Invalid;
        };
        if text.contains('\0') {
            self.reject(key, "string");
            return Input::Invalid;
        }
        let length = text.chars().count();
        if length < min {
            self.reject(key, "min");
            return Input::Invalid;
        }
        if length > max {
            self.reject(key, "max");
            return Input::Invalid;
        }
        Input::Value(text.clone())
    }

    /// A syntactically valid email address of at most `max` characters.
    pub fn email(&mut self, key: &str, presence: Presence, max: usize) -> Input<String> {
        match self.text(key, presence, 0, max) {
            Input::Value(email) if !is_valid_email(&email) => {
                self.reject(key, "email");
                Input::Invalid
            }
            other => other,
        }
    }

    pub fn one_of(&mut self, key: &str, presence: Presence, allowed: &[&str]) -> Input<String> {
        match self.text(key, presence, 0, usize::MAX) {
            Input::Value(value) if !allowed.contains(&value.as_str()) => {
                self.reject(key, "oneof");
                Input::Invalid
            }
            other => other,
        }
    }

    pub fn boolean(&mut self, key: &str, presence: Presence) -> Input<bool> {
        match self.present(key, presence) {
            None => Input::Invalid,
            Some(None) => self.absent_or_null(key),
            Some(Some(Value::Bool(flag))) => Input::Value(*flag),
            Some(Some(_)) => {
                self.reject(key, "boolean");
                Input::Invalid
            }
        }
    }

    pub fn integer(&mut self, key: &str, presence: Presence, min: i64, max: i64) -> Input<i64> {
        let value = match self.present(key, presence) {
            None => return Input::Invalid,
            Some(None) => return self.absent_or_null(key),
            Some(Some(value)) => value,
        };
        let Some(number) = value.as_i64() else {
            // A float, or an integer beyond i64: out of range if it is a number at all.
            let tag = match value.as_f64() {
                Some(float) if float.fract() == 0.0 && float < min as f64 => "min",
                Some(float) if float.fract() == 0.0 && float > max as f64 => "max",
                _ => "integer",
            };
            self.reject(key, tag);
            return Input::Invalid;
        };
        if number < min {
            self.reject(key, "min");
            return Input::Invalid;
        }
        if number > max {
            self.reject(key, "max");
            return Input::Invalid;
        }
        Input::Value(number)
    }

    pub fn uuid(&mut self, key: &str, presence: Presence) -> Input<Uuid> {
        match self.text(key, presence, 0, usize::MAX) {
            Input::Value(text) => match parse_uuid(&text) {
                Some(id) => Input::Value(id),
                None => {
                    self.reject(key, "uuid");
                    Input::Invalid
                }
            },
            Input::Absent => Input::Absent,
            Input::Null => Input::Null,
            Input::Invalid => Input::Invalid,
        }
    }

    /// An array of strings, each checked by `each` (which returns the tag of a bad element).
    pub fn string_array(
        &mut self,
        key: &str,
        presence: Presence,
        max_items: usize,
        each: impl Fn(&str) -> Option<&'static str>,
    ) -> Input<Vec<String>> {
        let value = match self.present(key, presence) {
            None => return Input::Invalid,
            Some(None) => return self.absent_or_null(key),
            Some(Some(value)) => value,
        };
        let Value::Array(items) = value else {
            self.reject(key, "array");
            return Input::Invalid;
        };
        if items.len() > max_items {
            self.reject(key, "max");
            return Input::Invalid;
        }
        let mut strings = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(text) = item else {
                self.reject(key, "string");
                return Input::Invalid;
            };
            if text.contains('\0') {
                self.reject(key, "string");
                return Input::Invalid;
            }
            if let Some(tag) = each(text) {
                self.reject(key, tag);
                return Input::Invalid;
            }
            strings.push(text.clone());
        }
        Input::Value(strings)
    }

    /// `400` with every violation, or `Ok` when the body passed.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.violations.message() {
            Some(message) => Err(ApiError::bad_request(message)),
            None => Ok(()),
        }
    }
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
    use serde_json::json;

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
    fn several_failures_are_joined_in_table_order() {
        let body = json!({"data": {"type": "nope", "name": "", "email": "x"}});
        let mut fields = Body::open(&body).unwrap();
        fields.resource_type(&["user_authentication_info"]);
        fields.text("name", Presence::Required, 1, 255);
        fields.email("email", Presence::Required, 254);
        let error = fields.finish().unwrap_err();
        assert_eq!(
            error.detail(),
            "Validation failed: field 'Type' on the 'eq' tag; field 'Name' on the 'min' tag; field 'Email' on the 'email' tag."
        );
    }

    #[test]
    fn null_clears_only_nullable_fields() {
        let body = json!({"data": {"legal_name": null, "name": null}});
        let mut fields = Body::open(&body).unwrap();
        assert_eq!(
            fields.text("legal_name", Presence::Nullable, 0, 255),
            Input::Null
        );
        assert_eq!(
            fields.text("name", Presence::Optional, 1, 255),
            Input::Invalid
        );
        assert_eq!(
            fields.text("absent", Presence::Nullable, 0, 255),
            Input::Absent
        );
    }

    #[test]
    fn nul_characters_are_refused_as_the_string_tag() {
        let body = json!({"data": {"name": "a\u{0}b"}});
        let mut fields = Body::open(&body).unwrap();
        fields.text("name", Presence::Required, 1, 255);
        assert_eq!(
            fields.finish().unwrap_err().detail(),
            "Validation failed: field 'Name' on the 'string' tag."
        );
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

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|n| json!(n)),
                ".{0,40}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Whatever a client sends, reading it yields values or violations, never a panic.
            #[test]
            fn any_body_is_read_without_panicking(data in json(), wrap in any::<bool>()) {
                let body = if wrap { json!({"data": data}) } else { data };
                if let Ok(mut fields) = Body::open(&body) {
                    fields.resource_type(&["account"]);
                    let _ = fields.text("name", Presence::Required, 1, 255);
                    let _ = fields.text("legal_name", Presence::Nullable, 0, 255);
                    let _ = fields.email("email", Presence::Optional, 254);
                    let _ = fields.one_of("purpose", Presence::Optional, &["a", "b"]);
                    let _ = fields.boolean("enabled", Presence::Optional);
                    let _ = fields.integer("limit", Presence::Optional, 0, 100);
                    let _ = fields.uuid("parent_id", Presence::Nullable);
                    let _ = fields.string_array("redirect_uris", Presence::Optional, 100, |_| None);
                    let _ = fields.finish();
                }
            }

            #[test]
            fn any_field_name_converts(name in "[a-z_]{0,40}") {
                let _ = field_name(&name);
            }
        }
    }
}
