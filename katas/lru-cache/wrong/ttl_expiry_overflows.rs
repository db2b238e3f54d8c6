//! Wrong: liveness is computed as `now < written + ttl`, which panics when
//! `written + ttl` overflows an `Instant`: a cache configured with
//! `Duration::MAX` as its TTL ("never expire") crashes on its first read.
//!
//! Why candidates write it: `written + ttl` is the expiry time on the
//! whiteboard, and `Instant + Duration` looks as safe as integer addition.
//! Compare ages instead (`now.saturating_duration_since(written) < ttl`),
//! or use `checked_add`, where `None` means never.
//!
//! Caught by: `followup_a_huge_ttl_never_overflows`.

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
        // BUG: `written + ttl` panics when it overflows an `Instant`.
        now < written + self.ttl
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
