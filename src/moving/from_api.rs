//! `accountd import --from-api URL`: copies accounts, members (with their usernames, never
//! their passwords, which such an API does not give out) and memberships from a running server
//! that speaks the Account Management API, another accountd or Elastic Path, through its list
//! endpoints, and imports them as the lines of a file would be (docs/moving-in.md#from-a-running-api).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::import::{ImportError, ImportOptions, ImportReport, Run, rules};
use super::progress::Progress;
use super::records::{AccountLine, Line, LineRules, MemberLine, MembershipLine, check};
use crate::auth::secret::Secret;
use crate::store::Store;
use crate::time::Clock;

/// Each request to the source may take this long before the import stops with an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where to copy from, and the application key to copy with.
pub struct ApiSource {
    /// The API's base URL, such as `https://useast.api.elasticpath.com`.
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

/// How the source's lists are paged: the API's bounds by default, smaller in tests.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// `page[limit]`: the most records one page holds.
    pub limit: u32,
    /// The largest `page[offset]` the source accepts.
    pub max_offset: u32,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            limit: 100,
            max_offset: 10_000,
        }
    }
}

/// What a copy did: the import's counts, and what the source listed that could not be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiReport {
    pub import: ImportReport,
    pub accounts: u64,
    pub members: u64,
    pub memberships: u64,
    /// Records the lists counted but paging could not reach: past the offset cap where the
    /// source refuses `ge(created_at,…)`, or more records sharing one creation time than one
    /// window of pages holds.
    pub unreachable: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("the source API: {0}")]
    Source(String),
}

/// Copies everything the source lists into `store`, writing each refused record to `refusals`
/// as `<kind> <source id> (record N): reason`.
pub async fn import_from_api(
    store: &dyn Store,
    clock: &dyn Clock,
    source: &ApiSource,
    paging: Paging,
    options: &ImportOptions,
    refusals: &mut (dyn Write + Send),
    progress: &mut Progress,
) -> Result<ApiReport, ApiError> {
    let api = Api::sign_in(source).await?;
    let rules = rules(store, options).await?;
    let profiles = ProfileMap::new(&api, store).await?;
    let mut copy = Copy {
        api: &api,
        paging,
        rules: &rules,
        run: Run::new(store, clock, options, refusals),
        report: ApiReport::default(),
        number: 0,
    };
    let accounts = copy.accounts(progress).await?;
    let member_emails = copy.members(&profiles, progress).await?;
    copy.memberships(&accounts, &member_emails, progress)
        .await?;
    copy.run.finish().await?;
    progress.finish();
    copy.report.import = copy.run.report.clone();
    Ok(copy.report)
}

struct Copy<'a, 'r> {
    api: &'a Api,
    paging: Paging,
    rules: &'a LineRules<'a>,
    run: Run<'r>,
    report: ApiReport,
    /// The records fed to the import so far, which number them.
    number: u64,
}

/// A source account as the import needs it.
struct SourceAccount {
    id: Uuid,
    external_ref: String,
    line: AccountLine,
    parent_id: Option<Uuid>,
}

impl Copy<'_, '_> {
    async fn feed(&mut self, label: String, line: Line) -> Result<(), ImportError> {
        self.number += 1;
        let checked = check(line, self.rules);
        self.run
            .take_labelled(
                self.number,
                format!("{label} (record {})", self.number),
                checked,
            )
            .await
    }

    fn note_progress(&mut self, progress: &mut Progress) {
        if self.run.is_idle() {
            progress.update(self.number, &self.run.report);
        }
    }

    /// Every account, parents before their children, named in the import by their
    /// `external_ref`, or by their source id when they have none (as `accountd export` does).
    async fn accounts(&mut self, progress: &mut Progress) -> Result<Vec<(Uuid, String)>, ApiError> {
        let mut listed = Vec::new();
        let mut pages = Pages::new("/v2/accounts", self.paging);
        while let Some(page) = pages.next(self.api).await? {
            for record in page {
                let id = uuid_at(&record, "id")?;
                let external_ref =
                    text_at(&record, "external_ref").unwrap_or_else(|| id.to_string());
                let parent_id =
                    text_at(&record, "parent_id").and_then(|text| Uuid::parse_str(&text).ok());
                let line = AccountLine {
                    external_ref: external_ref.clone(),
                    name: text_at(&record, "name").unwrap_or_default(),
                    legal_name: text_at(&record, "legal_name"),
                    registration_id: text_at(&record, "registration_id"),
                    parent_external_ref: None,
                };
                listed.push(SourceAccount {
                    id,
                    external_ref,
                    line,
                    parent_id,
                });
            }
        }
        self.report.unreachable += pages.unreachable();
        self.report.accounts = listed.len() as u64;
        let refs: HashMap<Uuid, String> = listed
            .iter()
            .map(|account| (account.id, account.external_ref.clone()))
            .collect();
        let mut named = Vec::with_capacity(listed.len());
        for mut account in parents_first(listed) {
            account.line.parent_external_ref = account.parent_id.map(|parent| {
                refs.get(&parent)
                    .cloned()
                    .unwrap_or_else(|| parent.to_string())
            });
            named.push((account.id, account.external_ref.clone()));
            self.feed(
                format!("account {}", account.id),
                Line::Account(account.line),
            )
            .await?;
            self.note_progress(progress);
        }
        Ok(named)
    }

