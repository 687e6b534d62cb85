//! `accountd export`: every account (parents first), member and membership as the JSON Lines
//! `accountd import` reads (docs/moving-in.md#exporting), page by page so memory stays flat.

use std::io::Write;

use super::records::{AccountLine, Line, MemberLine, MembershipLine};
use crate::store::{ExportCursor, NO_PASSWORD, Store, StoreError};

/// Rows read per statement.
const PAGE: i64 = 1000;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub accounts: u64,
    pub members: u64,
    pub memberships: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing: {0}")]
    Write(#[from] std::io::Error),
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

/// Writes every record of `store` to `out`. Password hashes only with `include_password_hashes`;
/// otherwise members keep their usernames and arrive without passwords. An account without an
/// `external_ref` is written with its id there, so memberships and children can name it.
pub async fn export(
    store: &dyn Store,
    out: &mut (dyn Write + Send),
    include_password_hashes: bool,
) -> Result<ExportReport, ExportError> {
    let mut report = ExportReport::default();
    // Ranks start at 0: the first page begins before every account.
    let mut after = ExportCursor {
        rank: -1,
        ..ExportCursor::default()
    };
    loop {
        let page = store.export_accounts(after, PAGE).await?;
        for account in &page {
            let parent_external_ref = account.parent_id.map(|parent| {
                account
                    .parent_external_ref
                    .clone()
                    .unwrap_or_else(|| parent.to_string())
            });
            write_line(
                out,
                &Line::Account(AccountLine {
                    external_ref: account
                        .external_ref
                        .clone()
                        .unwrap_or_else(|| account.id.to_string()),
                    name: account.name.clone(),
                    legal_name: account.legal_name.clone(),
                    registration_id: account.registration_id.clone(),
                    parent_external_ref,
                }),
            )?;
            report.accounts += 1;
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = last.cursor,
            _ => break,
        }
    }
    let mut after = ExportCursor::default();
    loop {
        let page = store.export_members(after, PAGE).await?;
        for member in &page {
            let login = member.login.as_ref();
            let password_hash = login
                .map(|login| login.password_hash.clone())
                .filter(|hash| include_password_hashes && hash != NO_PASSWORD);
            write_line(
                out,
                &Line::AccountMember(MemberLine {
                    email: member.email.clone(),
                    name: member.name.clone(),
                    username: login.map(|login| login.username.clone()),
                    password_hash,
                    password_profile_id: login.map(|login| login.password_profile_id),
                }),
            )?;
            report.members += 1;
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = last.cursor,
            _ => break,
        }
    }
    let mut after = ExportCursor::default();
    loop {
        let page = store.export_memberships(after, PAGE).await?;
        for membership in &page {
            write_line(
                out,
                &Line::AccountMembership(MembershipLine {
                    account_external_ref: membership
                        .account_external_ref
                        .clone()
                        .unwrap_or_else(|| membership.account_id.to_string()),
                    member_email: membership.member_email.clone(),
                }),
            )?;
            report.memberships += 1;
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = last.cursor,
            _ => break,
        }
    }
    out.flush()?;
    Ok(report)
}

fn write_line(out: &mut dyn Write, line: &Line) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}
