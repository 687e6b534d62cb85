//! One account: its fields, its ancestors (named, from one list request on their ids), and its
//! children (`children.rs`).

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use uuid::Uuid;

use super::children::{self, Children, PAGE_LENGTH};
use super::memberships;
use super::{Account, path};
use crate::console::Console;
use crate::console::api::{Api, ListPage, One, query};
use crate::console::page::{self, PageError};
use crate::console::visit::SignedIn;
use crate::http::extract::list::{MAX_LIMIT, MAX_OFFSET};
use crate::http::validation::parse_uuid;

/// Signed in: the account at `/admin/accounts/{account_id}`.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, PageError> {
    // Only a canonical id reaches the API's path, so nothing else can be smuggled into it.
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let api = console.api_for(&signed_in);
    let answer = api.get(&format!("/v2/accounts/{id}")).await?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(PageError::NotFound),
        _ => {
            let messages = answer.problem().messages(&[]);
            let content = page::alert(&messages.general);
            return Ok(page::respond(
                answer.status,
                page::document("Account", Some(&signed_in.csrf), &content),
            ));
        }
    }
    let account = answer.read::<One<Account>>()?.data;
    let ancestors = ancestor_names(&api, &account).await?;
    let from = children_from(raw_query.as_deref());
    let (children, memberships) = tokio::try_join!(
        children::page(&api, account.id, from),
        memberships::page(&api, account.id),
    )?;
    let feedback = memberships::Feedback::read(raw_query.as_deref());
    let content = html! {
        (breadcrumbs(&account, &ancestors))
        (memberships::notice(&feedback))
        (fields(&account))
        ul class="actions" {
            li { a href=(format!("{}/edit", path(account.id))) { "Edit" } }
            li { a href=(format!("{}/delete", path(account.id))) { "Delete" } }
        }
        (children_section(&account, &children))
        (memberships::section(account.id, &signed_in.csrf, &memberships))
    };
    Ok(page::respond(
        StatusCode::OK,
        page::document(&account.name, Some(&signed_in.csrf), &content),
    ))
}

/// Which page of children to show: `?children_from=` of the children's pager.
fn children_from(raw_query: Option<&str>) -> u32 {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query.unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .find(|(key, _)| key == "children_from")
        .and_then(|(_, value)| value.parse().ok())
        .filter(|from| *from <= MAX_OFFSET)
        .unwrap_or(0)
}

/// The names of the account's ancestors, in one request; an ancestor the answer leaves out is
/// shown by its id.
async fn ancestor_names(
    api: &Api<'_>,
    account: &Account,
) -> Result<HashMap<Uuid, String>, PageError> {
    let ids: Vec<String> = account
        .relationships
        .ancestors
        .iter()
        .take(MAX_LIMIT as usize)
        .map(|ancestor| ancestor.data.id.to_string())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let target = format!(
        "/v2/accounts?{}",
        query(&[
            ("filter", &format!("in(id,{})", ids.join(","))),
            ("page[limit]", &MAX_LIMIT.to_string()),
        ])
    );
    let answer = api.get(&target).await?;
    if answer.status != StatusCode::OK {
        return Ok(HashMap::new());
    }
    Ok(answer
        .read::<ListPage<Account>>()?
        .data
        .into_iter()
        .map(|ancestor| (ancestor.id, ancestor.name))
        .collect())
}

fn breadcrumbs(account: &Account, names: &HashMap<Uuid, String>) -> Markup {
    html! {
        nav class="breadcrumbs" aria-label="Ancestors" {
            ol {
                li { a href="/admin/accounts" { "Accounts" } }
                @for ancestor in &account.relationships.ancestors {
                    @let id = ancestor.data.id;
                    li {
                        a href=(path(id)) {
                            @match names.get(&id) {
                                Some(name) => { (name) }
                                None => { (id) }
                            }
                        }
                    }
                }
                li aria-current="page" { (account.name) }
            }
        }
    }
}

fn fields(account: &Account) -> Markup {
    let optional = |value: &Option<String>| value.clone().unwrap_or_else(|| "—".to_owned());
    html! {
        dl class="fields" {
            div { dt { "Id" } dd { code { (account.id) } } }
            div { dt { "Name" } dd { (account.name) } }
            div { dt { "Legal name" } dd { (optional(&account.legal_name)) } }
            div { dt { "Registration id" } dd { (optional(&account.registration_id)) } }
            div { dt { "External reference" } dd { (optional(&account.external_ref)) } }
            div {
                dt { "Parent account" }
                dd {
                    @match account.parent_id {
                        Some(parent) => { a href=(path(parent)) { (parent) } }
                        None => { "None: a top-level account" }
                    }
                }
            }
            div { dt { "Created" } dd { (account.meta.timestamps.created_at) } }
            div { dt { "Updated" } dd { (account.meta.timestamps.updated_at) } }
        }
    }
}

fn children_section(account: &Account, children: &Children) -> Markup {
    let create_child = format!(
        "/admin/accounts/new?{}",
        query(&[("parent_id", &account.id.to_string())])
    );
    let page_at = |offset: u32| format!("{}?children_from={offset}", path(account.id));
    html! {
        section aria-labelledby="children-heading" {
            h2 id="children-heading" { "Child accounts" }
            p { a href=(create_child) { "Create a child account" } }
            @match children {
                Children::Trouble(trouble) => { (page::alert(&trouble.general)) }
                Children::Page(listing) if listing.data.is_empty() => { p { "None." } }
                Children::Page(listing) => {
                    @let shown_from = (listing.meta.page.current.saturating_sub(1)) * u64::from(PAGE_LENGTH);
                    p { (listing.meta.results.total) " in all, oldest first." }
                    ul class="children" {
                        @for child in &listing.data {
                            li { a href=(path(child.id)) { (child.name) } }
                        }
                    }
                    nav class="pager" aria-label="Pages of child accounts" {
                        ul {
                            @if shown_from > 0 {
                                li { a href=(page_at(u32::try_from(shown_from).unwrap_or(0).saturating_sub(PAGE_LENGTH))) { "Previous children" } }
                            }
                            @if listing.links.next.is_some() {
                                li { a href=(page_at(u32::try_from(shown_from).unwrap_or(0).saturating_add(PAGE_LENGTH))) { "More children" } }
                            }
                        }
                    }
                }
            }
        }
    }
}
