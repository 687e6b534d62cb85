//! Deleting an application key: a confirmation page that names what stops working, and its form,
//! which deletes the key through the API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{ApplicationKey, LIST_PATH, delete_path};
use crate::console::Console;
use crate::console::api::One;
use crate::console::page::{self, PageError};
use crate::console::problem::Messages;
use crate::console::visit::{CsrfForm, SignedIn};
use crate::http::validation::parse_uuid;

/// The confirmation form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Confirmation {}

/// Signed in: what deleting the key `application_key_id` does, and the button that does it.
pub async fn confirm_delete(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    confirmation(
        &console,
        &signed_in,
        id,
        &Messages::default(),
        StatusCode::OK,
    )
    .await
}

/// Signed in, with the form's CSRF token: deletes the key through the API and goes back to the
/// list, or shows the confirmation again with the API's reason (a configured key cannot be
/// deleted).
pub async fn delete(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<Confirmation>,
) -> Result<Response, PageError> {
    let (signed_in, _) = form.signed_in()?;
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let answer = console
        .api_for(&signed_in)
        .delete(&format!("/v2/application-keys/{id}"))
        .await?;
    match answer.status {
        StatusCode::NO_CONTENT => Ok(page::see_other(LIST_PATH)),
        StatusCode::NOT_FOUND => Err(PageError::NotFound),
        _ => {
            let problem = answer.problem();
            confirmation(
                &console,
                &signed_in,
                id,
                &problem.messages(&[]),
                problem.status,
            )
            .await
        }
    }
}

async fn confirmation(
    console: &Console,
    signed_in: &SignedIn,
    id: Uuid,
    messages: &Messages,
    status: StatusCode,
) -> Result<Response, PageError> {
    let answer = console
        .api_for(signed_in)
        .get(&format!("/v2/application-keys/{id}"))
        .await?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(PageError::NotFound),
        _ => {
            let content = page::alert(&answer.problem().messages(&[]).general);
            return Ok(page::respond(
                answer.status,
                page::document("Delete an application key", Some(&signed_in.csrf), &content),
            ));
        }
    }
    let key = answer.read::<One<ApplicationKey>>()?.data;
    let content = html! {
        (page::alert(&messages.general))
        p {
            "Deleting the key " strong { (key.name) } " (client id " code { (key.client_id) } ") "
            "cannot be undone. Every bearer token issued for it stops working at once, so whatever "
            "signs in with it (a storefront, a back office, this console) is refused until it is "
            "given another key."
        }
        form method="post" action=(delete_path(key.id)) {
            (page::csrf_field(&signed_in.csrf))
            button type="submit" class="danger" { "Delete the key" }
        }
        p { a href=(LIST_PATH) { "Keep the key and go back" } }
    };
    Ok(page::respond(
        status,
        page::document(
            &format!("Delete the key {}?", key.name),
            Some(&signed_in.csrf),
            &content,
        ),
    ))
}
