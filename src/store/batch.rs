//! Natural batching of the hottest PostgreSQL reads: requests that arrive while every statement
//! slot is busy wait in a queue, and the next free worker serves all of them with one statement.
//!
//! Under load most of PostgreSQL's work on a token-checked read is per statement (protocol,
//! executor start-up, snapshot), not per row: one statement over eight requests costs it about
//! what three single ones do. Nothing waits for a batch to fill: a worker takes whatever is queued
//! the moment a statement slot is free, and a lone request runs at once, alone. Every request
//! still reads the database when it is served — nothing is cached, revocation takes effect at
//! once.
//!
//! Workers are tasks of their own, so a request that goes away (a client disconnect, a timeout)
//! never cancels a statement that other requests are waiting on; its entry is skipped if no
//! batch has taken it yet, and its row dropped otherwise. Each worker is supervised: one that
//! panics is replaced at once and counted, and the requests of its batch fail with "pool
//! closed" (a `503`) rather than waiting for ever. A request's whole wait, queue included, is
//! bounded by the database deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgConnection;
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

use super::lean_pool::LeanPool;

/// What a batch statement returns: one output per input, in input order.
pub type BatchFuture<'c, O> = Pin<Box<dyn Future<Output = sqlx::Result<Vec<O>>> + Send + 'c>>;
/// Runs one batch on one connection.
pub type RunBatch<I, O> = for<'c> fn(&'c mut PgConnection, &'c [I]) -> BatchFuture<'c, O>;

/// Runs one batch wherever the statement runs: the lean pool in production, a stand-in in the
/// batcher's own tests.
pub trait BatchRunner<I, O>: Send + Sync + 'static {
    fn run<'a>(&'a self, inputs: &'a [I]) -> BatchFuture<'a, O>;
}

/// A batch statement on a lean connection (with the pool's deadline and retry).
struct OnLeanPool<I, O> {
    pool: Arc<LeanPool>,
    statement: RunBatch<I, O>,
}

impl<I: Send + Sync + 'static, O: Send + 'static> BatchRunner<I, O> for OnLeanPool<I, O> {
    fn run<'a>(&'a self, inputs: &'a [I]) -> BatchFuture<'a, O> {
        Box::pin(self.pool.run(inputs, self.statement))
    }
}

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
    runner: Arc<dyn BatchRunner<I, O>>,
    counts: Arc<Counts>,
    deadline: Duration,
}

/// Statements run, requests they served (their ratio is the mean batch) and workers replaced
/// after a panic, for `/metrics`.
#[derive(Default)]
struct Counts {
    statements: AtomicU64,
    requests: AtomicU64,
    restarts: AtomicU64,
    /// Requests handed to the workers through the queue (the rest ran alone).
    queued: AtomicU64,
}

/// What `/metrics` shows of one batcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherCounts {
    pub statements: u64,
    pub requests: u64,
    pub worker_restarts: u64,
}

