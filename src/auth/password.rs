//! argon2id hashing and verification on a fixed pool of dedicated threads behind a bounded FIFO
//! queue. The async workers never hash (they would stall every other request), a full queue
//! answers "busy" at once instead of letting latency grow without bound, and each thread keeps
//! its 19 MiB of argon2 memory for its whole life so resident memory stays flat under load.
//! Legacy hashes (`hash_formats`) are verified on the same threads, behind the same queue and
//! shares: a slow bcrypt or scrypt costs a thread like an argon2id does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use super::hash_formats::{FirebaseScrypt, StoredHash};
use super::secret::{constant_time_eq, random_bytes};
use prometheus::Histogram;

use crate::metrics::latency_histogram;

/// Passwords longer than this are refused without hashing (docs/decisions.md#password-bounds).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password accepted where one is set, in Unicode scalar values
/// (docs/decisions.md#password-bounds).
pub const MIN_PASSWORD_CHARS: usize = 8;

const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;

/// The parameters every new hash uses (docs/login.md#hash-pool-and-hash-share): m = 19456 KiB, t =
/// 2, p = 1.
pub fn current_params() -> Params {
    Params::new(19_456, 2, 1, Some(OUTPUT_BYTES)).unwrap_or(Params::DEFAULT)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The queue is full; the caller answers 503 with `Retry-After`.
    #[error("the hash queue is full")]
    Busy,
    #[error("the hash pool failed")]
    Failed,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash was made with other parameters, or in a legacy format, and should be
    /// replaced.
    pub needs_rehash: bool,
}

enum Work {
    Hash(String),
    /// `None` verifies against a dummy so an unknown user costs as much as a known one.
    Verify(String, Option<String>),
}

enum Outcome {
    Hashed(Result<String, HashError>),
    Verified(Verification),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Outcome>,
    /// When the request joined the queue: the wait-time metric starts here.
    queued_at: Instant,
    /// The client's place in its share, given back when the job is dropped: after its work,
    /// when a thread skips it, or when the queue refuses it.
    _share: Option<ShareTicket>,
}

/// Queued or running jobs per client address bucket.
type Shares = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One job's place in its client's share.
struct ShareTicket {
    shares: Shares,
    client: IpAddr,
}

impl Drop for ShareTicket {
    fn drop(&mut self) {
        if let Ok(mut shares) = self.shares.lock() {
            if let Some(held) = shares.get_mut(&self.client) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    shares.remove(&self.client);
                }
            }
        }
    }
}

/// What the pool reports to `/metrics`: updated with atomics only, by the submitting task and
/// the hashing threads. The histograms join the server's registry (`Metrics::register_histogram`).
pub struct HashPoolStats {
    waiting: AtomicUsize,
    /// From joining the queue to a thread picking the request up.
    pub wait: Histogram,
    /// The argon2id work itself, per request.
    pub work: Histogram,
    rejected: AtomicU64,
}

impl HashPoolStats {
    fn new() -> prometheus::Result<Self> {
        Ok(Self {
            waiting: AtomicUsize::new(0),
            wait: latency_histogram(
                "accountd_hash_wait_seconds",
                "Time a hash request waited in the queue before a thread took it.",
            )?,
            work: latency_histogram(
                "accountd_hash_work_seconds",
                "Time a thread spent on one argon2id hash or verification.",
            )?,
            rejected: AtomicU64::new(0),
        })
    }

    /// Requests queued and not yet picked up by a thread.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Requests refused because the queue was full.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// Cheap to clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    sender: Sender<Job>,
    stats: Arc<HashPoolStats>,
    threads: usize,
    queue_bound: usize,
    shares: Shares,
    share_limit: usize,
}

impl PasswordHasher {
    /// Starts `threads` hashing threads; at most `queue_bound` requests wait beyond those running.
    /// Jobs submitted for a client are capped at a quarter of the bound per client; see
    /// [`Self::start_with_share`].
    pub fn start(threads: usize, queue_bound: usize) -> std::io::Result<Self> {
        Self::start_with_share(
            threads,
            queue_bound,
            crate::config::default_hash_queue_share(queue_bound),
            None,
        )
    }

