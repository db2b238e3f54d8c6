//! Wrong: the keyed limiter keeps a bucket for every client it has ever seen,
//! so memory grows with every API key or IP address that ever sent one
//! request: a slow leak in a long-running gateway, and a cheap way to exhaust
//! it by spraying requests from fresh addresses.
//!
//! Why candidates write it: `HashMap::entry(key).or_insert_with(..)` is the
//! whole per-client limiter and every functional test passes; eviction is
//! the part nobody asked about until the follow-up question.
//!
//! Caught by: `keyed_limiter_forgets_clients_idle_for_twice_the_fill_time`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

pub use rate_limiter_solution::{Decision, Rate, SharedTokenBucket, SlidingWindow, TokenBucket};

#[derive(Debug, Clone)]
pub struct KeyedLimiter<K> {
    capacity: u32,
    rate: Rate,
    // BUG: nothing ever removes an entry.
    buckets: HashMap<K, TokenBucket>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(capacity: u32, rate: Rate) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        KeyedLimiter {
            capacity,
            rate,
            buckets: HashMap::new(),
        }
    }

    pub fn check(&mut self, key: &K, now: Instant) -> Decision {
        let (capacity, rate) = (self.capacity, self.rate);
        let bucket = self
            .buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::new(capacity, rate, now));
        if bucket.try_acquire(1, now) {
            Decision::Allowed {
                remaining: bucket.available(now),
            }
        } else {
            Decision::Denied {
                retry_after: bucket.retry_after(1, now),
            }
        }
    }

    pub fn tracked_clients(&self) -> usize {
        self.buckets.len()
    }
}
