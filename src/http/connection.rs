//! One connection's deadlines, whatever protocol it speaks: its first request head must arrive
//! within the header deadline, and once it has made a request it may sit with nothing in
//! flight for at most the idle limit. hyper's own HTTP/1 header timeout cannot express this:
//! it starts whenever a connection waits for a head, so it would close a kept-alive connection
//! long before the idle limit, and it never sees a connection that is still choosing between
//! HTTP/1 and HTTP/2 or an HTTP/2 connection that opens no stream. So the connection's requests
//! are counted at the service, and a watchdog beside the connection closes it when its deadline
//! passes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// The deadlines of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From accept to the first complete request head; a connection that misses it is dropped.
    pub first_request: Duration,
    /// With no request in flight, after the last answer; past it the connection is shut down
    /// gracefully (HTTP/2: GOAWAY).
    pub idle: Duration,
    /// How long a connection being shut down may take to finish before it is dropped (a client
    /// that does not read its last answer would otherwise hold it).
    pub closing: Duration,
}

/// What the watchdog needs to know about a connection's requests.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    /// Since when nothing has been in flight.
    idle_since: Instant,
    /// Whether the connection has delivered a complete request head yet.
    has_requested: bool,
    /// Whether it speaks HTTP/2 (known from its first request).
    http2: bool,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                has_requested: false,
                http2: false,
            }),
            changed: Notify::new(),
        })
    }

    /// A request whose head is complete: the connection is busy until the guard is dropped.
    pub fn begin(self: &Arc<Self>, http2: bool) -> RequestGuard {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_flight += 1;
        state.has_requested = true;
        state.http2 |= http2;
        if state.in_flight == 1 {
            self.changed.notify_one();
        }
        RequestGuard(Arc::clone(self))
    }

    fn end(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            self.changed.notify_one();
        }
    }

    fn is_http2(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .http2
    }

    /// When the connection must close if nothing changes, and whether it ever made a request;
    /// `None` while a request is in flight.
    fn deadline(&self, deadlines: Deadlines) -> Option<(Instant, bool)> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.in_flight > 0 {
            return None;
        }
        let allowed = if state.has_requested {
            deadlines.idle
        } else {
            deadlines.first_request
        };
        Some((state.idle_since + allowed, state.has_requested))
    }
}

/// Marks one request as in flight until dropped: when its answer is ready, or when the
/// connection gives up on it.
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The connection's service, counting its requests into [`Activity`].
#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, B> tower::Service<axum::http::Request<B>> for Tracked<S>
where
    S: tower::Service<axum::http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let guard = self
            .activity
            .begin(request.version() == axum::http::Version::HTTP_2);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(guard);
            answer
        })
    }
}

/// Drives `connection` until it ends, its deadline passes, or `stop` turns true (then it is
/// shut down gracefully and its requests finish). When `draining` turns true an HTTP/2
/// connection is sent a GOAWAY at once (its streams finish, the client opens its next
/// connection elsewhere); an HTTP/1 connection is left to the `Connection: close` of its next
/// answer.
pub async fn drive<C>(
    connection: C,
    activity: Arc<Activity>,
    deadlines: Deadlines,
    mut draining: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(connection);
    let mut stopping = *stop.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = activity.deadline(deadlines);
        let changed = activity.changed.notified();
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "connection closed with an error");
                }
                return;
            }
            () = changed => {}
            drained = draining.changed(), if !stopping => {
                if drained.is_err() || (*draining.borrow() && activity.is_http2()) {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            stopped = stop.changed(), if !stopping => {
                // A dropped sender means the server is gone: shut down as for a stop.
                let _ = stopped;
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline.map_or_else(Instant::now, |(at, _)| at)),
                if deadline.is_some() =>
            {
                // A request may have begun since the deadline was read; it wins.
                let Some((at, has_requested)) = activity.deadline(deadlines) else {
                    continue;
                };
                if at > Instant::now() {
                    continue;
                }
                if !has_requested {
                    // Nothing was ever asked: there is no answer to finish, so just drop it.
                    tracing::debug!("closing a connection that sent no request in time");
                    return;
                }
                tracing::debug!("closing an idle connection");
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(deadlines.closing, connection.as_mut()).await;
                return;
            }
        }
    }
}
