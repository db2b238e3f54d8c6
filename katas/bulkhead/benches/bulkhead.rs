//! Calls per second through a bulkhead: your code (`bulkhead`), the
//! reference (`bulkhead_solution`) and a floor (`tokio Semaphore + timeout`)
//! side by side in each group.
//!
//! ```text
//! cargo bench -p bulkhead --features solution
//! ```
//!
//! No crate does a bulkhead's whole job (a bounded queue with fast
//! rejection, one deadline over the wait and the run, deadlines that travel
//! with the task), so the yardstick is the piece every async bulkhead is
//! built on: a bare `tokio::sync::Semaphore` of `max_concurrent` permits,
//! the call's wait and run under one `tokio::time::timeout` (`floor` below).
//! It has no queue bound, no rejection and no deadline propagation: what the
//! reference costs above it is the price of those.
//!
//! The clock is real here (not paused), on a current-thread runtime:
//!
//! - `uncontended`: one call at a time into an idle compartment, with a
//!   timeout; the overhead a bulkhead adds to every call (a permit, a timer).
//! - `64 tasks, 4 permits`: 64 tasks call at once into a compartment of 4
//!   with a queue of 64, each call yielding once while it holds its permit;
//!   the cost of queueing and handing permits on.
//!
//! A part of your code that still panics (`todo!()`) is skipped with a
//! note, and only the reference and the floor are measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Callers in the contended benchmark.
const TASKS: usize = 64;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

/// One call into an idle bulkhead of `$krate`, returning its output.
macro_rules! uncontended {
    ($krate:ident) => {{
        let bulkhead = $krate::Bulkhead::new(4, 4);
        move |rt: &Runtime| {
            rt.block_on(bulkhead.call(Duration::from_secs(1), || async { black_box(1u64) }))
                .is_ok()
        }
    }};
}

/// `TASKS` tasks calling at once into a bulkhead of 4 of `$krate`.
macro_rules! contended {
    ($krate:ident) => {{
        let bulkhead = Arc::new($krate::Bulkhead::new(4, TASKS));
        move |rt: &Runtime| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let bulkhead = Arc::clone(&bulkhead);
                        tokio::spawn(async move {
                            bulkhead
                                .call(Duration::from_secs(1), || tokio::task::yield_now())
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

/// The floor: a bare tokio semaphore behind the kata's API, its permit and
/// the call under one timeout. `max_queued` is ignored: nothing is ever
/// rejected, every caller waits.
mod floor {
    use std::future::Future;
    use std::time::Duration;

    use tokio::sync::Semaphore;
    use tokio::time::error::Elapsed;

    pub struct Bulkhead(Semaphore);

    impl Bulkhead {
        pub fn new(max_concurrent: usize, _max_queued: usize) -> Self {
            Bulkhead(Semaphore::new(max_concurrent))
        }

        pub async fn call<F, Fut, T>(&self, timeout: Duration, f: F) -> Result<T, Elapsed>
        where
            F: FnOnce() -> Fut,
            Fut: Future<Output = T>,
        {
            tokio::time::timeout(timeout, async {
                let _permit = self
                    .0
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                f().await
            })
            .await
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
            "note: your {what} panics (still todo!()?): measuring the reference and the floor"
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
            let run = $workload!(bulkhead);
            run(&runtime());
        }) {
            group.bench_function("yours", |b| {
                let run = $workload!(bulkhead);
                b.iter(|| black_box(run(&rt)));
            });
        }
        group.bench_function("reference", |b| {
            let run = $workload!(bulkhead_solution);
            b.iter(|| black_box(run(&rt)));
        });
        group.bench_function("tokio Semaphore + timeout", |b| {
            let run = $workload!(floor);
            b.iter(|| black_box(run(&rt)));
        });
        group.finish();
    }};
}

fn calls_per_second(c: &mut Criterion) {
    side_by_side!(c, "Bulkhead::call uncontended", 1, uncontended);
    side_by_side!(
        c,
        "Bulkhead::call 64 tasks, 4 permits",
        TASKS as u64,
        contended
    );
}

criterion_group!(benches, calls_per_second);
criterion_main!(benches);
