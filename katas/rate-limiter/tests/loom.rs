//! Loom model checks of `SharedTokenBucket`: every interleaving of a few
//! threads (up to the preemption bound) is run, so a check-then-act race that
//! a stress test hits once in a million runs fails here every time.
//!
//! Built only under the project's own cfg, with the bucket's `crate::sync`
//! switched to loom's primitives:
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p rate-limiter --test loom \
//!     --profile loom --target-dir target/loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 3.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use rate_limiter as subject;
#[cfg(feature = "solution")]
use rate_limiter_solution as subject;

use std::time::{Duration, Instant};

use loom::sync::Arc;
use loom::thread;
use subject::{Rate, SharedTokenBucket};

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

/// Runs one `try_acquire(tokens, at)` per entry on its own thread and returns
/// which were admitted, in the same order.
fn race(bucket: &Arc<SharedTokenBucket>, requests: &[(u32, Instant)]) -> Vec<bool> {
    let threads: Vec<_> = requests
        .iter()
        .map(|&(tokens, at)| {
            let bucket = Arc::clone(bucket);
            thread::spawn(move || bucket.try_acquire(tokens, at))
        })
        .collect();
    threads
        .into_iter()
        .map(|thread| thread.join().expect("a requesting thread panicked"))
        .collect()
}

#[test]
fn racing_threads_never_take_more_tokens_than_the_bucket_holds() {
    let t0 = Instant::now();
    check(move || {
        // Capacity 2, no refill: three threads race for the two tokens.
        let bucket = Arc::new(SharedTokenBucket::new(2, Rate::per_second(0), t0));
        let admitted = race(&bucket, &[(1, t0), (1, t0), (1, t0)]);
        let count = admitted.iter().filter(|&&ok| ok).count();
        assert_eq!(
            count, 2,
            "3 threads each asking for 1 token of a shared bucket of 2 that never refills \
             should be admitted exactly twice under every interleaving; admitted: {admitted:?}"
        );
        assert_eq!(
            bucket.available(t0),
            0,
            "both tokens of the shared bucket should have been taken"
        );
    });
}

#[test]
fn racing_multi_token_requests_are_taken_whole_or_not_at_all() {
    let t0 = Instant::now();
    check(move || {
        // Capacity 3: two requests for 2 tokens each cannot both fit.
        let bucket = Arc::new(SharedTokenBucket::new(3, Rate::per_second(0), t0));
        let admitted = race(&bucket, &[(2, t0), (2, t0)]);
        let count = admitted.iter().filter(|&&ok| ok).count();
        assert_eq!(
            count, 1,
            "2 threads each asking for 2 tokens of a shared bucket of 3 should be admitted \
             exactly once under every interleaving; admitted: {admitted:?}"
        );
        assert_eq!(
            bucket.available(t0),
            1,
            "one request for 2 of 3 tokens was admitted: 1 token should be left \
             (a refused request takes nothing)"
        );
    });
}

#[test]
fn a_refilled_token_goes_to_exactly_one_of_the_racing_threads() {
    let t0 = Instant::now();
    let due = t0 + Duration::from_secs(1);
    check(move || {
        // Capacity 1 at 1 per second, emptied at t0: one token is due at t0 + 1s.
        let bucket = Arc::new(SharedTokenBucket::new(1, Rate::per_second(1), t0));
        assert!(
            bucket.try_acquire(1, t0),
            "a new shared bucket of 1 should start full"
        );
        let admitted = race(&bucket, &[(1, due), (1, due)]);
        let count = admitted.iter().filter(|&&ok| ok).count();
        assert_eq!(
            count, 1,
            "one token refills by t0 + 1s: of 2 threads asking for it then, exactly one \
             should be admitted under every interleaving; admitted: {admitted:?}"
        );
        assert_eq!(
            bucket.available(due),
            0,
            "the refilled token should have been taken"
        );
    });
}

#[test]
fn a_thread_with_an_older_instant_refills_nothing_whichever_runs_first() {
    let t0 = Instant::now();
    let half = t0 + Duration::from_millis(500);
    let due = t0 + Duration::from_secs(1);
    check(move || {
        // Capacity 1 at 1 per second, emptied at t0. A thread that read the
        // clock at t0 + 500ms may reach the bucket after one that read t0 + 1s.
        let bucket = Arc::new(SharedTokenBucket::new(1, Rate::per_second(1), t0));
        assert!(
            bucket.try_acquire(1, t0),
            "a new shared bucket of 1 should start full"
        );
        let admitted = race(&bucket, &[(1, due), (1, half)]);
        assert_eq!(
            admitted,
            [true, false],
            "only the request at t0 + 1s finds a whole token, whichever thread reaches the \
             bucket first: [admitted at t0 + 1s, admitted at t0 + 500ms]"
        );
        assert_eq!(
            bucket.available(due),
            0,
            "an out-of-order instant must not make the bucket refill the same time twice"
        );
    });
}

#[test]
fn available_never_reports_more_tokens_than_the_bucket_holds_while_another_thread_takes_one() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(1);
    check(move || {
        // Capacity 3 at 2 per second, emptied at t0: 2 tokens by t0 + 1s.
        // One thread takes one of them while another asks how many there are.
        let bucket = Arc::new(SharedTokenBucket::new(3, Rate::per_second(2), t0));
        assert!(
            bucket.try_acquire(3, t0),
            "a new shared bucket of 3 should start full"
        );
        let taker = {
            let bucket = Arc::clone(&bucket);
            thread::spawn(move || bucket.try_acquire(1, later))
        };
        let seen = bucket.available(later);
        assert!(
            taker.join().expect("the requesting thread panicked"),
            "2 tokens refill by t0 + 1s: a request for 1 then should be admitted"
        );
        assert!(
            seen == 2 || seen == 1,
            "at t0 + 1s the bucket holds 2 tokens before the other thread takes one and 1 \
             after: available should report one of those under every interleaving, not \
             {seen} (a refill counted twice from a half-updated snapshot)"
        );
        assert_eq!(
            bucket.available(later),
            1,
            "one of the 2 refilled tokens was taken"
        );
    });
}
