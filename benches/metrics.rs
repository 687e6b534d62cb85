//! What recording costs on the request path: every answered request records one latency
//! observation under its method, matched route and status class, and a login counts its
//! outcome. Measured alone and with a second thread recording the same series, since every
//! request of one route shares it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use accountd::metrics::{LoginMechanism, LoginOutcome, Metrics};
use axum::http::{Method, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};

const ROUTE: &str = "/v2/accounts/{account_id}";

fn metrics(c: &mut Criterion) {
    let metrics = Metrics::new().unwrap();
    // Every series of a realistic server exists already: the first request of a route pays for
    // creating it once.
    for route in ["/v2/accounts", ROUTE, "/v2/account-members/tokens"] {
        metrics.observe_request(&Method::GET, route, StatusCode::OK, Duration::ZERO);
    }
    c.bench_function("metrics/observe_request", |b| {
        b.iter(|| {
            metrics.observe_request(
                black_box(&Method::GET),
                black_box(ROUTE),
                StatusCode::OK,
                black_box(Duration::from_micros(700)),
            );
        });
    });
    c.bench_function("metrics/count_login", |b| {
        b.iter(|| {
            metrics.count_login(
                black_box(LoginMechanism::Password),
                black_box(LoginOutcome::Success),
            );
        });
    });

    let shared = Arc::new(Metrics::new().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let rival = {
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                shared.observe_request(
                    &Method::GET,
                    ROUTE,
                    StatusCode::OK,
                    Duration::from_micros(700),
                );
            }
        })
    };
    c.bench_function("metrics/observe_request_contended", |b| {
        b.iter(|| {
            shared.observe_request(
                black_box(&Method::GET),
                black_box(ROUTE),
                StatusCode::OK,
                black_box(Duration::from_micros(700)),
            );
        });
    });
    stop.store(true, Ordering::Relaxed);
    rival.join().unwrap();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
