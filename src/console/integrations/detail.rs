//! One integration: its fields (never its secret key), its delivery log a page at a time
//! (`GET /v2/integrations/{id}/logs`), and the "Send a test event" button, which asks the API to
//! queue an `integration.test` event for this integration alone.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::{Integration, LIST_PATH, path};
use crate::console::Console;
use crate::console::api::{ListPage, One, query};
use crate::console::page::{self, PageError};
use crate::console::pager::{self, page_parameters, query_pairs};
use crate::console::problem::Messages;
use crate::console::visit::{CsrfForm, SignedIn};
use crate::http::validation::parse_uuid;

/// One delivery attempt, as far as the log shows it.
#[derive(Debug, Deserialize)]
struct Attempt {
    event_id: Uuid,
    triggered_by: String,
    attempt: i64,
    succeeded: bool,
    status_code: Option<i64>,
    body: Option<String>,
    error_detail: Option<String>,
    meta: AttemptMeta,
}

#[derive(Debug, Deserialize)]
struct AttemptMeta {
    timestamps: AttemptTimestamps,
}

#[derive(Debug, Deserialize)]
struct AttemptTimestamps {
    created_at: String,
}

/// The API's answer to a test event: the envelope id its attempts are logged under.
#[derive(Debug, Deserialize)]
struct QueuedTestEvent {
    id: Uuid,
}

/// The test event form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct TestEventForm {}

/// What the page says above its sections: a queued test event, or why one was not queued.
enum Outcome {
    Nothing,
    Queued(Uuid),
    Refused(Messages),
}

/// Signed in: the integration at `/admin/integrations/{integration_id}`.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    // Only a canonical id reaches the API's path, so nothing else can be smuggled into it.
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let pairs = query_pairs(raw.as_deref());
    // Only an id is repeated in the notice, so a crafted link cannot make the page say more.
    let outcome = match parse_uuid(pager::value(&pairs, "test_event")) {
        Some(event_id) => Outcome::Queued(event_id),
        None => Outcome::Nothing,
    };
    integration_page(
        &console,
        &signed_in,
        id,
        &page_parameters(&pairs),
        &outcome,
        StatusCode::OK,
    )
    .await
}

/// Signed in, with the form's CSRF token: asks the API for a test event, then shows the
/// integration again, saying what happened.
pub async fn send_test_event(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<TestEventForm>,
) -> Result<Response, PageError> {
    let (signed_in, _) = form.signed_in()?;
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let answer = console
        .api_for(&signed_in)
        .post_empty(&format!("/v2/integrations/{id}/test-event"))
        .await?;
    match answer.status {
        StatusCode::ACCEPTED => {
            let queued = answer.read::<One<QueuedTestEvent>>()?.data;
            let next = format!(
                "{}?{}",
                path(id),
                query(&[("test_event", &queued.id.to_string())])
            );
            Ok(page::see_other(&next))
        }
        StatusCode::NOT_FOUND => Err(PageError::NotFound),
        status => {
            let outcome = Outcome::Refused(answer.problem().messages(&[]));
            integration_page(&console, &signed_in, id, &[], &outcome, status).await
        }
    }
}

