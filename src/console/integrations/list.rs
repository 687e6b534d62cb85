//! The integrations list and its create form, sent as the API's `POST /v2/integrations`. The
//! events an integration observes are chosen from the API's catalogue.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Integration, LIST_PATH, path};
use crate::console::Console;
use crate::console::api::{ListPage, One, query};
use crate::console::page::{self, Input, PageError};
use crate::console::pager::{self, page_parameters, query_pairs};
use crate::console::problem::{Field, Messages};
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, SignedIn};
use crate::events::EventKey;

const TITLE: &str = "Integrations";

const FIELDS: &[Field] = &[
    Field {
        name: "name",
        label: "Name",
        mentioned_by: &[],
    },
    Field {
        name: "description",
        label: "Description",
        mentioned_by: &[],
    },
    Field {
        name: "url",
        label: "URL",
        mentioned_by: &["destination"],
    },
    Field {
        name: "observes",
        label: "Choice of events",
        mentioned_by: &[],
    },
    Field {
        name: "secret_key",
        label: "Secret key",
        mentioned_by: &[],
    },
];

/// What the create form sends: `observes` once per ticked event.
#[derive(Debug, Default)]
pub struct IntegrationFields {
    name: String,
    description: String,
    url: String,
    observes: Vec<String>,
    secret_key: String,
}

impl<'de> Deserialize<'de> for IntegrationFields {
    /// Read from the form's pairs, since a repeated name is a list only when read this way.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(deserializer)?;
        let mut fields = Self::default();
        for (name, value) in pairs {
            match name.as_str() {
                "name" => fields.name = value,
                "description" => fields.description = value,
                "url" => fields.url = value,
                "observes" => fields.observes.push(value),
                "secret_key" => fields.secret_key = value,
                _ => {}
            }
        }
        Ok(fields)
    }
}

impl IntegrationFields {
    /// The API's request body: the fields as typed, less surrounding white space; an empty one
    /// (or no event ticked) is left out, which the API reads as absent (and then generates the
    /// secret key).
    fn api_body(&self) -> Value {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!("integration"));
        let mut configuration = Map::new();
        fn given(value: &str) -> Option<&str> {
            Some(value.trim()).filter(|value| !value.is_empty())
        }
        for (key, value) in [("name", &self.name), ("description", &self.description)] {
            if let Some(value) = given(value) {
                data.insert(key.to_owned(), json!(value));
            }
        }
        for (key, value) in [("url", &self.url), ("secret_key", &self.secret_key)] {
            if let Some(value) = given(value) {
                configuration.insert(key.to_owned(), json!(value));
            }
        }
        if !self.observes.is_empty() {
            data.insert("observes".to_owned(), json!(self.observes));
        }
        data.insert("configuration".to_owned(), Value::Object(configuration));
        json!({ "data": data })
    }
}

#[derive(Deserialize)]
struct Created {
    id: uuid::Uuid,
}

/// Signed in: a page of integrations, and the create form.
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
        &IntegrationFields::default(),
        &Messages::default(),
        StatusCode::OK,
    )
    .await
}

