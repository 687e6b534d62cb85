//! An account's children: a page of the API's accounts filtered by `eq(parent_id,…)`, oldest
//! first, with the API's pagination carried in the account page's own address
//! (`?children[offset]=`), so a parent with thousands of children is read a page at a time.

use axum::http::StatusCode;

use super::Account;
use crate::console::api::{Api, ListPage, query};
use crate::console::page::PageError;
use crate::console::problem::Messages;
use uuid::Uuid;

/// Children shown per page of the account page.
pub const PAGE_LENGTH: u32 = 25;

/// One page of children, or why it could not be read.
pub enum Children {
    Page(ListPage<Account>),
    Trouble(Messages),
}

/// The children of `parent` from `offset`.
pub async fn page(api: &Api<'_>, parent: Uuid, offset: u32) -> Result<Children, PageError> {
    let target = format!(
        "/v2/accounts?{}",
        query(&[
            ("filter", &format!("eq(parent_id,{parent})")),
            ("sort", "created_at"),
            ("page[offset]", &offset.to_string()),
            ("page[limit]", &PAGE_LENGTH.to_string()),
        ])
    );
    let answer = api.get(&target).await?;
    if answer.status == StatusCode::OK {
        Ok(Children::Page(answer.read()?))
    } else {
        Ok(Children::Trouble(answer.problem().messages(&[])))
    }
}
