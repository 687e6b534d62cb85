//! The only writers of accounts, account members (the `users` table) and memberships. Each takes
//! the change's transaction and pushes the events of what it wrote, in the order it wrote it, so
//! whichever path makes a change (the admin API, self sign-up, an OpenID Connect sign-in, a
//! cascade) cannot leave its events out. A unit test below fails when SQL that writes these
//! tables appears anywhere else in the store.

use serde_json::json;
use uuid::Uuid;

use super::change::Change;
use super::memberships::memberships_where;
use super::users::ensure_email_allowed;
use super::{conflict_on, insert_rows, join_ids};
use crate::events::EventKey;
use crate::store::bulk_rows::{BulkRows, Cell};
use crate::store::{
    Account, ChangedBy, Conflict, Membership, NewUser, StoreResult, User, fold_case,
};

const ACCOUNT_CONFLICTS: &[(&str, Conflict)] = &[(
    "accounts_registration_id_key",
    Conflict::RegistrationIdTaken,
)];
const MEMBERSHIP_CONFLICTS: &[(&str, Conflict)] =
    &[("account_memberships_pair_key", Conflict::MembershipExists)];

/// Inserts an account built by the caller (ancestors resolved, registration id checked).
pub(super) async fn create_account(change: &mut Change<'_>, account: &Account) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO accounts (id, name, legal_name, registration_id, external_ref, parent_id, \
         ancestor_ids, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(account.id)
    .bind(&account.name)
    .bind(&account.legal_name)
    .bind(&account.registration_id)
    .bind(&account.external_ref)
    .bind(account.parent_id)
    .bind(join_ids(&account.ancestors))
    .bind(account.created_at.millis())
    .bind(account.updated_at.millis())
    .execute(&mut **change.tx())
    .await
    .map_err(|error| conflict_on(error, ACCOUNT_CONFLICTS))?;
    let data = change.events().payloads().account(account);
    change
        .events()
        .push(EventKey::AccountCreated, json!({ "data": data }));
    Ok(())
}

/// Inserts accounts built by the caller, in order, so a parent written earlier in `accounts` may
/// be named by a later one; announces each. For an import batch, which resolved ancestors and
/// checked registration ids for the whole batch.
pub(super) async fn create_accounts(
    change: &mut Change<'_>,
    accounts: &[Account],
) -> StoreResult<()> {
    let ancestors: Vec<String> = accounts
        .iter()
        .map(|account| join_ids(&account.ancestors))
        .collect();
    let mut rows = BulkRows::new(
        "accounts",
        &[
            "id",
            "name",
            "legal_name",
            "registration_id",
            "external_ref",
            "parent_id",
            "ancestor_ids",
            "created_at",
            "updated_at",
        ],
    );
    for (account, ancestors) in accounts.iter().zip(&ancestors) {
        rows.push([
            Cell::uuid(account.id),
            Cell::text(&account.name),
            Cell::Text(account.legal_name.as_deref()),
            Cell::Text(account.registration_id.as_deref()),
            Cell::Text(account.external_ref.as_deref()),
            Cell::Uuid(account.parent_id),
            Cell::text(ancestors),
            Cell::Int(account.created_at.millis()),
            Cell::Int(account.updated_at.millis()),
        ]);
    }
    insert_rows(change.tx(), &rows)
        .await
        .map_err(|error| conflict_on(error, ACCOUNT_CONFLICTS))?;
    for account in accounts {
        let data = change.events().payloads().account(account);
        change
            .events()
            .push(EventKey::AccountCreated, json!({ "data": data }));
    }
    Ok(())
}

