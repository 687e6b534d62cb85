//! Database faults the suite can cause without stopping the database: every connection of the
//! server killed from the server side (what a restart or a proxy does to them), and a table
//! locked past the database deadline. Reads survive the first without a single failure; the
//! second answers `503` with `Retry-After`, never `500`, and recovers at once. Restarts and stalls
//! of a real server are in tests/e2e/faults.

use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::helpers::{LoggedIn, TestApp, spawn_app, test_config};
use crate::tests;

tests![
    reads_and_logins_survive_every_connection_being_killed,
    a_locked_database_answers_503_with_retry_after_within_the_deadline,
];

/// Ends every session this test's server holds (they carry the test's schema as their
/// application name), as a database restart would.
async fn kill_sessions(app: &TestApp) -> i64 {
    let mut admin = sqlx::PgConnection::connect(&app.database_url)
        .await
        .expect("a connection of the test's own");
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = current_setting('application_name') \
         AND pid <> pg_backend_pid()) AS killed",
    )
    .fetch_one(&mut admin)
    .await
    .expect("terminate the server's sessions")
}

async fn reads_and_logins_survive_every_connection_being_killed(app: TestApp) {
    if app.state.store.backend() != "postgres" {
        return;
    }
    let LoggedIn {
        admin,
        implicit,
        shopper,
        token,
        ..
    } = app.logged_in(&["A"]).await;
    let account_id = &shopper.accounts[0];
    for round in 0..3 {
        let killed = kill_sessions(&app).await;
        assert!(killed > 0, "round {round}: the server had sessions to lose");
        app.get(&format!("/v2/accounts/{account_id}"))
            .bearer(&implicit)
            .account_token(&token)
            .send()
            .await
            .expect(200);
        kill_sessions(&app).await;
        app.log_in(&implicit, &shopper).await.expect(201);
        kill_sessions(&app).await;
        app.get("/v2/accounts")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
    }
}

async fn a_locked_database_answers_503_with_retry_after_within_the_deadline(app: TestApp) {
    let mut config = test_config(&app.database_url);
    config.db_timeout = Duration::from_secs(1);
    let bounded = spawn_app(config).await;
    let admin = bounded.admin_token().await;
    bounded.create_account(&admin, "Before").await;
    // Another session takes the lock every write needs and holds it.
    let postgres = bounded.state.store.backend() == "postgres";
    let holder = LockHolder::take(&bounded.database_url, postgres).await;
    let started = Instant::now();
    let refused = bounded
        .post("/v2/accounts")
        .bearer(&admin)
        .json(serde_json::json!({"data": {"type": "account", "name": "During"}}))
        .send()
        .await;
    let waited = started.elapsed();
    refused.expect_error(503, "the database is unavailable, try again later");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        waited < Duration::from_secs(5),
        "answered after {waited:?}, the deadline is one second"
    );
    holder.release().await;
    bounded.create_account(&admin, "After").await;
    let accounts = bounded
        .get("/v2/accounts")
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        accounts["meta"]["results"]["total"], 2,
        "nothing half-written"
    );
}

/// A session of the test's own holding the lock writes need: SQLite's write lock, or an
/// exclusive lock on `accounts` in PostgreSQL.
enum LockHolder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl LockHolder {
    async fn take(url: &str, postgres: bool) -> Self {
        if postgres {
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
            sqlx::query("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
                .execute(&mut connection)
                .await
                .unwrap();
            Self::Postgres(connection)
        } else {
            let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut connection)
                .await
                .unwrap();
            Self::Sqlite(connection)
        }
    }

    async fn release(self) {
        match self {
            Self::Postgres(mut connection) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            Self::Sqlite(mut connection) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
        }
    }
}
