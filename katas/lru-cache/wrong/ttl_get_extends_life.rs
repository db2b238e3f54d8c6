//! Wrong: a read restarts the entry's life (expire-after-access), where the
//! TTL counts from the last write. A value read every few seconds never
//! expires, however stale it is: exactly the hot keys that most need
//! refreshing.
//!
//! Why candidates write it: "touch the entry on read" is already there for
//! the recency order, and updating its timestamp at the same time looks
//! like the same thing. Sliding expiration is a real policy, but it is not
//! this one.
//!
//! Caught by: `ttl_get_refreshes_recency_but_does_not_extend_life` and
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
        // BUG: a read writes the entry again with a new stamp, so every read
        // restarts its life (expire-after-access instead of after write).
        if let Some((value, _)) = self.lru.remove(key) {
            self.writes.push_back((now, key.clone()));
            self.lru.put(key.clone(), (value, now));
        }
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
