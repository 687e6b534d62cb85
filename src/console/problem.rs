//! The API's errors as a person reads them: each `{"errors":[{"status","title","detail"}]}` entry
//! becomes a sentence, placed beside the form field it concerns when it names one (by the
//! reference's field name in a validation failure, by `source.pointer`, or by what the detail
//! says), and above the form otherwise. Never raw JSON.

use axum::http::StatusCode;
use serde::Deserialize;

use crate::http::validation::field_name;

#[derive(Deserialize)]
struct Envelope {
    errors: Vec<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    source: Option<Source>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(default)]
    pointer: Option<String>,
}

/// An unsuccessful API answer.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    retry_after: Option<u64>,
    /// Each error's detail, and the member its `source.pointer` names.
    errors: Vec<(String, Option<String>)>,
}

/// A form field as problems may name it.
pub struct Field {
    /// The form's field name, which is also the API's JSON member name.
    pub name: &'static str,
    pub label: &'static str,
    /// Words of an error's detail that make it this field's (`parent account not found`).
    pub mentioned_by: &'static [&'static str],
}

/// What to show: messages beside fields, and the rest above the form.
#[derive(Debug, Default)]
pub struct Messages {
    pub general: Vec<String>,
    fields: Vec<(&'static str, String)>,
}

impl Messages {
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            general: vec![message.into()],
            fields: Vec::new(),
        }
    }

    /// The message for field `name`, when there is one.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, message)| message.as_str())
    }

    /// Whether any message concerns a field.
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// `message` beside field `name`, after any it already has.
    pub fn add_to_field(&mut self, name: &'static str, message: String) {
        match self.fields.iter_mut().find(|(field, _)| *field == name) {
            Some((_, existing)) => {
                existing.push(' ');
                existing.push_str(&message);
            }
            None => self.fields.push((name, message)),
        }
    }
}

