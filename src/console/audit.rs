//! The audit trail: the API's `GET /v2/audit-events`, newest first, a page at a time, with a
//! filter form for what that list can filter on (the event type, and a time range on
//! `created_at`), turned into the API's filter expression here.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDateTime, SecondsFormat};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::Console;
use super::api::{ListPage, query};
use super::page::{self, Input, PageError};
use super::pager::{self, page_parameters, query_pairs};
use super::problem::{Field, Messages};
use super::visit::SignedIn;
use crate::time::Timestamp;

const PATH: &str = "/admin/audit";

/// The API names only the filter when it refuses one: its message goes above the form.
const FIELDS: &[Field] = &[];

/// One audit row, as far as the page shows it.
#[derive(Debug, Deserialize)]
struct AuditEvent {
    event_type: String,
    actor: Actor,
    subject: Option<String>,
    client_address: Option<String>,
    detail: Value,
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Actor {
    class: String,
    id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    timestamps: Timestamps,
}

#[derive(Debug, Deserialize)]
struct Timestamps {
    created_at: String,
}

/// What the filter form sends: the event type, and the earliest and latest time (UTC).
#[derive(Debug, Default)]
struct Wanted {
    event_type: String,
    from: String,
    to: String,
}

impl Wanted {
    fn read(pairs: &[(String, String)]) -> Self {
        Self {
            event_type: pager::value(pairs, "type").trim().to_owned(),
            from: pager::value(pairs, "from").trim().to_owned(),
            to: pager::value(pairs, "to").trim().to_owned(),
        }
    }

    /// The API's filter expression, or the fields whose time cannot be read.
    fn filter(&self) -> Result<Option<String>, Messages> {
        let mut expressions = Vec::new();
        let mut unreadable = Messages::default();
        if !self.event_type.is_empty() {
            expressions.push(format!("eq(event_type,{})", quoted(&self.event_type)));
        }
        for (name, label, op, text) in [
            ("from", "From", "ge", &self.from),
            ("to", "To", "le", &self.to),
        ] {
            if text.is_empty() {
                continue;
            }
            match instant(text) {
                Some(at) => expressions.push(format!("{op}(created_at,{at})")),
                None => unreadable.add_to_field(
                    name,
                    format!(
                        "{label} must be a date and time such as 2026-12-06T21:30 (UTC), or an \
                         RFC 3339 timestamp."
                    ),
                ),
            }
        }
        if unreadable.has_fields() {
            return Err(unreadable);
        }
        Ok((!expressions.is_empty()).then(|| expressions.join(":")))
    }

