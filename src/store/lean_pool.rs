//! A small PostgreSQL connection pool for the statements every storefront request runs (the
//! token-checked read, the switch, the login lookups).
//!
//! sqlx's pool pings each connection as it comes back (a `Sync` round trip, and a spawned task,
//! per statement): on a token-checked read that was half of the round trips to the database and
//! a third of its work there. The ping exists to catch a connection left mid-statement by a
//! cancelled future. This pool makes that case impossible to reuse instead: a lease goes back
//! only through [`LeanLease::release`], called after the statement finished; a lease dropped
//! any other way (an error, a cancelled request) closes its connection. A connection that sat
//! idle for a while is pinged before reuse, so one the server or the network closed meanwhile
//! (a database restart, an idle timeout on the way) is replaced rather than handed out; under
//! load connections never sit idle that long, and the hot path pays nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection may sit idle before it is pinged on its next lease.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);

pub struct LeanPool {
    options: PgConnectOptions,
    /// Each with the instant it went idle.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Semaphore,
    max: u32,
    open: AtomicU32,
    acquire_timeout: Duration,
    check_idle_after: Duration,
}

impl LeanPool {
    /// Connections open lazily, up to `max`.
    pub fn new(options: PgConnectOptions, max: u32, acquire_timeout: Duration) -> Self {
        Self {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max as usize),
            max,
            open: AtomicU32::new(0),
            acquire_timeout,
            check_idle_after: IDLE_CHECK_AFTER,
        }
    }

    /// Pings idle connections older than `after` on their next lease (default 30 s).
    #[must_use]
    pub fn check_idle_after(mut self, after: Duration) -> Self {
        self.check_idle_after = after;
        self
    }

    pub async fn lease(&self) -> sqlx::Result<LeanLease<'_>> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        while let Some((mut connection, idle_since)) = self.take_idle() {
            // Counted from here, so a lease future dropped during the ping keeps the count right.
            let open = OpenCount {
                pool: self,
                closing: true,
            };
            if idle_since.elapsed() < self.check_idle_after || connection.ping().await.is_ok() {
                return Ok(LeanLease {
                    connection,
                    open,
                    _permit: permit,
                });
            }
            // Closed while idle: dropping `open` counts it gone; try the next one.
        }
        let connection = self.options.connect().await?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(LeanLease {
            connection,
            open: OpenCount {
                pool: self,
                closing: true,
            },
            _permit: permit,
        })
    }

    fn take_idle(&self) -> Option<(PgConnection, Instant)> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    /// (open connections, idle connections, maximum), for `/metrics`.
    pub fn stats(&self) -> (u32, usize, u32) {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        (self.open.load(Ordering::Relaxed), idle, self.max)
    }
}

/// One connection, exclusively. Deref to run statements on it. Dropping it closes the
/// connection (and the `open` count follows); [`LeanLease::release`] is the only way back.
pub struct LeanLease<'a> {
    connection: PgConnection,
    open: OpenCount<'a>,
    _permit: SemaphorePermit<'a>,
}

impl LeanLease<'_> {
    /// Returns the connection for reuse: call only after the statement ran to completion.
    pub fn release(self) {
        let LeanLease {
            connection, open, ..
        } = self;
        let pool = open.pool;
        open.keep_open();
        pool.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((connection, Instant::now()));
    }
}

impl std::ops::Deref for LeanLease<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl std::ops::DerefMut for LeanLease<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

/// Counts a leased connection as closed when the lease goes without [`LeanLease::release`]:
/// the statement may not have finished, so its protocol state is unknown, and dropping the
/// connection closes the socket (the server ends that session).
struct OpenCount<'a> {
    pool: &'a LeanPool,
    closing: bool,
}

impl OpenCount<'_> {
    fn keep_open(mut self) {
        self.closing = false;
    }
}

impl Drop for OpenCount<'_> {
    fn drop(&mut self) {
        if self.closing {
            self.pool.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
