//! Jobs per second: your pool (`thread_pool`), the reference
//! (`thread_pool_solution`) and the `threadpool` crate (1.8, the pool people
//! ship for this job: a fixed set of workers, `execute`, and `join` to wait
//! until every job has run) side by side in each group.
//!
//! ```text
//! cargo bench -p thread-pool --features solution
//! ```
//!
//! Two measurements: the throughput of a burst of tiny jobs (submit 10 000,
//! then wait for idle: the cost of the queue, the lock and the wake-ups per
//! job), and the round trip of a single job on an idle pool (submit one,
//! wait for idle: what a caller that needs the answer at once pays). The
//! crate runs behind the kata's API (`peer` below), its `join` standing in
//! for `wait_idle`. A pool of yours that still panics (`todo!()`) is skipped
//! with a note, and only the reference and the crate are measured.

use std::hint::black_box;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Jobs per burst.
const BURST: usize = 10_000;
/// Workers per pool: the machine this runs on may have two cores.
const WORKERS: usize = 2;

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!(
            "note: your ThreadPool panics (still todo!()?): measuring the reference and the crate"
        );
    }
    ok
}

/// One burst and one round trip on a pool of `$krate`, as a probe: a pool
/// left half-built by a panic is leaked, not dropped, so that a `todo!()`
/// in `drop` cannot panic while unwinding.
macro_rules! probe {
    ($krate:ident) => {{
        let pool = ManuallyDrop::new($krate::ThreadPool::new(WORKERS));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let done = Arc::clone(&done);
            pool.execute(move || {
                done.fetch_add(1, Relaxed);
            });
        }
        pool.wait_idle();
        assert_eq!(done.load(Relaxed), 100, "every job should have run");
        drop(ManuallyDrop::into_inner(pool));
    }};
}

/// Benchmarks a burst of tiny jobs and a single round trip on a pool of
/// `$krate`, labelled `$side`.
macro_rules! measure {
    ($c:expr, $krate:ident, $side:literal) => {{
        let pool = $krate::ThreadPool::new(WORKERS);
        let done = Arc::new(AtomicUsize::new(0));

        let mut group = $c.benchmark_group("burst of tiny jobs");
        group.throughput(Throughput::Elements(BURST as u64));
        group.bench_function(
            BenchmarkId::new($side, format!("{BURST} jobs, {WORKERS} workers")),
            |b| {
                b.iter(|| {
                    for _ in 0..BURST {
                        let done = Arc::clone(&done);
                        pool.execute(move || {
                            done.fetch_add(1, Relaxed);
                        });
                    }
                    pool.wait_idle();
                })
            },
        );
        group.finish();

        let mut group = $c.benchmark_group("round trip of one job");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new($side, format!("{WORKERS} workers")), |b| {
            b.iter(|| {
                let done = Arc::clone(&done);
                pool.execute(move || {
                    done.fetch_add(1, Relaxed);
                });
                pool.wait_idle();
            })
        });
        group.finish();
        black_box(done.load(Relaxed));
    }};
}

/// The `threadpool` crate behind the kata's API, so that it runs the same
/// operations as the other two.
mod peer {
    pub struct ThreadPool(threadpool::ThreadPool);

    impl ThreadPool {
        pub fn new(workers: usize) -> Self {
            ThreadPool(threadpool::ThreadPool::new(workers))
        }

        pub fn execute<F>(&self, job: F)
        where
            F: FnOnce() + Send + 'static,
        {
            self.0.execute(job);
        }

        /// `join` blocks until no job is queued or running: `wait_idle`.
        pub fn wait_idle(&self) {
            self.0.join();
        }
    }
}

fn jobs_per_second(c: &mut Criterion) {
    if implemented(|| probe!(thread_pool)) {
        measure!(c, thread_pool, "yours");
    }
    measure!(c, thread_pool_solution, "reference");
    measure!(c, peer, "threadpool 1.8");
}

criterion_group!(benches, jobs_per_second);
criterion_main!(benches);
