//! The dashboard: the totals of the two main lists, logins a minute over the last hour
//! (`chart.rs`), the password-hash queue, the webhook backlog and failures, and the latest
//! lockouts. The totals and the lockouts come from the API; the rest are figures the API does not
//! serve (`GET /metrics` has the live ones, on the management listener), read here from the
//! store and the hash pool of this process.

mod chart;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde::de::IgnoredAny;
use uuid::Uuid;

use super::Console;
use super::api::{Answer, ListPage, query};
use super::members;
use super::page::{self, PageError};
use super::visit::SignedIn;
use crate::store::{LoginMinute, fold_case};

/// Lockouts listed, newest first.
const LOCKOUTS_SHOWN: usize = 10;
const HOUR_MILLIS: i64 = 3_600_000;

/// A `login.throttled` audit event, as far as the list shows it.
#[derive(Debug, Deserialize)]
struct Throttled {
    client_address: Option<String>,
    detail: ThrottledDetail,
    meta: ThrottledMeta,
}

#[derive(Debug, Default, Deserialize)]
struct ThrottledDetail {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_profile_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
struct ThrottledMeta {
    timestamps: CreatedAt,
}

#[derive(Debug, Deserialize)]
struct CreatedAt {
    created_at: String,
}

/// A lockout as listed: the event, and the member whose username it names when there is one.
struct Lockout {
    event: Throttled,
    member: Option<Uuid>,
}

/// Signed in: the dashboard.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let api = console.api_for(&signed_in);
    let now = console.now();
    let store = &console.app.store;
    let since = crate::time::Timestamp::from_millis(now.millis() - HOUR_MILLIS);
    let lockouts_target = format!(
        "/v2/audit-events?{}",
        query(&[
            ("filter", "eq(event_type,login.throttled)"),
            ("sort", "-created_at"),
            ("page[limit]", &LOCKOUTS_SHOWN.to_string()),
        ])
    );
    let (accounts, members, lockouts, logins, backlog, failed) = tokio::join!(
        api.get("/v2/accounts?page%5Blimit%5D=1"),
        api.get("/v2/account-members?page%5Blimit%5D=1"),
        api.get(&lockouts_target),
        store.login_minutes(since),
        store.outbox_backlog(),
        store.failed_deliveries_since(since),
    );
    let mut problems = Vec::new();
    let mut count = |answer: Answer| -> Result<Option<u64>, PageError> {
        if answer.status == StatusCode::OK {
            return Ok(Some(
                answer.read::<ListPage<IgnoredAny>>()?.meta.results.total,
            ));
        }
        problems.extend(answer.problem().messages(&[]).general);
        Ok(None)
    };
    let accounts = count(accounts?)?;
    let members = count(members?)?;
    let lockouts = lockouts?;
    let lockouts = if lockouts.status == StatusCode::OK {
        let events = lockouts.read::<ListPage<Throttled>>()?.data;
        let mut listed = Vec::with_capacity(events.len());
        for event in events {
            let member = match (&event.detail.username, event.detail.password_profile_id) {
                (Some(username), Some(profile)) => store
                    .find_login(profile, &fold_case(username))
                    .await
                    .ok()
                    .flatten()
                    .map(|login| login.user_id),
                _ => None,
            };
            listed.push(Lockout { event, member });
        }
        Some(listed)
    } else {
        None
    };
    let logins = logins.map(|recorded| chart::last_hour(&recorded, now));
    let hasher = &console.app.hasher;
    let content = html! {
        (page::alert(&problems))
        dl class="totals" {
            div { dt { "Accounts" } dd { (shown(accounts)) } }
            div { dt { "Account members" } dd { (shown(members)) } }
        }
        section aria-labelledby="logins-heading" {
            h2 id="logins-heading" { "Logins" }
            @match &logins {
                Ok(minutes) => { (logins_figure(minutes)) }
                Err(_) => { p { "The logins could not be counted just now." } }
            }
        }
        section aria-labelledby="hashing-heading" {
            h2 id="hashing-heading" { "Password hashing" }
            p id="hash-queue" {
                (hasher.queue_depth()) " waiting for a hashing thread (room for "
                (hasher.queue_bound()) ", " (hasher.threads()) " threads in this process). "
                "When the queue is full, logins answer 503 and are asked to try again."
            }
        }
        section aria-labelledby="webhooks-heading" {
            h2 id="webhooks-heading" { "Webhooks" }
            p id="webhook-backlog" {
                @match &backlog {
                    Ok(backlog) => {
                        (backlog.pending) " deliveries waiting"
                        @if let Some(oldest) = backlog.oldest_created_at { ", the oldest since " (oldest) }
                        ". "
                    }
                    Err(_) => { "The backlog could not be read just now. " }
                }
                @match &failed {
                    Ok(failed) => { (failed) " failed delivery attempts in the last hour." }
                    Err(_) => {}
                }
            }
            p { a href="/admin/integrations" { "Integrations and their delivery logs" } }
        }
        section aria-labelledby="lockouts-heading" {
            h2 id="lockouts-heading" { "Recent lockouts" }
            (lockouts_list(lockouts.as_deref()))
        }
    };
    Ok(page::respond(
        StatusCode::OK,
        page::document("Dashboard", Some(&signed_in.csrf), &content),
    ))
}

fn logins_figure(minutes: &[LoginMinute]) -> Markup {
    let total = |count: fn(&LoginMinute) -> u64| minutes.iter().map(count).sum::<u64>();
    let (succeeded, failed, throttled) = (
        total(|minute| minute.succeeded),
        total(|minute| minute.failed),
        total(|minute| minute.throttled),
    );
    let summary =
        format!("Last hour: {succeeded} succeeded, {failed} failed, {throttled} throttled");
    html! {
        figure {
            (chart::render(minutes, &summary))
            figcaption {
                p id="logins-summary" { (summary) }
                ul class="legend" {
                    @for series in &chart::SERIES {
                        li { svg width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(series.colour); } " " (series.label) }
                    }
                }
                p class="hint" {
                    "From the audit trail: a throttled login is counted once per lock period of "
                    "its key, when the lock begins."
                }
            }
        }
    }
}

fn lockouts_list(lockouts: Option<&[Lockout]>) -> Markup {
    html! {
        @match lockouts {
            None => { p { "The audit trail could not be read just now." } }
            Some([]) => { p { "None recorded." } }
            Some(lockouts) => {
                ul class="lockouts" {
                    @for lockout in lockouts {
                        li {
                            (lockout.event.meta.timestamps.created_at) ": "
                            @match (&lockout.event.detail.username, lockout.member) {
                                (Some(username), Some(member)) => { a href=(members::path(member)) { (username) } }
                                (Some(username), None) => { (username) }
                                (None, _) => { "an address" }
                            }
                            @if let Some(address) = &lockout.event.client_address { " from " (address) }
                        }
                    }
                }
                p { a href="/admin/audit?type=login.throttled" { "All lockouts in the audit trail" } }
            }
        }
    }
}

fn shown(total: Option<u64>) -> String {
    total.map_or_else(|| "not available".to_owned(), |total| total.to_string())
}
