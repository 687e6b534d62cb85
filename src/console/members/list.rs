//! The members list: the API's pages of account members and its search.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Member, path};
use crate::console::Console;
use crate::console::api::ListPage;
use crate::console::listing::{FILTER_FIELDS, Wanted, search_form};
use crate::console::page::{self, PageError};
use crate::console::pager;
use crate::console::problem::Messages;
use crate::console::visit::SignedIn;

const LIST_PATH: &str = "/admin/members";

const FILTER_HINT: &str = "A filter expression, such as ilike(email,*@example.com) or \
     eq(name,Ada Lovelace); join several with a colon. Email and name take eq, like and ilike.";

/// Signed in: a page of members, or the API's reason for not listing them beside the search box.
pub async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let wanted = Wanted::read(raw.as_deref());
    let answer = console
        .api_for(&signed_in)
        .get(&wanted.api_target("/v2/account-members"))
        .await?;
    let (status, listing, messages) = if answer.status == StatusCode::OK {
        let members: ListPage<Member> = answer.read()?;
        (StatusCode::OK, Some(members), Messages::default())
    } else {
        let problem = answer.problem();
        (problem.status, None, problem.messages(FILTER_FIELDS))
    };
    let content = html! {
        p { a href="/admin/members/new" { "Create a member" } }
        (search_form(LIST_PATH, &wanted.filter, FILTER_HINT, &messages))
        @if let Some(members) = &listing {
            (table(members))
            (pager::pager(&members.links, LIST_PATH, &[("filter", wanted.filter.trim())], "Pages of members"))
        }
    };
    Ok(page::respond(
        status,
        page::document("Account members", Some(&signed_in.csrf), &content),
    ))
}

fn table(members: &ListPage<Member>) -> Markup {
    html! {
        @if members.data.is_empty() {
            p { "No members match." }
        } @else {
            table {
                caption {
                    "Members, page " (members.meta.page.current) " of "
                    (members.meta.page.total.max(1)) " (" (members.meta.results.total) " in all)"
                }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Email" }
                        th scope="col" { "Created" }
                    }
                }
                tbody {
                    @for member in &members.data {
                        tr {
                            td { a href=(path(member.id)) { (member.name) } }
                            td { (member.email) }
                            td { (member.meta.timestamps.created_at) }
                        }
                    }
                }
            }
        }
    }
}
