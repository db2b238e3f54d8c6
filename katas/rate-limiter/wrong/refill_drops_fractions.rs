//! Wrong: each call adds only the whole tokens earned since the last call and
//! then resets the timestamp, so the fraction of a token earned in between is
//! thrown away; a client polling faster than one token interval never earns
//! anything.
//!
//! Why candidates write it: integer tokens and `last = now` on every call is
//! the simplest bucket there is, and it behaves when requests are sparse.
//!
//! Caught by: `continuous_refill_keeps_fractions_of_a_token`,
//! `polling_faster_than_the_refill_still_earns_every_token`,
//! `admits_a_request_exactly_when_its_token_is_due` (the refused request 1ns
//! early throws away the progress) and
//! `followup_retry_after_is_exact_to_the_nanosecond`.

use std::time::{Duration, Instant};

pub use rate_limiter_solution::{Decision, KeyedLimiter, Rate, SharedTokenBucket, SlidingWindow};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u32,
    rate: Rate,
    tokens: u32,
    last_refill: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        TokenBucket {
            capacity,
            rate,
            tokens: capacity,
            last_refill: now,
        }
    }

    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        // BUG: the timestamp moves to `now` even though the fraction of a
        // token earned since `last_refill` was rounded away above.
        self.last_refill = self.last_refill.max(now);
        if self.tokens >= tokens {
            self.tokens -= tokens;
            true
        } else {
            false
        }
    }

    pub fn available(&self, now: Instant) -> u32 {
        self.tokens_at(now)
    }

    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        let missing = tokens.saturating_sub(self.tokens_at(now));
        if missing == 0 {
            return Some(Duration::ZERO);
        }
        if tokens > self.capacity || self.rate.tokens == 0 {
            return None;
        }
        let nanos =
            (u128::from(missing) * self.rate.per.as_nanos()).div_ceil(u128::from(self.rate.tokens));
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    fn tokens_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.last_refill).as_nanos();
        let earned =
            elapsed.saturating_mul(u128::from(self.rate.tokens)) / self.rate.per.as_nanos();
        let level = u128::from(self.tokens).saturating_add(earned);
        u32::try_from(level.min(u128::from(self.capacity))).unwrap_or(self.capacity)
    }
}
