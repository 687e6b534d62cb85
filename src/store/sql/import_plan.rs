//! One import batch as a few set statements instead of several per record: every look-up the
//! batch's records need is made up front (accounts by `external_ref`, members by email, logins
//! by username, profiles, existing memberships and their counts), each record is decided in
//! memory in file order against those facts and the records before it, and what is created is
//! written with multi-row inserts. The rules are those of one record at a time
//! (docs/moving-in.md#importing); a database error fails the whole batch, which the caller then
//! retries record by record.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use uuid::Uuid;

use super::change::Change;
use super::member_records;
use super::memberships::ACCOUNT_MEMBERSHIP_CAP;
use super::{Db, FOR_KEY_SHARE, FOR_UPDATE, Tx, insert_rows, parse_ids, placeholders};
use crate::error::ApiError;
use crate::query::sql::Bind;
use crate::store::bulk_rows::{BulkRows, Cell};
use crate::store::{
    Account, Actor, Conflict, ImportKind, ImportLogin, ImportOutcome, ImportRecord, Limit,
    Membership, NewAuditEvent, StoreError, StoreResult, User, fold_case,
};
use crate::time::Timestamp;

/// Binds per look-up statement.
const KEYS_PER_LOOK_UP: usize = 1000;

/// Decides and writes `records` in `change`; the outcome of each, in order.
pub(super) async fn import(
    change: &mut Change<'_>,
    records: &[ImportRecord],
) -> StoreResult<Vec<ImportOutcome>> {
    let facts = Facts::look_up(change.tx(), records).await?;
    let mut plan = Plan {
        facts,
        now: change.now(),
        writes: Writes::default(),
    };
    let outcomes = records.iter().map(|record| plan.decide(record)).collect();
    plan.writes.apply(change).await?;
    Ok(outcomes)
}

/// An account as the batch knows it: its id and its ancestors (root first).
#[derive(Clone)]
struct KnownAccount {
    id: Uuid,
    ancestors: Vec<Uuid>,
}

/// What the database held before the batch, updated as the batch's records are decided.
struct Facts {
    accounts_by_ref: HashMap<String, Vec<KnownAccount>>,
    registration_ids: HashSet<String>,
    members_by_email: HashMap<String, Vec<Uuid>>,
    /// (password profile, lower-cased username) of every login the batch's usernames name.
    logins: HashSet<(Uuid, String)>,
    profiles: HashSet<Uuid>,
    memberships: HashSet<(Uuid, Uuid)>,
    memberships_of_account: HashMap<Uuid, i64>,
    memberships_of_member: HashMap<Uuid, i64>,
    member_membership_limit: i64,
}

