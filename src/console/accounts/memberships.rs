//! An account's members: the section of the account page that lists its memberships (with each
//! member's name, from the API's `include=account_member`), and the forms that add a member by id
//! and remove a membership. A refused addition shows its form on a page of its own, with the
//! API's reason beside the field.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Meta, Reference, path};
use crate::console::Console;
use crate::console::api::{Api, ListMeta};
use crate::console::members;
use crate::console::page::{self, Input, PageError};
use crate::console::problem::{Field, Messages};
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, NoFields};
use crate::http::validation::parse_uuid;

/// Memberships shown on the account page; the rest are counted.
const SHOWN: u32 = 100;

const MEMBER_FIELDS: &[Field] = &[Field {
    name: "account_member_id",
    label: "Member id",
    mentioned_by: &["member"],
}];

#[derive(Debug, Deserialize)]
pub struct Membership {
    id: Uuid,
    relationships: Relationships,
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Relationships {
    account_member: Reference,
}

#[derive(Debug, Deserialize)]
struct IncludedMember {
    id: Uuid,
    name: String,
    email: String,
}

#[derive(Debug, Deserialize)]
struct Included {
    #[serde(default)]
    account_members: Vec<IncludedMember>,
}

#[derive(Debug, Deserialize)]
pub struct MembershipsPage {
    data: Vec<Membership>,
    #[serde(default)]
    included: Option<Included>,
    meta: ListMeta,
}

/// The outcome of the last membership form, read from the account page's address; only these
/// fixed sentences can be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    None,
    Added,
    Removed,
}

impl Feedback {
    pub fn read(raw_query: Option<&str>) -> Self {
        let done =
            serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query.unwrap_or_default())
                .unwrap_or_default()
                .into_iter()
                .find(|(key, _)| key == "done")
                .map(|(_, value)| value);
        match done.as_deref() {
            Some("member-added") => Self::Added,
            Some("member-removed") => Self::Removed,
            _ => Self::None,
        }
    }
}

pub fn notice(feedback: &Feedback) -> Markup {
    html! {
        @match feedback {
            Feedback::Added => { p class="notice" role="status" { "The member was added to this account." } }
            Feedback::Removed => { p class="notice" role="status" { "The membership was removed." } }
            Feedback::None => {}
        }
    }
}

/// The account's first memberships with their members, or `None` when the API refused them.
pub async fn page(api: &Api<'_>, account: Uuid) -> Result<Option<MembershipsPage>, PageError> {
    let answer = api
        .get(&format!(
            "/v2/accounts/{account}/account-memberships?include=account_member&page%5Blimit%5D={SHOWN}"
        ))
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(None);
    }
    answer.read().map(Some)
}

pub fn section(account: Uuid, csrf: &CsrfToken, memberships: &Option<MembershipsPage>) -> Markup {
    let member = |page: &MembershipsPage, id: Uuid| {
        page.included
            .as_ref()
            .and_then(|included| {
                included
                    .account_members
                    .iter()
                    .find(|member| member.id == id)
            })
            .map(|member| (member.name.clone(), member.email.clone()))
    };
    html! {
        section aria-labelledby="members-heading" {
            h2 id="members-heading" { "Members" }
            @match memberships {
                None => { p { "The memberships could not be read." } }
                Some(page) if page.data.is_empty() => { p { "No member belongs to this account." } }
                Some(page) => {
                    table {
                        caption { "Members of this account (" (page.meta.results.total) ")" }
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Since" } th scope="col" { "Remove" } } }
                        tbody {
                            @for membership in &page.data {
                                @let member_id = membership.relationships.account_member.data.id;
                                @let (name, email) = member(page, member_id).unwrap_or_else(|| (member_id.to_string(), String::new()));
                                tr {
                                    td { a href=(members::path(member_id)) { (name) } }
                                    td { (email) }
                                    td { (membership.meta.timestamps.created_at) }
                                    td {
                                        form method="post" action=(format!("{}/memberships/{}/delete", path(account), membership.id)) {
                                            (page::csrf_field(csrf))
                                            button type="submit" aria-label=(format!("Remove {name}")) { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if page.meta.results.total > page.data.len() as u64 {
                        p class="hint" { "The first " (page.data.len()) " are shown; a member's own page lists its accounts." }
                    }
                }
            }
            (add_form(account, csrf, "", None))
        }
    }
}

fn add_form(account: Uuid, csrf: &CsrfToken, value: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action=(format!("{}/memberships", path(account))) class="stacked" {
            (page::csrf_field(csrf))
            (Input::text("account_member_id", "Member id", value)
                .required()
                .hint("The id of the member to add, shown on the member's page.")
                .error(error)
                .render())
            button type="submit" { "Add member" }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct MemberField {
    #[serde(default)]
    account_member_id: String,
}

/// Adds the member the form names to the account.
pub async fn add(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<MemberField>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let account = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let typed = fields.account_member_id.trim();
    let Some(member) = parse_uuid(typed) else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            account,
            &signed_in.csrf,
            typed,
            &Messages::default(),
            Some("Enter the id of a member: it is shown on the member's page."),
        ));
    };
    let answer = console
        .api_for(&signed_in)
        .post_json(
            &format!("/v2/accounts/{account}/account-memberships"),
            &json!({"data": {"type": "account_membership", "account_member_id": member}}),
        )
        .await?;
    if answer.status.is_success() {
        return Ok(page::see_other(&format!(
            "{}?done=member-added",
            path(account)
        )));
    }
    let problem = answer.problem();
    let messages = problem.messages(MEMBER_FIELDS);
    Ok(refused(
        problem.status,
        account,
        &signed_in.csrf,
        typed,
        &messages,
        messages.field("account_member_id"),
    ))
}

fn refused(
    status: StatusCode,
    account: Uuid,
    csrf: &CsrfToken,
    typed: &str,
    messages: &Messages,
    beside: Option<&str>,
) -> Response {
    let content = html! {
        (page::alert(&messages.general))
        (add_form(account, csrf, typed, beside))
        p { a href=(path(account)) { "Back to the account" } }
    };
    page::respond(status, page::document("Add a member", Some(csrf), &content))
}

/// Removes one of the account's memberships.
pub async fn remove(
    State(console): State<Console>,
    Path((raw_id, raw_membership)): Path<(String, String)>,
    form: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let (signed_in, _) = form.signed_in()?;
    let account = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let membership = parse_uuid(&raw_membership).ok_or(PageError::NotFound)?;
    let answer = console
        .api_for(&signed_in)
        .delete(&format!(
            "/v2/accounts/{account}/account-memberships/{membership}"
        ))
        .await?;
    if answer.status.is_success() {
        return Ok(page::see_other(&format!(
            "{}?done=member-removed",
            path(account)
        )));
    }
    let problem = answer.problem();
    let content = html! {
        (page::alert(&problem.messages(&[]).general))
        p { a href=(path(account)) { "Back to the account" } }
    };
    Ok(page::respond(
        problem.status,
        page::document(
            "The membership was not removed",
            Some(&signed_in.csrf),
            &content,
        ),
    ))
}
