//! The memory bound of the bulkhead kata, by counting: calls that give up
//! in the queue behind a hung dependency leave nothing behind. A counting
//! global allocator needs a test binary of its own, hence this file.
//!
//! `cargo test -p bulkhead` judges your code;
//! `cargo test -p bulkhead --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use bulkhead as subject;
#[cfg(feature = "solution")]
use bulkhead_solution as subject;

use std::future::{Future, pending, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Bulkhead, BulkheadError};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn calls_that_time_out_in_the_queue_leave_nothing_behind() {
    assert!(installed(), "the counting allocator should be installed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let bulkhead = Bulkhead::new(1, 1);
    // The dependency hangs: a call into it holds the only permit for good.
    let mut hung = pin!(bulkhead.call(Duration::MAX, pending::<()>));
    runtime.block_on(poll_fn(|cx| {
        assert!(
            hung.as_mut().poll(cx).is_pending(),
            "a call into a dependency that never answers keeps running"
        );
        Poll::Ready(())
    }));
    assert_eq!(bulkhead.in_flight(), 1, "the hung call holds the permit");
    let give_up = |calls: u32| {
        runtime.block_on(async {
            for _ in 0..calls {
                let result = bulkhead.call(Duration::from_millis(10), || async {}).await;
                assert_eq!(
                    result,
                    Err(BulkheadError::TimedOut),
                    "behind a hung call, a queued call times out"
                );
            }
        });
    };
    give_up(10);
    let (usage, ()) = measure(|| give_up(2_000));
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (1, 0),
        "the hung call still runs, and nothing waits: (in_flight, queued)"
    );
    assert!(
        usage.live_bytes <= 1024,
        "2,000 calls queued behind a hung dependency and gave up, one after the other: they \
         should leave nothing behind (everything a call holds is given back at that moment), \
         yet {} more bytes are still allocated ({usage:?})",
        usage.live_bytes
    );
}
