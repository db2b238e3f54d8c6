//! Calls per second through a breaker: your code (`circuit_breaker`) and the
//! reference (`circuit_breaker_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p circuit-breaker --features solution
//! ```
//!
//! `Breaker` is the state machine alone: one `try_acquire` and one `record`
//! per call, under traffic with a failure in every eight calls and a
//! failure-rate window of 100, so the window turns over and the breaker stays
//! closed. `CircuitBreaker::call` is the same traffic through the async
//! breaker on a current-thread tokio runtime, with a dependency that answers
//! at once: what the breaker adds to every call. A part of your code that
//! still panics (`todo!()`) is skipped with a note, and only the reference is
//! measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Trips only at 50% failures over the last 100 calls: never, under this
/// traffic.
macro_rules! config {
    ($krate:ident) => {
        $krate::Config {
            consecutive_failures: 5,
            failure_rate_percent: 50,
            window: 100,
            minimum_calls: 20,
            open_timeout: Duration::from_secs(30),
            half_open_probes: 3,
        }
    };
}

/// One call through the state machine of `$krate`: admit, then record.
macro_rules! state_machine {
    ($krate:ident) => {{
        let t0 = Instant::now();
        let mut breaker = $krate::Breaker::new(config!($krate));
        let mut tick = 0u64;
        move || {
            tick += 1;
            let now = t0 + Duration::from_nanos(tick * 100);
            let admitted = breaker.try_acquire(now);
            if let Ok(permit) = admitted {
                let outcome = if tick % 8 == 0 {
                    $krate::Outcome::Failure
                } else {
                    $krate::Outcome::Success
                };
                breaker.record(permit, outcome, now);
                true
            } else {
                false
            }
        }
    }};
}

/// `calls` calls through the async breaker of `$krate` on `runtime`.
macro_rules! async_calls {
    ($krate:ident, $runtime:expr, $calls:expr) => {{
        let breaker = $krate::CircuitBreaker::new(config!($krate));
        $runtime.block_on(async {
            let mut ok = 0u64;
            for tick in 0..$calls {
                let result = breaker
                    .call(|| async move { if tick % 8 == 0 { Err(tick) } else { Ok(tick) } })
                    .await;
                ok += u64::from(result.is_ok());
            }
            ok
        })
    }};
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(what: &str, probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your {what} panics (still todo!()?): measuring only the reference");
    }
    ok
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime")
}

fn calls_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("Breaker::try_acquire+record");
    group.throughput(Throughput::Elements(1));
    if implemented("Breaker", || {
        let mut call = state_machine!(circuit_breaker);
        call();
    }) {
        group.bench_function("yours", |b| {
            let mut call = state_machine!(circuit_breaker);
            b.iter(|| black_box(call()));
        });
    }
    group.bench_function("reference", |b| {
        let mut call = state_machine!(circuit_breaker_solution);
        b.iter(|| black_box(call()));
    });
    group.finish();

    let runtime = runtime();
    let mut group = c.benchmark_group("CircuitBreaker::call");
    group.throughput(Throughput::Elements(1));
    if implemented("CircuitBreaker", || {
        black_box(async_calls!(circuit_breaker, runtime, 1u64));
    }) {
        group.bench_function("yours", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(async_calls!(circuit_breaker, runtime, iters));
                start.elapsed()
            });
        });
    }
    group.bench_function("reference", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(async_calls!(circuit_breaker_solution, runtime, iters));
            start.elapsed()
        });
    });
    group.finish();
}

criterion_group!(benches, calls_per_second);
criterion_main!(benches);
