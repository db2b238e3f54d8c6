//! The LRU cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::mem;

use crate::chains::Chains;
use crate::{FastHash, PREALLOCATE};

/// The recency chain: least recently used first.
const RECENCY: usize = 0;

/// A map of at most `capacity` entries that evicts the least recently used
/// entry to make room for a new key.
///
/// An entry is *used* when it is written ([`put`](Self::put)) or read with
/// [`get`](Self::get); [`peek`](Self::peek) reads without using it. Every
/// operation is O(1).
#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    capacity: usize,
    /// Each key's slot in `entries`.
    slots: HashMap<K, usize, FastHash>,
    /// The entries, on one chain in recency order. The key is stored twice
    /// (here and in `slots`) so that evicting the chain's front can find its
    /// map entry.
    entries: Chains<(K, V), 1>,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    /// An empty cache that holds at most `capacity` entries. A capacity of
    /// zero is allowed: such a cache stores nothing.
    pub fn new(capacity: usize) -> Self {
        LruCache {
            capacity,
            slots: HashMap::with_capacity_and_hasher(
                capacity.min(PREALLOCATE),
                FastHash::default(),
            ),
            entries: Chains::with_capacity(capacity.min(PREALLOCATE)),
        }
    }

    /// The value of `key`, which becomes the most recently used entry.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let &at = self.slots.get(key)?;
        self.entries.move_to_back(at, RECENCY);
        Some(&self.entries.get(at).1)
    }

    /// The value of `key`, leaving the recency order as it is.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.slots.get(key).map(|&at| &self.entries.get(at).1)
    }

    /// Stores `value` under `key` as the most recently used entry and returns
    /// the value it replaced, if the key was there.
    ///
    /// A new key arriving at a full cache first evicts the least recently
    /// used entry. A cache of capacity zero drops `value` and returns `None`.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&at) = self.slots.get(&key) {
            self.entries.move_to_back(at, RECENCY);
            return Some(mem::replace(&mut self.entries.get_mut(at).1, value));
        }
        if self.capacity == 0 {
            return None;
        }
        if self.slots.len() == self.capacity
            && let Some(oldest) = self.entries.front(RECENCY)
        {
            let (evicted, _) = self.entries.remove(oldest);
            self.slots.remove(&evicted);
        }
        let at = self.entries.push_back((key.clone(), value));
        self.slots.insert(key, at);
        None
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.slots.remove(key)?;
        Some(self.entries.remove(at).1)
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