impl Facts {
    async fn look_up(tx: &mut Tx, records: &[ImportRecord]) -> StoreResult<Self> {
        let mut refs = HashSet::new();
        let mut registration_ids = HashSet::new();
        let mut emails = HashSet::new();
        let mut usernames: HashMap<Uuid, HashSet<String>> = HashMap::new();
        let mut profiles = HashSet::new();
        for record in records {
            match &record.kind {
                ImportKind::Account {
                    external_ref,
                    registration_id,
                    parent_external_ref,
                    ..
                } => {
                    refs.insert(external_ref.clone());
                    refs.extend(parent_external_ref.iter().cloned());
                    registration_ids.extend(registration_id.iter().cloned());
                }
                ImportKind::Member { email, login, .. } => {
                    emails.insert(fold_case(email));
                    if let Some(login) = login {
                        usernames
                            .entry(login.password_profile_id)
                            .or_default()
                            .insert(fold_case(&login.username));
                        profiles.insert(login.password_profile_id);
                    }
                }
                ImportKind::Membership {
                    account_external_ref,
                    member_email,
                } => {
                    refs.insert(account_external_ref.clone());
                    emails.insert(fold_case(member_email));
                }
            }
        }

        // Locked on PostgreSQL, in id order: a parent or an account gaining members must not be
        // deleted before the batch commits.
        let mut accounts_by_ref: HashMap<String, Vec<KnownAccount>> = HashMap::new();
        for (id, external_ref, ancestor_ids) in select_in::<(Uuid, String, String)>(
            tx,
            "SELECT id, external_ref, ancestor_ids FROM accounts WHERE external_ref IN ",
            &[],
            &format!(" ORDER BY id{FOR_UPDATE}"),
            texts(refs),
        )
        .await?
        {
            accounts_by_ref
                .entry(external_ref)
                .or_default()
                .push(KnownAccount {
                    id,
                    ancestors: parse_ids(&ancestor_ids)?,
                });
        }
        let registration_ids = select_in::<(String,)>(
            tx,
            "SELECT registration_id FROM accounts WHERE registration_id IN ",
            &[],
            "",
            texts(registration_ids),
        )
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        let mut members_by_email: HashMap<String, Vec<Uuid>> = HashMap::new();
        for (id, email_lower) in select_in::<(Uuid, String)>(
            tx,
            "SELECT id, email_lower FROM users WHERE email_lower IN ",
            &[],
            "",
            texts(emails),
        )
        .await?
        {
            members_by_email.entry(email_lower).or_default().push(id);
        }
        // By profile, so that the unique index on (profile, username) finds each.
        let mut logins = HashSet::new();
        for (profile, names) in usernames {
            logins.extend(
                select_in::<(Uuid, String)>(
                    tx,
                    "SELECT password_profile_id, username_lower FROM password_profile_infos \
                     WHERE password_profile_id = $1 AND username_lower IN ",
                    &[Bind::Uuid(profile)],
                    "",
                    texts(names),
                )
                .await?,
            );
        }
        let profiles = select_in::<(Uuid,)>(
            tx,
            "SELECT id FROM password_profiles WHERE id IN ",
            &[],
            FOR_KEY_SHARE,
            ids(profiles),
        )
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();

        // Every membership of the members the batch names, and the counts of its accounts.
        let member_ids: HashSet<Uuid> = members_by_email.values().flatten().copied().collect();
        let mut memberships = HashSet::new();
        let mut memberships_of_member: HashMap<Uuid, i64> = HashMap::new();
        for (account_id, member_id) in select_in::<(Uuid, Uuid)>(
            tx,
            "SELECT account_id, account_member_id FROM account_memberships \
             WHERE account_member_id IN ",
            &[],
            "",
            ids(member_ids),
        )
        .await?
        {
            memberships.insert((account_id, member_id));
            *memberships_of_member.entry(member_id).or_default() += 1;
        }
        let account_ids: HashSet<Uuid> = accounts_by_ref
            .values()
            .flatten()
            .map(|account| account.id)
            .collect();
        let memberships_of_account = select_in::<(Uuid, i64)>(
            tx,
            "SELECT account_id, COUNT(*) FROM account_memberships WHERE account_id IN ",
            &[],
            " GROUP BY account_id",
            ids(account_ids),
        )
        .await?
        .into_iter()
        .collect();
        let member_membership_limit = sqlx::query_scalar::<Db, i64>(
            "SELECT membership_limit FROM account_membership_settings",
        )
        .fetch_optional(&mut **tx)
        .await?
        .unwrap_or(i64::MAX);
        Ok(Self {
            accounts_by_ref,
            registration_ids,
            members_by_email,
            logins,
            profiles,
            memberships,
            memberships_of_account,
            memberships_of_member,
            member_membership_limit,
        })
    }
}

/// `head (…keys…) tail` for every slice of `keys` a statement can bind, the rows together;
/// `head` may name `leading` as `$1`, `$2`…, which every statement binds first.
async fn select_in<Row>(
    tx: &mut Tx,
    head: &str,
    leading: &[Bind],
    tail: &str,
    keys: impl IntoIterator<Item = Bind>,
) -> StoreResult<Vec<Row>>
where
    Row: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    let keys: Vec<Bind> = keys.into_iter().collect();
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEYS_PER_LOOK_UP) {
        let sql = format!(
            "{head}{}{tail}",
            placeholders(leading.len() + 1, chunk.len())
        );
        let mut query = sqlx::query_as::<Db, Row>(sqlx::AssertSqlSafe(sql));
        for key in leading.iter().chain(chunk) {
            query = match key {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Uuid(id) => query.bind(*id),
                Bind::Int(number) => query.bind(*number),
            };
        }
        rows.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(rows)
}

