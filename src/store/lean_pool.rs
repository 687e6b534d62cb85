//! A small PostgreSQL connection pool for the statements every storefront request runs (the
//! token-checked read, the switch, the login lookups). Everything run here is a read.
//!
//! sqlx's pool pings each connection as it comes back (a `Sync` round trip, and a spawned task,
//! per statement): on a token-checked read that was half of the round trips to the database and
//! a third of its work there. The ping exists to catch a connection left mid-statement by a
//! cancelled future. This pool makes that case impossible to reuse instead: a connection goes
//! back only from [`LeanPool::run`], once the statement has completed; a statement that failed,
//! timed out or was cancelled closes its connection.
//!
//! Faults are bounded: the whole call (waiting for a connection, connecting, the idle ping, the
//! statement) has one deadline, after which it fails as "pool timed out", which callers answer
//! with `503`. A statement that fails because its connection died (the database restarted, a
//! proxy dropped it) is run once more on a fresh connection, and every connection that sat idle
//! since before the failure is pinged before reuse, so only requests that arrive while the
//! database is really away fail.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection may sit idle before it is pinged on its next use.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);

/// What a statement run on a lean connection returns.
pub type StatementFuture<'c, T> = Pin<Box<dyn Future<Output = sqlx::Result<T>> + Send + 'c>>;
/// A read run on one connection with its arguments. A plain function, so the statement cannot
/// hold on to the connection beyond its future.
pub type Statement<A, T> = for<'c> fn(&'c mut PgConnection, &'c A) -> StatementFuture<'c, T>;

pub struct LeanPool {
    options: PgConnectOptions,
    /// Each with the instant it went idle and the failure generation it was last used in.
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
    max: u32,
    open: AtomicU32,
    deadline: Duration,
    check_idle_after: Duration,
    /// Bumped whenever a connection is found dead: connections idle since an older generation
    /// may have died the same way and are pinged before reuse.
    failures: AtomicU64,
    retries: AtomicU64,
}

struct Idle {
    connection: PgConnection,
    since: Instant,
    generation: u64,
}

impl LeanPool {
    /// Connections open lazily, up to `max`; every call is bounded by `deadline`.
    pub fn new(options: PgConnectOptions, max: u32, deadline: Duration) -> Self {
        Self {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max as usize),
            max,
            open: AtomicU32::new(0),
            deadline,
            check_idle_after: IDLE_CHECK_AFTER,
            failures: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    /// Pings idle connections older than `after` on their next use (default 30 s).
    #[must_use]
    pub fn check_idle_after(mut self, after: Duration) -> Self {
        self.check_idle_after = after;
        self
    }

    /// Runs a read within the deadline; see the module documentation for retries.
    pub async fn run<A: Sync + ?Sized, T>(
        &self,
        argument: &A,
        statement: Statement<A, T>,
    ) -> sqlx::Result<T> {
        tokio::time::timeout(self.deadline, async {
            match self.run_once(argument, statement).await {
                Err(error) if connection_died(&error) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    self.run_once(argument, statement).await
                }
                outcome => outcome,
            }
        })
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn run_once<A: Sync + ?Sized, T>(
        &self,
        argument: &A,
        statement: Statement<A, T>,
    ) -> sqlx::Result<T> {
        let mut lease = self.lease().await?;
        let output = statement(&mut lease.connection, argument).await?;
        // Only a statement that ran to completion gives its connection back.
        lease.release();
        Ok(output)
    }

    /// Answers when a connection answers a ping: for readiness checks.
    pub async fn ping(&self) -> sqlx::Result<()> {
        self.run(&(), |connection, ()| Box::pin(connection.ping()))
            .await
    }

    async fn lease(&self) -> sqlx::Result<Lease<'_>> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let generation = self.failures.load(Ordering::Relaxed);
        while let Some(idle) = self.take_idle() {
            // Counted from here, so a call dropped during the ping keeps the count right.
            let open = OpenCount {
                pool: self,
                closing: true,
            };
            let mut connection = idle.connection;
            let trusted =
                idle.generation == generation && idle.since.elapsed() < self.check_idle_after;
            if trusted || connection.ping().await.is_ok() {
                return Ok(Lease {
                    connection,
                    open,
                    _permit: permit,
                });
            }
            // Closed while idle: dropping `open` counts it gone; try the next one.
        }
        let connection = self.options.connect().await?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Lease {
            connection,
            open: OpenCount {
                pool: self,
                closing: true,
            },
            _permit: permit,
        })
    }

    fn take_idle(&self) -> Option<Idle> {
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

    /// Statements run a second time because their connection had died.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// Whether the statement failed because its connection is gone (not because the database is
/// slow, or the statement wrong): then a fresh connection may well succeed.
fn connection_died(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02")
        }),
        _ => false,
    }
}

/// One connection, exclusively, inside [`LeanPool::run`]. Dropping it closes the connection (and
/// the `open` count follows); [`Lease::release`] is the only way back into the pool.
struct Lease<'a> {
    connection: PgConnection,
    open: OpenCount<'a>,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    fn release(self) {
        let Lease {
            connection, open, ..
        } = self;
        let pool = open.pool;
        open.keep_open();
        let generation = pool.failures.load(Ordering::Relaxed);
        pool.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Idle {
                connection,
                since: Instant::now(),
                generation,
            });
    }
}

/// Counts a leased connection as closed when the lease goes without [`Lease::release`]: the
/// statement may not have finished, so its protocol state is unknown, and dropping the
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
