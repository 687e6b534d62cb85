//! `accountd import FILE`: lines read one at a time, checked, written in transactional batches;
//! each refused line reported as `line N: reason` (docs/moving-in.md#importing).

use std::hash::{Hash, Hasher};
use std::io::{BufRead, Write};

use serde::Deserialize;
use uuid::Uuid;

use super::progress::Progress;
use super::records::{Line, LineRules, MemberLine, check, parse_json_line};
use crate::auth::hash_formats::FirebaseScrypt;
use crate::store::{
    Actor, ImportKind, ImportOutcome, ImportRecord, ImportWrite, ImportedTables, NewAuditEvent,
    Store, StoreError, fold_case,
};
use crate::time::Clock;

/// Records written per transaction: large enough that a commit's cost is shared, small enough
/// that a batch never holds its locks for long.
pub const BATCH: usize = 1000;

/// Records queued before they are written. Member records, which depend on nothing but their
/// own email and username, are then written as two transactions at once (split by email), so
/// the database works on both on two connections; other records go a batch at a time, in order.
const QUEUED: usize = 2 * BATCH;

/// Records a run creates before it first refreshes the database's statistics.
const FIRST_STATISTICS_REFRESH: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    JsonLines,
    /// Flat member rows with a header: `email,name,username,password_hash,password_profile_id`.
    Csv,
}

