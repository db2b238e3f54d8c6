//! The LRU cache whose entries expire.

use std::collections::HashMap;
use std::hash::Hash;
use std::mem;
use std::time::{Duration, Instant};

use crate::chains::Chains;
use crate::{FastHash, PREALLOCATE};

/// The recency chain: least recently used first.
const RECENCY: usize = 0;
/// The write chain: least recently written first. Every entry lives `ttl`
/// after its last write, so this is also the order in which they expire.
const EXPIRY: usize = 1;

#[derive(Debug, Clone)]
struct Entry<K, V> {
    key: K,
    value: V,
    written: Instant,
}

/// An LRU cache whose entries also expire `ttl` after their last write.
///
/// An entry written at `w` is *live* at `now` while `now < w + ttl`: exactly
/// `ttl` after its last write it has expired, and from then on it is never
/// returned, never counted, and never pushes out a live entry. Reading an
/// entry ([`get`](Self::get)) makes it the most recently used but does not
/// extend its life; writing it again ([`put`](Self::put)) does both.
///
/// Time is passed in (`now`) and must not go backwards from one call to the
/// next. Expired entries are dropped lazily, oldest write first, by the
/// operations that take `&mut self`: each is dropped once, so every operation
/// is O(1) amortised.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    capacity: usize,
    ttl: Duration,
    /// Each key's slot in `entries`.
    slots: HashMap<K, usize, FastHash>,
    /// The entries, on two chains: by recency and by time of last write.
    entries: Chains<Entry<K, V>, 2>,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    /// An empty cache of at most `capacity` live entries, each of which
    /// expires `ttl` after its last write. A capacity of zero, or a `ttl` of
    /// zero, makes a cache that never returns anything.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            capacity,
            ttl,
            slots: HashMap::with_capacity_and_hasher(
                capacity.min(PREALLOCATE),
                FastHash::default(),
            ),
            entries: Chains::with_capacity(capacity.min(PREALLOCATE)),
        }
    }

    /// The value of `key` if it is live at `now`; the entry becomes the most
    /// recently used (its expiry does not move).
    pub fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        self.expire(now);
        let &at = self.slots.get(key)?;
        self.entries.move_to_back(at, RECENCY);
        Some(&self.entries.get(at).value)
    }

    /// The value of `key` if it is live at `now`, leaving the recency order
    /// as it is.
    pub fn peek(&self, key: &K, now: Instant) -> Option<&V> {
        let entry = self.entries.get(*self.slots.get(key)?);
        self.is_live(entry, now).then_some(&entry.value)
    }

    /// Stores `value` under `key`, written at `now`: the entry becomes the
    /// most recently used and lives until `now + ttl`. Returns the value it
    /// replaced if that was still live (an expired value is gone already).
    ///
    /// A new key arriving when `capacity` entries are live evicts the least
    /// recently used of them; an expired entry never counts against the
    /// capacity.
    pub fn put(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        self.expire(now);
        if let Some(&at) = self.slots.get(&key) {
            self.entries.move_to_back(at, RECENCY);
            self.entries.move_to_back(at, EXPIRY);
            let entry = self.entries.get_mut(at);
            entry.written = now;
            return Some(mem::replace(&mut entry.value, value));
        }
        if self.capacity == 0 || self.ttl.is_zero() {
            return None;
        }
        if self.slots.len() == self.capacity
            && let Some(oldest) = self.entries.front(RECENCY)
        {
            let evicted = self.entries.remove(oldest);
            self.slots.remove(&evicted.key);
        }
        let at = self.entries.push_back(Entry {
            key: key.clone(),
            value,
            written: now,
        });
        self.slots.insert(key, at);
        None
    }

    /// Removes `key` and returns its value if it was live at `now`.
    pub fn remove(&mut self, key: &K, now: Instant) -> Option<V> {
        self.expire(now);
        let at = self.slots.remove(key)?;
        Some(self.entries.remove(at).value)
    }

    /// How many entries are live at `now`. Takes `&mut self` because it
    /// first drops the entries that have expired.
    pub fn len(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.slots.len()
    }

    /// Whether no entry is live at `now`.
    pub fn is_empty(&mut self, now: Instant) -> bool {
        self.len(now) == 0
    }

    /// The most live entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long an entry lives after its last write.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn is_live(&self, entry: &Entry<K, V>, now: Instant) -> bool {
        // `written + ttl` could overflow an `Instant` for a huge `ttl`.
        now.saturating_duration_since(entry.written) < self.ttl
    }

    /// Drops every entry that has expired by `now`, oldest write first: the
    /// write chain is in expiry order, so this stops at the first live one.
    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.entries.front(EXPIRY) {
            if self.is_live(self.entries.get(oldest), now) {
                break;
            }
            let expired = self.entries.remove(oldest);
            self.slots.remove(&expired.key);
        }
    }
}
