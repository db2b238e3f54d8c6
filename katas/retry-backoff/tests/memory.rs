//! The memory bound of the retry-backoff kata, by counting: a run of 2,000
//! attempts allocates no more than a run of 20. A counting global allocator
//! needs a test binary of its own, hence this file.
//!
//! `cargo test -p retry-backoff` judges your code;
//! `cargo test -p retry-backoff --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use retry_backoff as subject;
#[cfg(feature = "solution")]
use retry_backoff_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, Usage, installed, measure};
use subject::{Jitter, Retry, RetryPolicy, retry};

#[global_allocator]
static ALLOC: Counting = Counting;

/// What one `retry` of `attempts` failing calls allocates, on a paused
/// current-thread runtime built beforehand (the runtime's own allocations
/// are not the helper's).
fn allocations_of_a_run(attempts: u32, jitter: Jitter) -> Usage {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread tokio runtime");
    let policy = RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(50),
        max_attempts: attempts,
        deadline: Some(Duration::from_secs(24 * 3600)),
        jitter,
        seed: 42,
    };
    let mut calls = 0u32;
    let (usage, result) = measure(|| {
        runtime.block_on(retry(
            &policy,
            |_: &[u64; 8]| Retry::Yes,
            || {
                calls += 1;
                let error = [u64::from(calls); 8];
                async move { Err::<(), _>(error) }
            },
        ))
    });
    assert_eq!(
        result,
        Err([u64::from(attempts); 8]),
        "a dependency that always fails: retry should return the last call's error"
    );
    usage
}

#[rstest::rstest]
#[case::no_jitter(Jitter::None)]
#[case::full_jitter(Jitter::Full)]
#[case::decorrelated_jitter(Jitter::Decorrelated)]
fn memory_does_not_grow_with_the_number_of_attempts(#[case] jitter: Jitter) {
    assert!(installed(), "the counting allocator should be installed");
    let few = allocations_of_a_run(20, jitter);
    let many = allocations_of_a_run(2_000, jitter);
    assert!(
        many.bytes_allocated <= few.bytes_allocated + 1024,
        "{jitter:?} jitter: retry should use O(1) memory whatever the number of attempts (no \
         list of past delays or errors; keep the last error only), yet 2,000 failed attempts \
         allocated {} bytes and 20 attempts {} ({many:?} against {few:?})",
        many.bytes_allocated,
        few.bytes_allocated
    );
}
