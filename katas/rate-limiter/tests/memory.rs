//! The README's memory bound, counted: this test binary installs a counting
//! global allocator (`spec_probes::alloc`) and measures the bytes a limiter
//! still holds after heavy traffic. The sliding window keeps only the
//! admitted instants still inside the window, at most `limit` of them, so its
//! memory does not grow with the number of requests it has seen.
//!
//! `cargo test -p rate-limiter` judges your code;
//! `cargo test -p rate-limiter --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use rate_limiter as subject;
#[cfg(feature = "solution")]
use rate_limiter_solution as subject;

use std::time::{Duration, Instant};

use spec_probes::alloc::{self, Counting};
use subject::SlidingWindow;

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn sliding_window_memory_is_bounded_by_the_limit_whatever_the_traffic() {
    assert!(
        alloc::installed(),
        "the counting allocator should be installed"
    );
    const LIMIT: u32 = 100;
    const REQUESTS: u32 = 100_000;
    let t0 = Instant::now();
    let step = Duration::from_millis(10);
    let (usage, (admitted, window)) = alloc::measure(|| {
        let mut window = SlidingWindow::new(LIMIT, Duration::from_secs(1));
        let admitted = (0..REQUESTS)
            .filter(|&i| window.try_acquire(t0 + step * i))
            .count();
        (admitted, window)
    });
    assert_eq!(
        admitted, REQUESTS as usize,
        "one request every 10ms under a limit of {LIMIT} per second never has more than \
         {LIMIT} admitted requests in a window: every one should be admitted"
    );
    let bound = 8 * LIMIT as usize * size_of::<Instant>() + 1024;
    assert!(
        usage.live_bytes <= bound as i64,
        "a sliding window of limit {LIMIT} holds {} bytes after {REQUESTS} admitted requests; \
         it should keep only the admitted instants still inside the window (at most {LIMIT} \
         of them, {} bytes each), so at most {bound} bytes whatever the traffic: drop \
         instants once they leave the window",
        usage.live_bytes,
        size_of::<Instant>()
    );
    drop(window);
}
