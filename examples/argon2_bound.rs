//! The argon2id bound of `bench/run` (target 1): how many verifications per second a bare loop
//! reaches with as many threads as accountd's hash pool, with the same crate, parameters and
//! per-thread memory reuse as `src/auth/password.rs`, and nothing else (no HTTP, no database, no
//! queue). Login throughput is judged against this figure, measured in the same run because the
//! parallel rate on a shared machine is well below `threads ÷ t_verify`.
//!
//! `cargo run --release --example argon2_bound -- [threads] [seconds]`; prints one JSON line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use accountd::auth::password::current_params;
use argon2::{Algorithm, Argon2, Block, Version};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let threads = match args.next() {
        Some(text) => text.parse::<usize>().map_err(|e| format!("threads: {e}"))?,
        // The hash pool's own default (ACCOUNTD_HASH_POOL_SIZE unset).
        None => std::thread::available_parallelism().map_or(1, usize::from),
    }
    .max(1);
    let seconds = match args.next() {
        Some(text) => text.parse::<f64>().map_err(|e| format!("seconds: {e}"))?,
        None => 10.0,
    };

    // One verification alone first: the serial cost that the parallel rate is compared with.
    let mut worker = Verifier::new();
    worker.verify()?;
    let single_started = Instant::now();
    let mut single_runs = 0u32;
    while single_started.elapsed() < Duration::from_secs(1) || single_runs < 5 {
        worker.verify()?;
        single_runs += 1;
    }
    let single_seconds = single_started.elapsed().as_secs_f64() / f64::from(single_runs);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    let started = Instant::now();
    for _ in 0..threads {
        let stop = Arc::clone(&stop);
        let done = Arc::clone(&done);
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let mut worker = Verifier::new();
            while !stop.load(Ordering::Relaxed) {
                worker.verify()?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    // Verifications still running when the clock stops are finished but not counted.
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for handle in handles {
        handle
            .join()
            .map_err(|_| "a thread panicked".to_owned())??;
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = counted as f64 / elapsed;
    println!(
        "{{\"threads\":{threads},\"seconds\":{elapsed:.3},\"verifies\":{counted},\
         \"verifies_per_second\":{rate:.3},\"single_thread_seconds_per_verify\":{single_seconds:.6},\
         \"ideal_verifies_per_second\":{ideal:.3}}}",
        ideal = threads as f64 / single_seconds
    );
    Ok(())
}

/// What one hash-pool thread does for a verification: argon2id into memory it keeps.
struct Verifier {
    argon2: Argon2<'static>,
    memory: Vec<Block>,
    output: [u8; 32],
}

impl Verifier {
    fn new() -> Self {
        let params = current_params();
        let memory = vec![Block::default(); params.block_count()];
        Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            memory,
            output: [0; 32],
        }
    }

    fn verify(&mut self) -> Result<(), String> {
        self.argon2
            .hash_password_into_with_memory(
                b"correct horse battery staple",
                b"sixteen byte salt",
                &mut self.output,
                &mut self.memory[..],
            )
            .map_err(|error| error.to_string())
    }
}