/// Signed in, with the form's CSRF token: creates the integration through the API and shows
/// it, or the list again with the API's reasons beside the fields.
pub async fn create(
    State(console): State<Console>,
    form: CsrfForm<IntegrationFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let answer = console
        .api_for(&signed_in)
        .post_json("/v2/integrations", &fields.api_body())
        .await?;
    if answer.status == StatusCode::CREATED {
        let created = answer.read::<One<Created>>()?.data;
        return Ok(page::see_other(&path(created.id)));
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
    fields: &IntegrationFields,
    messages: &Messages,
    status: StatusCode,
) -> Result<Response, PageError> {
    let target = if page_pairs.is_empty() {
        "/v2/integrations".to_owned()
    } else {
        format!("/v2/integrations?{}", query(page_pairs))
    };
    let answer = console.api_for(signed_in).get(&target).await?;
    let (status, integrations, list_messages) = if answer.status == StatusCode::OK {
        (
            status,
            Some(answer.read::<ListPage<Integration>>()?),
            Messages::default(),
        )
    } else {
        let problem = answer.problem();
        (problem.status, None, problem.messages(&[]))
    };
    let content = html! {
        (page::alert(&list_messages.general))
        @if let Some(integrations) = &integrations {
            (table(integrations))
            (pager::pager(&integrations.links, LIST_PATH, &[], "Pages of integrations"))
        }
        (create_form(&signed_in.csrf, fields, messages))
    };
    Ok(page::respond(
        status,
        page::document(TITLE, Some(&signed_in.csrf), &content),
    ))
}

fn table(integrations: &ListPage<Integration>) -> Markup {
    html! {
        @if integrations.data.is_empty() {
            p { "There are no integrations." }
        } @else {
            table {
                caption {
                    "Integrations, page " (integrations.meta.page.current) " of "
                    (integrations.meta.page.total.max(1)) " (" (integrations.meta.results.total)
                    " in all)"
                }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "URL" }
                        th scope="col" { "State" }
                        th scope="col" { "Events" }
                        th scope="col" { "Created" }
                    }
                }
                tbody {
                    @for integration in &integrations.data {
                        tr {
                            td { a href=(path(integration.id)) { (integration.name) } }
                            td { code { (integration.configuration.url) } }
                            td { (if integration.enabled { "Enabled" } else { "Disabled" }) }
                            td { (integration.observes.join(", ")) }
                            td { (integration.meta.timestamps.created_at) }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(csrf: &CsrfToken, fields: &IntegrationFields, messages: &Messages) -> Markup {
    let observes_error = messages.field("observes");
    html! {
        section aria-labelledby="create-heading" {
            h2 id="create-heading" { "Create an integration" }
            (page::alert(&messages.general))
            form method="post" action=(LIST_PATH) class="stacked" {
                (page::csrf_field(csrf))
                (Input::text("name", "Name", &fields.name)
                    .required()
                    .error(messages.field("name"))
                    .render())
                (Input::text("description", "Description", &fields.description)
                    .error(messages.field("description"))
                    .render())
                (Input::text("url", "URL", &fields.url)
                    .kind("url")
                    .required()
                    .hint("Where deliveries are sent: an https address reachable from the internet.")
                    .error(messages.field("url"))
                    .render())
                fieldset aria-describedby=[observes_error.map(|_| "observes-error")] {
                    legend { "Events it receives" }
                    @for key in EventKey::ALL {
                        @let id = format!("observes-{}", key.canonical());
                        div class="field checkbox" {
                            input id=(id) name="observes" type="checkbox" value=(key.canonical())
                                checked[fields.observes.iter().any(|chosen| chosen == key.canonical())];
                            " "
                            label for=(id) { code { (key.canonical()) } }
                        }
                    }
                    @if let Some(error) = observes_error {
                        p id="observes-error" class="field-error" role="alert" { (error) }
                    }
                }
                (Input::text("secret_key", "Secret key", &fields.secret_key)
                    .hint("16 to 255 characters that sign each delivery. Leave it empty and accountd makes one.")
                    .autocomplete("off")
                    .error(messages.field("secret_key"))
                    .render())
                button type="submit" { "Create the integration" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ticked_event_is_observed_and_empty_fields_are_left_out() {
        let fields: IntegrationFields = serde_urlencoded::from_str(
            "name=+Hooks+&url=https%3A%2F%2Fh.example%2Fx&observes=account.event.created\
             &observes=account.event.deleted&secret_key=&csrf_token=t",
        )
        .unwrap();
        assert_eq!(
            fields.api_body(),
            json!({"data": {
                "type": "integration",
                "name": "Hooks",
                "observes": ["account.event.created", "account.event.deleted"],
                "configuration": {"url": "https://h.example/x"},
            }})
        );
    }
}