impl FileFormat {
    /// `.csv` files are CSV; anything else is JSON Lines.
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("csv") => Self::Csv,
            _ => Self::JsonLines,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--password-profile`: an id, or a name that only one profile has.
    pub password_profile: Option<String>,
    pub dry_run: bool,
    pub quiet_events: bool,
    /// The Firebase project whose scrypt hashes may be imported (`ACCOUNTD_FIREBASE_SCRYPT`).
    pub firebase: Option<FirebaseScrypt>,
}

/// The counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub lines: u64,
    pub created: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("--password-profile: {0}")]
    Profile(String),
    #[error("reading the file: {0}")]
    Read(String),
    #[error("the database: {0}")]
    Store(#[from] StoreError),
}

/// Imports `input` into `store`, writing each refused line to `refusals` as `line N: reason`.
pub async fn import(
    store: &dyn Store,
    clock: &dyn Clock,
    input: impl BufRead,
    format: FileFormat,
    options: &ImportOptions,
    refusals: &mut (dyn Write + Send),
    progress: &mut Progress,
) -> Result<ImportReport, ImportError> {
    let rules = rules(store, options).await?;
    let mut run = Run::new(store, clock, options, refusals);
    match format {
        FileFormat::JsonLines => run.json_lines(input, &rules, progress).await?,
        FileFormat::Csv => run.csv_rows(input, &rules, progress).await?,
    }
    run.finish().await?;
    progress.finish();
    Ok(run.report)
}

/// How this import's lines are checked: the profile options settled against the store.
pub(super) async fn rules<'o>(
    store: &dyn Store,
    options: &'o ImportOptions,
) -> Result<LineRules<'o>, ImportError> {
    let (forced_profile, only_profile) = profiles(store, options).await?;
    Ok(LineRules {
        forced_profile,
        only_profile,
        firebase: options.firebase.as_ref(),
    })
}

/// The profile `--password-profile` names (by id, or by a name only one profile has), and the
/// realm's only profile when it has exactly one.
async fn profiles(
    store: &dyn Store,
    options: &ImportOptions,
) -> Result<(Option<Uuid>, Option<Uuid>), ImportError> {
    let all = store.password_profile_names().await?;
    let only = match all.as_slice() {
        [(id, _)] => Some(*id),
        _ => None,
    };
    let Some(wanted) = options.password_profile.as_deref() else {
        return Ok((None, only));
    };
    let by_id = Uuid::parse_str(wanted)
        .ok()
        .filter(|id| all.iter().any(|(known, _)| known == id));
    if let Some(id) = by_id {
        return Ok((Some(id), only));
    }
    let named: Vec<Uuid> = all
        .iter()
        .filter(|(_, name)| name == wanted)
        .map(|(id, _)| *id)
        .collect();
    match named.as_slice() {
        [id] => Ok((Some(*id), only)),
        [] => Err(ImportError::Profile(format!(
            "no password profile has the id or name {wanted:?}"
        ))),
        _ => Err(ImportError::Profile(format!(
            "several password profiles are named {wanted:?}: give its id"
        ))),
    }
}

/// The writing half of an import: checked records in, transactional batches out, refusals
/// reported in the order of the input. A file or another server's API feeds it.
pub(super) struct Run<'a> {
    store: &'a dyn Store,
    clock: &'a dyn Clock,
    write: ImportWrite,
    refusals: &'a mut (dyn Write + Send),
    pub(super) report: ImportReport,
    pending: Vec<ImportRecord>,
    /// Refusals of the lines read since the last batch was written, reported with its own so
    /// the report keeps the file's order.
    refused: Vec<(u64, String)>,
    /// How the pending records are named in a refusal when not by their line number (a record
    /// fetched from an API is named by its kind and id).
    labels: std::collections::HashMap<u64, String>,
    batch: usize,
    /// Records created, by [`RecordKind`].
    created_by_kind: [u64; 3],
    /// Records of each kind created when the database's statistics were last refreshed (half
    /// the first threshold before then).
    statistics_refreshed_at: [u64; 3],
}

/// Writes `records` in one transaction; the outcome of each, with its line. When the database
/// refuses the batch as a whole (a concurrent writer took a username between look-up and
/// insert), each record is tried alone, so only the guilty line is refused and nothing is
/// half-imported.
async fn write_batch(
    store: &dyn Store,
    records: Vec<ImportRecord>,
    write: ImportWrite,
    now: crate::time::Timestamp,
) -> Result<Vec<(u64, RecordKind, ImportOutcome)>, ImportError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    match store.import_batch(&records, write, now).await {
        Ok(outcomes) => Ok(named(&records)
            .zip(outcomes)
            .map(|((line, kind), outcome)| (line, kind, outcome))
            .collect()),
        Err(StoreError::Unavailable(reason)) => {
            Err(ImportError::Store(StoreError::Unavailable(reason)))
        }
        Err(_) if records.len() > 1 => {
            let mut results = Vec::with_capacity(records.len());
            for record in records {
                let single = std::slice::from_ref(&record);
                let outcome = match store.import_batch(single, write, now).await {
                    Ok(mut outcomes) => outcomes
                        .pop()
                        .unwrap_or_else(|| ImportOutcome::Rejected("not written".into())),
                    Err(StoreError::Unavailable(reason)) => {
                        return Err(ImportError::Store(StoreError::Unavailable(reason)));
                    }
                    Err(error) => ImportOutcome::Rejected(error.to_string()),
                };
                results.push((record.line, RecordKind::of(&record), outcome));
            }
            Ok(results)
        }
        Err(error) => Ok(named(&records)
            .map(|(line, kind)| (line, kind, ImportOutcome::Rejected(error.to_string())))
            .collect()),
    }
}

/// Each record's line and kind.
fn named(records: &[ImportRecord]) -> impl Iterator<Item = (u64, RecordKind)> + '_ {
    records
        .iter()
        .map(|record| (record.line, RecordKind::of(record)))
}

/// Which table a record creates a row in, as an index into the per-kind counts.
#[derive(Debug, Clone, Copy)]
enum RecordKind {
    Account = 0,
    Member = 1,
    Membership = 2,
}

impl RecordKind {
    fn of(record: &ImportRecord) -> Self {
        match record.kind {
            ImportKind::Account { .. } => Self::Account,
            ImportKind::Member { .. } => Self::Member,
            ImportKind::Membership { .. } => Self::Membership,
        }
    }
}

fn is_member(record: &ImportRecord) -> bool {
    matches!(record.kind, ImportKind::Member { .. })
}

/// Member records in two groups by their folded email, each in file order. Two members with one
/// email always share a group, so neither group's look-ups can miss a member the other creates.
fn split_by_email(records: Vec<ImportRecord>) -> (Vec<ImportRecord>, Vec<ImportRecord>) {
    records.into_iter().partition(|record| match &record.kind {
        ImportKind::Member { email, .. } => {
            let mut hasher = std::hash::DefaultHasher::new();
            fold_case(email).hash(&mut hasher);
            hasher.finish() % 2 == 0
        }
        _ => true,
    })
}

/// A CSV row: the member fields as columns, empty meaning absent.
#[derive(Deserialize)]
struct MemberRow {
    email: String,
    name: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    password_profile_id: Option<String>,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        store: &'a dyn Store,
        clock: &'a dyn Clock,
        options: &ImportOptions,
        refusals: &'a mut (dyn Write + Send),
    ) -> Self {
        Self {
            store,
            clock,
            write: ImportWrite {
                dry_run: options.dry_run,
                quiet_events: options.quiet_events,
            },
            refusals,
            report: ImportReport::default(),
            pending: Vec::new(),
            refused: Vec::new(),
            labels: std::collections::HashMap::new(),
            // A dry run writes nothing, so a later line could not see an earlier one's
            // account: it checks the whole input in one transaction, rolled back at the end.
            batch: if options.dry_run { usize::MAX } else { QUEUED },
            created_by_kind: [0; 3],
            statistics_refreshed_at: [FIRST_STATISTICS_REFRESH / 2; 3],
        }
    }

    /// Like [`Run::take`], for a record a refusal names by `label` rather than by its number.
    pub(super) async fn take_labelled(
        &mut self,
        number: u64,
        label: String,
        checked: Result<crate::store::ImportKind, String>,
    ) -> Result<(), ImportError> {
        self.labels.insert(number, label);
        self.take(number, checked).await
    }

    /// Whether nothing is waiting to be written.
    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    async fn json_lines(
        &mut self,
        mut input: impl BufRead,
        rules: &LineRules<'_>,
        progress: &mut Progress,
    ) -> Result<(), ImportError> {
        let mut bytes = 0u64;
        let mut number = 0u64;
        let mut text = String::new();
        loop {
            text.clear();
            let read = input
                .read_line(&mut text)
                .map_err(|error| ImportError::Read(error.to_string()))?;
            if read == 0 {
                break;
            }
            bytes += read as u64;
            number += 1;
            if text.trim().is_empty() {
                continue;
            }
            let checked = parse_json_line(text.trim_end(), rules);
            self.take(number, checked).await?;
            if self.pending.is_empty() {
                progress.update(bytes, &self.report);
            }
        }
        Ok(())
    }

    async fn csv_rows(
        &mut self,
        input: impl BufRead,
        rules: &LineRules<'_>,
        progress: &mut Progress,
    ) -> Result<(), ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|error| ImportError::Read(format!("the header row: {error}")))?
            .clone();
        let mut row = csv::StringRecord::new();
        loop {
            let (number, checked) = match reader.read_record(&mut row) {
                Ok(false) => break,
                Ok(true) => (
                    row.position().map_or(0, csv::Position::line),
                    row.deserialize::<MemberRow>(Some(&headers))
                        .map_err(|error| format!("not a member row: {error}"))
                        .and_then(|member| member_row(member, rules)),
                ),
                Err(error) => (
                    error.position().map_or(0, csv::Position::line),
                    Err(format!("not a member row: {error}")),
                ),
            };
            self.take(number, checked).await?;
            if self.pending.is_empty() {
                progress.update(reader.position().byte(), &self.report);
            }
        }
        Ok(())
    }

    /// Counts a line and queues it, or reports it; writes the queue once it is a batch.
    pub(super) async fn take(
        &mut self,
        number: u64,
        checked: Result<crate::store::ImportKind, String>,
    ) -> Result<(), ImportError> {
        self.report.lines += 1;
        match checked {
            Ok(kind) => self.pending.push(ImportRecord { line: number, kind }),
            Err(reason) => self.refuse(number, &reason),
        }
        if self.pending.len() >= self.batch {
            self.flush().await?;
        }
        Ok(())
    }

    fn refuse(&mut self, number: u64, reason: &str) {
        self.report.rejected += 1;
        self.refused.push((number, reason.to_owned()));
    }

    /// Reports the refusals held so far, in the input's order.
    fn report_refusals(&mut self) {
        self.refused.sort_by_key(|(number, _)| *number);
        for (number, reason) in self.refused.drain(..) {
            let _ = match self.labels.get(&number) {
                Some(label) => writeln!(self.refusals, "{label}: {reason}"),
                None => writeln!(self.refusals, "line {number}: {reason}"),
            };
        }
        self.labels.clear();
    }

    /// Writes what is still queued, then the run's summary audit row, whose commit waits until
    /// every batch of the run is on disk (their own commits do not wait).
    pub(super) async fn finish(&mut self) -> Result<(), ImportError> {
        self.flush().await?;
        if self.write.dry_run {
            return Ok(());
        }
        let report = &self.report;
        let summary = NewAuditEvent::new("import.completed", Actor::SYSTEM)
            .subject("accountd import".to_owned())
            .detail(serde_json::json!({
                "lines": report.lines,
                "created": report.created,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
                "quiet_events": self.write.quiet_events,
            }));
        self.store.finish_import(&summary, self.clock.now()).await?;
        Ok(())
    }

    /// Writes the queued records and reports the refusals so far.
    pub(super) async fn flush(&mut self) -> Result<(), ImportError> {
        self.write_pending().await?;
        self.report_refusals();
        Ok(())
    }

    async fn write_pending(&mut self) -> Result<(), ImportError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.pending);
        let now = self.clock.now();
        let results = if !self.write.dry_run && records.iter().all(is_member) {
            let (first, second) = split_by_email(records);
            let (first, second) = tokio::try_join!(
                write_batch(self.store, first, self.write, now),
                write_batch(self.store, second, self.write, now),
            )?;
            [first, second].concat()
        } else {
            let mut results = Vec::with_capacity(records.len());
            for batch in records.chunks(BATCH) {
                results.extend(write_batch(self.store, batch.to_vec(), self.write, now).await?);
            }
            results
        };
        for (line, kind, outcome) in results {
            match outcome {
                ImportOutcome::Created => {
                    self.report.created += 1;
                    self.created_by_kind[kind as usize] += 1;
                }
                ImportOutcome::Unchanged => self.report.unchanged += 1,
                ImportOutcome::Rejected(reason) => self.refuse(line, &reason),
            }
        }
        self.refresh_statistics_as_rows_grow().await?;
        Ok(())
    }

    /// Refreshes the database's statistics each time the records of one kind this run created
    /// double, from a thousand: a few times per table in a run of any size.
    async fn refresh_statistics_as_rows_grow(&mut self) -> Result<(), ImportError> {
        let grown = |kind: RecordKind| {
            self.created_by_kind[kind as usize] >= self.statistics_refreshed_at[kind as usize] * 2
        };
        let tables = ImportedTables {
            accounts: grown(RecordKind::Account),
            members: grown(RecordKind::Member),
            memberships: grown(RecordKind::Membership),
        };
        if self.write.dry_run || tables == ImportedTables::default() {
            return Ok(());
        }
        self.store.refresh_import_statistics(tables).await?;
        for (kind, grown) in [
            (RecordKind::Account, tables.accounts),
            (RecordKind::Member, tables.members),
            (RecordKind::Membership, tables.memberships),
        ] {
            if grown {
                self.statistics_refreshed_at[kind as usize] = self.created_by_kind[kind as usize];
            }
        }
        Ok(())
    }
}

fn member_row(row: MemberRow, rules: &LineRules<'_>) -> Result<crate::store::ImportKind, String> {
    let present = |value: Option<String>| value.filter(|text| !text.is_empty());
    let password_profile_id = match present(row.password_profile_id) {
        None => None,
        Some(text) => Some(
            Uuid::parse_str(&text).map_err(|_| "password_profile_id is not a UUID".to_owned())?,
        ),
    };
    check(
        Line::AccountMember(MemberLine {
            email: row.email,
            name: row.name,
            username: present(row.username),
            password_hash: present(row.password_hash),
            password_profile_id,
        }),
        rules,
    )
}
