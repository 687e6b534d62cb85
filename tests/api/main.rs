//! The API suite: every test drives the HTTP API of the real router, once per backend. SQLite
//! always runs; PostgreSQL runs when `TEST_DATABASE_URL` names a server, and CI sets
//! `ACCOUNTD_REQUIRE_POSTGRES=1` so a missing server fails the run instead of skipping it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_holders;
mod accounts;
mod admin;
mod audit;
mod batching;
mod concurrency;
mod connections;
mod console;
mod console_admin_pages;
mod console_members;
mod conventions;
mod downstream;
mod events;
mod faults;
mod filtering;
mod fresh_login;
mod from_api;
mod helpers;
mod idp;
mod integrations;
mod keys;
mod lean_pool;
mod legacy_hashes;
mod limits;
mod metrics;
mod moving;
mod oauth;
mod oidc;
mod openapi;
mod passwordless;
mod raw_http;
mod receiver;
mod resources;
mod scoping;
mod secrets_at_rest;
mod security;
mod self_signup;
mod shutdown;
mod startup;
mod store_conformance;
mod throttling;
mod token_validation;
mod tokens;
mod write_paths;

use std::process::ExitCode;

use accountd::auth::signing_key::JwtAlgorithm;
use helpers::{Backend, Test};
use libtest_mimic::{Arguments, Trial};

/// The modules about account tokens, which also run with tokens signed by Ed25519 and P-256
/// key pairs (`sqlite::eddsa::tokens::…`). The rest of the suite signs as
/// `ACCOUNTD_TEST_JWT_ALG` says (HS256 unless set): a second pass of everything would double
/// CI's time for tests that never look inside a token.
const TOKEN_MODULES: &[&str] = &[
    "account_holders",
    "downstream",
    "fresh_login",
    "keys",
    "scoping",
    "token_validation",
    "tokens",
];

fn is_token_test(test: &Test) -> bool {
    test.name
        .split("::")
        .next()
        .is_some_and(|module| TOKEN_MODULES.contains(&module))
}

fn all_tests() -> Vec<Test> {
    [
        account_holders::tests(),
        accounts::tests(),
        admin::tests(),
        audit::tests(),
        batching::tests(),
        concurrency::tests(),
        connections::tests(),
        console::tests(),
        console_members::tests(),
        console_admin_pages::tests(),
        conventions::tests(),
        downstream::tests(),
        events::tests(),
        faults::tests(),
        filtering::tests(),
        fresh_login::tests(),
        from_api::tests(),
        integrations::tests(),
        keys::tests(),
        lean_pool::tests(),
        legacy_hashes::tests(),
        limits::tests(),
        metrics::tests(),
        moving::tests(),
        oauth::tests(),
        oidc::tests(),
        openapi::tests(),
        passwordless::tests(),
        resources::tests(),
        scoping::tests(),
        secrets_at_rest::tests(),
        security::tests(),
        self_signup::tests(),
        shutdown::tests(),
        startup::tests(),
        store_conformance::tests(),
        throttling::tests(),
        token_validation::tests(),
        tokens::tests(),
        write_paths::tests(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn main() -> ExitCode {
    helpers::capture_logs();
    let mut arguments = Arguments::from_args();
    let postgres = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty());
    let require_postgres =
        std::env::var("ACCOUNTD_REQUIRE_POSTGRES").is_ok_and(|value| value == "1");
    if require_postgres && postgres.is_none() {
        eprintln!(
            "ACCOUNTD_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: PostgreSQL would not be exercised"
        );
        return ExitCode::FAILURE;
    }
    // A trial mostly waits (on its server, the database, a socket), so twice as many trials as
    // cores keep the machine busy; `--test-threads` still decides when given.
    let concurrent_trials = *arguments.test_threads.get_or_insert_with(|| {
        2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let _sqlite_template = match helpers::prepare_sqlite_template() {
        Ok(folder) => folder,
        Err(error) => {
            eprintln!("the SQLite template database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut backends = vec![Backend::Sqlite];
    if let Some(url) = &postgres {
        match helpers::PostgresSlots::prepare(url, concurrent_trials) {
            Ok(slots) => backends.push(Backend::Postgres(std::sync::Arc::new(slots))),
            Err(error) => {
                eprintln!("PostgreSQL at TEST_DATABASE_URL is not usable: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let names: Vec<&str> = backends.iter().map(Backend::name).collect();
    println!("accountd API suite on: {}", names.join(", "));
    if postgres.is_none() {
        println!(
            "PostgreSQL is not exercised (its tests show as ignored): set TEST_DATABASE_URL=postgres://… to run them"
        );
    }

    let tests = all_tests();
    let suite_algorithm = helpers::suite_jwt_algorithm();
    let other_algorithms: Vec<JwtAlgorithm> = [
        JwtAlgorithm::Hs256,
        JwtAlgorithm::EdDsa,
        JwtAlgorithm::Es256,
    ]
    .into_iter()
    .filter(|algorithm| *algorithm != suite_algorithm)
    .collect();
    // (name prefix, algorithm): the suite's own for every test, the others for token tests.
    let mut variants: Vec<(String, &Test, Option<JwtAlgorithm>)> = Vec::new();
    for test in &tests {
        variants.push((test.name.clone(), test, None));
        if is_token_test(test) {
            for algorithm in &other_algorithms {
                let prefix = algorithm.as_str().to_ascii_lowercase();
                variants.push((format!("{prefix}::{}", test.name), test, Some(*algorithm)));
            }
        }
    }
    // ACCOUNTD_TEST_TIMINGS=1 prints each trial's wall time, to find the slow ones.
    let show_timings = std::env::var("ACCOUNTD_TEST_TIMINGS").is_ok_and(|value| value == "1");
    let mut trials = Vec::new();
    for backend in &backends {
        for (name, test, algorithm) in &variants {
            let backend = backend.clone();
            let run = test.run;
            let algorithm = *algorithm;
            let name = format!("{}::{name}", backend.name());
            trials.push(Trial::test(name.clone(), move || {
                let started = std::time::Instant::now();
                let outcome = helpers::run(&backend, algorithm, run);
                if show_timings {
                    eprintln!("timing {:>8.3} s {name}", started.elapsed().as_secs_f64());
                }
                outcome
            }));
        }
    }
    if postgres.is_none() {
        for (name, _, _) in &variants {
            trials
                .push(Trial::test(format!("postgres::{name}"), || Ok(())).with_ignored_flag(true));
        }
    }
    libtest_mimic::run(&arguments, trials).exit_code()
}
