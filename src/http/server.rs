//! The accept loop: the router on hyper, with what `axum::serve` does not offer — a cap on open
//! connections, per-connection deadlines (see `connection.rs`), bounded request heads, HTTP/2
//! keep-alive pings — and a graceful drain on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::Service;

use super::connection::{self, Activity, Deadlines, Tracked};
use super::limits::TRANSPORT_HEAD_BYTES;

/// Pause after a failed accept (e.g. out of file descriptors) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Open files kept for everything but client connections: database connections, SQLite files,
/// outbound webhook and OpenID Connect requests, the listeners.
const RESERVED_FILES: u64 = 256;

/// How one listener treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Connections open at once; the next one is accepted only when one closes, so clients
    /// beyond it wait in the kernel's accept backlog (or are refused when that is full).
    pub max_connections: u32,
    pub deadlines: Deadlines,
    pub http2_keep_alive_interval: Duration,
    /// Once the listener has closed, how long open connections get to finish their requests.
    pub shutdown_timeout: Duration,
}

/// Serves until `shutdown` resolves, then lets open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    draining: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let builder = builder(&options);
    let open = Arc::new(Semaphore::new(options.max_connections as usize));
    let (stop, stopped) = watch::channel(false);
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&open).acquire_owned() => match slot {
                Ok(slot) => slot,
                // Never closed while this loop runs.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = match make_service.call(peer).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let activity = Activity::new();
        let service = TowerToHyperService::new(Tracked::new(service, Arc::clone(&activity)));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let stopped = stopped.clone();
        let draining = draining.clone();
        let deadlines = options.deadlines;
        tokio::spawn(async move {
            connection::drive(connection, activity, deadlines, draining, stopped).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: having them all back means all are done.
    let finished = tokio::time::timeout(
        options.shutdown_timeout,
        open.acquire_many(options.max_connections),
    )
    .await;
    if finished.is_err() {
        tracing::warn!(
            seconds = options.shutdown_timeout.as_secs_f64(),
            "some requests did not finish within the shutdown timeout and were cut off"
        );
    }
    Ok(())
}

/// The connection cap the process can honour: the soft limit on open files is raised to fit
/// `configured` as far as the hard limit allows; past that the cap is lowered, with a warning,
/// so that connections cannot take the files the database needs.
pub fn affordable_connections(configured: u32) -> u32 {
    let wanted = u64::from(configured) + RESERVED_FILES;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit >= wanted => configured,
        Ok(limit) => {
            let cap = u32::try_from(limit.saturating_sub(RESERVED_FILES))
                .unwrap_or(u32::MAX)
                .clamp(1, configured);
            tracing::warn!(
                configured,
                open_files_limit = limit,
                "ACCOUNTD_MAX_CONNECTIONS is lowered to {cap}: the limit on open files allows no \
                 more (raise it with ulimit -n or the service manager's setting)"
            );
            cap
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the limit on open files");
            configured
        }
    }
}

fn builder(options: &ServeOptions) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The first head's deadline and the idle limit are the connection watchdog's; hyper's
        // timer would also run between kept-alive requests and close them too early.
        .header_read_timeout(None)
        // A head larger than this is refused by hyper itself (a bare 431); below it, the
        // router's limits answer in the errors envelope.
        .max_buf_size(TRANSPORT_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(options.http2_keep_alive_interval)
        .keep_alive_timeout(options.http2_keep_alive_interval)
        .max_header_list_size(u32::try_from(TRANSPORT_HEAD_BYTES).unwrap_or(u32::MAX));
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_limit_on_open_files() {
        assert_eq!(affordable_connections(16), 16);
        // No process may open four billion files: the cap comes down to what the limit allows.
        let cap = affordable_connections(u32::MAX);
        assert!((1..u32::MAX).contains(&cap), "{cap}");
    }
}
