//! The cost of the retry helper: your code (`retry_backoff`) and the
//! reference (`retry_backoff_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p retry-backoff --features solution
//! ```
//!
//! `first call succeeds` is the happy path, what wrapping a call in `retry`
//! costs when nothing fails. `ten attempts` is a dependency that fails nine
//! times with full jitter, on a paused tokio clock, so that the backoff
//! sleeps take no real time: the delay arithmetic, the generator and tokio's
//! timer. Both run on a current-thread runtime. A `retry` that still panics
//! (`todo!()`) is skipped with a note, and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// `iterations` runs of `retry` of `$krate` against a dependency that fails
/// `$failures` times, then succeeds.
macro_rules! runs {
    ($krate:ident, $runtime:expr, $iterations:expr, $failures:expr) => {{
        let policy = $krate::RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_secs(1),
            max_attempts: 20,
            deadline: Some(Duration::from_secs(60)),
            jitter: $krate::Jitter::Full,
            seed: 7,
        };
        $runtime.block_on(async {
            let mut total = 0u64;
            for _ in 0..$iterations {
                let mut calls = 0u32;
                let result = $krate::retry(
                    &policy,
                    |_: &u32| $krate::Retry::Yes,
                    || {
                        calls += 1;
                        let call = calls;
                        async move {
                            if call > $failures {
                                Ok(call)
                            } else {
                                Err(call)
                            }
                        }
                    },
                )
                .await;
                total += u64::from(result.unwrap_or(0));
            }
            total
        })
    }};
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your retry panics (still todo!()?): measuring only the reference");
    }
    ok
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread tokio runtime")
}

fn retries(c: &mut Criterion) {
    let runtime = paused_runtime();
    let yours = implemented(|| {
        black_box(runs!(retry_backoff, runtime, 1, 1u32));
    });
    for (group, failures) in [
        ("retry: first call succeeds", 0u32),
        ("retry: ten attempts", 9),
    ] {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Elements(1));
        if yours {
            group.bench_function("yours", |b| {
                b.iter_custom(|iterations| {
                    let start = Instant::now();
                    black_box(runs!(retry_backoff, runtime, iterations, failures));
                    start.elapsed()
                });
            });
        }
        group.bench_function("reference", |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                black_box(runs!(retry_backoff_solution, runtime, iterations, failures));
                start.elapsed()
            });
        });
        group.finish();
    }
}

criterion_group!(benches, retries);
criterion_main!(benches);
