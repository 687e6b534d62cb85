//! The lean connection pool of the hot statements (PostgreSQL): a connection goes back for reuse
//! only when its statement finished; a statement that failed, timed out or was cut off takes its
//! connection with it; every call has a deadline; a read whose connection died is run once more.
//! SQLite serves the same statements from its reader pool and reports no lean pool.

use std::str::FromStr;
use std::time::Duration;

use accountd::store::lean_pool::LeanPool;
use sqlx::postgres::PgConnectOptions;

use crate::helpers::TestApp;
use crate::tests;

tests![
    a_connection_is_reused_only_after_its_statement_finished,
    a_statement_past_the_deadline_fails_as_timed_out_and_closes_its_connection,
    a_full_lean_pool_waits_for_a_connection_within_the_deadline,
    a_connection_closed_while_idle_is_replaced_not_handed_out,
    a_read_whose_connection_died_is_retried_once_on_a_fresh_connection,
];

/// `None` on SQLite, after checking that the store reports no lean pool there.
fn lean_pool(app: &TestApp, max: u32, deadline: Duration) -> Option<LeanPool> {
    let names: Vec<_> = app
        .state
        .store
        .pool_stats()
        .iter()
        .map(|pool| pool.name)
        .collect();
    if app.state.store.backend() != "postgres" {
        assert!(!names.contains(&"lean"), "pools on SQLite: {names:?}");
        return None;
    }
    assert!(names.contains(&"lean"), "pools on PostgreSQL: {names:?}");
    let options = PgConnectOptions::from_str(&app.database_url).expect("the test database URL");
    Some(LeanPool::new(options, max, deadline))
}

async fn backend_pid(pool: &LeanPool) -> sqlx::Result<i32> {
    pool.run(&(), |connection, ()| {
        Box::pin(sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(connection))
    })
    .await
}

async fn sleep_on(pool: &LeanPool, seconds: f64) -> sqlx::Result<()> {
    pool.run(&seconds, |connection, seconds| {
        Box::pin(async move {
            sqlx::query("SELECT pg_sleep($1)")
                .bind(*seconds)
                .execute(connection)
                .await
                .map(drop)
        })
    })
    .await
}

async fn a_connection_is_reused_only_after_its_statement_finished(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_secs(5)) else {
        return;
    };
    let first = backend_pid(&pool).await.expect("a pid");
    assert_eq!(pool.stats(), (1, 1, 2), "finished: open, idle, max");
    assert_eq!(
        backend_pid(&pool).await.expect("a pid"),
        first,
        "the connection is reused"
    );

    // A statement that fails leaves its connection in an unknown state: closed.
    let failed = pool
        .run(&(), |connection, ()| {
            Box::pin(async move {
                sqlx::query("SELECT no_such_column FROM no_such_table")
                    .execute(connection)
                    .await
                    .map(drop)
            })
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(pool.stats(), (0, 0, 2), "failed: closed");

    // A statement cut off half-way, as when a client goes away mid-request.
    let cut_off = tokio::time::timeout(Duration::from_millis(100), sleep_on(&pool, 5.0)).await;
    assert!(cut_off.is_err(), "the sleep should still be running");
    assert_eq!(
        pool.stats(),
        (0, 0, 2),
        "a cut-off statement's connection is closed"
    );
    let fresh = backend_pid(&pool).await.expect("a pid");
    assert_ne!(fresh, first);
    assert_eq!(pool.stats(), (1, 1, 2));
}

async fn a_statement_past_the_deadline_fails_as_timed_out_and_closes_its_connection(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_millis(200)) else {
        return;
    };
    let started = std::time::Instant::now();
    let outcome = sleep_on(&pool, 5.0).await;
    assert!(
        matches!(outcome, Err(sqlx::Error::PoolTimedOut)),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(pool.stats(), (0, 0, 2));
    backend_pid(&pool).await.expect("the next call is served");
}

async fn a_full_lean_pool_waits_for_a_connection_within_the_deadline(app: TestApp) {
    let Some(pool) = lean_pool(&app, 1, Duration::from_secs(3)) else {
        return;
    };
    let pool = std::sync::Arc::new(pool);
    let holder = tokio::spawn({
        let pool = std::sync::Arc::clone(&pool);
        async move { sleep_on(&pool, 0.3).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.stats(), (1, 0, 1), "the one connection is in use");
    // Waits for the one connection instead of opening a second.
    backend_pid(&pool)
        .await
        .expect("served once the first is done");
    holder.await.unwrap().expect("the sleep");
    assert_eq!(pool.stats(), (1, 1, 1));
}

async fn a_connection_closed_while_idle_is_replaced_not_handed_out(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_secs(5)) else {
        return;
    };
    // Every idle connection is old enough to be checked.
    let pool = pool.check_idle_after(Duration::ZERO);
    let doomed = backend_pid(&pool).await.expect("a pid");
    terminate(&app, doomed).await;
    let fresh = backend_pid(&pool)
        .await
        .expect("a pid after the idle one died");
    assert_ne!(fresh, doomed, "the dead connection was replaced");
    assert_eq!(pool.stats(), (1, 1, 2), "the dead one is no longer counted");
    assert_eq!(pool.retries(), 0, "found by the ping, not by a failed read");
}

async fn a_read_whose_connection_died_is_retried_once_on_a_fresh_connection(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_secs(5)) else {
        return;
    };
    // Recently used connections are trusted without a ping, so the dead one is handed out.
    let doomed = backend_pid(&pool).await.expect("a pid");
    terminate(&app, doomed).await;
    let fresh = backend_pid(&pool)
        .await
        .expect("the read succeeds on its second try");
    assert_ne!(fresh, doomed);
    assert_eq!(pool.retries(), 1);
    assert_eq!(pool.stats(), (1, 1, 2));
}

/// Ends a session from the server side, as a restart or a proxy timeout would, and waits until
/// it is gone.
async fn terminate(app: &TestApp, pid: i32) {
    let options = PgConnectOptions::from_str(&app.database_url).expect("the test database URL");
    let mut admin = sqlx::ConnectOptions::connect(&options)
        .await
        .expect("a second connection");
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .expect("pg_terminate_backend");
    assert!(terminated);
    for _ in 0..200 {
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .expect("pg_stat_activity");
        if alive == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("session {pid} did not end");
}
