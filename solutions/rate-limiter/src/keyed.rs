use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::{Decision, Rate, TokenBucket};

/// One token bucket per client key, as a gateway keeps per API key or IP.
///
/// A bucket that has refilled to full is indistinguishable from a new one, so
/// it is forgotten: clients that go idle cost no memory. Sweeping happens at
/// most once per fill time, which keeps each call amortised `O(1)` while
/// bounding memory by the clients active in the last two fill times.
#[derive(Debug, Clone)]
pub struct KeyedLimiter<K> {
    capacity: u32,
    rate: Rate,
    buckets: HashMap<K, TokenBucket>,
    /// How long an empty bucket takes to fill; `None` if it never does, in
    /// which case a drained client must be remembered for ever.
    fill_time: Option<Duration>,
    last_sweep: Option<Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Every client gets a bucket of `capacity` tokens refilling at `rate`.
    ///
    /// # Panics
    /// If `rate.per` is zero.
    pub fn new(capacity: u32, rate: Rate) -> Self {
        assert!(!rate.per.is_zero(), "Rate::per must not be zero");
        KeyedLimiter {
            capacity,
            rate,
            buckets: HashMap::new(),
            fill_time: TokenBucket::time_to_fill(capacity, rate),
            last_sweep: None,
        }
    }

    /// Decides one request of one token by `key` at `now`.
    pub fn check(&mut self, key: &K, now: Instant) -> Decision {
        self.sweep_idle(now);
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

    /// How many clients the limiter currently keeps state for.
    pub fn tracked_clients(&self) -> usize {
        self.buckets.len()
    }

    fn sweep_idle(&mut self, now: Instant) {
        let Some(fill_time) = self.fill_time else {
            return;
        };
        let last = *self.last_sweep.get_or_insert(now);
        if now.saturating_duration_since(last) >= fill_time {
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
            self.last_sweep = Some(now);
        }
    }
}
