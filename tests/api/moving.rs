//! `accountd import` and `accountd export` (docs/moving-in.md): records written as the admin
//! API writes them, idempotent, dry runs and quiet loads, refused lines reported with their
//! numbers, and an export that imports into an empty store and exports again unchanged. The
//! library functions the commands call run against the test's database; one test runs the
//! binary itself.

use accountd::moving::export::export;
use accountd::moving::import::{FileFormat, ImportOptions, ImportReport, import};
use accountd::moving::progress::Progress;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase, spawn_app, test_config};
use crate::tests;

tests![
    an_import_writes_what_the_admin_api_would_and_a_rerun_changes_nothing,
    a_dry_run_writes_nothing_and_a_quiet_load_writes_no_events,
    member_rows_import_from_csv,
    an_export_imports_into_an_empty_store_and_exports_unchanged,
    the_commands_read_and_write_files,
    a_batch_decides_each_record_against_the_store_and_the_records_before_it,
    a_batch_of_many_rows_keeps_every_character,
    member_lines_written_two_batches_at_once_match_as_one_at_a_time,
];

/// What the tests' integration observes, so the outbox holds these events.
const OBSERVES: &[&str] = &[
    "account.created",
    "account-member.created",
    "account-membership.created",
];

const BCRYPT: &str = include_str!("../fixtures/legacy-hashes/bcrypt-2b.json");

fn bcrypt_case() -> (String, String) {
    let fixture: Value = serde_json::from_str(BCRYPT).unwrap();
    let case = &fixture["cases"][0];
    (
        case["password"].as_str().unwrap().to_owned(),
        case["hash"].as_str().unwrap().to_owned(),
    )
}

async fn run_import(
    app: &TestApp,
    text: &str,
    format: FileFormat,
    options: &ImportOptions,
) -> (ImportReport, String) {
    let mut refusals = Vec::new();
    let report = import(
        app.state.store.as_ref(),
        app.clock.as_ref(),
        text.as_bytes(),
        format,
        options,
        &mut refusals,
        &mut Progress::Silent,
    )
    .await
    .unwrap();
    (report, String::from_utf8(refusals).unwrap())
}

/// A JSON Lines import with the default options.
async fn import_json_lines(app: &TestApp, text: &str) -> (ImportReport, String) {
    run_import(app, text, FileFormat::JsonLines, &ImportOptions::default()).await
}