/// Inserts members whose emails the caller matched against every member first (an import
/// creates a member only when no member has its email, so no duplicate-email policy can refuse
/// one); announces each.
pub(super) async fn create_matched_users(
    change: &mut Change<'_>,
    users: &[User],
) -> StoreResult<()> {
    let emails_lower: Vec<String> = users.iter().map(|user| fold_case(&user.email)).collect();
    let mut rows = BulkRows::new(
        "users",
        &[
            "id",
            "name",
            "email",
            "email_lower",
            "given_name",
            "middle_name",
            "family_name",
            "tokens_valid_after",
            "created_at",
            "updated_at",
        ],
    );
    for (user, email_lower) in users.iter().zip(&emails_lower) {
        rows.push([
            Cell::uuid(user.id),
            Cell::text(&user.name),
            Cell::text(&user.email),
            Cell::text(email_lower),
            Cell::Text(user.given_name.as_deref()),
            Cell::Text(user.middle_name.as_deref()),
            Cell::Text(user.family_name.as_deref()),
            Cell::Int(0),
            Cell::Int(user.created_at.millis()),
            Cell::Int(user.updated_at.millis()),
        ]);
    }
    insert_rows(change.tx(), &rows).await?;
    for user in users {
        let data = change.events().payloads().account_member(user);
        change
            .events()
            .push(EventKey::MemberCreated, json!({ "data": data }));
    }
    Ok(())
}

/// Inserts memberships the caller checked against the caps and existing pairs for the whole
/// batch (docs/moving-in.md#importing); announces each.
pub(super) async fn create_memberships(
    change: &mut Change<'_>,
    memberships: &[Membership],
) -> StoreResult<()> {
    let mut rows = BulkRows::new(
        "account_memberships",
        &[
            "id",
            "account_id",
            "account_member_id",
            "created_at",
            "updated_at",
        ],
    );
    for membership in memberships {
        rows.push([
            Cell::uuid(membership.id),
            Cell::uuid(membership.account_id),
            Cell::uuid(membership.account_member_id),
            Cell::Int(membership.created_at.millis()),
            Cell::Int(membership.updated_at.millis()),
        ]);
    }
    insert_rows(change.tx(), &rows)
        .await
        .map_err(|error| conflict_on(error, MEMBERSHIP_CONFLICTS))?;
    for membership in memberships {
        let data = change.events().payloads().membership(membership);
        change
            .events()
            .push(EventKey::MembershipCreated, json!({ "data": data }));
    }
    Ok(())
}

/// Writes the changeable fields of `next` (its `parent_id` and ancestors never change).
pub(super) async fn update_account(change: &mut Change<'_>, next: &Account) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET name = $2, legal_name = $3, registration_id = $4, \
         external_ref = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(next.id)
    .bind(&next.name)
    .bind(&next.legal_name)
    .bind(&next.registration_id)
    .bind(&next.external_ref)
    .bind(next.updated_at.millis())
    .execute(&mut **change.tx())
    .await
    .map_err(|error| conflict_on(error, ACCOUNT_CONFLICTS))?;
    let data = change.events().payloads().account(next);
    change
        .events()
        .push(EventKey::AccountUpdated, json!({ "data": data }));
    Ok(())
}

/// Deletes an account the caller locked and found childless. Its memberships go with it (ON
/// DELETE CASCADE); each announces its deletion, oldest first, before the account does.
pub(super) async fn delete_account(change: &mut Change<'_>, id: Uuid) -> StoreResult<()> {
    let memberships = memberships_where(change.tx(), "account_id", id).await?;
    sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(id)
        .execute(&mut **change.tx())
        .await?;
    for membership in &memberships {
        announce_membership_deleted(change, membership);
    }
    change.events().push(
        EventKey::AccountDeleted,
        json!({ "type": "account", "id": id }),
    );
    Ok(())
}

