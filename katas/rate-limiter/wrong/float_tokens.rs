//! Wrong: the level is an `f64` number of tokens, so refill added in small
//! steps does not add up: ten refills of 0.1 token make 0.9999999999999999,
//! and a request that arrives exactly when its token is due is refused.
//!
//! Why candidates write it: `tokens += elapsed_secs * rate` is how the token
//! bucket is drawn on every whiteboard, and floating point is right to
//! fifteen digits, which is never enough at an exact edge.
//!
//! Symptom: a client pacing itself exactly at the documented rate is
//! refused now and then, and `Retry-After` is off by a few nanoseconds.
//!
//! Caught by: `polling_faster_than_the_refill_still_earns_every_token`
//! (`every_10ms_at_ten_per_second`, `every_300ms_at_one_per_second`),
//! `retry_after_is_the_wait_until_the_missing_tokens_are_due`,
//! `admits_a_request_exactly_when_its_token_is_due` (`one_per_nanosecond`)
//! and `followup_retry_after_is_exact_to_the_nanosecond`.
//!
//! Whole file: the bug is the representation itself, an `f64` count of
//! tokens in every field and method, where the reference keeps an integer
//! level of token-nanoseconds; there is no one line to change.

use std::time::{Duration, Instant};

pub use rate_limiter_solution::{Decision, KeyedLimiter, Rate, SharedTokenBucket, SlidingWindow};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    /// Tokens per second.
    per_second: f64,
    // BUG: a float level; exact arithmetic needs integers.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, rate: Rate, now: Instant) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        TokenBucket {
            capacity: f64::from(capacity),
            per_second: f64::from(rate.tokens) / rate.per.as_secs_f64(),
            tokens: f64::from(capacity),
            updated: now,
        }
    }

    pub fn try_acquire(&mut self, tokens: u32, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        self.updated = self.updated.max(now);
        if self.tokens >= f64::from(tokens) {
            self.tokens -= f64::from(tokens);
            true
        } else {
            false
        }
    }

    pub fn available(&self, now: Instant) -> u32 {
        self.tokens_at(now).floor() as u32
    }

    pub fn retry_after(&self, tokens: u32, now: Instant) -> Option<Duration> {
        let missing = f64::from(tokens) - self.tokens_at(now);
        if missing <= 0.0 {
            return Some(Duration::ZERO);
        }
        if f64::from(tokens) > self.capacity || self.per_second == 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(missing / self.per_second))
    }

    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * self.per_second).min(self.capacity)
    }
}
