//! Wrong: the sliding window is treated as closed, `[t - window, t]`, so a
//! request arriving exactly one window after an admitted one still sees it
//! and is refused.
//!
//! Why candidates write it: "drop everything older than the window" reads
//! naturally as `age > window`, and the edge only shows when a request lands
//! on it to the nanosecond, which a wall-clock demo never does.
//!
//! Caught by: `sliding_window_forgets_a_request_exactly_one_window_later`,
//! `sliding_window_slides_instead_of_resetting_at_fixed_boundaries`,
//! `sliding_window_does_not_count_refused_requests` and
//! `sliding_window_agrees_with_a_log_of_every_admitted_request`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use rate_limiter_solution::{Decision, KeyedLimiter, Rate, SharedTokenBucket, TokenBucket};

#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    admitted: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit: limit as usize,
            window,
            admitted: VecDeque::new(),
        }
    }

    pub fn try_acquire(&mut self, now: Instant) -> bool {
        while let Some(&oldest) = self.admitted.front() {
            // BUG: `>` keeps a request exactly `window` old; it should be `>=`.
            if now.saturating_duration_since(oldest) > self.window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() < self.limit {
            self.admitted.push_back(now);
            true
        } else {
            false
        }
    }
}