fn texts(keys: HashSet<String>) -> impl Iterator<Item = Bind> {
    keys.into_iter().map(Bind::Text)
}

fn ids(keys: HashSet<Uuid>) -> impl Iterator<Item = Bind> {
    keys.into_iter().map(Bind::Uuid)
}

/// What the batch creates, in file order within each table.
#[derive(Default)]
struct Writes {
    accounts: Vec<Account>,
    users: Vec<User>,
    logins: Vec<(Uuid, ImportLogin)>,
    memberships: Vec<Membership>,
    audit: Vec<NewAuditEvent>,
}

impl Writes {
    async fn apply(self, change: &mut Change<'_>) -> StoreResult<()> {
        member_records::create_accounts(change, &self.accounts).await?;
        member_records::create_matched_users(change, &self.users).await?;
        insert_logins(change, &self.logins).await?;
        member_records::create_memberships(change, &self.memberships).await?;
        for audit in self.audit {
            change.audit(audit);
        }
        Ok(())
    }
}

async fn insert_logins(change: &mut Change<'_>, logins: &[(Uuid, ImportLogin)]) -> StoreResult<()> {
    let now = change.now().millis();
    let usernames_lower: Vec<String> = logins
        .iter()
        .map(|(_, login)| fold_case(&login.username))
        .collect();
    let mut rows = BulkRows::new(
        "password_profile_infos",
        &[
            "id",
            "user_id",
            "password_profile_id",
            "username",
            "username_lower",
            "password_hash",
            "created_at",
            "updated_at",
        ],
    );
    for ((user_id, login), username_lower) in logins.iter().zip(&usernames_lower) {
        rows.push([
            Cell::uuid(new_id()),
            Cell::uuid(*user_id),
            Cell::uuid(login.password_profile_id),
            Cell::text(&login.username),
            Cell::text(username_lower),
            Cell::text(&login.password_hash),
            Cell::Int(now),
            Cell::Int(now),
        ]);
    }
    insert_rows(change.tx(), &rows).await?;
    Ok(())
}

/// The id of a row a batch creates: time-ordered (UUID version 7), so a bulk load appends to
/// each primary-key index instead of writing all over it, which at a million rows no longer
/// fits the database's cache.
fn new_id() -> Uuid {
    Uuid::now_v7()
}

struct Plan {
    facts: Facts,
    now: Timestamp,
    writes: Writes,
}

fn rejected(reason: &str) -> ImportOutcome {
    ImportOutcome::Rejected(reason.to_owned())
}

/// A record refused by a rule the API words: the API's own message.
fn refused_as_api(error: StoreError) -> ImportOutcome {
    ImportOutcome::Rejected(ApiError::from(error).detail().to_owned())
}

/// The audit row of one record written, as the admin API names the write, by the system.
fn audit(event_type: &'static str, record: &ImportRecord) -> NewAuditEvent {
    NewAuditEvent::new(event_type, Actor::SYSTEM)
        .subject(format!("import line {}", record.line))
        .detail(json!({"source": "accountd import"}))
}

