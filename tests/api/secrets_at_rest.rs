//! Secrets at rest (`ACCOUNTD_MASTER_KEY`): the JWT keys, OIDC client secrets and integration
//! secret keys are encrypted in the database, each bound to its row; a start that cannot open
//! them stops; `accountd keys rewrap` moves them to a new key. The raw columns are read with sqlx
//! on each backend, as a database reader or a backup would see them.

use accountd::Application;
use accountd::auth::sealing::MasterKey;
use accountd::config::{Config, JwtKeySource};
use accountd::store::StoreError;
use accountd::time::ManualClock;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, WEBHOOK_SECRET, account_tokens, shopper_in, spawn_app, test_config};
use crate::receiver::Receiver;
use crate::tests;

tests![
    with_a_master_key_the_raw_rows_hold_no_secret,
    a_sealed_secret_moved_to_another_row_does_not_open,
    sealed_secrets_without_their_master_key_stop_the_start,
    rewrap_moves_every_secret_to_the_new_master_key,
];

const OIDC_CLIENT_SECRET: &str = "an-oidc-client-secret-to-hide";

fn key_text(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32])
}

fn key_id(byte: u8) -> String {
    MasterKey::parse(&key_text(byte)).unwrap().id().to_owned()
}

/// The test configuration with persisted JWT keys (so the table holds one) and master keys.
fn sealed_config(database_url: &str, current: Option<u8>, previous: Option<u8>) -> Config {
    let mut config = test_config(database_url);
    config.jwt_keys = JwtKeySource::Persisted;
    config.master_key = current.map(|byte| MasterKey::parse(&key_text(byte)).unwrap());
    config.master_key_previous = previous.map(|byte| MasterKey::parse(&key_text(byte)).unwrap());
    config
}

async fn start(config: Config) -> Result<Application, String> {
    Application::build_with_clock(config, std::sync::Arc::new(ManualClock::starting_now()))
        .await
        .map_err(|error| error.to_string())
}

/// One raw secret column of one row: its bytes and the key id beside it.
#[derive(Debug, Clone)]
struct RawSecret {
    place: String,
    bytes: Vec<u8>,
    sealed_with: Option<String>,
}

/// Every secret as the database holds it, read without accountd.
async fn raw_secrets(database_url: &str) -> Vec<RawSecret> {
    use sqlx::Connection;
    let jwt = "SELECT kid, secret, secret_sealed_with FROM jwt_keys";
    let integrations =
        "SELECT name, secret_key, secret_key_sealed_with FROM integrations ORDER BY name";
    let profiles =
        "SELECT name, client_secret, client_secret_sealed_with FROM oidc_profiles ORDER BY name";
    let mut secrets = Vec::new();
    macro_rules! read_all {
        ($connection:expr) => {{
            let mut connection = $connection;
            for (kid, bytes, sealed_with) in
                sqlx::query_as::<_, (String, Vec<u8>, Option<String>)>(jwt)
                    .fetch_all(&mut connection)
                    .await
                    .unwrap()
            {
                secrets.push(RawSecret {
                    place: format!("jwt_keys {kid}"),
                    bytes,
                    sealed_with,
                });
            }
            for (table, sql) in [("integrations", integrations), ("oidc_profiles", profiles)] {
                for (name, text, sealed_with) in
                    sqlx::query_as::<_, (String, String, Option<String>)>(sql)
                        .fetch_all(&mut connection)
                        .await
                        .unwrap()
                {
                    secrets.push(RawSecret {
                        place: format!("{table} {name}"),
                        bytes: text.into_bytes(),
                        sealed_with,
                    });
                }
            }
        }};
    }
    if database_url.starts_with("postgres") {
        read_all!(sqlx::PgConnection::connect(database_url).await.unwrap());
    } else {
        read_all!(sqlx::SqliteConnection::connect(database_url).await.unwrap());
    }
    secrets
}

