//! Wrong: expired entries are dropped only when something reads or counts
//! them, and making room for a new key evicts the least recently used
//! entry, expired or not. A live entry is thrown out while a dead one keeps
//! its place.
//!
//! Why candidates write it: lazy expiry ("check the TTL when the entry is
//! read") is the usual and right first step, and the eviction path is the
//! LRU's, unchanged; the two only meet when the cache is full and something
//! in it has expired.
//!
//! Caught by:
//! `followup_an_expired_entry_makes_room_before_a_live_entry_is_evicted` and
//! `ttl_agrees_with_a_list_in_recency_order_with_write_times`.

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
        // BUG: expired entries are dropped only when something reads them;
        // making room for a new key evicts the least recently used entry,
        // expired or not, so a live entry goes while a dead one stays.
        if self.ttl.is_zero() {
            return None;
        }
        self.writes.push_back((now, key.clone()));
        let old = self.lru.put(key, (value, now));
        old.filter(|&(_, written)| self.is_live(written, now))
            .map(|(old, _)| old)
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
