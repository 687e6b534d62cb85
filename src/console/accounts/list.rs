//! The accounts list: the API's pages, its pagination links turned into console links, and a
//! search box whose filter expression goes to the API unchanged, so the filter language and its
//! errors are the API's own (docs/http-conventions.md#filtering).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Account, path};
use crate::console::Console;
use crate::console::api::ListPage;
use crate::console::listing::{FILTER_FIELDS, Wanted, search_form};
use crate::console::page::{self, PageError};
use crate::console::pager;
use crate::console::problem::Messages;
use crate::console::visit::SignedIn;

const LIST_PATH: &str = "/admin/accounts";

const FILTER_HINT: &str = "A filter expression, such as ilike(name,*acme*) or \
     eq(external_ref,A-17); join several with a colon. Name, legal_name, registration_id and \
     external_ref take eq, like and ilike; id, created_at and updated_at take eq, lt, le, gt and \
     ge (id also in); parent_id takes eq and in.";

/// Signed in: a page of accounts, or the API's reason for not listing them beside the search box.
pub async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let wanted = Wanted::read(raw.as_deref());
    let answer = console
        .api_for(&signed_in)
        .get(&wanted.api_target("/v2/accounts"))
        .await?;
    let (status, listing, messages) = if answer.status == StatusCode::OK {
        let accounts: ListPage<Account> = answer.read()?;
        (StatusCode::OK, Some(accounts), Messages::default())
    } else {
        let problem = answer.problem();
        (problem.status, None, problem.messages(FILTER_FIELDS))
    };
    let deleted = raw
        .as_deref()
        .is_some_and(|raw| raw.split('&').any(|pair| pair == "done=account-deleted"));
    let content = html! {
        @if deleted { p class="notice" role="status" { "The account was deleted." } }
        p { a href="/admin/accounts/new" { "Create an account" } }
        (search_form(LIST_PATH, &wanted.filter, FILTER_HINT, &messages))
        @if let Some(accounts) = &listing {
            (table(accounts))
            (pager::pager(&accounts.links, LIST_PATH, &[("filter", wanted.filter.trim())], "Pages of accounts"))
        }
    };
    Ok(page::respond(
        status,
        page::document("Accounts", Some(&signed_in.csrf), &content),
    ))
}

fn table(accounts: &ListPage<Account>) -> Markup {
    html! {
        @if accounts.data.is_empty() {
            p { "No accounts match." }
        } @else {
            table {
                caption {
                    "Accounts, page " (accounts.meta.page.current) " of "
                    (accounts.meta.page.total.max(1)) " (" (accounts.meta.results.total) " in all)"
                }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Legal name" }
                        th scope="col" { "Registration id" }
                        th scope="col" { "External reference" }
                        th scope="col" { "Created" }
                    }
                }
                tbody {
                    @for account in &accounts.data {
                        tr {
                            td { a href=(path(account.id)) { (account.name) } }
                            td { (account.legal_name.as_deref().unwrap_or("")) }
                            td { (account.registration_id.as_deref().unwrap_or("")) }
                            td { (account.external_ref.as_deref().unwrap_or("")) }
                            td { (account.meta.timestamps.created_at) }
                        }
                    }
                }
            }
        }
    }
}
