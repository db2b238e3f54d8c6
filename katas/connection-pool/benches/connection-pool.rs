//! Checkouts per second: your pool (`connection_pool`), the reference
//! (`connection_pool_solution`) and the `r2d2` crate (0.8, the blocking pool
//! people ship for this job, under diesel's and many drivers' pools) side by
//! side in each group.
//!
//! ```text
//! cargo bench -p connection-pool --features solution
//! ```
//!
//! The manager opens free "connections" (a number), so what is measured is
//! the pool itself: one checkout and one return, uncontended, then with four
//! threads sharing two connections (every checkout may wait, every return
//! wakes someone). The crate runs behind the kata's API (`peer` below) with
//! its defaults: it checks a connection (`is_valid`) on every checkout, as
//! the kata does, and opens its connections when the pool is built rather
//! than on first use, which only moves work out of the timed loop. A pool of
//! yours that still panics (`todo!()`) is skipped with a note, and only the
//! reference and the crate are measured.

use std::convert::Infallible;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Threads in the contended benchmark, and the connections they share.
const THREADS: u64 = 4;
const SHARED: usize = 2;

/// A manager whose connections cost nothing to open or check.
struct Free;

macro_rules! free_manager {
    ($krate:ident) => {
        impl $krate::Manager for Free {
            type Connection = u64;
            type Error = Infallible;

            fn connect(&self) -> Result<u64, Infallible> {
                Ok(0)
            }

            fn is_valid(&self, _conn: &mut u64) -> bool {
                true
            }
        }
    };
}

free_manager!(connection_pool);
free_manager!(connection_pool_solution);

/// The `r2d2` crate behind the kata's API, so that it runs the same
/// operations as the other two: the same free manager, the same sizes.
mod peer {
    use std::convert::Infallible;
    use std::time::Duration;

    use super::Free;

    impl r2d2::ManageConnection for Free {
        type Connection = u64;
        type Error = Infallible;

        fn connect(&self) -> Result<u64, Infallible> {
            Ok(0)
        }

        fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
            Ok(())
        }

        fn has_broken(&self, _conn: &mut u64) -> bool {
            false
        }
    }

    pub struct Pool(r2d2::Pool<Free>);

    impl Pool {
        pub fn new(manager: Free, max_size: usize) -> Self {
            let max_size = u32::try_from(max_size).expect("a small pool");
            let pool = r2d2::Pool::builder()
                .max_size(max_size)
                .build(manager)
                .expect("free connections always open");
            Pool(pool)
        }

        pub fn get(&self) -> Result<r2d2::PooledConnection<Free>, r2d2::Error> {
            self.0.get()
        }

        pub fn get_timeout(
            &self,
            timeout: Duration,
        ) -> Result<r2d2::PooledConnection<Free>, r2d2::Error> {
            self.0.get_timeout(timeout)
        }
    }
}

/// One checkout and return on a warm pool of `$krate`, uncontended.
macro_rules! uncontended {
    ($c:expr, $krate:ident, $label:literal) => {{
        let pool = $krate::Pool::new(Free, 4);
        $c.bench_function(BenchmarkId::new($label, "pool of 4"), |b| {
            b.iter(|| {
                let mut conn = pool
                    .get_timeout(Duration::from_secs(1))
                    .expect("a pool of free connections always lends one");
                *conn += 1;
                black_box(*conn)
            })
        });
    }};
}

/// `THREADS` threads sharing `SHARED` connections of `$krate`, each doing
/// its share of the iterations: checkout, touch, return.
macro_rules! contended {
    ($c:expr, $krate:ident, $label:literal) => {{
        $c.bench_function(
            BenchmarkId::new($label, format!("{THREADS} threads, pool of {SHARED}")),
            |b| {
                b.iter_custom(|iters| {
                    let pool = $krate::Pool::new(Free, SHARED);
                    let start = Instant::now();
                    thread::scope(|scope| {
                        for _ in 0..THREADS {
                            scope.spawn(|| {
                                for _ in 0..iters.div_ceil(THREADS) {
                                    let mut conn = pool
                                        .get()
                                        .expect("a pool of free connections always lends one");
                                    *conn += 1;
                                    black_box(*conn);
                                }
                            });
                        }
                    });
                    start.elapsed()
                })
            },
        );
    }};
}

/// Whether your pool runs without panicking, with the panic message
/// silenced: it may still be `todo!()`.
fn implemented() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(|| {
        let pool = connection_pool::Pool::new(Free, 1);
        drop(pool.get_timeout(Duration::from_secs(1)));
        drop(pool.get());
    }))
    .is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your pool panics (still todo!()?): measuring the reference and the crate");
    }
    ok
}

fn checkouts_per_second(c: &mut Criterion) {
    let yours = implemented();

    let mut group = c.benchmark_group("checkout and return");
    group.throughput(Throughput::Elements(1));
    if yours {
        uncontended!(group, connection_pool, "yours");
    }
    uncontended!(group, connection_pool_solution, "reference");
    uncontended!(group, peer, "r2d2 0.8");
    group.finish();

    let mut group = c.benchmark_group("contended checkout and return");
    group.throughput(Throughput::Elements(1));
    if yours {
        contended!(group, connection_pool, "yours");
    }
    contended!(group, connection_pool_solution, "reference");
    contended!(group, peer, "r2d2 0.8");
    group.finish();
}

criterion_group!(benches, checkouts_per_second);
criterion_main!(benches);