impl<I, O> Batcher<I, O>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    /// A batcher whose statements run on `pool`; see [`Self::start`].
    pub fn on_lean_pool(
        pool: Arc<LeanPool>,
        statement: RunBatch<I, O>,
        in_flight: usize,
        max_batch: usize,
        deadline: Duration,
    ) -> Self {
        Self::start(
            Arc::new(OnLeanPool { pool, statement }),
            in_flight,
            max_batch,
            deadline,
        )
    }

    /// At most `in_flight` statements run at once; as many supervised worker tasks serve the
    /// queue and end when the batcher is dropped. Must be called inside the Tokio runtime.
    pub fn start(
        runner: Arc<dyn BatchRunner<I, O>>,
        in_flight: usize,
        max_batch: usize,
        deadline: Duration,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver: Queue<I, O> = Arc::new(Mutex::new(receiver));
        let counts = Arc::new(Counts::default());
        let slots = Arc::new(Semaphore::new(in_flight.max(1)));
        for _ in 0..in_flight.max(1) {
            tokio::spawn(supervise(Worker {
                queue: Arc::clone(&receiver),
                slots: Arc::clone(&slots),
                runner: Arc::clone(&runner),
                counts: Arc::clone(&counts),
                max_batch: max_batch.max(1),
            }));
        }
        Self {
            queue,
            slots,
            runner,
            counts,
            deadline,
        }
    }

    pub fn counts(&self) -> BatcherCounts {
        BatcherCounts {
            statements: self.counts.statements.load(Ordering::Relaxed),
            requests: self.counts.requests.load(Ordering::Relaxed),
            worker_restarts: self.counts.restarts.load(Ordering::Relaxed),
        }
    }

    /// Runs `input` alone or in a batch, within the deadline (queueing included).
    pub async fn run(&self, input: I) -> sqlx::Result<O> {
        tokio::time::timeout(self.deadline, self.run_unbounded(input))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn run_unbounded(&self, input: I) -> sqlx::Result<O> {
        // Nothing queued and a statement slot free: run alone, in this task. This spares a quiet
        // server two task hand-offs per request. Only this request waits on the statement, so
        // cancelling it costs no one else anything (its connection closes, as any statement's
        // that does not complete). A worker already waiting for a slot gets it first: the
        // semaphore is fair.
        if self.queue.capacity() == self.queue.max_capacity() {
            if let Ok(_slot) = self.slots.try_acquire() {
                self.counts.statements.fetch_add(1, Ordering::Relaxed);
                self.counts.requests.fetch_add(1, Ordering::Relaxed);
                let mut outputs = checked(1, self.runner.run(std::slice::from_ref(&input)).await)?;
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
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        // A worker that died mid-batch drops the reply sender.
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

struct Worker<I, O> {
    queue: Queue<I, O>,
    slots: Arc<Semaphore>,
    runner: Arc<dyn BatchRunner<I, O>>,
    counts: Arc<Counts>,
    max_batch: usize,
}

impl<I, O> Clone for Worker<I, O> {
    fn clone(&self) -> Self {
        Self {
            queue: Arc::clone(&self.queue),
            slots: Arc::clone(&self.slots),
            runner: Arc::clone(&self.runner),
            counts: Arc::clone(&self.counts),
            max_batch: self.max_batch,
        }
    }
}

/// Keeps one worker running: a worker that panicked is replaced; one that ended because the
/// batcher is gone is not.
async fn supervise<I, O>(worker: Worker<I, O>)
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    loop {
        match tokio::spawn(work(worker.clone())).await {
            Ok(()) => return,
            Err(error) if error.is_panic() => {
                worker.counts.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::error!("a batched-read worker panicked; it was replaced");
            }
            // Cancelled: the runtime is shutting down.
            Err(_) => return,
        }
    }
}

async fn work<I, O>(worker: Worker<I, O>)
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    let Worker {
        queue,
        slots,
        runner,
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
            let outcome = checked(inputs.len(), runner.run(&inputs).await);
            answer(&mut replies, outcome);
        }
        drop(slot);
        inputs.clear();
        replies.clear();
    }
}

/// A batch must answer one output per input; anything else is a bug in its statement.
fn checked<O>(inputs: usize, outcome: sqlx::Result<Vec<O>>) -> sqlx::Result<Vec<O>> {
    let outputs = outcome?;
    if outputs.len() == inputs {
        Ok(outputs)
    } else {
        Err(sqlx::Error::Protocol(format!(
            "a batch of {inputs} answered {} rows",
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

/// `sqlx::Error` is not `Clone`: every request of a failed batch gets an error of the same kind,
/// so a database that is away is a `503` for all of them and a broken statement a `500`.
fn replicate(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other if super::is_unavailable(other) => sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            other.to_string(),
        )),
        other => sqlx::Error::Protocol(format!("batched statement failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use tokio::sync::Notify;

    use super::*;

    /// A stand-in statement: doubles each input, after `gate` opens; fails or panics on demand.
    #[derive(Default)]
    struct Doubler {
        gate: Notify,
        hold: std::sync::atomic::AtomicBool,
        batches: StdMutex<Vec<Vec<u32>>>,
        fail: std::sync::atomic::AtomicBool,
    }

    /// An input whose batch panics in the worker that runs it.
    const POISON: u32 = 99;

    impl BatchRunner<u32, u32> for Doubler {
        fn run<'a>(&'a self, inputs: &'a [u32]) -> BatchFuture<'a, u32> {
            Box::pin(async move {
                self.batches.lock().unwrap().push(inputs.to_vec());
                if self.hold.load(Ordering::SeqCst) {
                    self.gate.notified().await;
                }
                if inputs.contains(&POISON) {
                    panic!("a statement's worker died");
                }
                if self.fail.load(Ordering::SeqCst) {
                    return Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "the database went away",
                    )));
                }
                Ok(inputs.iter().map(|input| input * 2).collect())
            })
        }
    }

    fn start(runner: &Arc<Doubler>) -> Arc<Batcher<u32, u32>> {
        let runner: Arc<dyn BatchRunner<u32, u32>> = runner.clone();
        Arc::new(Batcher::start(runner, 1, 64, Duration::from_secs(5)))
    }

    /// Waits until the stand-in has seen `count` batches.
    async fn seen(runner: &Doubler, count: usize) {
        for _ in 0..500 {
            if runner.batches.lock().unwrap().len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the runner never saw {count} batches");
    }

    /// Waits until `count` requests in all have gone through the queue.
    async fn queued(batcher: &Batcher<u32, u32>, count: u64) {
        for _ in 0..500 {
            if batcher.counts.queued.load(Ordering::Relaxed) >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{count} requests never queued");
    }

    #[tokio::test]
    async fn requests_that_arrive_while_busy_share_the_next_statement_and_get_their_own_rows() {
        let runner = Arc::new(Doubler::default());
        runner.hold.store(true, Ordering::SeqCst);
        let batcher = start(&runner);
        let first = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(1).await.unwrap() }
        });
        seen(&runner, 1).await;
        let mut later = Vec::new();
        for input in 2..=5 {
            let batcher = Arc::clone(&batcher);
            later.push(tokio::spawn(
                async move { batcher.run(input).await.unwrap() },
            ));
        }
        queued(&batcher, 4).await;
        runner.hold.store(false, Ordering::SeqCst);
        runner.gate.notify_one();
        assert_eq!(first.await.unwrap(), 2);
        for (task, input) in later.into_iter().zip(2..=5) {
            assert_eq!(task.await.unwrap(), input * 2);
        }
        assert_eq!(runner.batches.lock().unwrap()[1], vec![2, 3, 4, 5]);
        let counts = batcher.counts();
        assert_eq!((counts.statements, counts.requests), (2, 5));
    }

    #[tokio::test]
    async fn a_request_cancelled_while_queued_is_not_run() {
        let runner = Arc::new(Doubler::default());
        runner.hold.store(true, Ordering::SeqCst);
        let batcher = start(&runner);
        let first = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(1).await }
        });
        seen(&runner, 1).await;
        let gone = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(7).await }
        });
        let kept = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(8).await }
        });
        queued(&batcher, 2).await;
        gone.abort();
        let _ = gone.await;
        runner.hold.store(false, Ordering::SeqCst);
        runner.gate.notify_one();
        first.await.unwrap().unwrap();
        assert_eq!(kept.await.unwrap().unwrap(), 16);
        assert_eq!(runner.batches.lock().unwrap()[1], vec![8]);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_request_of_its_batch_as_unavailable() {
        let runner = Arc::new(Doubler::default());
        runner.hold.store(true, Ordering::SeqCst);
        let batcher = start(&runner);
        let first = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(1).await }
        });
        seen(&runner, 1).await;
        let mut later = Vec::new();
        for input in 2..=4 {
            let batcher = Arc::clone(&batcher);
            later.push(tokio::spawn(async move { batcher.run(input).await }));
        }
        queued(&batcher, 3).await;
        runner.fail.store(true, Ordering::SeqCst);
        runner.hold.store(false, Ordering::SeqCst);
        runner.gate.notify_one();
        assert!(first.await.unwrap().is_err());
        for task in later {
            let error = task.await.unwrap().unwrap_err();
            assert!(super::super::is_unavailable(&error), "{error}");
        }
    }

    #[tokio::test]
    async fn a_worker_that_panics_is_replaced_and_counted() {
        let runner = Arc::new(Doubler::default());
        runner.hold.store(true, Ordering::SeqCst);
        let batcher = start(&runner);
        let first = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(1).await }
        });
        seen(&runner, 1).await;
        // Queued, so a worker runs its batch, which panics.
        let victim = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(POISON).await }
        });
        queued(&batcher, 1).await;
        runner.hold.store(false, Ordering::SeqCst);
        runner.gate.notify_one();
        let _ = first.await;
        let error = victim.await.unwrap().unwrap_err();
        assert!(super::super::is_unavailable(&error), "{error}");
        // The replacement serves the next requests, queued ones included.
        runner.hold.store(true, Ordering::SeqCst);
        let alone = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(3).await }
        });
        seen(&runner, 3).await;
        let queued_after = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.run(4).await }
        });
        queued(&batcher, 2).await;
        runner.hold.store(false, Ordering::SeqCst);
        runner.gate.notify_one();
        assert_eq!(alone.await.unwrap().unwrap(), 6);
        assert_eq!(queued_after.await.unwrap().unwrap(), 8);
        assert_eq!(batcher.counts().worker_restarts, 1);
    }

    #[tokio::test]
    async fn a_request_never_waits_past_the_deadline() {
        let runner = Arc::new(Doubler::default());
        runner.hold.store(true, Ordering::SeqCst);
        let runner_dyn: Arc<dyn BatchRunner<u32, u32>> = runner.clone();
        let batcher = Arc::new(Batcher::start(runner_dyn, 1, 64, Duration::from_millis(50)));
        let stuck = batcher.run(1).await;
        assert!(matches!(stuck, Err(sqlx::Error::PoolTimedOut)));
        runner.gate.notify_waiters();
    }
}