impl Plan {
    fn decide(&mut self, record: &ImportRecord) -> ImportOutcome {
        match &record.kind {
            ImportKind::Account {
                external_ref,
                name,
                legal_name,
                registration_id,
                parent_external_ref,
            } => {
                match self.facts.accounts_by_ref.get(external_ref).map(Vec::len) {
                    None | Some(0) => {}
                    Some(1) => return ImportOutcome::Unchanged,
                    Some(_) => return rejected("external_ref matches several accounts"),
                }
                let ancestors = match parent_external_ref {
                    None => Vec::new(),
                    Some(parent_ref) => match self.facts.accounts_by_ref.get(parent_ref) {
                        Some(parents) if parents.len() == 1 => {
                            let mut ancestors = parents[0].ancestors.clone();
                            ancestors.push(parents[0].id);
                            ancestors
                        }
                        Some(parents) if parents.len() > 1 => {
                            return rejected("parent_external_ref matches several accounts");
                        }
                        _ => return rejected("parent account not found"),
                    },
                };
                if let Some(registration_id) = registration_id {
                    if !self.facts.registration_ids.insert(registration_id.clone()) {
                        return refused_as_api(StoreError::Conflict(Conflict::RegistrationIdTaken));
                    }
                }
                let account = Account {
                    id: new_id(),
                    name: name.clone(),
                    legal_name: legal_name.clone(),
                    registration_id: registration_id.clone(),
                    external_ref: Some(external_ref.clone()),
                    parent_id: ancestors.last().copied(),
                    ancestors,
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.facts.accounts_by_ref.insert(
                    external_ref.clone(),
                    vec![KnownAccount {
                        id: account.id,
                        ancestors: account.ancestors.clone(),
                    }],
                );
                self.writes.accounts.push(account);
                self.writes.audit.push(audit("account.created", record));
                ImportOutcome::Created
            }
            ImportKind::Member { email, name, login } => {
                if let Some(login) = login {
                    let key = (login.password_profile_id, fold_case(&login.username));
                    if self.facts.logins.contains(&key) {
                        return ImportOutcome::Unchanged;
                    }
                }
                let email_lower = fold_case(email);
                match self.facts.members_by_email.get(&email_lower).map(Vec::len) {
                    None | Some(0) => {}
                    Some(1) => return ImportOutcome::Unchanged,
                    Some(_) => return rejected("email matches several members"),
                }
                if let Some(login) = login {
                    if !self.facts.profiles.contains(&login.password_profile_id) {
                        return rejected("password profile not found");
                    }
                }
                let user = User {
                    id: new_id(),
                    name: name.clone(),
                    email: email.clone(),
                    given_name: None,
                    middle_name: None,
                    family_name: None,
                    created_at: self.now,
                    updated_at: self.now,
                };
                self.facts
                    .members_by_email
                    .insert(email_lower, vec![user.id]);
                self.writes
                    .audit
                    .push(audit("user_authentication_info.created", record));
                if let Some(login) = login {
                    self.facts
                        .logins
                        .insert((login.password_profile_id, fold_case(&login.username)));
                    self.writes.logins.push((user.id, login.clone()));
                    self.writes
                        .audit
                        .push(audit("password_profile_info.created", record));
                }
                self.writes.users.push(user);
                ImportOutcome::Created
            }
            ImportKind::Membership {
                account_external_ref,
                member_email,
            } => {
                let account_id = match self.facts.accounts_by_ref.get(account_external_ref) {
                    Some(accounts) if accounts.len() == 1 => accounts[0].id,
                    Some(accounts) if accounts.len() > 1 => {
                        return rejected("account_external_ref matches several accounts");
                    }
                    _ => return rejected("account not found"),
                };
                let member_id = match self.facts.members_by_email.get(&fold_case(member_email)) {
                    Some(members) if members.len() == 1 => members[0],
                    Some(members) if members.len() > 1 => {
                        return rejected("member_email matches several members");
                    }
                    _ => return rejected("account member not found"),
                };
                if self.facts.memberships.contains(&(account_id, member_id)) {
                    return ImportOutcome::Unchanged;
                }
                let in_account = self
                    .facts
                    .memberships_of_account
                    .entry(account_id)
                    .or_default();
                if *in_account >= ACCOUNT_MEMBERSHIP_CAP {
                    return refused_as_api(StoreError::Limit(Limit::AccountMemberships));
                }
                let of_member = self
                    .facts
                    .memberships_of_member
                    .get(&member_id)
                    .copied()
                    .unwrap_or(0);
                if of_member >= self.facts.member_membership_limit {
                    return refused_as_api(StoreError::Limit(Limit::MemberMemberships));
                }
                *in_account += 1;
                *self
                    .facts
                    .memberships_of_member
                    .entry(member_id)
                    .or_default() += 1;
                self.facts.memberships.insert((account_id, member_id));
                self.writes.memberships.push(Membership {
                    id: new_id(),
                    account_id,
                    account_member_id: member_id,
                    created_at: self.now,
                    updated_at: self.now,
                });
                self.writes.audit.push(audit("membership.created", record));
                ImportOutcome::Created
            }
        }
    }
}
