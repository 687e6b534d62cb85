//! Stopping without dropping a request. On SIGTERM the server first drains for
//! `ACCOUNTD_SHUTDOWN_DRAIN` seconds: `/readyz` answers `503`, so load balancers take the
//! replica out, while every other request is still served, each HTTP/1 answer with
//! `Connection: close` and each HTTP/2 connection with a GOAWAY, so clients move to another
//! replica before a connection is closed under them. Then the listeners close and in-flight
//! requests get `ACCOUNTD_SHUTDOWN_TIMEOUT` to finish. SIGINT (Ctrl-C) skips the drain.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// How to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Drain first (SIGTERM: an orchestrator or a rolling restart).
    Drain,
    /// Close the listeners at once (SIGINT: someone at a terminal).
    Now,
}

/// Whether the server is draining, for readiness and for the connections.
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    changed: watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            changed: watch::Sender::new(false),
        }
    }
}

impl Lifecycle {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.changed.send_replace(true);
    }

    /// Turns true when the drain starts.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.changed.subscribe()
    }
}

/// Resolves on SIGTERM (drain) or Ctrl-C (stop now).
pub async fn shutdown_signal() -> Stop {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => Stop::Now,
        () = terminate => Stop::Drain,
    }
}