/// Runs one statement on the database, without accountd (to tamper with a row).
async fn execute(database_url: &str, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if database_url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query(sql).execute(&mut connection).await.unwrap();
    } else {
        let mut connection = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query(sql).execute(&mut connection).await.unwrap();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn create_integration(app: &TestApp, admin: &str, name: &str, url: &str) -> String {
    app.post("/v2/integrations")
        .bearer(admin)
        .json(json!({"data": {
            "type": "integration", "name": name, "observes": ["account.event.created"],
            "configuration": {"url": url, "secret_key": WEBHOOK_SECRET},
        }}))
        .send()
        .await
        .expect(201)["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An OIDC profile for a provider on loopback (the discovery document comes from a test
/// provider; only the stored client secret matters here).
async fn create_oidc_profile(app: &TestApp, admin: &str) -> Uuid {
    let idp = crate::idp::TestIdp::start(app.clock.clone()).await;
    let created = app
        .post(&app.realm_path("/oidc-profiles"))
        .bearer(admin)
        .json(json!({"data": {
            "type": "oidc-profile", "name": "Sealed SSO", "discovery_url": idp.discovery_url(),
            "client_id": "client", "client_secret": OIDC_CLIENT_SECRET,
        }}))
        .send()
        .await
        .expect(201);
    created["data"]["id"].as_str().unwrap().parse().unwrap()
}

async fn with_a_master_key_the_raw_rows_hold_no_secret(app: TestApp) {
    app.shut_down().await;
    let sealed = spawn_app(sealed_config(&app.database_url, Some(1), None)).await;
    let admin = sealed.admin_token().await;
    let receiver = Receiver::start().await;
    let integration = create_integration(&sealed, &admin, "Sealed hook", &receiver.url).await;
    let profile = create_oidc_profile(&sealed, &admin).await;
    let jwt_keys = sealed.state.store.jwt_keys().await.unwrap();
    assert_eq!(jwt_keys.len(), 1);
    let jwt_secret = jwt_keys[0].secret.clone();

    let raw = raw_secrets(&sealed.database_url).await;
    assert_eq!(raw.len(), 3, "{raw:?}");
    for (secret, plaintext) in raw.iter().zip([
        jwt_secret.as_slice(),
        WEBHOOK_SECRET.as_bytes(),
        OIDC_CLIENT_SECRET.as_bytes(),
    ]) {
        assert_eq!(secret.sealed_with, Some(key_id(1)), "{}", secret.place);
        assert!(!contains(&secret.bytes, plaintext), "{}", secret.place);
        // Not an encoding of it either: the sealed value is longer (nonce and tag) and random.
        assert!(secret.bytes.len() > plaintext.len(), "{}", secret.place);
    }

    // Through accountd everything reads as before: the admin sees the webhook key, deliveries
    // are signed with it, the OIDC client secret and the JWT key open, logins work.
    let read = sealed
        .get(&format!("/v2/integrations/{integration}"))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"]["configuration"]["secret_key"], WEBHOOK_SECRET);
    sealed.create_account(&admin, "Signed").await;
    let delivery = receiver.wait_for(1).await.remove(0);
    assert!(delivery.signature_is_valid(WEBHOOK_SECRET));
    assert!(delivery.standard_signature_is_valid(WEBHOOK_SECRET));
    let stored = sealed.state.store.oidc_profile(profile).await.unwrap();
    assert_eq!(stored.client_secret.expose(), OIDC_CLIENT_SECRET);
    let shopper = shopper_in(&sealed, &admin, &["Sealed account"]).await;
    let implicit = sealed.implicit_token().await;
    assert_eq!(account_tokens(&sealed, &implicit, &shopper).await.len(), 1);
}

async fn a_sealed_secret_moved_to_another_row_does_not_open(app: TestApp) {
    app.shut_down().await;
    let sealed = spawn_app(sealed_config(&app.database_url, Some(1), None)).await;
    let admin = sealed.admin_token().await;
    let first = create_integration(&sealed, &admin, "First", "https://127.0.0.1:9/a").await;
    let second = create_integration(&sealed, &admin, "Second", "https://127.0.0.1:9/b").await;
    // Copy the first row's sealed key over the second's, as someone with database access might.
    execute(
        &sealed.database_url,
        "UPDATE integrations SET secret_key = (SELECT secret_key FROM integrations \
         WHERE name = 'First') WHERE name = 'Second'",
    )
    .await;
    let first_id: Uuid = first.parse().unwrap();
    let second_id: Uuid = second.parse().unwrap();
    assert_eq!(
        sealed
            .state
            .store
            .integration(first_id)
            .await
            .unwrap()
            .secret_key,
        WEBHOOK_SECRET
    );
    let moved = sealed.state.store.integration(second_id).await;
    assert!(
        matches!(moved, Err(StoreError::Sealed(_))),
        "{:?}",
        moved.map(|integration| integration.name)
    );
}

async fn sealed_secrets_without_their_master_key_stop_the_start(app: TestApp) {
    app.shut_down().await;
    let sealed = spawn_app(sealed_config(&app.database_url, Some(1), None)).await;
    sealed.shut_down().await;

    let without = start(sealed_config(&app.database_url, None, None)).await;
    let message = without.err().expect("the start stops");
    assert!(
        message.contains(&key_id(1)) && message.contains("ACCOUNTD_MASTER_KEY is not set"),
        "{message}"
    );
    let other = start(sealed_config(&app.database_url, Some(2), None)).await;
    let message = other.err().expect("the start stops");
    assert!(
        message.contains(&key_id(1)) && message.contains(&key_id(2)),
        "{message}"
    );
    // The right key, or the old one as the previous key during a change, starts.
    assert!(
        start(sealed_config(&app.database_url, Some(1), None))
            .await
            .is_ok()
    );
    assert!(
        start(sealed_config(&app.database_url, Some(2), Some(1)))
            .await
            .is_ok()
    );
}

/// `accountd keys rewrap` as an operator runs it, on this test's database.
fn rewrap(database_url: &str, current: Option<u8>, previous: Option<u8>) -> (bool, String) {
    let folder = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_accountd"));
    command
        .args(["keys", "rewrap"])
        .current_dir(folder.path())
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn");
    if let Some(byte) = current {
        command.env("ACCOUNTD_MASTER_KEY", key_text(byte));
    }
    if let Some(byte) = previous {
        command.env("ACCOUNTD_MASTER_KEY_PREVIOUS", key_text(byte));
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn rewrap_moves_every_secret_to_the_new_master_key(app: TestApp) {
    app.shut_down().await;
    let url = app.database_url.clone();
    // Before any master key: a JWT key and one integration in plain text.
    let plain = spawn_app(sealed_config(&url, None, None)).await;
    let admin = plain.admin_token().await;
    create_integration(&plain, &admin, "Plain", "https://127.0.0.1:9/p").await;
    let shopper = shopper_in(&plain, &admin, &["Rewrapped"]).await;
    let implicit = plain.implicit_token().await;
    let (_, token) = account_tokens(&plain, &implicit, &shopper).await.remove(0);
    plain.shut_down().await;
    assert!(
        raw_secrets(&url)
            .await
            .iter()
            .all(|secret| secret.sealed_with.is_none())
    );

    // Key 1 from now on: new secrets are sealed, the old ones stay readable in plain text.
    let first = spawn_app(sealed_config(&url, Some(1), None)).await;
    let admin = first.admin_token().await;
    create_integration(&first, &admin, "Sealed", "https://127.0.0.1:9/s").await;
    create_oidc_profile(&first, &admin).await;
    first.shut_down().await;
    let before = raw_secrets(&url).await;
    assert_eq!(
        before
            .iter()
            .filter(|secret| secret.sealed_with.is_none())
            .count(),
        2,
        "{before:?}"
    );

    // Without a key there is nothing to encrypt under.
    let (succeeded, output) = rewrap(&url, None, Some(1));
    assert!(!succeeded, "{output}");
    assert!(output.contains("ACCOUNTD_MASTER_KEY"), "{output}");
    // Key 2 without the previous key cannot open what key 1 sealed: nothing changes.
    let (succeeded, output) = rewrap(&url, Some(2), None);
    assert!(!succeeded, "{output}");
    assert!(output.contains(&key_id(1)), "{output}");
    let unchanged = raw_secrets(&url).await;
    assert!(
        unchanged
            .iter()
            .zip(&before)
            .all(|(now, then)| now.bytes == then.bytes && now.sealed_with == then.sealed_with)
    );

    // Key 2 with key 1 as the previous one: two re-encrypted, two encrypted from plain text.
    let (succeeded, output) = rewrap(&url, Some(2), Some(1));
    assert!(succeeded, "{output}");
    assert!(
        output.contains(
            "2 re-encrypted from the previous key, 2 encrypted from plain text, 0 already"
        ),
        "{output}"
    );
    let after = raw_secrets(&url).await;
    assert_eq!(after.len(), 4);
    for secret in &after {
        assert_eq!(secret.sealed_with, Some(key_id(2)), "{}", secret.place);
        assert!(!contains(&secret.bytes, WEBHOOK_SECRET.as_bytes()));
        assert!(!contains(&secret.bytes, OIDC_CLIENT_SECRET.as_bytes()));
    }
    // Again: nothing left to do.
    let (succeeded, output) = rewrap(&url, Some(2), None);
    assert!(succeeded, "{output}");
    assert!(output.contains("0 re-encrypted"), "{output}");
    assert!(output.contains("4 already under it"), "{output}");

    // Key 2 alone serves everything: the same secrets, the same JWT key (a token from before the
    // rewrap still verifies); key 1 alone no longer starts.
    assert!(start(sealed_config(&url, Some(1), None)).await.is_err());
    let second = spawn_app(sealed_config(&url, Some(2), None)).await;
    let admin = second.admin_token().await;
    let list = second
        .get("/v2/integrations")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    for integration in list["data"].as_array().unwrap() {
        assert_eq!(integration["configuration"]["secret_key"], WEBHOOK_SECRET);
    }
    let implicit = second.implicit_token().await;
    second
        .get(&format!("/v2/accounts/{}", shopper.accounts[0]))
        .bearer(&implicit)
        .account_token(&token)
        .send()
        .await
        .expect(200);
    let profiles = second
        .state
        .store
        .list_oidc_profiles(&list_all())
        .await
        .unwrap();
    assert_eq!(profiles.items[0].client_secret.expose(), OIDC_CLIENT_SECRET);
}

fn list_all() -> accountd::store::ListQuery {
    accountd::store::ListQuery {
        filter: Vec::new(),
        sort: None,
        limit: 100,
        offset: 0,
    }
}