    /// The form's fields as the console's pagination links carry them.
    fn own(&self) -> [(&'static str, &str); 3] {
        [
            ("type", &self.event_type),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }
}

/// A filter operand in double quotes, so commas, parentheses and colons in it stay text.
fn quoted(operand: &str) -> String {
    let escaped = operand.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// An RFC 3339 timestamp, or the `YYYY-MM-DDTHH:MM[:SS]` of a date and time field read as UTC.
fn instant(text: &str) -> Option<String> {
    if Timestamp::parse_rfc3339(text).is_some() {
        return Some(text.to_owned());
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Signed in: a page of the audit trail, filtered as the form says.
pub async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let pairs = query_pairs(raw.as_deref());
    let wanted = Wanted::read(&pairs);
    let (status, listing, messages) = match wanted.filter() {
        Err(messages) => (StatusCode::BAD_REQUEST, None, messages),
        Ok(filter) => {
            let mut api_pairs: Vec<(&str, &str)> = Vec::new();
            if let Some(filter) = &filter {
                api_pairs.push(("filter", filter));
            }
            api_pairs.extend(page_parameters(&pairs));
            let target = if api_pairs.is_empty() {
                "/v2/audit-events".to_owned()
            } else {
                format!("/v2/audit-events?{}", query(&api_pairs))
            };
            let answer = console.api_for(&signed_in).get(&target).await?;
            if answer.status == StatusCode::OK {
                let events: ListPage<AuditEvent> = answer.read()?;
                (StatusCode::OK, Some(events), Messages::default())
            } else {
                let problem = answer.problem();
                (problem.status, None, problem.messages(FIELDS))
            }
        }
    };
    let content = html! {
        (filter_form(&wanted, &messages))
        @if let Some(events) = &listing {
            (table(events))
            (pager::pager(&events.links, PATH, &wanted.own(), "Pages of the audit trail"))
        }
    };
    Ok(page::respond(
        status,
        page::document("Audit trail", Some(&signed_in.csrf), &content),
    ))
}

fn filter_form(wanted: &Wanted, messages: &Messages) -> Markup {
    html! {
        (page::alert(&messages.general))
        form method="get" action=(PATH) class="search" role="search" {
            (Input::text("type", "Event type", &wanted.event_type)
                .hint("The exact event type, such as login.succeeded, login.failed or account.created.")
                .render())
            (Input::text("from", "From", &wanted.from)
                .kind("datetime-local")
                .hint("Events at or after this time, in UTC.")
                .error(messages.field("from"))
                .render())
            (Input::text("to", "To", &wanted.to)
                .kind("datetime-local")
                .hint("Events at or before this time, in UTC.")
                .error(messages.field("to"))
                .render())
            button type="submit" { "Filter" }
        }
    }
}

fn table(events: &ListPage<AuditEvent>) -> Markup {
    html! {
        @if events.data.is_empty() {
            p { "No events match." }
        } @else {
            table {
                caption {
                    "Audit events, newest first, page " (events.meta.page.current) " of "
                    (events.meta.page.total.max(1)) " (" (events.meta.results.total) " in all)"
                }
                thead {
                    tr {
                        th scope="col" { "Time" }
                        th scope="col" { "Event" }
                        th scope="col" { "Actor" }
                        th scope="col" { "Subject" }
                        th scope="col" { "Details" }
                    }
                }
                tbody {
                    @for event in &events.data {
                        tr {
                            td { time datetime=(event.meta.timestamps.created_at) { (event.meta.timestamps.created_at) } }
                            td { code { (event.event_type) } }
                            td { (actor(&event.actor)) }
                            td { (event.subject.as_deref().unwrap_or("—")) }
                            td { (details(event)) }
                        }
                    }
                }
            }
        }
    }
}

fn actor(actor: &Actor) -> Markup {
    let class = match actor.class.as_str() {
        "admin" => "Admin (application key)",
        "shopper" => "Shopper",
        "account_holder" => "Account holder (member)",
        "system" => "accountd itself",
        other => other,
    };
    html! {
        (class)
        @if let Some(id) = actor.id { br; code { (id) } }
    }
}

/// The client address and the detail's members as `name: value` lines.
fn details(event: &AuditEvent) -> Markup {
    let members: Vec<(String, String)> = match &event.detail {
        Value::Object(members) => members
            .iter()
            .map(|(name, value)| (name.clone(), shown(value)))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![("detail".to_owned(), shown(other))],
    };
    html! {
        @if let Some(address) = &event.client_address { "From " (address) }
        @if !members.is_empty() {
            ul class="details" {
                @for (name, value) in &members { li { (name) ": " (value) } }
            }
        }
    }
}

/// A detail value as text: strings without their quotes, the rest as written.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(event_type: &str, from: &str, to: &str) -> Wanted {
        Wanted {
            event_type: event_type.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    #[test]
    fn the_form_becomes_the_apis_filter() {
        assert_eq!(wanted("", "", "").filter().unwrap(), None);
        assert_eq!(
            wanted(
                "login.failed",
                "2026-12-06T21:30",
                "2026-12-07T00:00:00+01:00"
            )
            .filter()
            .unwrap()
            .as_deref(),
            Some(
                "eq(event_type,\"login.failed\"):ge(created_at,2026-12-06T21:30:00Z):\
                 le(created_at,2026-12-07T00:00:00+01:00)"
            )
        );
        assert_eq!(
            wanted("a\"b\\c", "", "").filter().unwrap().as_deref(),
            Some(r#"eq(event_type,"a\"b\\c")"#)
        );
    }

    #[test]
    fn an_unreadable_time_is_named_beside_its_field() {
        let messages = wanted("", "yesterday", "").filter().unwrap_err();
        assert!(messages.field("from").unwrap().starts_with("From must be"));
        assert_eq!(messages.field("to"), None);
    }
}
