//! Editing an account: its fields as the API's `PUT /v2/accounts/{id}` takes them. The parent
//! cannot change, so the form does not offer it; an emptied optional field is sent as `null`,
//! which clears it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::create::{AccountFields, FIELDS};
use super::{Account, path};
use crate::console::Console;
use crate::console::api::One;
use crate::console::page::{self, Input, PageError};
use crate::console::problem::Messages;
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, SignedIn};
use crate::http::validation::parse_uuid;

impl AccountFields {
    /// The API's update body: the name when given, and every optional field, `null` when empty.
    fn update_body(&self) -> Value {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!("account"));
        let name = self.name.trim();
        if !name.is_empty() {
            data.insert("name".to_owned(), json!(name));
        }
        for (key, value) in [
            ("legal_name", &self.legal_name),
            ("registration_id", &self.registration_id),
            ("external_ref", &self.external_ref),
        ] {
            let value = value.trim();
            let value = if value.is_empty() {
                Value::Null
            } else {
                json!(value)
            };
            data.insert(key.to_owned(), value);
        }
        json!({ "data": data })
    }

    fn of(account: Account) -> Self {
        Self {
            name: account.name,
            legal_name: account.legal_name.unwrap_or_default(),
            registration_id: account.registration_id.unwrap_or_default(),
            external_ref: account.external_ref.unwrap_or_default(),
            parent_id: String::new(),
        }
    }
}

/// Signed in: the form, filled in with the account as it is.
pub async fn edit_form(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let answer = console
        .api_for(&signed_in)
        .get(&format!("/v2/accounts/{id}"))
        .await?;
    if answer.status != StatusCode::OK {
        return Err(PageError::NotFound);
    }
    let fields = AccountFields::of(answer.read::<One<Account>>()?.data);
    Ok(form_page(
        StatusCode::OK,
        &signed_in.csrf,
        id,
        &fields,
        &Messages::default(),
    ))
}

/// Signed in, with the form's CSRF token: saves through the API and shows the account.
pub async fn update(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<AccountFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let answer = console
        .api_for(&signed_in)
        .put_json(&format!("/v2/accounts/{id}"), &fields.update_body())
        .await?;
    match answer.status {
        StatusCode::OK => Ok(page::see_other(&path(id))),
        StatusCode::NOT_FOUND => Err(PageError::NotFound),
        _ => {
            let problem = answer.problem();
            Ok(form_page(
                problem.status,
                &signed_in.csrf,
                id,
                &fields,
                &problem.messages(FIELDS),
            ))
        }
    }
}

fn form_page(
    status: StatusCode,
    csrf: &CsrfToken,
    id: Uuid,
    fields: &AccountFields,
    messages: &Messages,
) -> Response {
    let content = html! {
        (page::alert(&messages.general))
        form method="post" action=(format!("{}/edit", path(id))) class="stacked" {
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
            button type="submit" { "Save changes" }
        }
        p { a href=(path(id)) { "Back to the account, unchanged" } }
    };
    page::respond(
        status,
        page::document("Edit the account", Some(csrf), &content),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_optional_field_is_cleared_and_an_empty_name_left_alone() {
        let fields = AccountFields {
            name: " ".to_owned(),
            legal_name: " Acme Ltd ".to_owned(),
            ..AccountFields::default()
        };
        assert_eq!(
            fields.update_body(),
            json!({"data": {
                "type": "account",
                "legal_name": "Acme Ltd",
                "registration_id": null,
                "external_ref": null,
            }})
        );
    }
}
