//! Your code beside the reference and a baseline:
//! `cargo bench -p dead-letter-queue --features solution`.
//!
//! No crate batches items with per-item retries and a dead-letter store, so
//! the baseline is the nearest honest design: each item handled alone, in
//! turn, retried with `backon`'s exponential backoff (the retry crate Rust
//! services ship), the items that run out of retries collected as dead
//! letters; no batching (`per_item_backon` below).
//!
//! One workload, on tokio's current-thread runtime: 10,000 items, one in 10
//! failing its first attempt and one in 1,000 failing every attempt (3), no
//! backoff wait (zero delays, so the bench measures the machinery, not
//! sleeps; the baseline's sleeper skips zero delays, which tokio's timer
//! would otherwise round up to a millisecond each). The downstream costs one round trip per call, modelled as a
//! fixed amount of CPU work (`round_trip`) plus a yield to the runtime, and a
//! little work per item: what batching saves is the round trips.

use std::hint::black_box;
use std::panic;

use criterion::{Criterion, criterion_group, criterion_main};

/// Items per run.
const ITEMS: u64 = 10_000;
/// Items per batch.
const MAX_ITEMS: usize = 100;

/// One round trip to the downstream: a fixed amount of work (about a
/// microsecond), the same for a call of 1 item or of 100.
async fn round_trip() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..1_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x);
    tokio::task::yield_now().await;
}

/// Whether item `n` fails on attempt `attempt`.
fn fails(n: u64, attempt: u32) -> bool {
    n % 1_000 == 999 || (n % 10 == 3 && attempt == 1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

/// The same run on the learner's code and on the reference.
macro_rules! api {
    ($module:ident, $krate:ident) => {
        mod $module {
            use std::time::Duration;

            use super::{ITEMS, MAX_ITEMS, fails, round_trip};
            use $krate::{Config, Consumer, Delivery, Failure};

            /// Processes `ITEMS` items; returns (acknowledged, dead).
            pub async fn run() -> (usize, usize) {
                let config = Config {
                    max_items: MAX_ITEMS,
                    linger: Duration::from_millis(1),
                    max_attempts: 3,
                    initial_backoff: Duration::ZERO,
                    max_backoff: Duration::ZERO,
                };
                let (consumer, mut acks) =
                    Consumer::spawn(config, |batch: Vec<Delivery<u64>>| async move {
                        round_trip().await;
                        batch
                            .iter()
                            .filter(|d| fails(std::hint::black_box(d.payload), d.attempt))
                            .map(|d| Failure::new(d.id, "refused"))
                            .collect()
                    })
                    .expect("a valid config");
                for n in 0..ITEMS {
                    if consumer.submit(n).is_err() {
                        panic!("a running consumer accepts items");
                    }
                }
                consumer.shutdown().await;
                let mut acked = 0;
                while acks.try_recv().is_ok() {
                    acked += 1;
                }
                (acked, consumer.dead_letters().len())
            }
        }
    };
}

api!(yours, dead_letter_queue);
api!(reference, dead_letter_queue_solution);

/// The baseline: each item alone, retried by backon (3 attempts, zero
/// delays), a dead letter once its retries are spent.
mod per_item_backon {
    use backon::{ExponentialBuilder, Retryable as _};

    use super::{ITEMS, fails, round_trip};

    pub const NAME: &str = "per item, backon retry";

    pub async fn run() -> (usize, usize) {
        let backoff = ExponentialBuilder::new()
            .with_min_delay(std::time::Duration::ZERO)
            .with_max_delay(std::time::Duration::ZERO)
            .with_max_times(2);
        let mut acked = 0;
        let mut dead: Vec<(u64, String)> = Vec::new();
        for n in 0..ITEMS {
            let mut attempt = 0;
            let outcome = (|| {
                attempt += 1;
                let attempt = attempt;
                async move {
                    round_trip().await;
                    if fails(std::hint::black_box(n), attempt) {
                        Err("refused")
                    } else {
                        Ok(())
                    }
                }
            })
            .retry(backoff)
            // tokio's timer rounds even a zero sleep up to its next
            // millisecond tick: a zero delay does not sleep at all, as in
            // the consumer.
            .sleep(|delay: std::time::Duration| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            })
            .await;
            match outcome {
                Ok(()) => acked += 1,
                Err(error) => dead.push((n, error.to_owned())),
            }
        }
        (acked, dead.len())
    }
}

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| runtime().block_on(yours::run())).is_ok();
    panic::set_hook(hook);
    ready
}

fn pipeline(c: &mut Criterion) {
    let rt = runtime();
    let expected = (ITEMS as usize - 10, 10);
    assert_eq!(
        rt.block_on(reference::run()),
        expected,
        "the reference's outcome"
    );
    assert_eq!(
        rt.block_on(per_item_backon::run()),
        expected,
        "the baseline's outcome"
    );
    let mut group = c.benchmark_group("10,000 items, 10% transient failures");
    if learner_ready() {
        group.bench_function("yours", |b| b.iter(|| black_box(rt.block_on(yours::run()))));
    } else {
        println!(
            "your Consumer is still todo!(): benchmarking the reference and the baseline only"
        );
    }
    group.bench_function("reference", |b| {
        b.iter(|| black_box(rt.block_on(reference::run())))
    });
    group.bench_function(per_item_backon::NAME, |b| {
        b.iter(|| black_box(rt.block_on(per_item_backon::run())))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
