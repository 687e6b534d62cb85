//! An account's children, found through the API's list. The API has no filter on `parent_id` (the
//! account filters are listed on `GET /v2/accounts` in `src/http/accounts.rs`), so the console
//! reads the accounts created since the parent, oldest first, a few pages per view, and keeps those
//! whose `parent_id` is the account: a child is always created after its parent, which must exist
//! first. The page says how far the search went and offers to go on.

use axum::http::StatusCode;

use super::Account;
use crate::console::api::{Api, ListPage, query};
use crate::console::page::PageError;
use crate::console::problem::Messages;
use crate::http::extract::list::{MAX_LIMIT, MAX_OFFSET};
use crate::time::Timestamp;

/// The longest page the API gives.
const PAGE_LENGTH: u32 = MAX_LIMIT;
/// Pages read per view: a parent with few accounts created after it is answered in one.
const PAGES_PER_VIEW: u32 = 5;
/// A child's `created_at` comes from the clock of the replica that created it, which may run a
/// little behind the parent's: the search starts this much earlier.
const CLOCK_ALLOWANCE_SECS: i64 = 60;

/// What one view's search found.
#[derive(Debug, Default)]
pub struct Children {
    /// The offset this view started at: children of earlier views are not repeated.
    pub from: u32,
    pub found: Vec<Account>,
    /// Accounts read, counted from the first created since the parent.
    pub searched: u64,
    /// Accounts created since the parent (less the allowance), as the API counted them.
    pub candidates: u64,
    /// Where the next view goes on, when there is more and the API's lists reach it.
    pub continue_from: Option<u32>,
    /// Why the search stopped early, in words.
    pub trouble: Option<Messages>,
}

/// Searches `PAGES_PER_VIEW` pages for children of `parent`, from offset `from`.
pub async fn search(api: &Api<'_>, parent: &Account, from: u32) -> Result<Children, PageError> {
    let created =
        Timestamp::parse_rfc3339(&parent.meta.timestamps.created_at).ok_or_else(|| {
            PageError::internal("an account's created_at is not an RFC 3339 timestamp")
        })?;
    let filter = format!(
        "ge(created_at,{})",
        created.plus_seconds(-CLOCK_ALLOWANCE_SECS)
    );
    let mut children = Children {
        from,
        searched: u64::from(from),
        ..Children::default()
    };
    let mut offset = from;
    for _ in 0..PAGES_PER_VIEW {
        let target = format!(
            "/v2/accounts?{}",
            query(&[
                ("filter", &filter),
                ("sort", "created_at"),
                ("page[offset]", &offset.to_string()),
                ("page[limit]", &PAGE_LENGTH.to_string()),
            ])
        );
        let answer = api.get(&target).await?;
        if answer.status != StatusCode::OK {
            children.trouble = Some(answer.problem().messages(&[]));
            children.continue_from = Some(offset);
            return Ok(children);
        }
        let page: ListPage<Account> = answer.read()?;
        children.candidates = page.meta.results.total;
        children.searched += page.data.len() as u64;
        children.found.extend(
            page.data
                .into_iter()
                .filter(|account| account.parent_id == Some(parent.id)),
        );
        offset += PAGE_LENGTH;
        if page.links.next.is_none() {
            children.continue_from = None;
            return Ok(children);
        }
        children.continue_from = (offset <= MAX_OFFSET).then_some(offset);
    }
    Ok(children)
}

impl Children {
    /// Whether every account that could be a child was read.
    pub fn complete(&self) -> bool {
        self.trouble.is_none() && self.searched >= self.candidates
    }
}
