//! The memory bound of the circuit-breaker kata, by counting: a closed
//! breaker's memory does not grow with the number of calls, only with its
//! `window`. A counting global allocator needs a test binary of its own,
//! hence this file.
//!
//! `cargo test -p circuit-breaker` judges your code;
//! `cargo test -p circuit-breaker --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use circuit_breaker as subject;
#[cfg(feature = "solution")]
use circuit_breaker_solution as subject;

use std::time::{Duration, Instant};

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Breaker, Config, Outcome, State};

#[global_allocator]
static ALLOC: Counting = Counting;

/// `calls` results through a closed breaker, one failure in four: never
/// enough to trip it.
fn traffic(breaker: &mut Breaker, calls: u32, now: Instant) {
    for i in 0..calls {
        let outcome = if i % 4 == 3 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        match breaker.try_acquire(now) {
            Ok(permit) => breaker.record(permit, outcome, now),
            Err(_) => panic!("a closed breaker admits every call"),
        }
    }
}

#[rstest::rstest]
#[case::a_window_of_10(10)]
#[case::a_window_of_100(100)]
fn memory_stays_within_the_window_however_many_calls_pass(#[case] window: u32) {
    assert!(installed(), "the counting allocator should be installed");
    let now = Instant::now();
    let mut breaker = Breaker::new(Config {
        consecutive_failures: 0,
        failure_rate_percent: 50,
        window,
        minimum_calls: window,
        open_timeout: Duration::from_secs(30),
        half_open_probes: 1,
    });
    // The window fills first: its memory is the breaker's to keep.
    traffic(&mut breaker, 4 * window, now);
    let (usage, ()) = measure(|| traffic(&mut breaker, 10_000, now));
    assert_eq!(
        breaker.state(now),
        State::Closed,
        "one failure in four never reaches a 50% failure rate"
    );
    assert!(
        usage.live_bytes <= 1024,
        "a closed breaker keeps only the last {window} results (O(window) memory), yet 10,000 \
         more calls through it kept {} more bytes alive ({usage:?}): results older than the \
         window should be dropped",
        usage.live_bytes
    );
}