    /// Every member, with the username of its first password login (in the profile of the same
    /// name here). Returns each member's email by its source id, which memberships name.
    async fn members(
        &mut self,
        profiles: &ProfileMap,
        progress: &mut Progress,
    ) -> Result<HashMap<Uuid, String>, ApiError> {
        let mut emails = HashMap::new();
        let mut pages = Pages::new("/v2/account-members", self.paging);
        while let Some(page) = pages.next(self.api).await? {
            for record in page {
                let id = uuid_at(&record, "id")?;
                let email = text_at(&record, "email").unwrap_or_default();
                let (username, password_profile_id) =
                    match self.api.first_login(profiles, id).await? {
                        Some((username, profile)) => (Some(username), profile),
                        None => (None, None),
                    };
                emails.insert(id, email.clone());
                let line = MemberLine {
                    email,
                    name: text_at(&record, "name").unwrap_or_default(),
                    username,
                    password_hash: None,
                    password_profile_id,
                };
                self.feed(format!("account_member {id}"), Line::AccountMember(line))
                    .await?;
                self.note_progress(progress);
            }
        }
        self.report.unreachable += pages.unreachable();
        self.report.members = emails.len() as u64;
        Ok(emails)
    }

    async fn memberships(
        &mut self,
        accounts: &[(Uuid, String)],
        member_emails: &HashMap<Uuid, String>,
        progress: &mut Progress,
    ) -> Result<(), ApiError> {
        for (account_id, external_ref) in accounts {
            let path = format!("/v2/accounts/{account_id}/account-memberships");
            let mut pages = Pages::new(&path, self.paging);
            while let Some(page) = pages.next(self.api).await? {
                for record in page {
                    let id = uuid_at(&record, "id")?;
                    let member_id = uuid_at(&record, "account_member_id")?;
                    self.report.memberships += 1;
                    let label = format!("account_membership {id}");
                    let Some(email) = member_emails.get(&member_id) else {
                        self.number += 1;
                        self.run
                            .take_labelled(
                                self.number,
                                format!("{label} (record {})", self.number),
                                Err(format!("its member {member_id} was not copied")),
                            )
                            .await?;
                        continue;
                    };
                    let line = MembershipLine {
                        account_external_ref: external_ref.clone(),
                        member_email: email.clone(),
                    };
                    self.feed(label, Line::AccountMembership(line)).await?;
                    self.note_progress(progress);
                }
            }
            self.report.unreachable += pages.unreachable();
        }
        Ok(())
    }
}

/// Orders accounts so that each parent comes before its children (a parent is usually older,
/// but an account can be moved under a newer one). An account whose parent was not listed
/// keeps its place; the import then refuses it unless the parent already exists here.
fn parents_first(accounts: Vec<SourceAccount>) -> Vec<SourceAccount> {
    let listed: HashSet<Uuid> = accounts.iter().map(|account| account.id).collect();
    let mut children: HashMap<Uuid, Vec<SourceAccount>> = HashMap::new();
    let mut roots = Vec::new();
    for account in accounts {
        match account.parent_id.filter(|parent| listed.contains(parent)) {
            Some(parent) => children.entry(parent).or_default().push(account),
            None => roots.push(account),
        }
    }
    let mut ordered = Vec::with_capacity(listed.len());
    let mut queue: std::collections::VecDeque<SourceAccount> = roots.into();
    while let Some(account) = queue.pop_front() {
        if let Some(below) = children.remove(&account.id) {
            queue.extend(below);
        }
        ordered.push(account);
    }
    // Accounts in a parent cycle (which the API forbids) are still offered, and refused.
    ordered.extend(children.into_values().flatten());
    ordered
}

/// The source's password profiles matched to this store's by name.
struct ProfileMap {
    realm_id: String,
    here_by_source: HashMap<String, Uuid>,
}

