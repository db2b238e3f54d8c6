//! Calls per second through a singleflight: your code (`singleflight`), the
//! reference (`singleflight_solution`) and the `async_singleflight` crate
//! (0.6, the tokio port of Go's singleflight: a map of flights behind
//! tokio's async mutex, one `watch` channel each) side by side in each group.
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
//! The crate runs behind the kata's API (`peer` below): its `work` takes the
//! loader's future rather than the loader, so every caller builds one (an
//! async block that has not started, nearly free). A part of your code that
//! still panics (`todo!()`) is skipped with a note, and only the reference
//! and the crate are measured.

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

/// The `async_singleflight` crate behind the kata's API, so that it runs the
/// same operations as the other two.
mod peer {
    use std::future::Future;
    use std::hash::Hash;

    use async_singleflight::Group;

    pub struct SingleFlight<K, V, E>(Group<K, V, E>);

    impl<K, V, E> SingleFlight<K, V, E>
    where
        K: Hash + Eq + Clone + Send + Sync,
        V: Clone,
        E: Default,
    {
        pub fn new() -> Self {
            SingleFlight(Group::new())
        }

        /// The crate hands a failed load's error to its leader only; the
        /// others get `Err(None)`, here `E::default()` (the bench's loaders
        /// never fail).
        pub async fn get<F, Fut>(&self, key: K, loader: F) -> Result<V, E>
        where
            F: FnOnce() -> Fut,
            Fut: Future<Output = Result<V, E>> + Send,
        {
            self.0
                .work(&key, loader())
                .await
                .map_err(Option::unwrap_or_default)
        }
    }
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(what: &str, probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!(
            "note: your {what} panics (still todo!()?): measuring the reference and the crate"
        );
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
        group.bench_function("async_singleflight 0.6", |b| {
            let run = $workload!(peer);
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