/// Inserts a member, refusing a taken email when the realm's policy says so for `changed_by`.
pub(super) async fn create_user(
    change: &mut Change<'_>,
    user: &NewUser,
    changed_by: ChangedBy,
) -> StoreResult<User> {
    let email_lower = fold_case(&user.email);
    ensure_email_allowed(change.tx(), &email_lower, changed_by).await?;
    let now = change.now();
    let created = User {
        id: Uuid::new_v4(),
        name: user.name.clone(),
        email: user.email.clone(),
        given_name: user.given_name.clone(),
        middle_name: user.middle_name.clone(),
        family_name: user.family_name.clone(),
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO users (id, name, email, email_lower, given_name, middle_name, family_name, \
         tokens_valid_after, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
    )
    .bind(created.id)
    .bind(&created.name)
    .bind(&created.email)
    .bind(&email_lower)
    .bind(&created.given_name)
    .bind(&created.middle_name)
    .bind(&created.family_name)
    .bind(now.millis())
    .execute(&mut **change.tx())
    .await?;
    let data = change.events().payloads().account_member(&created);
    change
        .events()
        .push(EventKey::MemberCreated, json!({ "data": data }));
    Ok(created)
}

/// Replaces the member's name, email and name parts with those of `next` (the caller locked
/// `current` and found a difference); a new email must be allowed for `changed_by`.
pub(super) async fn update_user(
    change: &mut Change<'_>,
    current: &User,
    next: &User,
    changed_by: ChangedBy,
) -> StoreResult<User> {
    let email_lower = fold_case(&next.email);
    if fold_case(&current.email) != email_lower {
        ensure_email_allowed(change.tx(), &email_lower, changed_by).await?;
    }
    let mut updated = next.clone();
    updated.updated_at = change.now();
    sqlx::query(
        "UPDATE users SET name = $2, email = $3, email_lower = $4, given_name = $5, \
         middle_name = $6, family_name = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(current.id)
    .bind(&updated.name)
    .bind(&updated.email)
    .bind(&email_lower)
    .bind(&updated.given_name)
    .bind(&updated.middle_name)
    .bind(&updated.family_name)
    .bind(updated.updated_at.millis())
    .execute(&mut **change.tx())
    .await?;
    let data = change.events().payloads().account_member(&updated);
    change
        .events()
        .push(EventKey::MemberUpdated, json!({ "data": data }));
    Ok(updated)
}

/// Deletes a member the caller locked. Its logins, codes and memberships go with it (ON DELETE
/// CASCADE); each membership announces its deletion, oldest first, before the member does.
pub(super) async fn delete_user(change: &mut Change<'_>, id: Uuid) -> StoreResult<()> {
    let memberships = memberships_where(change.tx(), "account_member_id", id).await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut **change.tx())
        .await?;
    for membership in &memberships {
        announce_membership_deleted(change, membership);
    }
    change.events().push(
        EventKey::MemberDeleted,
        json!({ "type": "account_member", "id": id }),
    );
    Ok(())
}

/// A login of the member (password or OpenID Connect) changed: the member's `updated_at` moves
/// with it, as the admin API shows it. No event: `account-member.event.updated` announces a new
/// name, email or name part, and the member object carries none of a login's fields, so a
/// receiver would be told of a change it cannot see.
pub(super) async fn touch_user(change: &mut Change<'_>, id: Uuid) -> StoreResult<()> {
    let now = change.now();
    sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now.millis())
        .execute(&mut **change.tx())
        .await?;
    Ok(())
}

/// Moves the member's "tokens valid after" instant to the change's second: every account token
/// issued before it stops working. `false` when there is no such member. No event: the member
/// object does not change.
pub(super) async fn revoke_tokens(change: &mut Change<'_>, id: Uuid) -> StoreResult<bool> {
    let now = change.now();
    let updated = sqlx::query("UPDATE users SET tokens_valid_after = $2 WHERE id = $1")
        .bind(id)
        .bind(now.seconds())
        .execute(&mut **change.tx())
        .await?;
    Ok(updated.rows_affected() > 0)
}

