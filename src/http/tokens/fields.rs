//! The token endpoint's field readers. Its answers use tags of its own (`cannot_be_empty`,
//! `must_be_uuid`) and a `422`, unlike the `400` of the resource bodies in `http::body`, so it
//! keeps its own small vocabulary. Each reader records a failure and returns the value or the
//! proof of that record, so a mechanism's parse ends with every value or one `422`.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::validation::{AllChecked, Checked, Violations, parse_uuid};

/// A token request body's `data`, read field by field.
pub(super) struct Fields<'a> {
    data: &'a Map<String, Value>,
    violations: Violations,
}

impl<'a> Fields<'a> {
    pub(super) fn new(data: &'a Map<String, Value>) -> Self {
        Self {
            data,
            violations: Violations::default(),
        }
    }

    /// Records a failure of a field whose value was read.
    pub(super) fn reject<T>(&mut self, key: &str, tag: &'static str) -> Checked<T> {
        Err(self.violations.push(key, tag))
    }

    /// The values, or `422` naming every failing field.
    pub(super) fn finish<F: AllChecked>(self, fields: F) -> Result<F::Values, ApiError> {
        self.violations
            .settle(fields.all())
            .map_err(ApiError::unprocessable)
    }

    /// A non-empty string.
    pub(super) fn required_text(&mut self, key: &str) -> Checked<&'a str> {
        match self.data.get(key) {
            None | Some(Value::Null) => self.reject(key, "cannot_be_empty"),
            Some(Value::String(text)) if text.is_empty() => self.reject(key, "cannot_be_empty"),
            Some(Value::String(text)) if text.contains('\0') => self.reject(key, "string"),
            Some(Value::String(text)) => Ok(text),
            Some(_) => self.reject(key, "string"),
        }
    }

    /// A required string of at most `max` characters.
    pub(super) fn bounded_text(&mut self, key: &str, max: usize) -> Checked<&'a str> {
        let text = self.required_text(key)?;
        if text.chars().count() > max {
            return self.reject(key, "max");
        }
        Ok(text)
    }

    /// An optional, nullable string of at most `max` characters.
    pub(super) fn optional_text(&mut self, key: &str, max: usize) -> Checked<Option<String>> {
        match self.data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.contains('\0') => self.reject(key, "string"),
            Some(Value::String(text)) if text.chars().count() > max => self.reject(key, "max"),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => self.reject(key, "string"),
        }
    }

    /// `password_profile_id`: present, non-empty and a UUID
    /// (docs/account-tokens.md#order-of-checks-at-the-token-endpoint).
    pub(super) fn profile_id(&mut self) -> Checked<Uuid> {
        let text = self.required_text("password_profile_id")?;
        match parse_uuid(text) {
            Some(id) => Ok(id),
            None => self.reject("password_profile_id", "must_be_uuid"),
        }
    }
}
