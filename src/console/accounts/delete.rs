//! Deleting an account, after a page that says what goes with it: the API deletes its
//! memberships with it, and refuses while it has child accounts, so the page counts both first
//! and offers the button only when the API would accept it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::de::IgnoredAny;
use uuid::Uuid;

use super::{Account, path};
use crate::console::Console;
use crate::console::api::{Api, ListPage, One, query};
use crate::console::page::{self, PageError};
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, NoFields, SignedIn};
use crate::http::validation::parse_uuid;

/// What deleting the account would take with it, or stop on.
struct Consequences {
    memberships: Option<u64>,
    children: Option<u64>,
}

async fn total(api: &Api<'_>, target: &str) -> Result<Option<u64>, PageError> {
    let answer = api.get(target).await?;
    if answer.status != StatusCode::OK {
        return Ok(None);
    }
    Ok(Some(
        answer.read::<ListPage<IgnoredAny>>()?.meta.results.total,
    ))
}

async fn consequences(api: &Api<'_>, id: Uuid) -> Result<Consequences, PageError> {
    let children = format!(
        "/v2/accounts?{}",
        query(&[
            ("filter", &format!("eq(parent_id,{id})")),
            ("page[limit]", "1")
        ])
    );
    let memberships = format!("/v2/accounts/{id}/account-memberships?page%5Blimit%5D=1");
    let (memberships, children) =
        tokio::try_join!(total(api, &memberships), total(api, &children))?;
    Ok(Consequences {
        memberships,
        children,
    })
}

/// Signed in: what deleting the account means, and the button when it can be deleted.
pub async fn confirm(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let api = console.api_for(&signed_in);
    let answer = api.get(&format!("/v2/accounts/{id}")).await?;
    if answer.status != StatusCode::OK {
        return Err(PageError::NotFound);
    }
    let account = answer.read::<One<Account>>()?.data;
    let consequences = consequences(&api, id).await?;
    Ok(confirmation(
        StatusCode::OK,
        &signed_in.csrf,
        &account,
        &consequences,
        &[],
    ))
}

fn confirmation(
    status: StatusCode,
    csrf: &CsrfToken,
    account: &Account,
    consequences: &Consequences,
    problems: &[String],
) -> Response {
    let has_children = consequences.children.is_some_and(|children| children > 0);
    let content = html! {
        (page::alert(problems))
        @if has_children {
            p {
                strong { (account.name) } " has " (consequences.children.unwrap_or(0))
                " child accounts, so it cannot be deleted: delete them first. They are listed on "
                a href=(path(account.id)) { "the account's page" } "."
            }
        } @else {
            p { "Deleting " strong { (account.name) } " cannot be undone. It removes:" }
            ul {
                li { "the account itself, with its name, registration id and external reference;" }
                li {
                    @match consequences.memberships {
                        Some(1) => { "its 1 membership: that member no longer belongs to this account;" }
                        Some(count) => { "its " (count) " memberships: those members no longer belong to this account;" }
                        None => { "all its memberships (they could not be counted just now);" }
                    }
                }
            }
            p { "The members themselves, their logins and their other memberships stay. The audit trail keeps the record of the deletion." }
            form method="post" action=(format!("{}/delete", path(account.id))) {
                (page::csrf_field(csrf))
                button type="submit" class="danger" { "Delete the account" }
            }
        }
        p { a href=(path(account.id)) { "Keep the account and go back to it" } }
    };
    page::respond(
        status,
        page::document(&format!("Delete {}?", account.name), Some(csrf), &content),
    )
}

/// Signed in, with the form's CSRF token: deletes through the API, then lists the accounts.
pub async fn delete(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let (signed_in, _) = form.signed_in()?;
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let api = console.api_for(&signed_in);
    let answer = api.delete(&format!("/v2/accounts/{id}")).await?;
    match answer.status {
        StatusCode::NO_CONTENT => Ok(page::see_other("/admin/accounts?done=account-deleted")),
        StatusCode::NOT_FOUND => Err(PageError::NotFound),
        _ => {
            let problem = answer.problem().messages(&[]).general;
            let account = api.get(&format!("/v2/accounts/{id}")).await?;
            if account.status != StatusCode::OK {
                return Err(PageError::NotFound);
            }
            let account = account.read::<One<Account>>()?.data;
            let consequences = consequences(&api, id).await?;
            Ok(confirmation(
                answer.status,
                &signed_in.csrf,
                &account,
                &consequences,
                &problem,
            ))
        }
    }
}
