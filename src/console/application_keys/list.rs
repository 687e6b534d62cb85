//! The application keys list, its create form, and the answer to a create: the new key's client
//! id and secret, shown on that one page (never stored in the session, never shown again).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::{ApplicationKey, LIST_PATH, delete_path};
use crate::console::Console;
use crate::console::api::{ListPage, One, query};
use crate::console::page::{self, Input, PageError};
use crate::console::pager::{self, page_parameters, query_pairs};
use crate::console::problem::{Field, Messages};
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, SignedIn};

const TITLE: &str = "Application keys";

const FIELDS: &[Field] = &[Field {
    name: "name",
    label: "Name",
    mentioned_by: &["name"],
}];

/// What the create form sends.
#[derive(Debug, Default, Deserialize)]
pub struct KeyFields {
    #[serde(default)]
    name: String,
}

/// A key as created: the only answer that carries its secret.
#[derive(Deserialize)]
struct CreatedKey {
    name: String,
    client_id: String,
    client_secret: String,
}

/// Signed in: a page of application keys, and the create form.
pub async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let pairs = query_pairs(raw.as_deref());
    list_page(
        &console,
        &signed_in,
        &page_parameters(&pairs),
        &KeyFields::default(),
        &Messages::default(),
        StatusCode::OK,
    )
    .await
}

/// Signed in, with the form's CSRF token: creates the key through the API and shows its secret
/// this once, or the list again with the API's reasons beside the name.
pub async fn create(
    State(console): State<Console>,
    form: CsrfForm<KeyFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let mut data = serde_json::Map::new();
    data.insert("type".to_owned(), json!("application_key"));
    let name = fields.name.trim();
    if !name.is_empty() {
        data.insert("name".to_owned(), json!(name));
    }
    let answer = console
        .api_for(&signed_in)
        .post_json("/v2/application-keys", &json!({ "data": data }))
        .await?;
    if answer.status == StatusCode::CREATED {
        let created = answer.read::<One<CreatedKey>>()?.data;
        return Ok(page::respond(
            StatusCode::OK,
            page::document(
                "Application key created",
                Some(&signed_in.csrf),
                &created_page(&created),
            ),
        ));
    }
    let problem = answer.problem();
    list_page(
        &console,
        &signed_in,
        &[],
        &fields,
        &problem.messages(FIELDS),
        problem.status,
    )
    .await
}

async fn list_page(
    console: &Console,
    signed_in: &SignedIn,
    page_pairs: &[(&str, &str)],
    fields: &KeyFields,
    messages: &Messages,
    status: StatusCode,
) -> Result<Response, PageError> {
    let target = if page_pairs.is_empty() {
        "/v2/application-keys".to_owned()
    } else {
        format!("/v2/application-keys?{}", query(page_pairs))
    };
    let answer = console.api_for(signed_in).get(&target).await?;
    let (status, keys, list_messages) = if answer.status == StatusCode::OK {
        (
            status,
            Some(answer.read::<ListPage<ApplicationKey>>()?),
            Messages::default(),
        )
    } else {
        let problem = answer.problem();
        (problem.status, None, problem.messages(&[]))
    };
    let content = html! {
        (page::alert(&list_messages.general))
        @if let Some(keys) = &keys {
            (table(keys))
            (pager::pager(&keys.links, LIST_PATH, &[], "Pages of application keys"))
        }
        (create_form(&signed_in.csrf, fields, messages))
    };
    Ok(page::respond(
        status,
        page::document(TITLE, Some(&signed_in.csrf), &content),
    ))
}

fn table(keys: &ListPage<ApplicationKey>) -> Markup {
    html! {
        @if keys.data.is_empty() {
            p { "There are no application keys." }
        } @else {
            table {
                caption {
                    "Application keys, page " (keys.meta.page.current) " of "
                    (keys.meta.page.total.max(1)) " (" (keys.meta.results.total) " in all)"
                }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Client id" }
                        th scope="col" { "Created" }
                        th scope="col" { "Last used" }
                        th scope="col" { "Actions" }
                    }
                }
                tbody {
                    @for key in &keys.data {
                        tr {
                            td { (key.name) }
                            td { code { (key.client_id) } }
                            td { (key.meta.timestamps.created_at) }
                            td { (key.meta.timestamps.last_used_at.as_deref().unwrap_or("Never")) }
                            td {
                                // A GET form: the button leads to the confirmation, which deletes.
                                form method="get" action=(delete_path(key.id)) {
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(csrf: &CsrfToken, fields: &KeyFields, messages: &Messages) -> Markup {
    html! {
        section aria-labelledby="create-heading" {
            h2 id="create-heading" { "Create an application key" }
            (page::alert(&messages.general))
            form method="post" action=(LIST_PATH) class="stacked" {
                (page::csrf_field(csrf))
                (Input::text("name", "Name", &fields.name)
                    .required()
                    .hint("What uses this key, such as \"Storefront\" or \"Support team\"; no other key may have it.")
                    .error(messages.field("name"))
                    .render())
                button type="submit" { "Create the key" }
            }
        }
    }
}

fn created_page(created: &CreatedKey) -> Markup {
    html! {
        div class="alert" role="alert" {
            p {
                strong { "Copy the client secret now: it will not be shown again." }
                " accountd keeps only a digest of it, so nobody can read it back later. If it is \
                 lost, create another key and delete this one."
            }
        }
        dl class="fields" {
            div { dt { "Name" } dd { (created.name) } }
            div { dt { "Client id" } dd { code { (created.client_id) } } }
            div { dt { "Client secret" } dd { code id="client-secret" { (created.client_secret) } } }
        }
        p { a href=(LIST_PATH) { "Back to the application keys" } }
    }
}