impl ProfileMap {
    async fn new(api: &Api, store: &dyn Store) -> Result<Self, ApiError> {
        let settings = api.get("/v2/settings/account-authentication").await?;
        let realm_id = settings
            .pointer("/data/relationships/authentication_realm/data/id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::Source("the account authentication settings name no realm".to_owned())
            })?
            .to_owned();
        let here = store
            .password_profile_names()
            .await
            .map_err(ImportError::from)?;
        let mut here_by_source = HashMap::new();
        let path = format!("/v2/authentication-realms/{realm_id}/password-profiles");
        let mut pages = Pages::new(&path, Paging::default());
        while let Some(page) = pages.next(api).await? {
            for profile in page {
                let (Some(id), Some(name)) = (text_at(&profile, "id"), text_at(&profile, "name"))
                else {
                    continue;
                };
                let mut same_name = here.iter().filter(|(_, here_name)| *here_name == name);
                if let (Some((here_id, _)), None) = (same_name.next(), same_name.next()) {
                    here_by_source.insert(id, *here_id);
                }
            }
        }
        Ok(Self {
            realm_id,
            here_by_source,
        })
    }
}

/// One list, read page by page in `created_at` order. Past the offset cap it starts a new
/// window at `ge(created_at,<the last one seen>)`, skipping the records of that instant it
/// already returned.
struct Pages {
    path: String,
    paging: Paging,
    offset: u32,
    /// The instant the current window starts at, when it is not the first.
    window_start: Option<String>,
    /// The records seen at the newest instant so far, so a new window skips them.
    newest: Option<String>,
    seen_at_newest: HashSet<String>,
    skip_at_start: HashSet<String>,
    listed_total: Option<u64>,
    returned: u64,
    finished: bool,
    stopped_short: bool,
}

impl Pages {
    fn new(path: &str, paging: Paging) -> Self {
        Self {
            path: path.to_owned(),
            paging,
            offset: 0,
            window_start: None,
            newest: None,
            seen_at_newest: HashSet::new(),
            skip_at_start: HashSet::new(),
            listed_total: None,
            returned: 0,
            finished: false,
            stopped_short: false,
        }
    }

    /// What the first page counted that no page returned.
    fn unreachable(&self) -> u64 {
        if !self.stopped_short {
            return 0;
        }
        self.listed_total
            .unwrap_or_default()
            .saturating_sub(self.returned)
    }

