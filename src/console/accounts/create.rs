//! Creating an account: the form, and its submission as the API's `POST /v2/accounts`. A parent
//! can be given, which makes the new account its child; the account page links here with it
//! filled in.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::path;
use crate::console::Console;
use crate::console::api::One;
use crate::console::page::{self, Input, PageError};
use crate::console::problem::{Field, Messages};
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, SignedIn};

const TITLE: &str = "Create an account";

/// The form's fields, named as the API's members are, in the order of its field table.
pub(super) const FIELDS: &[Field] = &[
    Field {
        name: "name",
        label: "Name",
        mentioned_by: &[],
    },
    Field {
        name: "legal_name",
        label: "Legal name",
        mentioned_by: &[],
    },
    Field {
        name: "registration_id",
        label: "Registration id",
        mentioned_by: &["registration id"],
    },
    Field {
        name: "external_ref",
        label: "External reference",
        mentioned_by: &[],
    },
    Field {
        name: "parent_id",
        label: "Parent account id",
        mentioned_by: &["parent account"],
    },
];

/// What the form sends; every field is text, an empty one meaning "not given".
#[derive(Debug, Default, Deserialize)]
pub struct AccountFields {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) legal_name: String,
    #[serde(default)]
    pub(super) registration_id: String,
    #[serde(default)]
    pub(super) external_ref: String,
    #[serde(default)]
    pub(super) parent_id: String,
}

impl AccountFields {
    /// The API's request body: the fields as typed, less surrounding white space; an empty one is
    /// left out, which the API reads as absent (`null` for the optional ones).
    fn api_body(&self) -> Value {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!("account"));
        for (key, value) in [
            ("name", &self.name),
            ("legal_name", &self.legal_name),
            ("registration_id", &self.registration_id),
            ("external_ref", &self.external_ref),
            ("parent_id", &self.parent_id),
        ] {
            let value = value.trim();
            if !value.is_empty() {
                data.insert(key.to_owned(), json!(value));
            }
        }
        json!({ "data": data })
    }
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

/// Signed in: the empty form, with `?parent_id=` filled in when given.
pub async fn new_form(signed_in: SignedIn, RawQuery(raw): RawQuery) -> Response {
    let parent_id =
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .find(|(key, _)| key == "parent_id")
            .map(|(_, value)| value)
            .unwrap_or_default();
    let fields = AccountFields {
        parent_id,
        ..AccountFields::default()
    };
    form_page(
        StatusCode::OK,
        &signed_in.csrf,
        &fields,
        &Messages::default(),
    )
}

/// Signed in, with the form's CSRF token: creates the account through the API and shows it, or
/// shows the form again with the API's reasons beside the fields.
pub async fn create(
    State(console): State<Console>,
    form: CsrfForm<AccountFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let answer = console
        .api_for(&signed_in)
        .post_json("/v2/accounts", &fields.api_body())
        .await?;
    if answer.status == StatusCode::CREATED {
        let created = answer.read::<One<Created>>()?.data;
        return Ok(page::see_other(&path(created.id)));
    }
    let problem = answer.problem();
    Ok(form_page(
        problem.status,
        &signed_in.csrf,
        &fields,
        &problem.messages(FIELDS),
    ))
}

fn form_page(
    status: StatusCode,
    csrf: &CsrfToken,
    fields: &AccountFields,
    messages: &Messages,
) -> Response {
    page::respond(
        status,
        page::document(TITLE, Some(csrf), &form(csrf, fields, messages)),
    )
}

fn form(csrf: &CsrfToken, fields: &AccountFields, messages: &Messages) -> Markup {
    html! {
        (page::alert(&messages.general))
        form method="post" action="/admin/accounts" class="stacked" {
            (page::csrf_field(csrf))
            (Input::text("name", "Name", &fields.name)
                .required()
                .error(messages.field("name"))
                .render())
            (Input::text("legal_name", "Legal name", &fields.legal_name)
                .error(messages.field("legal_name"))
                .render())
            (Input::text("registration_id", "Registration id", &fields.registration_id)
                .hint("At most 63 characters, and no other account may have it.")
                .error(messages.field("registration_id"))
                .render())
            (Input::text("external_ref", "External reference", &fields.external_ref)
                .hint("Your own systems' id for this account.")
                .error(messages.field("external_ref"))
                .render())
            (Input::text("parent_id", "Parent account id", &fields.parent_id)
                .hint("The id of an existing account, to make this one its child; it cannot be \
                       changed later. Leave it empty for a top-level account.")
                .error(messages.field("parent_id"))
                .render())
            button type="submit" { "Create the account" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_left_out_and_the_rest_trimmed() {
        let fields = AccountFields {
            name: " Acme ".to_owned(),
            parent_id: "  ".to_owned(),
            ..AccountFields::default()
        };
        assert_eq!(
            fields.api_body(),
            json!({"data": {"type": "account", "name": "Acme"}})
        );
    }
}
