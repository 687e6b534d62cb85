//! Natural batching of the hottest PostgreSQL reads: requests that arrive while every statement
//! slot is busy wait in a queue, and the next free worker serves all of them with one statement.
//!
//! Under load most of PostgreSQL's work on a token-checked read is per statement (protocol,
//! executor start-up, snapshot), not per row: one statement over eight requests costs it about
//! what three single ones do. Nothing waits for a batch to fill: a worker takes whatever is queued
//! the moment a statement slot is free, and a lone request runs at once, alone. Every request still reads the
//! database when it is served — nothing is cached, revocation takes effect at once.
//!
//! Workers are tasks of their own, so a request that goes away (a client disconnect, a timeout)
//! never cancels a statement that other requests are waiting on; its entry is skipped if no
//! batch has taken it yet, and its row dropped otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgConnection;
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use super::lean_pool::LeanPool;

/// What a batch statement returns: one output per input, in input order.
pub type BatchFuture<'c, O> = Pin<Box<dyn Future<Output = sqlx::Result<Vec<O>>> + Send + 'c>>;
/// Runs one batch on one connection.
pub type RunBatch<I, O> = for<'c> fn(&'c mut PgConnection, &'c [I]) -> BatchFuture<'c, O>;

/// Requests queued beyond this wait to enqueue (back-pressure instead of unbounded memory).
const QUEUE_CAPACITY: usize = 4096;

struct Pending<I, O> {
    input: I,
    reply: oneshot::Sender<sqlx::Result<O>>,
}

type Queue<I, O> = Arc<Mutex<mpsc::Receiver<Pending<I, O>>>>;

pub struct Batcher<I, O> {
    queue: mpsc::Sender<Pending<I, O>>,
    /// One per statement in flight, shared by the workers and the requests that run alone.
    slots: Arc<Semaphore>,
    pool: Arc<LeanPool>,
    run: RunBatch<I, O>,
    counts: Arc<Counts>,
}

/// Statements run and requests they served, for `/metrics` (their ratio is the mean batch).
#[derive(Default)]
struct Counts {
    statements: AtomicU64,
    requests: AtomicU64,
}

impl<I, O> Batcher<I, O>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    /// At most `in_flight` statements run at once, each on one lean connection; as many worker
    /// tasks serve the queue and end when the batcher is dropped. Must be called inside the
    /// Tokio runtime.
    pub fn start(
        pool: Arc<LeanPool>,
        in_flight: usize,
        max_batch: usize,
        run: RunBatch<I, O>,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver: Queue<I, O> = Arc::new(Mutex::new(receiver));
        let counts = Arc::new(Counts::default());
        let slots = Arc::new(Semaphore::new(in_flight.max(1)));
        for _ in 0..in_flight.max(1) {
            tokio::spawn(work(
                Worker {
                    queue: Arc::clone(&receiver),
                    slots: Arc::clone(&slots),
                    pool: Arc::clone(&pool),
                    counts: Arc::clone(&counts),
                    max_batch: max_batch.max(1),
                },
                run,
            ));
        }
        Self {
            queue,
            slots,
            pool,
            run,
            counts,
        }
    }

    /// (statements run, requests served by them).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.statements.load(Ordering::Relaxed),
            self.counts.requests.load(Ordering::Relaxed),
        )
    }

    pub async fn run(&self, input: I) -> sqlx::Result<O> {
        // Nothing queued and a statement slot free: run alone, in this task. This spares a quiet
        // server two task hand-offs per request. Only this request waits on the statement, so
        // cancelling it costs no one else anything (its connection closes, as any dropped lease's
        // does). A worker already waiting for a slot gets it first: the semaphore is fair.
        if self.queue.capacity() == self.queue.max_capacity() {
            if let Ok(_slot) = self.slots.try_acquire() {
                self.counts.statements.fetch_add(1, Ordering::Relaxed);
                self.counts.requests.fetch_add(1, Ordering::Relaxed);
                let mut outputs =
                    run_on_lease(&self.pool, std::slice::from_ref(&input), self.run).await?;
                return outputs
                    .pop()
                    .ok_or_else(|| sqlx::Error::Protocol("a batch of one answered none".into()));
            }
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { input, reply })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // A worker that vanished (the runtime shutting down) drops the reply sender.
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

struct Worker<I, O> {
    queue: Queue<I, O>,
    slots: Arc<Semaphore>,
    pool: Arc<LeanPool>,
    counts: Arc<Counts>,
    max_batch: usize,
}

async fn work<I, O>(worker: Worker<I, O>, run: RunBatch<I, O>)
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    let Worker {
        queue,
        slots,
        pool,
        counts,
        max_batch,
    } = worker;
    let mut inputs = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    loop {
        let slot = {
            // One worker at a time waits on the queue, and it takes a statement slot before it
            // drains the queue: whatever arrives while it waits for the slot joins its batch.
            let mut receiver = queue.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            // The semaphore is never closed; if it were, nobody would be left to answer.
            let Ok(slot) = slots.acquire().await else {
                return;
            };
            let mut next = Some(first);
            while let Some(Pending { input, reply }) = next {
                // A request that went away meanwhile is not run.
                if !reply.is_closed() {
                    inputs.push(input);
                    replies.push(reply);
                }
                next = if inputs.len() < max_batch {
                    receiver.try_recv().ok()
                } else {
                    None
                };
            }
            slot
        };
        if !inputs.is_empty() {
            counts.statements.fetch_add(1, Ordering::Relaxed);
            counts
                .requests
                .fetch_add(inputs.len() as u64, Ordering::Relaxed);
            let outcome = run_on_lease(&pool, &inputs, run).await;
            answer(&mut replies, outcome);
        }
        drop(slot);
        inputs.clear();
        replies.clear();
    }
}

async fn run_on_lease<I, O>(
    pool: &LeanPool,
    inputs: &[I],
    run: RunBatch<I, O>,
) -> sqlx::Result<Vec<O>> {
    let mut lease = pool.lease().await?;
    let outputs = run(&mut lease, inputs).await?;
    lease.release();
    if outputs.len() == inputs.len() {
        Ok(outputs)
    } else {
        Err(sqlx::Error::Protocol(format!(
            "a batch of {} answered {} rows",
            inputs.len(),
            outputs.len()
        )))
    }
}

fn answer<O>(replies: &mut Vec<oneshot::Sender<sqlx::Result<O>>>, outcome: sqlx::Result<Vec<O>>) {
    match outcome {
        Ok(outputs) => {
            for (reply, output) in replies.drain(..).zip(outputs) {
                // The request may have gone meanwhile; its row is simply dropped.
                let _ = reply.send(Ok(output));
            }
        }
        Err(error) => {
            for reply in replies.drain(..) {
                let _ = reply.send(Err(replicate(&error)));
            }
        }
    }
}

/// `sqlx::Error` is not `Clone`: every request of a failed batch gets an error of the same kind.
fn replicate(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => sqlx::Error::Protocol(format!("batched statement failed: {other}")),
    }
}
