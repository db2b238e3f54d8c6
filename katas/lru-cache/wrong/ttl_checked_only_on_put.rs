//! Wrong: expiry is checked only when writing. `put` drops the expired
//! entries, but `get`, `peek`, `remove` and `len` never look at the time, so
//! between two writes a read serves an entry long past its TTL: a session
//! that was revoked an hour ago, a price that changed yesterday.
//!
//! Why candidates write it: "expire on write" keeps the cache from growing,
//! which is the part that gets tested by hand; on a read-heavy cache there
//! are few writes, and the stale reads go unnoticed.
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

    pub fn get(&mut self, key: &K, _now: Instant) -> Option<&V> {
        // BUG: no expiry check on reads: only `put` expires entries.
        self.lru.get(key).map(|(value, _)| value)
    }

    pub fn peek(&self, key: &K, _now: Instant) -> Option<&V> {
        self.lru.peek(key).map(|(value, _)| value)
    }

    pub fn put(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        self.expire(now);
        if self.ttl.is_zero() {
            return None;
        }
        self.writes.push_back((now, key.clone()));
        self.lru.put(key, (value, now)).map(|(old, _)| old)
    }

    pub fn remove(&mut self, key: &K, _now: Instant) -> Option<V> {
        self.lru.remove(key).map(|(value, _)| value)
    }

    pub fn len(&mut self, _now: Instant) -> usize {
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
        now.saturating_duration_since(written) < self.ttl
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
