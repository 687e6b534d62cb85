//! `accountd import --from-api` (docs/moving-in.md#from-a-running-api): the test's server is
//! the source, a second server on a database of its own the destination. Pages are made tiny so
//! that a handful of records crosses the offset cap and the copy pages on by `created_at`.

use accountd::auth::secret::Secret;
use accountd::moving::from_api::{ApiReport, ApiSource, Paging, import_from_api};
use accountd::moving::import::{ImportOptions, ImportReport};
use accountd::moving::progress::Progress;
use serde_json::{Value, json};

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, TestApp, TestDatabase};
use crate::moving::{empty_store_like, profile};
use crate::tests;

tests![
    a_copy_from_a_running_api_brings_accounts_members_logins_and_memberships,
    records_sharing_one_instant_past_the_cap_are_reported_unreachable,
    the_command_copies_from_the_api_and_refuses_a_wrong_key,
];

/// Two records a page, offsets up to 2: a window holds four records.
const TINY: Paging = Paging {
    limit: 2,
    max_offset: 2,
};

fn source_of(app: &TestApp) -> ApiSource {
    ApiSource {
        url: app.address.clone(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
    }
}

async fn copy(source: &TestApp, destination: &TestApp, paging: Paging) -> (ApiReport, String) {
    let mut refusals = Vec::new();
    let report = import_from_api(
        destination.state.store.as_ref(),
        destination.clock.as_ref(),
        &source_of(source),
        paging,
        &ImportOptions::default(),
        &mut refusals,
        &mut Progress::Silent,
    )
    .await
    .unwrap();
    (report, String::from_utf8(refusals).unwrap())
}

async fn list(app: &TestApp, admin: &str, path: &str) -> Vec<Value> {
    app.get(path).bearer(admin).send().await.expect(200)["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// A second server on a database of its own, with a password profile of the same name.
async fn destination_like(app: &TestApp) -> (TestApp, TestDatabase, String) {
    let (destination, database) = empty_store_like(app).await;
    let admin = destination.admin_token().await;
    profile(&destination, &admin).await;
    (destination, database, admin)
}

async fn a_copy_from_a_running_api_brings_accounts_members_logins_and_memberships(app: TestApp) {
    let admin = app.admin_token().await;
    let profile_id = profile(&app, &admin).await;
    let parent = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Acme", "legal_name": "Acme Ltd", "external_ref": "ACME"}),
        )
        .await;
    app.clock.advance_millis(5);
    // No external_ref: the copy names it by its id in the source.
    let child = app
        .create_account_with(
            &admin,
            json!({"type": "account", "name": "Acme East", "legal_name": "Acme East Ltd",
                   "parent_id": parent["id"]}),
        )
        .await;
    let mut members = Vec::new();
    for n in 0..7 {
        app.clock.advance_millis(5);
        let member = app
            .create_user(&admin, &format!("Member {n}"), &format!("m{n}@example.com"))
            .await;
        let id = member["id"].as_str().unwrap().to_owned();
        if n % 2 == 0 {
            app.create_password_info(
                &admin,
                &id,
                &profile_id,
                &format!("login-{n}"),
                "a password 1",
            )
            .await;
        }
        let account = if n < 4 { &parent } else { &child };
        app.add_membership(&admin, account["id"].as_str().unwrap(), &id)
            .await;
        members.push(id);
    }

    let (destination, database, destination_admin) = destination_like(&app).await;
    let (report, refusals) = copy(&app, &destination, TINY).await;
    assert_eq!(refusals, "");
    assert_eq!(
        report,
        ApiReport {
            import: ImportReport {
                lines: 16,
                created: 16,
                unchanged: 0,
                rejected: 0
            },
            accounts: 2,
            members: 7,
            memberships: 7,
            unreachable: 0,
        }
    );

    let accounts = list(&destination, &destination_admin, "/v2/accounts?sort=name").await;
    let names: Vec<&str> = accounts
        .iter()
        .map(|account| account["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme", "Acme East"]);
    assert_eq!(accounts[0]["external_ref"], "ACME");
    assert_eq!(accounts[0]["legal_name"], "Acme Ltd");
    assert_eq!(accounts[1]["external_ref"], child["id"]);
    assert_eq!(accounts[1]["parent_id"], accounts[0]["id"]);

    let copied = list(
        &destination,
        &destination_admin,
        "/v2/account-members?sort=email&page[limit]=100",
    )
    .await;
    let emails: Vec<&str> = copied
        .iter()
        .map(|member| member["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        (0..7)
            .map(|n| format!("m{n}@example.com"))
            .collect::<Vec<_>>()
    );
    // Usernames arrive in the profile of the same name, without a password.
    let login = destination
        .post("/v2/account-members/tokens")
        .bearer(&destination.implicit_token().await)
        .json(
            json!({"data": {"type": "account_management_authentication_token",
            "authentication_mechanism": "password", "password_profile_id":
            destination_profile(&destination, &destination_admin).await,
            "username": "login-2", "password": "a password 1"}}),
        )
        .send()
        .await;
    login.expect_error(400, "authentication failed");
    let logins = |email: &'static str| {
        let member = copied
            .iter()
            .find(|member| member["email"] == email)
            .unwrap();
        let path = destination.realm_path(&format!(
            "/user-authentication-info/{}/user-authentication-password-profile-info",
            member["id"].as_str().unwrap()
        ));
        let destination = &destination;
        let admin = &destination_admin;
        async move { list(destination, admin, &path).await }
    };
    let with_login = logins("m2@example.com").await;
    assert_eq!(with_login.len(), 1);
    assert_eq!(with_login[0]["username"], "login-2");
    assert!(logins("m1@example.com").await.is_empty());

    let east = &accounts[1]["id"];
    let east_members = list(
        &destination,
        &destination_admin,
        &format!(
            "/v2/accounts/{}/account-memberships",
            east.as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(east_members.len(), 3);

    // A second copy finds everything in place.
    let (again, _) = copy(&app, &destination, Paging::default()).await;
    assert_eq!(again.import.created, 0);
    assert_eq!(again.import.unchanged, 16);
    destination.shut_down().await;
    database.drop_schema().await;
}

async fn destination_profile(app: &TestApp, admin: &str) -> String {
    list(app, admin, &app.realm_path("/password-profiles")).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn records_sharing_one_instant_past_the_cap_are_reported_unreachable(app: TestApp) {
    let admin = app.admin_token().await;
    profile(&app, &admin).await;
    // The test clock stands still: all six members are created at one instant.
    for n in 0..6 {
        app.create_user(&admin, &format!("Member {n}"), &format!("s{n}@example.com"))
            .await;
    }
    let (destination, database, _) = destination_like(&app).await;
    let (report, _) = copy(&app, &destination, TINY).await;
    assert_eq!(report.members, 4);
    assert_eq!(report.unreachable, 2);
    assert_eq!(report.import.created, 4);
    destination.shut_down().await;
    database.drop_schema().await;
}

async fn the_command_copies_from_the_api_and_refuses_a_wrong_key(app: TestApp) {
    use std::process::Command;

    let admin = app.admin_token().await;
    profile(&app, &admin).await;
    let member = app.create_user(&admin, "Ron", "ron@example.com").await;
    let account = app.create_account(&admin, "Acme").await;
    app.add_membership(
        &admin,
        account["id"].as_str().unwrap(),
        member["id"].as_str().unwrap(),
    )
    .await;
    let (destination, database, destination_admin) = destination_like(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let accountd = |secret: &str| {
        Command::new(env!("CARGO_BIN_EXE_accountd"))
            .args([
                "import",
                "--from-api",
                &app.address,
                "--api-client-id",
                CLIENT_ID,
            ])
            .current_dir(dir.path())
            .env("DATABASE_URL", &destination.database_url)
            .env("ACCOUNTD_IMPORT_API_CLIENT_SECRET", secret)
            .env("ACCOUNTD_LOG_FORMAT", "text")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let refused = accountd("not-the-secret");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("answered 401"), "{stderr}");
    assert!(!stderr.contains("not-the-secret"), "{stderr}");

    let copied = accountd(CLIENT_SECRET);
    let stderr = String::from_utf8_lossy(&copied.stderr);
    assert!(copied.status.success(), "{stderr}");
    assert!(
        stderr.contains("import: 1 accounts, 1 members and 1 memberships listed by"),
        "{stderr}"
    );
    assert!(
        stderr.contains("import: 3 records: 3 created, 0 unchanged, 0 rejected"),
        "{stderr}"
    );
    assert!(stderr.contains("without passwords"), "{stderr}");
    assert!(!stderr.contains(CLIENT_SECRET), "{stderr}");
    let accounts = list(&destination, &destination_admin, "/v2/accounts").await;
    assert_eq!(accounts.len(), 1);
    destination.shut_down().await;
    database.drop_schema().await;
}
