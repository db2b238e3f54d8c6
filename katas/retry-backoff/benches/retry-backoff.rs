//! The cost of the retry helper: your code (`retry_backoff`), the reference
//! (`retry_backoff_solution`) and `backon` 1, the retry crate Rust services
//! ship, side by side in each group.
//!
//! ```text
//! cargo bench -p retry-backoff --features solution
//! ```
//!
//! `first call succeeds` is the happy path, what wrapping a call in `retry`
//! costs when nothing fails. `ten attempts` is a dependency that fails nine
//! times with jitter, on a paused tokio clock, so that the backoff sleeps
//! take no real time: the delay arithmetic, the generator and tokio's timer.
//! Both run on a current-thread runtime. A `retry` that still panics
//! (`todo!()`) is skipped with a note, and only the reference (and backon)
//! is measured.
//!
//! How backon is compared fairly: [`backon_peer`] wraps it behind the kata's
//! `retry`, with the same policy in its terms: an exponential backoff from
//! `base` doubling up to `cap`, `max_attempts - 1` retries, a total of
//! `deadline`, jitter from a generator seeded with `seed`, the predicate as
//! its `when` (and its `adjust` for a `Retry-After`), and tokio's `sleep`.
//! Each run makes the same calls and sleeps as often on the same runtime.
//! Two differences: backon's jitter adds up to one delay on top of it
//! (`[d, 2d)`) where the kata's full jitter draws in `[0, d]`, and its
//! budget counts the time slept rather than the time since the first call
//! (the same here: the calls take no time on a paused clock).

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
        group.bench_function(backon_peer::NAME, |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                black_box(runs!(backon_peer, runtime, iterations, failures));
                start.elapsed()
            });
        });
        group.finish();
    }
}

/// backon 1 behind the kata's `retry`, so that the bench's macro drives it
/// exactly as it drives the reference.
mod backon_peer {
    use std::future::Future;

    use backon::{ExponentialBuilder, Retryable as _};

    pub use retry_backoff_solution::{Jitter, Retry, RetryPolicy};

    /// The contender's name in the report.
    pub const NAME: &str = "backon 1";

    /// `policy` as backon's exponential backoff; the retries, their delays
    /// and the sleeps are backon's own (on tokio's `sleep`).
    pub async fn retry<T, E, P, F, Fut>(
        policy: &RetryPolicy,
        is_retryable: P,
        op: F,
    ) -> Result<T, E>
    where
        P: Fn(&E) -> Retry,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let retries = usize::try_from(policy.max_attempts.max(1) - 1).unwrap_or(usize::MAX);
        let mut backoff = ExponentialBuilder::new()
            .with_min_delay(policy.base)
            .with_max_delay(policy.cap)
            .with_max_times(retries)
            .with_total_delay(policy.deadline)
            .with_jitter_seed(policy.seed);
        if policy.jitter != Jitter::None {
            backoff = backoff.with_jitter();
        }
        op.retry(backoff)
            .when(|error| is_retryable(error) != Retry::No)
            .adjust(|error, delay| match is_retryable(error) {
                Retry::After(hint) => delay.map(|_| hint),
                _ => delay,
            })
            .await
    }
}

criterion_group!(benches, retries);
criterion_main!(benches);