/// A password profile named "Storefront"; its id.
pub(crate) async fn profile(app: &TestApp, admin: &str) -> String {
    app.create_password_profile(
        admin,
        json!({"type": "password_profile", "name": "Storefront"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A file with the issue's three kinds of line, a child account, members with and without a
/// password, and lines that must be refused.
fn sample_file(hash: &str) -> String {
    [
        json!({"type":"account","external_ref":"A1","name":"Acme","legal_name":"Acme Ltd","parent_external_ref":null}),
        json!({"type":"account","external_ref":"A2","name":"Acme East","parent_external_ref":"A1"}),
        json!({"type":"account_member","email":"ron@example.com","name":"Ron","username":"ron@example.com","password_hash":hash}),
        json!({"type":"account_member","email":"april@example.com","name":"April","username":"april"}),
        json!({"type":"account_member","email":"andy@example.com","name":"Andy"}),
        json!({"type":"account_membership","account_external_ref":"A1","member_email":"ron@example.com"}),
        json!({"type":"account_membership","account_external_ref":"A2","member_email":"Ron@Example.com"}),
        json!({"type":"account_membership","account_external_ref":"A9","member_email":"ron@example.com"}),
        json!({"type":"account_member","email":"leslie@example.com","name":"Leslie","password_hash":"md5$nope"}),
        json!({"type":"robot","name":"R2"}),
        json!({"type":"account","external_ref":"A3","name":"Orphan","parent_external_ref":"A404"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
        + "\n"
}

const SAMPLE_REFUSALS: &str = "line 8: account not found\n\
line 9: password_hash is not in a format accountd verifies\n\
line 10: not a record: unknown variant `robot`, expected one of `account`, `account_member`, `account_membership`\n\
line 11: parent account not found\n";

async fn an_import_writes_what_the_admin_api_would_and_a_rerun_changes_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let profile_id = profile(&app, &admin).await;
    let receiver = crate::receiver::Receiver::start().await;
    app.create_integration(&admin, &receiver.url, OBSERVES)
        .await;
    let (password, hash) = bcrypt_case();
    let file = sample_file(&hash);
    let (report, refusals) = import_json_lines(&app, &file).await;
    assert_eq!(refusals, SAMPLE_REFUSALS);
    assert_eq!(
        report,
        ImportReport {
            lines: 11,
            created: 7,
            unchanged: 0,
            rejected: 4
        }
    );

    let accounts = app
        .get("/v2/accounts?filter=eq(external_ref,A2)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let parent = app
        .get("/v2/accounts?filter=eq(external_ref,A1)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(accounts["data"][0]["parent_id"], parent["data"][0]["id"]);
    assert_eq!(parent["data"][0]["legal_name"], "Acme Ltd");

    // Ron logs in with the password his old system hashed, into both accounts.
    let tokens = app
        .login(&shopper, &profile_id, "ron@example.com", &password)
        .await
        .expect(201);
    assert_eq!(tokens["data"].as_array().unwrap().len(), 2);
    // April has a login without a password: no password opens it.
    app.login(&shopper, &profile_id, "april", "!")
        .await
        .expect_error(400, "authentication failed");

    // Events and audit rows as the admin API writes them.
    let keys: Vec<String> = app
        .outbox_events()
        .await
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    assert_eq!(
        keys,
        [
            "account.event.created",
            "account.event.created",
            "account-member.event.created",
            "account-member.event.created",
            "account-member.event.created",
            "account-membership.event.created",
            "account-membership.event.created",
        ]
    );
    let events_after_first_run = keys.len();
    let audit = |kind: &'static str| {
        let app = &app;
        let admin = &admin;
        async move { app.audit_events(admin, kind).await }
    };
    let created_accounts = audit("account.created").await;
    assert_eq!(created_accounts.len(), 2);
    assert_eq!(created_accounts[0]["actor"]["class"], "system");
    assert_eq!(audit("user_authentication_info.created").await.len(), 3);
    assert_eq!(audit("password_profile_info.created").await.len(), 2);
    assert_eq!(audit("membership.created").await.len(), 2);
    // The run's summary, written last.
    let completed = audit("import.completed").await;
    assert_eq!(completed.len(), 1, "{completed:?}");
    assert_eq!(completed[0]["subject"], "accountd import");
    assert_eq!(
        completed[0]["detail"],
        json!({"lines": 11, "created": 7, "unchanged": 0, "rejected": 4, "quiet_events": false})
    );

    // The same file again changes nothing and refuses the same lines.
    let (again, refusals) = import_json_lines(&app, &file).await;
    assert_eq!(refusals, SAMPLE_REFUSALS);
    assert_eq!(
        again,
        ImportReport {
            lines: 11,
            created: 0,
            unchanged: 7,
            rejected: 4
        }
    );
    assert_eq!(app.outbox_events().await.len(), events_after_first_run);
    assert_eq!(audit("account.created").await.len(), 2);
    assert_eq!(audit("membership.created").await.len(), 2);
    assert_eq!(audit("import.completed").await.len(), 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 3);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM account_memberships").await,
        2
    );
    // An existing member's hash is never replaced by an imported one.
    let other = file.replace(&hash, &bcrypt_case_other());
    import_json_lines(&app, &other).await;
    app.login(&shopper, &profile_id, "ron@example.com", &password)
        .await
        .expect(201);
}

fn bcrypt_case_other() -> String {
    let fixture: Value = serde_json::from_str(BCRYPT).unwrap();
    fixture["cases"][1]["hash"].as_str().unwrap().to_owned()
}

async fn a_dry_run_writes_nothing_and_a_quiet_load_writes_no_events(app: TestApp) {
    let admin = app.admin_token().await;
    profile(&app, &admin).await;
    let receiver = crate::receiver::Receiver::start().await;
    app.create_integration(&admin, &receiver.url, OBSERVES)
        .await;
    let (_, hash) = bcrypt_case();
    let file = sample_file(&hash);
    let dry = ImportOptions {
        dry_run: true,
        ..ImportOptions::default()
    };
    let (report, refusals) = run_import(&app, &file, FileFormat::JsonLines, &dry).await;
    assert_eq!(report.created, 7, "a dry run sees what it would create");
    assert_eq!(refusals, SAMPLE_REFUSALS);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.outbox_events().await.len(), 0);
    assert_eq!(
        app.audit_events(&admin, "import.completed").await.len(),
        0,
        "a dry run changed nothing, so no run is recorded"
    );

    let quiet = ImportOptions {
        quiet_events: true,
        ..ImportOptions::default()
    };
    let (report, _) = run_import(&app, &file, FileFormat::JsonLines, &quiet).await;
    assert_eq!(report.created, 7);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 2);
    assert_eq!(app.outbox_events().await.len(), 0, "no events");
    assert_eq!(
        app.audit_events(&admin, "account.created").await.len(),
        0,
        "no audit row per record"
    );
    let completed = app.audit_events(&admin, "import.completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["detail"]["quiet_events"], true);
    assert_eq!(completed[0]["detail"]["created"], 7);

    // Without it, the same records announce themselves.
    let more = r#"{"type":"account","external_ref":"B1","name":"Bravo"}"#;
    import_json_lines(&app, more).await;
    let keys: Vec<String> = app
        .outbox_events()
        .await
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

async fn member_rows_import_from_csv(app: TestApp) {
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let profile_id = profile(&app, &admin).await;
    let (password, hash) = bcrypt_case();
    let csv = format!(
        "email,name,username,password_hash\n\
         ron@example.com,\"Swanson, Ron\",,{hash}\n\
         april@example.com,April,april,\n\
         not-an-email,Nobody,,\n"
    );
    let (report, refusals) =
        run_import(&app, &csv, FileFormat::Csv, &ImportOptions::default()).await;
    assert_eq!(refusals, "line 4: email is not an email address\n");
    assert_eq!(report.created, 2);
    let members = app
        .get("/v2/account-members?filter=eq(email,ron@example.com)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(members["data"][0]["name"], "Swanson, Ron");
    let ron = members["data"][0]["id"].as_str().unwrap().to_owned();
    let account = app.create_account(&admin, "Pawnee").await;
    app.add_membership(&admin, account["id"].as_str().unwrap(), &ron)
        .await;
    // A hash without a username logs in with the email.
    app.login(&shopper, &profile_id, "ron@example.com", &password)
        .await
        .expect(201);
}

/// A store of its own on the same backend as `app`, empty but for its first-start records.
pub(crate) async fn empty_store_like(app: &TestApp) -> (TestApp, TestDatabase) {
    let database = TestDatabase::beside(&app.database_url).await;
    let other = spawn_app(test_config(&database.url)).await;
    (other, database)
}

async fn export_all(app: &TestApp, include_password_hashes: bool) -> String {
    let mut out = Vec::new();
    export(app.state.store.as_ref(), &mut out, include_password_hashes)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

async fn an_export_imports_into_an_empty_store_and_exports_unchanged(app: TestApp) {
    let admin = app.admin_token().await;
    let profile_id = profile(&app, &admin).await;
    // Records made through the API, one account without an external_ref among them.
    let root = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Acme", "external_ref": "A1", "legal_name": "Acme Ltd"}),
        )
        .await;
    let child = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Acme East", "parent_id": root["id"]}),
        )
        .await;
    let ron = app.create_user(&admin, "Ron", "ron@example.com").await;
    let ron_id = ron["id"].as_str().unwrap();
    app.create_password_info(
        &admin,
        ron_id,
        &profile_id,
        "ron@example.com",
        "bacon and eggs",
    )
    .await;
    let andy = app.create_user(&admin, "Andy", "andy@example.com").await;
    app.add_membership(&admin, root["id"].as_str().unwrap(), ron_id)
        .await;
    app.add_membership(&admin, child["id"].as_str().unwrap(), ron_id)
        .await;
    app.add_membership(
        &admin,
        child["id"].as_str().unwrap(),
        andy["id"].as_str().unwrap(),
    )
    .await;

    let exported = export_all(&app, true).await;
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{exported}");
    assert_eq!(lines[0]["external_ref"], "A1");
    assert_eq!(lines[1]["external_ref"], child["id"], "the id stands in");
    assert_eq!(lines[1]["parent_external_ref"], "A1");
    let ron_line = lines
        .iter()
        .find(|line| line["email"] == "ron@example.com")
        .unwrap();
    assert!(
        ron_line["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );
    let without = export_all(&app, false).await;
    assert!(!without.contains("password_hash"), "{without}");
    assert!(without.contains("\"username\":\"ron@example.com\""));

    let (other, database) = empty_store_like(&app).await;
    let other_admin = other.admin_token().await;
    let other_profile = other
        .create_password_profile(
            &other_admin,
            json!({"type": "password_profile", "name": "Storefront"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut refusals = Vec::new();
    let options = ImportOptions {
        password_profile: Some("Storefront".to_owned()),
        ..ImportOptions::default()
    };
    let report = import(
        other.state.store.as_ref(),
        other.clock.as_ref(),
        exported.as_bytes(),
        FileFormat::JsonLines,
        &options,
        &mut refusals,
        &mut Progress::Silent,
    )
    .await
    .unwrap();
    assert_eq!(String::from_utf8(refusals).unwrap(), "");
    assert_eq!(report.created, 7);
    let again = export_all(&other, true).await;
    // Only the profile id differs: the other store's profile is another row. Records made in
    // the same millisecond (the tests' clock stands still) follow their ids, which differ.
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&again),
        sorted(&exported.replace(&profile_id, &other_profile))
    );
    let shopper = other.implicit_token().await;
    other
        .login(
            &shopper,
            &other_profile,
            "ron@example.com",
            "bacon and eggs",
        )
        .await
        .expect(201);
    database.drop_schema().await;
}

async fn the_commands_read_and_write_files(app: TestApp) {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    let admin = app.admin_token().await;
    profile(&app, &admin).await;
    let (_, hash) = bcrypt_case();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("members.jsonl");
    std::fs::write(&file, sample_file(&hash)).unwrap();
    let accountd = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accountd"))
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", &app.database_url)
            .env("ACCOUNTD_LOG_FORMAT", "text")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let imported = accountd(&["import", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&imported.stderr);
    assert_eq!(imported.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(SAMPLE_REFUSALS), "{stderr}");
    assert!(
        stderr.contains("import: 11 lines: 7 created, 0 unchanged, 4 rejected"),
        "{stderr}"
    );
    assert!(imported.stdout.is_empty());

    let out = dir.path().join("export.jsonl");
    let exported = accountd(&["export", "--include-password-hashes", out.to_str().unwrap()]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains(&hash));
    // An existing file is never overwritten.
    let refused = accountd(&["export", out.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written);

    let to_stdout = accountd(&["export"]);
    assert!(to_stdout.status.success());
    let text = String::from_utf8(to_stdout.stdout).unwrap();
    assert_eq!(text.lines().count(), written.lines().count());
    assert!(!text.contains("password_hash"));
    assert!(
        text.lines()
            .all(|line| serde_json::from_str::<Value>(line).is_ok()),
        "only JSON Lines on standard output"
    );

    // The export imports back as "unchanged" everywhere.
    let back = accountd(&["import", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&back.stderr);
    assert!(back.status.success(), "{stderr}");
    assert!(
        stderr.contains("0 created, 7 unchanged, 0 rejected"),
        "{stderr}"
    );
}

/// One batch holding records that depend on each other and on what the store holds: each is
/// decided as if written alone, in file order.
async fn a_batch_decides_each_record_against_the_store_and_the_records_before_it(app: TestApp) {
    use accountd::store::{ImportKind, ImportLogin, ImportOutcome, ImportRecord, ImportWrite};

    let admin = app.admin_token().await;
    let profile_id: uuid::Uuid = profile(&app, &admin).await.parse().unwrap();
    let receiver = crate::receiver::Receiver::start().await;
    app.create_integration(&admin, &receiver.url, OBSERVES)
        .await;
    for _ in 0..2 {
        app.create_account_with(
            &admin,
            json!({"type": "account", "name": "Twin", "external_ref": "TWIN"}),
        )
        .await;
    }
    app.create_account_with(
        &admin,
        json!({"type": "account", "name": "Registered", "registration_id": "REG-1"}),
    )
    .await;
    app.put("/v2/settings/account-membership")
        .bearer(&admin)
        .json(json!({"data": {"type": "account_membership_setting", "membership_limit": 1}}))
        .send()
        .await
        .expect(200);

    let account = |external_ref: &str, registration_id: Option<&str>| ImportKind::Account {
        external_ref: external_ref.into(),
        name: external_ref.into(),
        legal_name: None,
        registration_id: registration_id.map(Into::into),
        parent_external_ref: None,
    };
    let member = |email: &str, username: Option<&str>, profile: uuid::Uuid| ImportKind::Member {
        email: email.into(),
        name: email.into(),
        login: username.map(|username| ImportLogin {
            password_profile_id: profile,
            username: username.into(),
            password_hash: accountd::store::NO_PASSWORD.into(),
        }),
    };
    let membership = |external_ref: &str, email: &str| ImportKind::Membership {
        account_external_ref: external_ref.into(),
        member_email: email.into(),
    };
    let kinds = vec![
        account("NEW", Some("REG-2")),
        account("NEWER", Some("REG-2")),
        account("OTHER", Some("REG-1")),
        account("TWIN", None),
        member("ann@example.com", Some("ann"), profile_id),
        member("ANN@example.com", None, profile_id),
        member("bob@example.com", Some("ann"), profile_id),
        member("cy@example.com", Some("cy"), uuid::Uuid::new_v4()),
        membership("NEW", "ann@example.com"),
        membership("NEW", "Ann@Example.com"),
        membership("TWIN", "ann@example.com"),
        membership("NEW", "nobody@example.com"),
        membership("NEWER", "ann@example.com"),
        member("dee@example.com", None, profile_id),
        membership("OTHER", "dee@example.com"),
        membership("NEW", "dee@example.com"),
    ];
    let records: Vec<ImportRecord> = kinds
        .into_iter()
        .enumerate()
        .map(|(index, kind)| ImportRecord {
            line: index as u64 + 1,
            kind,
        })
        .collect();
    let outcomes = app
        .state
        .store
        .import_batch(
            &records,
            ImportWrite {
                dry_run: false,
                quiet_events: false,
            },
            app.clock_now(),
        )
        .await
        .unwrap();
    let rejected = |reason: &str| ImportOutcome::Rejected(reason.into());
    assert_eq!(
        outcomes,
        [
            ImportOutcome::Created,
            rejected("account with the given registration id already exists"),
            rejected("account with the given registration id already exists"),
            rejected("external_ref matches several accounts"),
            ImportOutcome::Created,
            // The same email, folded: the member created two lines up.
            ImportOutcome::Unchanged,
            // Its username is taken in the profile by the line before: matched by login.
            ImportOutcome::Unchanged,
            rejected("password profile not found"),
            ImportOutcome::Created,
            ImportOutcome::Unchanged,
            rejected("account_external_ref matches several accounts"),
            rejected("account member not found"),
            rejected("account not found"),
            ImportOutcome::Created,
            rejected("account not found"),
            ImportOutcome::Created,
        ]
    );
    // What was written is what the admin API shows, with its events and audit rows.
    let members = app
        .get("/v2/account-members?filter=eq(email,ann@example.com)")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(members["meta"]["results"]["total"], 1);
    let ann = members["data"][0]["id"].as_str().unwrap().to_owned();
    let of_ann = app
        .get(&format!("/v2/account-members/{ann}/account-memberships"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(of_ann["meta"]["results"]["total"], 1);
    assert_eq!(
        app.audit_events(&admin, "membership.created").await.len(),
        2
    );
    let announced = app
        .outbox_events()
        .await
        .into_iter()
        .filter(|(_, key)| key == "account-membership.event.created")
        .count();
    assert_eq!(announced, 2);

    // A member at the membership limit (1) gets no second membership.
    let second = [
        ImportRecord {
            line: 1,
            kind: account("SECOND", None),
        },
        ImportRecord {
            line: 2,
            kind: membership("SECOND", "dee@example.com"),
        },
    ];
    let outcomes = app
        .state
        .store
        .import_batch(
            &second,
            ImportWrite {
                dry_run: false,
                quiet_events: true,
            },
            app.clock_now(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            ImportOutcome::Created,
            rejected("the account member has reached the membership limit"),
        ]
    );
}

/// Enough records that a batch writes each table at once (as arrays on PostgreSQL), with the
/// characters that format escapes, empty optional fields and text beyond ASCII.
async fn a_batch_of_many_rows_keeps_every_character(app: TestApp) {
    let admin = app.admin_token().await;
    profile(&app, &admin).await;
    let awkward = [
        "tab\there",
        "line\nbreak",
        "carriage\rreturn",
        "back\\slash",
        "\\N",
        "\\.",
        "é 漢字 🙂",
        "quote\"s'",
    ];
    let names: Vec<String> = (0..48)
        .map(|index| format!("{index} {}", awkward[index % awkward.len()]))
        .collect();
    let mut lines = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let legal_name = (index % 2 == 1).then(|| format!("{name} Ltd"));
        lines.push(
            json!({"type": "account", "external_ref": format!("R{index}"), "name": name,
                          "legal_name": legal_name}),
        );
        lines.push(
            json!({"type": "account_member", "email": format!("m{index}@example.com"),
                          "name": name, "username": format!("m{index}")}),
        );
        lines.push(
            json!({"type": "account_membership", "account_external_ref": format!("R{index}"),
                          "member_email": format!("m{index}@example.com")}),
        );
    }
    let file: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let (report, refusals) = import_json_lines(&app, &file).await;
    assert_eq!(refusals, "");
    assert_eq!(report.created, 144);

    let accounts = app
        .get("/v2/accounts?page[limit]=100")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let mut seen: Vec<(String, Option<String>)> = accounts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| {
            (
                account["name"].as_str().unwrap().to_owned(),
                account["legal_name"].as_str().map(str::to_owned),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, Option<String>)> = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            (
                name.clone(),
                (index % 2 == 1).then(|| format!("{name} Ltd")),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(seen, expected);

    let members = app
        .get("/v2/account-members?page[limit]=100")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    let mut member_names: Vec<String> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["name"].as_str().unwrap().to_owned())
        .collect();
    member_names.sort();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    assert_eq!(member_names, sorted_names);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM account_memberships").await,
        48
    );
}

/// Member lines go to two transactions at once, split by email: lines repeating an
/// email (in another case) are still matched, and a username two emails claim goes to one.
async fn member_lines_written_two_batches_at_once_match_as_one_at_a_time(app: TestApp) {
    let admin = app.admin_token().await;
    profile(&app, &admin).await;
    let member = |email: String, username: String| {
        json!({"type": "account_member", "email": email, "name": "M", "username": username})
            .to_string()
    };
    let mut lines = Vec::new();
    for index in 0..898 {
        lines.push(member(format!("m{index}@example.com"), format!("m{index}")));
    }
    lines.push(member("first@example.com".into(), "shared".into()));
    lines.push(member("second@example.com".into(), "shared".into()));
    for index in 0..100 {
        lines.push(member(format!("M{index}@Example.COM"), format!("m{index}")));
    }
    for index in 898..998 {
        lines.push(member(format!("m{index}@example.com"), format!("m{index}")));
    }
    let file = lines.join("\n") + "\n";
    let (report, refusals) = import_json_lines(&app, &file).await;
    assert_eq!(refusals, "");
    assert_eq!(
        report,
        ImportReport {
            lines: 1100,
            created: 999,
            unchanged: 101,
            rejected: 0
        }
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 999);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM password_profile_infos WHERE username_lower = 'shared'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM (SELECT email_lower FROM users GROUP BY email_lower \
             HAVING COUNT(*) > 1) AS repeated"
        )
        .await,
        0
    );
    // Again: everything matches.
    let (again, _) = import_json_lines(&app, &file).await;
    assert_eq!((again.created, again.unchanged), (0, 1100));
}