    /// As [`Self::start`], with at most `share_limit` queued or running jobs per client, so that
    /// one client (whose every request legitimately costs a hash, such as a code request) cannot
    /// fill the queue and make everyone else's login wait or fail; Firebase scrypt hashes are
    /// verified with `firebase`, the project's parameters, when given.
    pub fn start_with_share(
        threads: usize,
        queue_bound: usize,
        share_limit: usize,
        firebase: Option<FirebaseScrypt>,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(queue_bound);
        let stats = Arc::new(HashPoolStats::new().map_err(std::io::Error::other)?);
        let firebase = firebase.map(Arc::new);
        for index in 0..threads {
            let receiver = receiver.clone();
            let stats = Arc::clone(&stats);
            let firebase = firebase.clone();
            thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || run_worker(&receiver, &stats, firebase))?;
        }
        Ok(Self {
            sender,
            stats,
            threads,
            queue_bound,
            shares: Arc::default(),
            share_limit: share_limit.max(1),
        })
    }

    /// The same pool, with every job counted on `client`'s share (an address bucket).
    pub fn for_client(&self, client: IpAddr) -> ClientHasher<'_> {
        ClientHasher { pool: self, client }
    }

    /// Jobs one client may hold, queued or running.
    pub fn share_limit(&self) -> usize {
        self.share_limit
    }

    fn take_share(&self, client: IpAddr) -> Result<ShareTicket, HashError> {
        let Ok(mut shares) = self.shares.lock() else {
            return Err(HashError::Failed);
        };
        let held = shares.entry(client).or_insert(0);
        if *held >= self.share_limit {
            self.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(HashError::Busy);
        }
        *held += 1;
        Ok(ShareTicket {
            shares: Arc::clone(&self.shares),
            client,
        })
    }

    fn share_is_spent(&self, client: IpAddr) -> bool {
        self.shares
            .lock()
            .map(|shares| {
                shares
                    .get(&client)
                    .is_some_and(|held| *held >= self.share_limit)
            })
            .unwrap_or(false)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// How many requests may wait beyond those running before new ones are refused.
    pub fn queue_bound(&self) -> usize {
        self.queue_bound
    }

    /// Requests queued and not yet picked up by a thread.
    pub fn queue_depth(&self) -> usize {
        self.stats.queue_depth()
    }

    /// Queue depth, wait and work times, rejections: for `/metrics`.
    pub fn stats(&self) -> &HashPoolStats {
        &self.stats
    }

    /// `Busy` when the queue is full right now, so a login can answer 503 before it spends
    /// database round trips on a hash it would not get. Only a fast path: `verify` and `hash`
    /// still refuse on their own when the queue fills in between.
    pub fn refuse_if_full(&self) -> Result<(), HashError> {
        // A zero bound is a hand-over with no queue, which `is_full` always reports as full.
        if self.queue_bound > 0 && self.sender.is_full() {
            self.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(HashError::Busy);
        }
        Ok(())
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        match self.submit(Work::Hash(password), None).await? {
            Outcome::Hashed(result) => result,
            Outcome::Verified(_) => Err(HashError::Failed),
        }
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no stored hash,
    /// so that the answer for an unknown user takes as long as for a known one.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, HashError> {
        match self.submit(Work::Verify(password, stored), None).await? {
            Outcome::Verified(verification) => Ok(verification),
            Outcome::Hashed(_) => Err(HashError::Failed),
        }
    }

    async fn submit(&self, work: Work, share: Option<ShareTicket>) -> Result<Outcome, HashError> {
        let (reply, answer) = oneshot::channel();
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            work,
            reply,
            queued_at: Instant::now(),
            _share: share,
        };
        match self.sender.try_send(job) {
            Ok(()) => answer.await.map_err(|_| HashError::Failed),
            Err(TrySendError::Full(_)) => {
                self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                Err(HashError::Busy)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(HashError::Failed)
            }
        }
    }
}