async fn integration_page(
    console: &Console,
    signed_in: &SignedIn,
    id: Uuid,
    page_pairs: &[(&str, &str)],
    outcome: &Outcome,
    status: StatusCode,
) -> Result<Response, PageError> {
    let api = console.api_for(signed_in);
    let answer = api.get(&format!("/v2/integrations/{id}")).await?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(PageError::NotFound),
        _ => {
            let content = page::alert(&answer.problem().messages(&[]).general);
            return Ok(page::respond(
                answer.status,
                page::document("Integration", Some(&signed_in.csrf), &content),
            ));
        }
    }
    let integration = answer.read::<One<Integration>>()?.data;
    let logs_target = if page_pairs.is_empty() {
        format!("/v2/integrations/{id}/logs")
    } else {
        format!("/v2/integrations/{id}/logs?{}", query(page_pairs))
    };
    let logs = api.get(&logs_target).await?;
    let (logs, log_messages) = if logs.status == StatusCode::OK {
        (Some(logs.read::<ListPage<Attempt>>()?), Vec::new())
    } else {
        (None, logs.problem().messages(&[]).general)
    };
    let content = html! {
        nav class="breadcrumbs" aria-label="Breadcrumbs" {
            ol {
                li { a href=(LIST_PATH) { "Integrations" } }
                li aria-current="page" { (integration.name) }
            }
        }
        @match outcome {
            Outcome::Nothing => {}
            Outcome::Queued(event_id) => {
                p class="notice" role="status" {
                    "A test event is queued (event id " code { (event_id) } "). Its delivery "
                    "appears in the log below once accountd has tried it; reload the page to see it."
                }
            }
            Outcome::Refused(messages) => { (page::alert(&messages.general)) }
        }
        (fields(&integration))
        section aria-labelledby="test-heading" {
            h2 id="test-heading" { "Test event" }
            p {
                "Sends one event of type " code { "integration.test" } " to this integration only, "
                "signed and retried like every other event."
            }
            form method="post" action={ (path(id)) "/test-event" } {
                (page::csrf_field(&signed_in.csrf))
                button type="submit" { "Send a test event" }
            }
        }
        section aria-labelledby="log-heading" {
            h2 id="log-heading" { "Delivery log" }
            (page::alert(&log_messages))
            @if let Some(logs) = &logs {
                (log_table(logs))
                (pager::pager(&logs.links, &path(id), &[], "Pages of the delivery log"))
            }
        }
    };
    Ok(page::respond(
        status,
        page::document(&integration.name, Some(&signed_in.csrf), &content),
    ))
}

fn fields(integration: &Integration) -> Markup {
    html! {
        dl class="fields" {
            div { dt { "Id" } dd { code { (integration.id) } } }
            div { dt { "Name" } dd { (integration.name) } }
            div { dt { "Description" } dd { (integration.description.as_deref().unwrap_or("—")) } }
            div { dt { "State" } dd { (if integration.enabled { "Enabled" } else { "Disabled: it receives no deliveries" }) } }
            div { dt { "Type" } dd { (integration.integration_type) } }
            div { dt { "URL" } dd { code { (integration.configuration.url) } } }
            div {
                dt { "Events it receives" }
                dd { ul { @for key in &integration.observes { li { code { (key) } } } } }
            }
            div {
                dt { "Secret key in clear" }
                dd {
                    @if integration.configuration.send_secret_key {
                        "Sent with each delivery, as Elastic Path does"
                    } @else {
                        "Not sent: deliveries carry only their signatures"
                    }
                }
            }
            div { dt { "Created" } dd { (integration.meta.timestamps.created_at) } }
            div { dt { "Updated" } dd { (integration.meta.timestamps.updated_at) } }
        }
    }
}

fn log_table(logs: &ListPage<Attempt>) -> Markup {
    html! {
        @if logs.data.is_empty() {
            p { "Nothing has been delivered to this integration in the last 7 days." }
        } @else {
            table {
                caption {
                    "Delivery attempts, newest first, page " (logs.meta.page.current) " of "
                    (logs.meta.page.total.max(1)) " (" (logs.meta.results.total) " in all)"
                }
                thead {
                    tr {
                        th scope="col" { "Time" }
                        th scope="col" { "Event" }
                        th scope="col" { "Event id" }
                        th scope="col" { "Attempt" }
                        th scope="col" { "Result" }
                        th scope="col" { "Receiver's answer" }
                    }
                }
                tbody {
                    @for attempt in &logs.data {
                        tr {
                            td { (attempt.meta.timestamps.created_at) }
                            td { code { (attempt.triggered_by) } }
                            td { code { (attempt.event_id) } }
                            td { (attempt.attempt) }
                            td { (if attempt.succeeded { "Delivered" } else { "Failed" }) }
                            td { (answer(attempt)) }
                        }
                    }
                }
            }
        }
    }
}

/// The receiver's status and body, or why there was none.
fn answer(attempt: &Attempt) -> Markup {
    html! {
        @match attempt.status_code {
            Some(status) => { "HTTP " (status) }
            None => { "No answer" }
        }
        @if let Some(detail) = &attempt.error_detail { br; (detail) }
        @if let Some(body) = attempt.body.as_deref().filter(|body| !body.is_empty()) {
            br; code { (body) }
        }
    }
}
