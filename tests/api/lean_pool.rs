//! The lean connection pool of the hot statements (PostgreSQL): a connection goes back for reuse
//! only when its statement finished; a lease dropped any other way takes its connection with it.
//! SQLite serves the same statements from its reader pool and reports no lean pool.

use std::str::FromStr;
use std::time::Duration;

use accountd::store::lean_pool::LeanPool;
use sqlx::postgres::PgConnectOptions;

use crate::helpers::TestApp;
use crate::tests;

tests![
    a_connection_is_reused_only_after_its_statement_finished,
    a_full_lean_pool_times_out_instead_of_opening_more,
    a_connection_closed_while_idle_is_replaced_not_handed_out,
];

/// `None` on SQLite, after checking that the store reports no lean pool there.
fn lean_pool(app: &TestApp, max: u32, acquire_timeout: Duration) -> Option<LeanPool> {
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
    Some(LeanPool::new(options, max, acquire_timeout))
}

async fn backend_pid(connection: &mut sqlx::PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(connection)
        .await
        .expect("pg_backend_pid")
}

async fn a_connection_is_reused_only_after_its_statement_finished(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_secs(5)) else {
        return;
    };

    let mut lease = pool.lease().await.expect("a lease");
    let first = backend_pid(&mut lease).await;
    lease.release();
    assert_eq!(pool.stats(), (1, 1, 2), "released: open, idle, max");

    let mut lease = pool.lease().await.expect("a lease");
    assert_eq!(
        backend_pid(&mut lease).await,
        first,
        "the released connection is reused"
    );
    drop(lease);
    assert_eq!(pool.stats(), (0, 0, 2), "dropped without release: closed");

    // A statement cut off half-way, as when a client goes away mid-request.
    let mut lease = pool.lease().await.expect("a lease");
    let second = backend_pid(&mut lease).await;
    assert_ne!(second, first, "a fresh connection after the dropped one");
    let cut_off = tokio::time::timeout(
        Duration::from_millis(100),
        sqlx::query("SELECT pg_sleep(5)").execute(&mut *lease),
    )
    .await;
    assert!(cut_off.is_err(), "the sleep should still be running");
    drop(lease);
    assert_eq!(
        pool.stats(),
        (0, 0, 2),
        "a cut-off statement's connection is closed"
    );

    let mut lease = pool.lease().await.expect("a lease after the cut-off one");
    let third = backend_pid(&mut lease).await;
    assert_ne!(third, second);
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1")
        .fetch_one(&mut *lease)
        .await
        .expect("a statement on the fresh connection");
    assert_eq!(answer, 42);
    lease.release();
    assert_eq!(pool.stats(), (1, 1, 2));
}

async fn a_full_lean_pool_times_out_instead_of_opening_more(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_millis(200)) else {
        return;
    };
    let first = pool.lease().await.expect("first lease");
    let second = pool.lease().await.expect("second lease");
    assert_eq!(pool.stats(), (2, 0, 2));
    let third = pool.lease().await;
    assert!(
        matches!(third, Err(sqlx::Error::PoolTimedOut)),
        "a third lease should time out, got {:?}",
        third.as_ref().map(|_| ())
    );
    first.release();
    let third = pool.lease().await.expect("a lease once one went back");
    drop((second, third));
    assert_eq!(pool.stats(), (0, 0, 2));
}

async fn a_connection_closed_while_idle_is_replaced_not_handed_out(app: TestApp) {
    let Some(pool) = lean_pool(&app, 2, Duration::from_secs(5)) else {
        return;
    };
    // Every idle connection is old enough to be checked.
    let pool = pool.check_idle_after(Duration::ZERO);
    let mut lease = pool.lease().await.expect("a lease");
    let doomed = backend_pid(&mut lease).await;
    lease.release();

    // The server ends that session while it sits idle (as a restart or a proxy timeout would).
    let options = PgConnectOptions::from_str(&app.database_url).expect("the test database URL");
    let mut admin = sqlx::ConnectOptions::connect(&options)
        .await
        .expect("a second connection");
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(doomed)
        .fetch_one(&mut admin)
        .await
        .expect("pg_terminate_backend");
    assert!(terminated);
    for _ in 0..200 {
        let alive: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(doomed)
            .fetch_one(&mut admin)
            .await
            .expect("pg_stat_activity");
        if alive == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut lease = pool.lease().await.expect("a lease after the idle one died");
    let fresh = backend_pid(&mut lease).await;
    assert_ne!(fresh, doomed, "the dead connection was replaced");
    lease.release();
    assert_eq!(pool.stats(), (1, 1, 2), "the dead one is no longer counted");
}
