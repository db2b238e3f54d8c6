//! Wrong: the shared bucket checks that enough tokens are there under one
//! lock and takes them under another, so two threads can both see the last
//! token and both take it: the bucket admits more than it holds.
//!
//! Why candidates write it: each step is locked, so it looks thread-safe, and
//! a stress test almost never lands a second thread in the gap between the
//! two locks. Loom runs every interleaving and finds it at once.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `racing_threads_never_take_more_tokens_than_the_bucket_holds`,
//! `racing_multi_token_requests_are_taken_whole_or_not_at_all`,
//! `a_refilled_token_goes_to_exactly_one_of_the_racing_threads` and
//! `a_thread_with_an_older_instant_refills_nothing_whichever_runs_first`.
//! The threaded spec test
//! `shared_bucket_never_admits_more_than_capacity_plus_refill_across_threads`
//! catches it only when the scheduler happens to hit the gap.

mod sync;

use std::time::Instant;

use crate::sync::Mutex;

pub use rate_limiter_solution::{Decision, KeyedLimiter, Rate, SlidingWindow, TokenBucket};

#[derive(Debug)]
pub struct SharedTokenBucket {
    bucket: Mutex<Level>,
}

/// The level in units of 1/`per`-nanoseconds of a token, and when it was last
/// brought up to date.
#[derive(Debug)]
struct Level {
    capacity: u128,
    rate: Rate,
    units: u128,
    updated: Instant,
}

impl Level {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_nanos();
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(u128::from(self.rate.tokens)))
            .min(self.capacity);
        self.updated = self.updated.max(now);
    }

    fn of(&self, tokens: u32) -> u128 {
        u128::from(tokens) * self.rate.per.as_nanos()
    }
}

impl SharedTokenBucket {
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        let full = u128::from(capacity) * rate.per.as_nanos();
        SharedTokenBucket {
            bucket: Mutex::new(Level {
                capacity: full,
                rate,
                units: full,
                updated: now,
            }),
        }
    }

    pub fn try_acquire(&self, tokens: u32, now: Instant) -> bool {
        // Check...
        let enough = {
            let mut level = self.bucket.lock().unwrap();
            level.refill(now);
            level.units >= level.of(tokens)
        };
        if !enough {
            return false;
        }
        // BUG: ...then act under a second lock. Another thread may have taken
        // the same tokens in between, and `saturating_sub` hides it.
        let mut level = self.bucket.lock().unwrap();
        let needed = level.of(tokens);
        level.units = level.units.saturating_sub(needed);
        true
    }

    pub fn available(&self, now: Instant) -> u32 {
        let mut level = self.bucket.lock().unwrap();
        level.refill(now);
        u32::try_from(level.units / level.rate.per.as_nanos()).unwrap_or(u32::MAX)
    }
}