impl Problem {
    pub fn read(status: StatusCode, retry_after: Option<u64>, body: &[u8]) -> Self {
        let errors = serde_json::from_slice::<Envelope>(body)
            .map(|envelope| {
                envelope
                    .errors
                    .into_iter()
                    .map(|error| {
                        let detail = if error.detail.is_empty() {
                            error.title
                        } else {
                            error.detail
                        };
                        let member = error
                            .source
                            .and_then(|source| source.pointer)
                            .and_then(|pointer| pointer.rsplit('/').next().map(str::to_owned));
                        (detail, member)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            status,
            retry_after,
            errors,
        }
    }

    /// The messages for a form of `fields`.
    pub fn messages(&self, fields: &[Field]) -> Messages {
        match self.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                return Messages::general(
                    "accountd is busy, or cannot reach its database right now. Nothing was \
                     changed; try again in a moment.",
                );
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = match self.retry_after {
                    Some(1) => "a second".to_owned(),
                    Some(seconds) => format!("{seconds} seconds"),
                    None => "a little while".to_owned(),
                };
                return Messages::general(format!(
                    "Too many attempts from your address. Try again in {wait}."
                ));
            }
            _ => {}
        }
        let mut messages = Messages::default();
        for (detail, member) in &self.errors {
            if let Some(failures) = validation_failures(detail) {
                for (reference_name, tag) in failures {
                    let field = fields
                        .iter()
                        .find(|field| field_name(field.name) == reference_name);
                    match field {
                        Some(field) => {
                            messages.add_to_field(field.name, rule_message(field.label, tag))
                        }
                        None => messages.general.push(rule_message(reference_name, tag)),
                    }
                }
                continue;
            }
            let field = fields.iter().find(|field| {
                member.as_deref() == Some(field.name)
                    || field
                        .mentioned_by
                        .iter()
                        .any(|words| detail.contains(words))
            });
            match field {
                Some(field) => {
                    // `client_id is required` reads as `Client id is required.`
                    let detail = match detail.strip_prefix(field.name) {
                        Some(rest) => format!("{}{rest}", field.label),
                        None => detail.clone(),
                    };
                    messages.add_to_field(field.name, sentence(&detail));
                }
                None => messages.general.push(sentence(detail)),
            }
        }
        if messages.general.is_empty() && messages.fields.is_empty() {
            messages.general.push(format!(
                "The API answered {} without saying why. Nothing was changed.",
                self.status
            ));
        }
        messages
    }
}

/// The (reference field name, tag) pairs of a validation failure
/// (docs/http-conventions.md#validation-wording), or `None` when `detail` is not one.
fn validation_failures(detail: &str) -> Option<Vec<(&str, &str)>> {
    let list = detail.strip_prefix("Validation failed: ")?;
    let list = list.strip_suffix('.').unwrap_or(list);
    list.split("; ")
        .map(|failure| {
            let rest = failure.strip_prefix("field '")?;
            let (name, rest) = rest.split_once("' on the '")?;
            let tag = rest.strip_suffix("' tag")?;
            Some((name, tag))
        })
        .collect()
}

/// A validation tag as a sentence about the field labelled `label`.
fn rule_message(label: &str, tag: &str) -> String {
    match tag {
        "required" => format!("{label} is required."),
        "min" => format!("{label} is too short."),
        "max" => format!("{label} is too long."),
        "uuid" => format!("{label} must be an id such as 3fa85f64-5717-4562-b3fc-2c963f66afa6."),
        "email" => format!("{label} must be an email address."),
        "string" => format!("{label} must be text, without the character U+0000."),
        "immutable" => format!("{label} cannot be changed once set."),
        "url" => format!(
            "{label} must be an absolute https URL, such as https://hooks.example.com/accountd."
        ),
        "oneof" => format!("{label} is not one of the accepted values."),
        "integer" => format!("{label} must be a whole number."),
        other => format!("{label} is not accepted (the API's rule: {other})."),
    }
}

/// The API's detail as a sentence: capital first letter, full stop.
fn sentence(detail: &str) -> String {
    let mut chars = detail.trim().chars();
    let mut text: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[
        Field {
            name: "name",
            label: "Name",
            mentioned_by: &[],
        },
        Field {
            name: "parent_id",
            label: "Parent account id",
            mentioned_by: &["parent account"],
        },
    ];

    fn problem(status: u16, detail: &str) -> Problem {
        let body = serde_json::json!({"errors": [{"status": status.to_string(), "title": "x", "detail": detail}]});
        Problem::read(
            StatusCode::from_u16(status).unwrap(),
            Some(3),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn validation_failures_go_beside_their_fields_in_words() {
        let messages = problem(
            400,
            "Validation failed: field 'Name' on the 'required' tag; field 'ParentID' on the 'uuid' tag; field 'Type' on the 'eq' tag.",
        )
        .messages(FIELDS);
        assert_eq!(messages.field("name"), Some("Name is required."));
        assert!(
            messages
                .field("parent_id")
                .unwrap()
                .starts_with("Parent account id must be an id")
        );
        assert_eq!(
            messages.general,
            ["Type is not accepted (the API's rule: eq)."]
        );
    }

    #[test]
    fn other_details_go_to_the_field_they_mention_or_above_the_form() {
        let messages = problem(404, "parent account not found").messages(FIELDS);
        assert_eq!(
            messages.field("parent_id"),
            Some("Parent account not found.")
        );
        let messages =
            problem(409, "account with the given registration id already exists").messages(FIELDS);
        assert_eq!(
            messages.general,
            ["Account with the given registration id already exists."]
        );
    }

    #[test]
    fn busy_and_throttled_answers_say_to_try_again() {
        let busy = problem(503, "the database is unavailable, try again later").messages(FIELDS);
        assert!(
            busy.general[0].contains("try again in a moment"),
            "{busy:?}"
        );
        let throttled = problem(429, "too many requests").messages(FIELDS);
        assert_eq!(
            throttled.general,
            ["Too many attempts from your address. Try again in 3 seconds."]
        );
    }

    #[test]
    fn an_answer_without_an_envelope_still_says_something() {
        let messages = Problem::read(StatusCode::BAD_GATEWAY, None, b"<html>").messages(FIELDS);
        assert_eq!(messages.general.len(), 1);
        assert!(!messages.general[0].contains('<'));
    }

    #[test]
    fn a_detail_that_starts_with_a_fields_name_starts_with_its_label() {
        let fields = [Field {
            name: "client_secret",
            label: "Client secret",
            mentioned_by: &["client_secret"],
        }];
        let messages = problem(400, "client_secret is required").messages(&fields);
        assert_eq!(
            messages.field("client_secret"),
            Some("Client secret is required.")
        );
    }

    #[test]
    fn a_source_pointer_names_its_field() {
        let body = br#"{"errors":[{"status":"400","title":"Bad Request","detail":"too odd","source":{"pointer":"/data/name"}}]}"#;
        let messages = Problem::read(StatusCode::BAD_REQUEST, None, body).messages(FIELDS);
        assert_eq!(messages.field("name"), Some("Too odd."));
    }
}
