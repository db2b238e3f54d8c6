//! Wrong: the sliding window records every request, refused ones included,
//! and then counts them, as the Redis sorted-set script in the system-design
//! notes does (`ZADD` before `ZCARD`).
//!
//! Why candidates write it: "log the request, then count the log" is one
//! fewer branch, and it looks right while clients behave. But a client that
//! keeps retrying while limited keeps its own window full and never gets
//! through again, and the log grows with the traffic instead of the limit.
//!
//! Caught by: `sliding_window_does_not_count_refused_requests`,
//! `sliding_window_forgets_a_request_exactly_one_window_later`,
//! `sliding_window_slides_instead_of_resetting_at_fixed_boundaries` and
//! `sliding_window_agrees_with_a_log_of_every_admitted_request`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use rate_limiter_solution::{Decision, KeyedLimiter, Rate, SharedTokenBucket, TokenBucket};

#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    requests: VecDeque<Instant>,
}

impl SlidingWindow {
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit: limit as usize,
            window,
            requests: VecDeque::new(),
        }
    }

    pub fn try_acquire(&mut self, now: Instant) -> bool {
        while let Some(&oldest) = self.requests.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.requests.pop_front();
            } else {
                break;
            }
        }
        // BUG: the request is logged before it is judged, so refusals count.
        self.requests.push_back(now);
        self.requests.len() <= self.limit
    }
}
