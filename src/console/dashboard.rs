//! The dashboard: how many accounts and members there are (the totals of the API's lists), and
//! where to go from here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::de::IgnoredAny;

use super::Console;
use super::api::{Answer, ListPage};
use super::page::{self, PageError};
use super::problem::Field;
use super::visit::SignedIn;

/// Signed in: the counts, read as one-item pages of the two lists.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let api = console.api_for(&signed_in);
    let (accounts, members) = tokio::join!(
        api.get("/v2/accounts?page%5Blimit%5D=1"),
        api.get("/v2/account-members?page%5Blimit%5D=1"),
    );
    let mut problems = Vec::new();
    let mut count = |answer: Answer| -> Result<Option<u64>, PageError> {
        if answer.status == StatusCode::OK {
            return Ok(Some(
                answer.read::<ListPage<IgnoredAny>>()?.meta.results.total,
            ));
        }
        problems.extend(answer.problem().messages(NO_FIELDS).general);
        Ok(None)
    };
    let accounts = count(accounts?)?;
    let members = count(members?)?;
    let content = html! {
        (page::alert(&problems))
        dl class="totals" {
            div {
                dt { "Accounts" }
                dd { (shown(accounts)) }
            }
            div {
                dt { "Account members" }
                dd { (shown(members)) }
            }
        }
        ul class="actions" {
            li { a href="/admin/accounts" { "Browse and search accounts" } }
            li { a href="/admin/accounts/new" { "Create an account" } }
        }
    };
    Ok(page::respond(
        StatusCode::OK,
        page::document("Dashboard", Some(&signed_in.csrf), &content),
    ))
}

const NO_FIELDS: &[Field] = &[];

fn shown(total: Option<u64>) -> String {
    total.map_or_else(|| "not available".to_owned(), |total| total.to_string())
}
