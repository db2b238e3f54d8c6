//! Wrong: an entry is still served at exactly `written + ttl`. Its life is
//! the half-open interval `[written, written + ttl)`: a `SET key v EX 10` at
//! t is gone at t + 10s in Redis.
//!
//! Why candidates write it: "expired when the age is greater than the TTL"
//! reads naturally as `age > ttl`, and the edge shows only when a read lands
//! on it to the nanosecond, which a wall-clock demo never does.
//!
//! Caught by: `ttl_get_returns_an_entry_until_exactly_ttl_after_its_write`,
//! `ttl_len_counts_only_live_entries`,
//! `ttl_agrees_with_a_list_in_recency_order_with_write_times` and more.

use std::collections::VecDeque;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub use lru_cache_solution::LruCache;

/// An LRU cache of (value, time of last write) gives the recency order and
/// eviction; a log of writes, oldest first, gives the order of expiry. A log
/// record is stale once its key was written again, removed or evicted:
/// expiry skips those.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    lru: LruCache<K, (V, Instant)>,
    writes: VecDeque<(Instant, K)>,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            ttl,
            lru: LruCache::new(capacity),
            writes: VecDeque::new(),
        }
    }

    pub fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        self.expire(now);
        self.lru.get(key).map(|(value, _)| value)
    }

    pub fn peek(&self, key: &K, now: Instant) -> Option<&V> {
        match self.lru.peek(key) {
            Some((value, written)) if self.is_live(*written, now) => Some(value),
            _ => None,
        }
    }

    pub fn put(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        self.expire(now);
        if self.ttl.is_zero() {
            return None;
        }
        self.writes.push_back((now, key.clone()));
        self.lru.put(key, (value, now)).map(|(old, _)| old)
    }

    pub fn remove(&mut self, key: &K, now: Instant) -> Option<V> {
        self.expire(now);
        self.lru.remove(key).map(|(value, _)| value)
    }

    pub fn len(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.lru.len()
    }

    pub fn is_empty(&mut self, now: Instant) -> bool {
        self.len(now) == 0
    }

    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn is_live(&self, written: Instant, now: Instant) -> bool {
        // BUG: `<=`: still live at exactly `written + ttl`, one instant too long.
        now.saturating_duration_since(written) <= self.ttl
    }

    /// Drops every entry whose last write is older than `ttl`.
    fn expire(&mut self, now: Instant) {
        while let Some(&(written, _)) = self.writes.front() {
            if self.is_live(written, now) {
                break;
            }
            if let Some((written, key)) = self.writes.pop_front()
                && self
                    .lru
                    .peek(&key)
                    .is_some_and(|&(_, last)| last == written)
            {
                self.lru.remove(&key);
            }
        }
    }
}