    async fn next(&mut self, api: &Api) -> Result<Option<Vec<Value>>, ApiError> {
        if self.finished {
            return Ok(None);
        }
        let mut query = format!(
            "sort=created_at&page%5Blimit%5D={}&page%5Boffset%5D={}",
            self.paging.limit, self.offset
        );
        if let Some(start) = &self.window_start {
            query.push_str("&filter=ge(created_at,");
            query.push_str(start);
            query.push(')');
        }
        let separator = if self.path.contains('?') { '&' } else { '?' };
        let answer = api
            .get_answer(&format!("{}{separator}{query}", self.path))
            .await?;
        let body = match answer {
            Ok(body) => body,
            Err(status) if self.window_start.is_some() && status == 400 => {
                // The source does not filter this list by creation time: what lies past the
                // cap is out of reach.
                self.finished = true;
                self.stopped_short = true;
                return Ok(None);
            }
            Err(status) => {
                return Err(ApiError::Source(format!(
                    "GET {} answered {status}",
                    self.path
                )));
            }
        };
        if self.listed_total.is_none() {
            self.listed_total = body.pointer("/meta/results/total").and_then(Value::as_u64);
        }
        let records = match body.get("data") {
            Some(Value::Array(records)) => records.clone(),
            _ => {
                return Err(ApiError::Source(format!(
                    "GET {} answered a body without a data list",
                    self.path
                )));
            }
        };
        let full_page = records.len() >= self.paging.limit as usize;
        let mut fresh = Vec::with_capacity(records.len());
        for record in records {
            let id = text_at(&record, "id").unwrap_or_default();
            let created_at = record
                .pointer("/meta/timestamps/created_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if self.window_start.as_deref() == Some(created_at.as_str())
                && self.skip_at_start.contains(&id)
            {
                continue;
            }
            if self.newest.as_deref() != Some(created_at.as_str()) {
                self.newest = Some(created_at);
                self.seen_at_newest.clear();
            }
            self.seen_at_newest.insert(id);
            fresh.push(record);
        }
        self.returned += fresh.len() as u64;
        if !full_page {
            self.finished = true;
        } else if self.offset + self.paging.limit <= self.paging.max_offset {
            self.offset += self.paging.limit;
        } else {
            let newest = self.newest.clone();
            if newest.is_none() || newest == self.window_start {
                // One instant holds more records than a window reaches.
                self.finished = true;
                self.stopped_short = true;
            } else {
                self.window_start = newest;
                self.skip_at_start = std::mem::take(&mut self.seen_at_newest);
                self.seen_at_newest = self.skip_at_start.clone();
                self.offset = 0;
            }
        }
        Ok(Some(fresh))
    }
}

/// A signed-in client of the source.
struct Api {
    http: reqwest::Client,
    base: String,
    bearer: Secret,
}

impl Api {
    async fn sign_in(source: &ApiSource) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("accountd/", env!("CARGO_PKG_VERSION"), " import"))
            .build()
            .map_err(|error| ApiError::Source(error.to_string()))?;
        let base = source.url.trim_end_matches('/').to_owned();
        let answer = http
            .post(format!("{base}/oauth/access_token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", source.client_id.as_str()),
                ("client_secret", source.client_secret.expose()),
            ])
            .send()
            .await
            .map_err(|error| unreachable_source(&base, &error))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(ApiError::Source(format!(
                "signing in with --api-client-id answered {}; check the key",
                status.as_u16()
            )));
        }
        let body = json_body(answer)
            .await
            .map_err(|error| ApiError::Source(format!("the sign-in answer: {error}")))?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::Source("the sign-in answer has no access_token".to_owned()))?;
        Ok(Self {
            http,
            base,
            bearer: Secret::new(token),
        })
    }

    async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.get_answer(path)
            .await?
            .map_err(|status| ApiError::Source(format!("GET {path} answered {status}")))
    }

    /// The body of a successful answer, or the status of another.
    async fn get_answer(&self, path: &str) -> Result<Result<Value, u16>, ApiError> {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.bearer.expose())
            .send()
            .await
            .map_err(|error| unreachable_source(&self.base, &error))?;
        let status = answer.status();
        if !status.is_success() {
            return Ok(Err(status.as_u16()));
        }
        let body = json_body(answer)
            .await
            .map_err(|error| ApiError::Source(format!("GET {path}: {error}")))?;
        Ok(Ok(body))
    }

    /// The username of the member's first password login, with the profile here of the same
    /// name as its profile there.
    async fn first_login(
        &self,
        profiles: &ProfileMap,
        member_id: Uuid,
    ) -> Result<Option<(String, Option<Uuid>)>, ApiError> {
        let path = format!(
            "/v2/authentication-realms/{}/user-authentication-info/{member_id}/user-authentication-password-profile-info",
            profiles.realm_id
        );
        let body = self.get(&path).await?;
        let first = body
            .get("data")
            .and_then(Value::as_array)
            .and_then(|infos| infos.first());
        Ok(first.and_then(|info| {
            let username = text_at(info, "username")?;
            let profile = text_at(info, "password_profile_id")
                .and_then(|source| profiles.here_by_source.get(&source).copied());
            Some((username, profile))
        }))
    }
}

async fn json_body(answer: reqwest::Response) -> Result<Value, String> {
    let bytes = answer.bytes().await.map_err(|error| error.to_string())?;
    serde_json::from_slice(&bytes).map_err(|error| error.to_string())
}

fn unreachable_source(base: &str, error: &reqwest::Error) -> ApiError {
    // reqwest's message names the URL, which holds no secret; the bearer is a header.
    ApiError::Source(format!("{base} could not be reached: {error}"))
}

fn text_at(record: &Value, field: &str) -> Option<String> {
    record.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn uuid_at(record: &Value, field: &str) -> Result<Uuid, ApiError> {
    text_at(record, field)
        .and_then(|text| Uuid::parse_str(&text).ok())
        .ok_or_else(|| ApiError::Source(format!("a record without a UUID {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: u128, parent: Option<u128>) -> SourceAccount {
        SourceAccount {
            id: Uuid::from_u128(id),
            external_ref: id.to_string(),
            line: AccountLine {
                external_ref: id.to_string(),
                name: id.to_string(),
                legal_name: None,
                registration_id: None,
                parent_external_ref: None,
            },
            parent_id: parent.map(Uuid::from_u128),
        }
    }

    #[test]
    fn parents_come_before_their_children_whatever_the_listing_order() {
        let ordered = parents_first(vec![
            account(3, Some(2)),
            account(2, Some(1)),
            account(1, None),
            account(4, Some(99)),
        ]);
        let position = |id: u128| {
            ordered
                .iter()
                .position(|account| account.id == Uuid::from_u128(id))
                .unwrap_or(usize::MAX)
        };
        assert_eq!(ordered.len(), 4);
        assert!(position(1) < position(2));
        assert!(position(2) < position(3));
        assert_ne!(position(4), usize::MAX);
    }
}
