//! # LRU cache
//!
//! The in-process cache in front of a slow service. Read `README.md` beside
//! this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata lru-cache
//! ```
//!
//! Every operation must be O(1): no scan over the entries, no sort, no
//! `Vec::remove` from the middle. The bench (`cargo bench -p lru-cache
//! --features solution`) runs your cache at capacities from a thousand to a
//! million beside the reference.
//!
//! The TTL cache takes the current time as `now: Instant`: never call
//! `Instant::now()` inside it, so that the spec can place a read exactly on
//! an expiry. The spec writes its instants as `t0 + Duration::from_millis(..)`.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::hash::Hash;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// A map of at most `capacity` entries that evicts the least recently used
/// entry to make room for a new key.
///
/// An entry is *used* when it is written ([`put`](Self::put)) or read with
/// [`get`](Self::get); [`peek`](Self::peek) reads without using it. Every
/// operation is O(1).
#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    // Your fields here: how do you find a key in O(1), and how do you find
    // (and move) the least recently used entry in O(1)?
    // (`PhantomData` only lets the stub compile: replace it.)
    _entries: PhantomData<(K, V)>,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    /// An empty cache that holds at most `capacity` entries. A capacity of
    /// zero is allowed: such a cache stores nothing.
    pub fn new(capacity: usize) -> Self {
        todo!("LruCache::new: an empty cache of `capacity` entries")
    }

    /// The value of `key`, which becomes the most recently used entry.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        todo!("LruCache::get: find the entry, then make it the most recently used")
    }

    /// The value of `key`, leaving the recency order as it is.
    pub fn peek(&self, key: &K) -> Option<&V> {
        todo!("LruCache::peek: find the entry and touch nothing")
    }

    /// Stores `value` under `key` as the most recently used entry and returns
    /// the value it replaced, if the key was there.
    ///
    /// A new key arriving at a full cache first evicts the least recently
    /// used entry. A cache of capacity zero drops `value` and returns `None`.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        todo!(
            "LruCache::put: replace and refresh an existing key; else evict the least recent if full, then insert"
        )
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        todo!("LruCache::remove")
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        todo!("LruCache::len")
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        todo!("LruCache::is_empty")
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        todo!("LruCache::capacity")
    }
}

/// An LRU cache whose entries also expire `ttl` after their last write.
///
/// An entry written at `w` is *live* at `now` while `now < w + ttl`: exactly
/// `ttl` after its last write it has expired, and from then on it is never
/// returned, never counted, and never pushes out a live entry. Reading an
/// entry ([`get`](Self::get)) makes it the most recently used but does not
/// extend its life; writing it again ([`put`](Self::put)) does both.
///
/// Time is passed in (`now`) and never goes backwards from one call to the
/// next. Every operation is O(1), amortised: an expired entry may stay in
/// memory until an operation meets it, but only once.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    // Your fields here: what must an entry remember besides its value, and
    // how do you find the entries that have expired without scanning?
    // (`PhantomData` only lets the stub compile: replace it.)
    _entries: PhantomData<(K, V)>,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    /// An empty cache of at most `capacity` live entries, each of which
    /// expires `ttl` after its last write. A capacity of zero, or a `ttl` of
    /// zero, makes a cache that never returns anything.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        todo!("TtlCache::new")
    }

    /// The value of `key` if it is live at `now`; the entry becomes the most
    /// recently used (its expiry does not move).
    pub fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        todo!("TtlCache::get: a live entry only; refresh its recency, not its expiry")
    }

    /// The value of `key` if it is live at `now`, leaving the recency order
    /// as it is.
    pub fn peek(&self, key: &K, now: Instant) -> Option<&V> {
        todo!("TtlCache::peek: a live entry only; touch nothing")
    }

    /// Stores `value` under `key`, written at `now`: the entry becomes the
    /// most recently used and lives until `now + ttl`. Returns the value it
    /// replaced if that was still live (an expired value is gone already).
    ///
    /// A new key arriving when `capacity` entries are live evicts the least
    /// recently used of them; an expired entry never counts against the
    /// capacity.
    pub fn put(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        todo!(
            "TtlCache::put: drop what has expired, then put as the LRU cache does, stamped with `now`"
        )
    }

    /// Removes `key` and returns its value if it was live at `now`.
    pub fn remove(&mut self, key: &K, now: Instant) -> Option<V> {
        todo!("TtlCache::remove")
    }

    /// How many entries are live at `now`. Takes `&mut self` so that it may
    /// first drop the entries that have expired.
    pub fn len(&mut self, now: Instant) -> usize {
        todo!("TtlCache::len: live entries only")
    }

    /// Whether no entry is live at `now`.
    pub fn is_empty(&mut self, now: Instant) -> bool {
        todo!("TtlCache::is_empty")
    }

    /// The most live entries the cache holds.
    pub fn capacity(&self) -> usize {
        todo!("TtlCache::capacity")
    }

    /// How long an entry lives after its last write.
    pub fn ttl(&self) -> Duration {
        todo!("TtlCache::ttl")
    }
}
