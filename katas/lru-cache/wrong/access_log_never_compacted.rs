//! Wrong: recency is a log of every use (a `VecDeque` of (stamp, key)),
//! and eviction pops the log until it finds a record that is still the
//! key's latest use. It answers every call correctly, in O(1) amortised,
//! but the log gains a record on every `get`, and only eviction ever
//! shortens it: a hot cache that is read a million times between two
//! evictions holds a million stale keys. Memory grows with the traffic,
//! not with the capacity.
//!
//! Why candidates write it: it is the well-known trick for an LRU without
//! a linked list (lazy deletion, as in a heap with stale entries), and it
//! passes every functional test. The missing piece is compaction: rebuild
//! the log from the live stamps once it holds, say, twice the capacity.
//!
//! Symptom: the cache's memory climbs steadily with read traffic while the
//! number of entries stays at its capacity.
//!
//! Caught by: `followup_memory_stays_proportional_to_capacity_however_many_operations`.
//!
//! Whole file: the bug lives in a different design, recency kept as a log of
//! every use with lazy deletion instead of the reference's linked list; the
//! reference has no log that could be left uncompacted.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::mem;

pub use lru_cache_solution::TtlCache;

#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    capacity: usize,
    /// Each key's value and the stamp of its last use.
    entries: HashMap<K, (V, u64)>,
    /// Every use, oldest first. A record is stale once its key was used
    /// again (a later stamp), removed or evicted.
    // BUG: nothing bounds the log; only eviction pops from it.
    log: VecDeque<(u64, K)>,
    clock: u64,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        LruCache {
            capacity,
            entries: HashMap::new(),
            log: VecDeque::new(),
            clock: 0,
        }
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        let (value, stamp) = self.entries.get_mut(key)?;
        self.clock += 1;
        *stamp = self.clock;
        self.log.push_back((self.clock, key.clone()));
        Some(value)
    }

    pub fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        self.clock += 1;
        if let Some((old, stamp)) = self.entries.get_mut(&key) {
            *stamp = self.clock;
            self.log.push_back((self.clock, key));
            return Some(mem::replace(old, value));
        }
        if self.capacity == 0 {
            return None;
        }
        if self.entries.len() == self.capacity {
            while let Some((stamp, oldest)) = self.log.pop_front() {
                if self
                    .entries
                    .get(&oldest)
                    .is_some_and(|&(_, last)| last == stamp)
                {
                    self.entries.remove(&oldest);
                    break;
                }
            }
        }
        self.log.push_back((self.clock, key.clone()));
        self.entries.insert(key, (value, self.clock));
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(value, _)| value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