/// The pool as one client uses it: every job counts on the client's share.
pub struct ClientHasher<'a> {
    pool: &'a PasswordHasher,
    client: IpAddr,
}

impl ClientHasher<'_> {
    /// `Busy` when the queue is full or this client's share is spent right now; see
    /// [`PasswordHasher::refuse_if_full`].
    pub fn refuse_if_full(&self) -> Result<(), HashError> {
        if self.pool.share_is_spent(self.client) {
            self.pool.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(HashError::Busy);
        }
        self.pool.refuse_if_full()
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let share = self.pool.take_share(self.client)?;
        match self.pool.submit(Work::Hash(password), Some(share)).await? {
            Outcome::Hashed(result) => result,
            Outcome::Verified(_) => Err(HashError::Failed),
        }
    }

    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, HashError> {
        let share = self.pool.take_share(self.client)?;
        match self
            .pool
            .submit(Work::Verify(password, stored), Some(share))
            .await?
        {
            Outcome::Verified(verification) => Ok(verification),
            Outcome::Hashed(_) => Err(HashError::Failed),
        }
    }
}

fn run_worker(
    receiver: &Receiver<Job>,
    stats: &HashPoolStats,
    firebase: Option<Arc<FirebaseScrypt>>,
) {
    let mut worker = Worker::new(firebase);
    while let Ok(job) = receiver.recv() {
        let Job {
            work,
            reply,
            queued_at,
            _share: share,
        } = job;
        stats.waiting.fetch_sub(1, Ordering::Relaxed);
        let started = Instant::now();
        stats
            .wait
            .observe(started.saturating_duration_since(queued_at).as_secs_f64());
        if reply.is_closed() {
            // The client went away while queued; spending 20 ms of a core on it helps nobody.
            continue;
        }
        let outcome = match work {
            Work::Hash(password) => Outcome::Hashed(worker.hash(password.as_bytes())),
            Work::Verify(password, stored) => {
                Outcome::Verified(worker.verify(password.as_bytes(), stored.as_deref()))
            }
        };
        stats.work.observe(started.elapsed().as_secs_f64());
        // The share is given back before the answer, so a client that has its answer can
        // always submit its next job.
        drop(share);
        let _ = reply.send(outcome);
    }
}

struct Worker {
    params: Params,
    memory: Vec<Block>,
    dummy_salt: [u8; SALT_BYTES],
    firebase: Option<Arc<FirebaseScrypt>>,
}

const NO_MATCH: Verification = Verification {
    matches: false,
    needs_rehash: false,
};

impl Worker {
    fn new(firebase: Option<Arc<FirebaseScrypt>>) -> Self {
        let params = current_params();
        let memory = vec![Block::default(); params.block_count()];
        Self {
            params,
            memory,
            dummy_salt: random_bytes::<SALT_BYTES>(),
            firebase,
        }
    }

    fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let salt = random_bytes::<SALT_BYTES>();
        let mut output = [0u8; OUTPUT_BYTES];
        let params = self.params.clone();
        self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            &params,
            password,
            &salt,
            &mut output,
        )?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|_| HashError::Failed)?,
            salt: Some(Salt::new(&salt).map_err(|_| HashError::Failed)?),
            hash: Some(Output::new(&output).map_err(|_| HashError::Failed)?),
        };
        Ok(phc.to_string())
    }

    fn verify(&mut self, password: &[u8], stored: Option<&str>) -> Verification {
        match stored.and_then(StoredHash::parse) {
            Some(StoredHash::Argon2 {
                algorithm,
                version,
                params,
                salt,
                hash,
            }) => {
                let mut output = vec![0u8; hash.len()];
                let computed =
                    self.compute(algorithm, version, &params, password, &salt, &mut output);
                let current = &self.params;
                let needs_rehash = algorithm != Algorithm::Argon2id
                    || version != Version::V0x13
                    || params.m_cost() != current.m_cost()
                    || params.t_cost() != current.t_cost()
                    || params.p_cost() != current.p_cost()
                    || hash.len() != OUTPUT_BYTES;
                Verification {
                    matches: computed.is_ok() && constant_time_eq(&output, hash.as_bytes()),
                    needs_rehash,
                }
            }
            Some(legacy) if legacy.is_verifiable(self.firebase.as_deref()) => Verification {
                matches: legacy.verify_legacy(password, self.firebase.as_deref()),
                needs_rehash: true,
            },
            _ => {
                self.burn_dummy(password);
                NO_MATCH
            }
        }
    }

    /// Spends exactly the work of a real verification on a value nobody knows.
    fn burn_dummy(&mut self, password: &[u8]) {
        let mut output = [0u8; OUTPUT_BYTES];
        let params = self.params.clone();
        let salt = self.dummy_salt;
        let _ = self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            &params,
            password,
            &salt,
            &mut output,
        );
    }

    fn compute(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        output: &mut [u8],
    ) -> Result<(), HashError> {
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let blocks = params.block_count();
        let result = if blocks == self.memory.len() {
            argon2.hash_password_into_with_memory(password, salt, output, &mut self.memory[..])
        } else {
            // A hash made with other parameters (before an upgrade, or imported) gets memory of
            // its own, bounded by `hash_formats::MAX_MEMORY_BYTES`.
            let mut memory = vec![Block::default(); blocks];
            argon2.hash_password_into_with_memory(password, salt, output, &mut memory[..])
        };
        result.map_err(|_| HashError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let pool = PasswordHasher::start(1, 4).unwrap();
        let phc = pool.hash("correct horse".to_owned()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let right = pool
            .verify("correct horse".to_owned(), Some(phc.clone()))
            .await
            .unwrap();
        assert_eq!(
            right,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = pool
            .verify("battery staple".to_owned(), Some(phc))
            .await
            .unwrap();
        assert!(!wrong.matches);
    }

    #[tokio::test]
    async fn an_unknown_user_is_verified_against_a_dummy_and_fails() {
        let pool = PasswordHasher::start(1, 4).unwrap();
        let verdict = pool.verify("anything".to_owned(), None).await.unwrap();
        assert!(!verdict.matches);
    }

    #[tokio::test]
    async fn a_hash_with_older_parameters_matches_but_asks_to_be_redone() {
        let old = Params::new(8_192, 1, 1, Some(32)).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, old);
        let mut output = [0u8; 32];
        let salt = [7u8; 16];
        argon2
            .hash_password_into(b"old password", &salt, &mut output)
            .unwrap();
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(0x13),
            params: ParamsString::try_from(&argon2::Params::new(8_192, 1, 1, Some(32)).unwrap())
                .unwrap(),
            salt: Some(Salt::new(&salt).unwrap()),
            hash: Some(Output::new(&output).unwrap()),
        }
        .to_string();
        let pool = PasswordHasher::start(1, 4).unwrap();
        let verdict = pool
            .verify("old password".to_owned(), Some(phc))
            .await
            .unwrap();
        assert_eq!(
            verdict,
            Verification {
                matches: true,
                needs_rehash: true
            }
        );
    }

    /// The fixtures of tests/fixtures/legacy-hashes/, each made by its format's own library.
    const LEGACY_FIXTURES: &[&str] = &[
        include_str!("../../tests/fixtures/legacy-hashes/argon2i.json"),
        include_str!("../../tests/fixtures/legacy-hashes/argon2id.json"),
        include_str!("../../tests/fixtures/legacy-hashes/bcrypt-2a.json"),
        include_str!("../../tests/fixtures/legacy-hashes/bcrypt-2b.json"),
        include_str!("../../tests/fixtures/legacy-hashes/bcrypt-2y.json"),
        include_str!("../../tests/fixtures/legacy-hashes/django-pbkdf2-sha256.json"),
        include_str!("../../tests/fixtures/legacy-hashes/firebase-scrypt.json"),
        include_str!("../../tests/fixtures/legacy-hashes/scrypt.json"),
    ];

    #[tokio::test]
    async fn every_legacy_fixture_verifies_on_the_pool_and_asks_to_be_replaced() {
        for text in LEGACY_FIXTURES {
            let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
            let firebase = fixture
                .get("project")
                .map(|project| FirebaseScrypt::from_json(&project.to_string()).unwrap());
            let pool = PasswordHasher::start_with_share(1, 4, 4, firebase).unwrap();
            for case in fixture["cases"].as_array().unwrap() {
                let password = case["password"].as_str().unwrap().to_owned();
                let hash = case["hash"].as_str().unwrap().to_owned();
                let right = pool
                    .verify(password.clone(), Some(hash.clone()))
                    .await
                    .unwrap();
                assert_eq!(
                    right,
                    Verification {
                        matches: true,
                        needs_rehash: true
                    },
                    "{} {hash}",
                    fixture["format"]
                );
                let wrong = pool
                    .verify(format!("{password}!"), Some(hash.clone()))
                    .await
                    .unwrap();
                assert!(!wrong.matches, "{hash}");
            }
        }
    }

    #[tokio::test]
    async fn a_firebase_hash_fails_without_the_projects_parameters() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/legacy-hashes/firebase-scrypt.json"
        ))
        .unwrap();
        let case = &fixture["cases"][0];
        let pool = PasswordHasher::start(1, 4).unwrap();
        let verdict = pool
            .verify(
                case["password"].as_str().unwrap().to_owned(),
                Some(case["hash"].as_str().unwrap().to_owned()),
            )
            .await
            .unwrap();
        assert_eq!(verdict, NO_MATCH);
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let pool = PasswordHasher::start(1, 1).unwrap();
        let mut pending = Vec::new();
        for _ in 0..6 {
            let pool = pool.clone();
            pending.push(tokio::spawn(async move {
                pool.verify("x".to_owned(), None).await
            }));
        }
        let mut busy = 0;
        for task in pending {
            if task.await.unwrap() == Err(HashError::Busy) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "six requests on one thread and a queue of one");
    }

    #[tokio::test]
    async fn one_client_holds_at_most_its_share_and_others_still_get_in() {
        let pool = PasswordHasher::start_with_share(1, 8, 2, None).unwrap();
        let flooder: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let mut pending = Vec::new();
        for _ in 0..6 {
            let pool = pool.clone();
            pending.push(tokio::spawn(async move {
                pool.for_client(flooder).verify("x".to_owned(), None).await
            }));
        }
        let mut outcomes = Vec::new();
        for task in pending {
            outcomes.push(task.await.unwrap());
        }
        let busy = outcomes
            .iter()
            .filter(|o| **o == Err(HashError::Busy))
            .count();
        assert!(busy >= 4, "six at once, a share of two: {outcomes:?}");
        // The flooder's share is given back as its jobs finish.
        assert_eq!(pool.for_client(flooder).refuse_if_full(), Ok(()));
        assert!(
            pool.for_client(other)
                .verify("y".to_owned(), None)
                .await
                .is_ok()
        );
        assert!(pool.shares.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_before_submitting() {
        let pool = PasswordHasher::start(1, 1).unwrap();
        assert_eq!(pool.refuse_if_full(), Ok(()));
        let mut pending = Vec::new();
        for _ in 0..2 {
            let pool = pool.clone();
            pending.push(tokio::spawn(async move {
                pool.verify("x".to_owned(), None).await
            }));
        }
        // One verification runs, the other waits in the queue of one.
        let mut full = false;
        for _ in 0..200 {
            if pool.sender.is_full() {
                full = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        if full {
            // The second verification may itself have met a full queue before the thread took
            // the first, so count the refusal relative to what is there.
            let before = pool.stats().rejected();
            assert_eq!(pool.refuse_if_full(), Err(HashError::Busy));
            assert_eq!(pool.stats().rejected(), before + 1);
        }
        for task in pending {
            let outcome = task.await.unwrap();
            assert!(outcome.is_ok() || outcome == Err(HashError::Busy));
        }
        assert_eq!(pool.refuse_if_full(), Ok(()));
        let unqueued = PasswordHasher::start(1, 0).unwrap();
        assert_eq!(
            unqueued.refuse_if_full(),
            Ok(()),
            "a zero bound has no queue to fill"
        );
    }
}
