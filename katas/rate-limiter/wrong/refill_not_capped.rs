//! Wrong: refill is never capped at `capacity`, so a client that stays idle
//! banks tokens and then fires a burst far larger than the bucket.
//!
//! Why candidates write it: `level += elapsed * rate` is the whole idea of a
//! token bucket, and the `min(capacity)` is easy to forget when every test
//! they ran by hand drained the bucket first.
//!
//! Caught by: `available_is_the_refill_since_the_bucket_emptied_rounded_down_and_capped`,
//! `capacity_zero_admits_no_request_ever`,
//! `capacity_one_admits_one_request_per_token_interval`,
//! `never_admits_more_than_capacity_plus_the_refill_of_any_interval` and
//! `followup_huge_elapsed_time_never_overflows_and_caps_at_capacity`.

use std::time::{Duration, Instant};

pub use rate_limiter_solution::{Decision, KeyedLimiter, Rate, SharedTokenBucket, SlidingWindow};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u32,
    rate: Rate,
    /// Level in units of 1/`per`-nanoseconds of a token.
    level: u128,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        TokenBucket {
            capacity,
            rate,
            level: u128::from(capacity) * rate.per.as_nanos(),
            updated: now,
        }
    }

    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        self.level = self.level_at(now);
        self.updated = self.updated.max(now);
        let needed = u128::from(tokens) * self.rate.per.as_nanos();
        match self.level.checked_sub(needed) {
            Some(left) => {
                self.level = left;
                true
            }
            None => false,
        }
    }

    pub fn available(&self, now: Instant) -> u32 {
        u32::try_from(self.level_at(now) / self.rate.per.as_nanos()).unwrap_or(u32::MAX)
    }

    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        let needed = u128::from(tokens) * self.rate.per.as_nanos();
        let deficit = needed.saturating_sub(self.level_at(now));
        if deficit == 0 {
            return Some(Duration::ZERO);
        }
        if tokens > self.capacity || self.rate.tokens == 0 {
            return None;
        }
        let wait = deficit.div_ceil(u128::from(self.rate.tokens));
        Some(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        ))
    }

    fn level_at(&self, now: Instant) -> u128 {
        let elapsed = now.saturating_duration_since(self.updated).as_nanos();
        // BUG: no `.min(capacity)`: an idle bucket keeps filling past its size.
        self.level
            .saturating_add(elapsed.saturating_mul(u128::from(self.rate.tokens)))
    }
}