/// Inserts a membership (the caller checked the limits and that account and member exist).
pub(super) async fn create_membership(
    change: &mut Change<'_>,
    membership: &Membership,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO account_memberships (id, account_id, account_member_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(membership.id)
    .bind(membership.account_id)
    .bind(membership.account_member_id)
    .bind(membership.created_at.millis())
    .bind(membership.updated_at.millis())
    .execute(&mut **change.tx())
    .await
    .map_err(|error| conflict_on(error, MEMBERSHIP_CONFLICTS))?;
    let data = change.events().payloads().membership(membership);
    change
        .events()
        .push(EventKey::MembershipCreated, json!({ "data": data }));
    Ok(())
}

/// Deletes the membership `id` of `account_id`; `None` when there is no such membership.
pub(super) async fn delete_membership(
    change: &mut Change<'_>,
    account_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<Membership>> {
    let deleted = sqlx::query_as::<super::Db, (Uuid, Uuid, Uuid, i64, i64)>(
        "DELETE FROM account_memberships WHERE id = $1 AND account_id = $2 \
         RETURNING id, account_id, account_member_id, created_at, updated_at",
    )
    .bind(id)
    .bind(account_id)
    .fetch_optional(&mut **change.tx())
    .await?;
    let Some((id, account_id, account_member_id, created_at, updated_at)) = deleted else {
        return Ok(None);
    };
    let membership = Membership {
        id,
        account_id,
        account_member_id,
        created_at: created_at.into(),
        updated_at: updated_at.into(),
    };
    announce_membership_deleted(change, &membership);
    Ok(Some(membership))
}

fn announce_membership_deleted(change: &mut Change<'_>, membership: &Membership) {
    change.events().push(
        EventKey::MembershipDeleted,
        json!({
            "type": "account_membership",
            "id": membership.id,
            "account_id": membership.account_id,
            "account_member_id": membership.account_member_id,
        }),
    );
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The tables whose every change must emit its events.
    const TABLES: [&str; 3] = ["accounts", "users", "account_memberships"];

    fn rust_files(folder: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, into);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                into.push(path);
            }
        }
    }

    /// The statements of `source` that write one of [`TABLES`], found in its text with Rust's
    /// string continuations and all whitespace folded to single spaces.
    fn table_writes(source: &str) -> Vec<String> {
        let folded = source
            .replace("\\\n", " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(")
            .to_uppercase();
        let mut found = Vec::new();
        // `BulkRows::new("table", …)` names the table its rows are inserted into.
        for verb in [
            "INSERT INTO ",
            "UPDATE ",
            "DELETE FROM ",
            "REPLACE INTO ",
            "BULKROWS::NEW(\"",
        ] {
            for table in TABLES {
                let statement = format!("{verb}{}", table.to_uppercase());
                let mut rest = folded.as_str();
                while let Some(at) = rest.find(&statement) {
                    let after = &rest[at + statement.len()..];
                    let whole_word = after
                        .chars()
                        .next()
                        .is_none_or(|next| !(next.is_alphanumeric() || next == '_'));
                    if whole_word {
                        found.push(statement.clone());
                    }
                    rest = after;
                }
            }
        }
        found
    }

    #[test]
    fn the_statement_finder_sees_what_it_must() {
        assert_eq!(
            table_writes("sqlx::query(\"INSERT INTO accounts (id) \\\n VALUES ($1)\")"),
            ["INSERT INTO ACCOUNTS"]
        );
        assert_eq!(
            table_writes("\"update  users\n SET name = $2\""),
            ["UPDATE USERS"]
        );
        assert_eq!(
            table_writes("\"DELETE FROM account_memberships WHERE\""),
            ["DELETE FROM ACCOUNT_MEMBERSHIPS"]
        );
        assert_eq!(
            table_writes("BulkRows::new(\n    \"account_memberships\",\n    &[\"id\"],"),
            ["BULKROWS::NEW(\"ACCOUNT_MEMBERSHIPS"]
        );
        assert!(table_writes("\"UPDATE users_archive SET x = 1\"").is_empty());
        assert!(table_writes("\"SELECT id FROM accounts\"").is_empty());
    }

    /// Only this module writes accounts, members and memberships: SQL that writes them anywhere
    /// else in the server would be a write whose events nothing guarantees.
    #[test]
    fn no_other_module_writes_accounts_members_or_memberships() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let this = Path::new(file!())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(files.len() > 20, "the source tree was found");
        let mut offenders = Vec::new();
        let mut here = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            let writes = table_writes(&source);
            if file
                .file_name()
                .is_some_and(|name| name.to_string_lossy() == this)
            {
                here = writes;
            } else if !writes.is_empty() {
                offenders.push(format!("{}: {writes:?}", file.display()));
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
        // The scan itself works: this module's own statements are found.
        for table in TABLES {
            let table = table.to_uppercase();
            assert!(
                here.iter().any(|statement| statement.ends_with(&table)),
                "{table} in {here:?}"
            );
        }
    }
}
