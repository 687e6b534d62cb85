//! The accounts list: the API's pages, its pagination links turned into console links, and a
//! search box whose filter expression goes to the API unchanged, so the filter language and its
//! errors are the API's own (docs/http-conventions.md#filtering).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Account, path};
use crate::console::Console;
use crate::console::api::{ListPage, query};
use crate::console::page::{self, Input, PageError};
use crate::console::problem::{Field, Messages};
use crate::console::visit::SignedIn;

const LIST_PATH: &str = "/admin/accounts";

const FIELDS: &[Field] = &[Field {
    name: "filter",
    label: "Filter",
    mentioned_by: &["filter"],
}];

const FILTER_HINT: &str = "A filter expression, such as ilike(name,*acme*) or \
     eq(external_ref,A-17); join several with a colon. Name, legal_name, registration_id and \
     external_ref take eq, like and ilike; id, created_at and updated_at take eq, lt, le, gt and \
     ge (id also in).";

/// What the browser asked for: the list parameters the API reads, as a form sends them.
#[derive(Debug, Default)]
struct Wanted {
    filter: String,
    offset: Option<String>,
    limit: Option<String>,
}

impl Wanted {
    /// The console's own query: form-encoded, so `+` is a space here (unlike in the API's).
    fn read(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
        let mut wanted = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                "filter" => wanted.filter = value,
                "page[offset]" => wanted.offset = Some(value),
                "page[limit]" => wanted.limit = Some(value),
                _ => {}
            }
        }
        wanted
    }

    fn api_target(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !self.filter.trim().is_empty() {
            pairs.push(("filter", self.filter.trim()));
        }
        if let Some(offset) = &self.offset {
            pairs.push(("page[offset]", offset));
        }
        if let Some(limit) = &self.limit {
            pairs.push(("page[limit]", limit));
        }
        if pairs.is_empty() {
            "/v2/accounts".to_owned()
        } else {
            format!("/v2/accounts?{}", query(&pairs))
        }
    }
}

/// Signed in: a page of accounts, or the API's reason for not listing them beside the search box.
pub async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let wanted = Wanted::read(raw.as_deref());
    let answer = console
        .api_for(&signed_in)
        .get(&wanted.api_target())
        .await?;
    let (status, listing, messages) = if answer.status == StatusCode::OK {
        let accounts: ListPage<Account> = answer.read()?;
        (StatusCode::OK, Some(accounts), Messages::default())
    } else {
        let problem = answer.problem();
        (problem.status, None, problem.messages(FIELDS))
    };
    let content = html! {
        p { a href="/admin/accounts/new" { "Create an account" } }
        (search_form(&wanted.filter, &messages))
        @if let Some(accounts) = &listing { (table(accounts)) (pager(accounts)) }
    };
    Ok(page::respond(
        status,
        page::document("Accounts", Some(&signed_in.csrf), &content),
    ))
}

fn search_form(filter: &str, messages: &Messages) -> Markup {
    html! {
        (page::alert(&messages.general))
        form method="get" action=(LIST_PATH) class="search" role="search" {
            (Input::text("filter", "Filter", filter)
                .kind("search")
                .hint(FILTER_HINT)
                .error(messages.field("filter"))
                .render())
            button type="submit" { "Search" }
        }
    }
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

/// The API's pagination links as console links: the same parameters, on the console's list.
fn pager(accounts: &ListPage<Account>) -> Markup {
    let links = &accounts.links;
    let entries = [
        ("First", Some(links.first.as_str())),
        ("Previous", links.prev.as_deref()),
        ("Next", links.next.as_deref()),
        ("Last", Some(links.last.as_str())),
    ];
    html! {
        nav class="pager" aria-label="Pages of accounts" {
            ul {
                @for (label, link) in entries {
                    @if let Some(href) = link.and_then(console_link) {
                        li { a href=(href) { (label) } }
                    }
                }
            }
        }
    }
}

/// `/admin/accounts` with the query of the API link `api_link`. The API encodes every reserved
/// character of its links' values, so the query reads the same as a form-encoded one.
fn console_link(api_link: &str) -> Option<String> {
    api_link
        .split_once('?')
        .map(|(_, query)| format!("{LIST_PATH}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_reaches_the_api_as_typed_and_its_links_come_back_to_the_console() {
        let wanted = Wanted::read(Some("filter=ilike%28name%2C*a+b*%29&page%5Blimit%5D=5&x=1"));
        assert_eq!(wanted.filter, "ilike(name,*a b*)");
        assert_eq!(
            wanted.api_target(),
            "/v2/accounts?filter=ilike%28name%2C%2Aa%20b%2A%29&page%5Blimit%5D=5"
        );
        assert_eq!(Wanted::read(None).api_target(), "/v2/accounts");
        let link = "http://accountd.test/v2/accounts?filter=ilike%28name%2C%2Aa%2Bb%2A%29&page[offset]=25&page[limit]=25";
        let console = console_link(link).unwrap();
        assert_eq!(
            console,
            "/admin/accounts?filter=ilike%28name%2C%2Aa%2Bb%2A%29&page[offset]=25&page[limit]=25"
        );
        let again = Wanted::read(console.split_once('?').map(|(_, query)| query));
        assert_eq!(again.filter, "ilike(name,*a+b*)");
        assert_eq!(again.offset.as_deref(), Some("25"));
    }
}
