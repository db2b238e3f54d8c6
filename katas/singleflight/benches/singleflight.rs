//! Calls per second through a singleflight: your code (`singleflight`) and
//! the reference (`singleflight_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p singleflight --features solution
//! ```
//!
//! The clock is real here (not paused), on a current-thread runtime:
//!
//! - `uncontended`: one call at a time, whose loader answers at once; the
//!   overhead of registering a flight, publishing and forgetting it.
//! - `64 tasks, one key`: 64 tasks ask for one key at once and the loader
//!   yields once, so one of them loads and 63 wait for it.
//! - `64 tasks, 64 keys`: 64 tasks ask for 64 different keys at once: 64
//!   flights side by side.
//!
//! A part of your code that still panics (`todo!()`) is skipped with a
//! note, and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Callers in the contended benchmarks.
const TASKS: u64 = 64;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

/// One call at a time, for one key, into a singleflight of `$krate`.
macro_rules! uncontended {
    ($krate:ident) => {{
        let flights = $krate::SingleFlight::<u64, u64, ()>::new();
        move |rt: &Runtime| {
            rt.block_on(flights.get(7, || async { Ok(black_box(42)) }))
                .is_ok()
        }
    }};
}

/// `TASKS` tasks at once into a singleflight of `$krate`, asking for
/// `key(i)`; each loader yields once before it answers.
macro_rules! contended {
    ($krate:ident, $key:expr) => {{
        let flights = Arc::new($krate::SingleFlight::<u64, u64, ()>::new());
        move |rt: &Runtime| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let flights = Arc::clone(&flights);
                        tokio::spawn(async move {
                            flights
                                .get($key(i), || async {
                                    tokio::task::yield_now().await;
                                    Ok(42)
                                })
                                .await
                                .is_ok()
                        })
                    })
                    .collect();
                let mut ok = 0;
                for task in tasks {
                    ok += usize::from(matches!(task.await, Ok(true)));
                }
                ok
            })
        }
    }};
}

macro_rules! one_key {
    ($krate:ident) => {
        contended!($krate, |_| 7)
    };
}

macro_rules! many_keys {
    ($krate:ident) => {
        contended!($krate, |i| i)
    };
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

/// Benchmarks one workload of each crate in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $elements:expr, $workload:ident) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements($elements));
        let rt = runtime();
        if implemented($group, || {
            let run = $workload!(singleflight);
            run(&runtime());
        }) {
            group.bench_function("yours", |b| {
                let run = $workload!(singleflight);
                b.iter(|| black_box(run(&rt)));
            });
        }
        group.bench_function("reference", |b| {
            let run = $workload!(singleflight_solution);
            b.iter(|| black_box(run(&rt)));
        });
        group.finish();
    }};
}

fn calls_per_second(c: &mut Criterion) {
    side_by_side!(c, "SingleFlight::get uncontended", 1, uncontended);
    side_by_side!(c, "SingleFlight::get 64 tasks, one key", TASKS, one_key);
    side_by_side!(c, "SingleFlight::get 64 tasks, 64 keys", TASKS, many_keys);
}

criterion_group!(benches, calls_per_second);
criterion_main!(benches);
