//! Right: not the README's hinted design of two ad-hoc lists with `head`/`tail` fields and `NIL` checks. Both caches
//! share one generic core: every slot of the arena carries two circular rings of links (`links[RECENCY]`
//! and `links[WRITES]`, each `[prev, next]`) closed by a sentinel slot at index 0, so linking and
//! unlinking never branch on an empty list; freed slots form an intrusive free list threaded through
//! their own links (no separate `Vec<usize>`); and the front of each ring is "the first to go" (least
//! recently used / oldest write) while the back is the newest. `LruCache` is the core stamped with `()`
//! (its write ring is kept but never read); `TtlCache` is the core stamped with the write `Instant`.
//! Every operation is one hash probe plus a constant number of index updates; expiry pops the front of
//! the write ring while it is expired, each slot once.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The sentinel slot that closes both rings.
const SENTINEL: usize = 0;
/// "No slot", for the end of the free list.
const NONE: usize = usize::MAX;
/// Ring of uses: front = least recently used, back = most recently used.
const RECENCY: usize = 0;
/// Ring of writes: front = oldest write, back = newest.
const WRITES: usize = 1;
const PREV: usize = 0;
const NEXT: usize = 1;

#[derive(Debug, Clone)]
struct Slot<K, V, S> {
    /// `None` for the sentinel and for free slots.
    entry: Option<(K, V, S)>,
    /// `links[ring] = [prev, next]`; a free slot keeps the next free slot in
    /// `links[RECENCY][NEXT]`.
    links: [[usize; 2]; 2],
}

/// The arena, the key index and the two rings, stamped with `S` per write.
#[derive(Debug, Clone)]
struct Core<K, V, S> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V, S>>,
    free: usize,
}

impl<K: Hash + Eq + Clone, V, S> Core<K, V, S> {
    fn new() -> Self {
        Core {
            index: HashMap::new(),
            slots: vec![Slot {
                entry: None,
                links: [[SENTINEL; 2]; 2],
            }],
            free: NONE,
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn find(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }

    fn unlink(&mut self, ring: usize, i: usize) {
        let [p, n] = self.slots[i].links[ring];
        self.slots[p].links[ring][NEXT] = n;
        self.slots[n].links[ring][PREV] = p;
    }

    fn link_back(&mut self, ring: usize, i: usize) {
        let last = self.slots[SENTINEL].links[ring][PREV];
        self.slots[i].links[ring] = [last, SENTINEL];
        self.slots[last].links[ring][NEXT] = i;
        self.slots[SENTINEL].links[ring][PREV] = i;
    }

    fn front(&self, ring: usize) -> Option<usize> {
        let first = self.slots[SENTINEL].links[ring][NEXT];
        (first != SENTINEL).then_some(first)
    }

    fn stamp(&self, i: usize) -> &S {
        &self.slots[i].entry.as_ref().expect("a linked slot holds an entry").2
    }

    fn value(&self, i: usize) -> &V {
        &self.slots[i].entry.as_ref().expect("a linked slot holds an entry").1
    }

    /// Makes `i` the most recently used.
    fn touch(&mut self, i: usize) {
        self.unlink(RECENCY, i);
        self.link_back(RECENCY, i);
    }

    /// A new entry, newest on both rings.
    fn insert(&mut self, key: K, value: V, stamp: S) {
        let slot = Slot {
            entry: Some((key.clone(), value, stamp)),
            links: [[SENTINEL; 2]; 2],
        };
        let i = if self.free == NONE {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let i = self.free;
            self.free = self.slots[i].links[RECENCY][NEXT];
            self.slots[i] = slot;
            i
        };
        self.link_back(RECENCY, i);
        self.link_back(WRITES, i);
        self.index.insert(key, i);
    }

    /// Replaces the value and stamp of `i`, newest on both rings; the old value.
    fn rewrite(&mut self, i: usize, value: V, stamp: S) -> V {
        let entry = self.slots[i].entry.as_mut().expect("a linked slot holds an entry");
        entry.2 = stamp;
        let old = std::mem::replace(&mut entry.1, value);
        self.touch(i);
        self.unlink(WRITES, i);
        self.link_back(WRITES, i);
        old
    }

    /// Takes `i` out of both rings and the index; its slot goes on the free list.
    fn take(&mut self, i: usize) -> V {
        self.unlink(RECENCY, i);
        self.unlink(WRITES, i);
        let (key, value, _) = self.slots[i].entry.take().expect("a linked slot holds an entry");
        self.index.remove(&key);
        self.slots[i].links[RECENCY][NEXT] = self.free;
        self.free = i;
        value
    }
}

/// A map of at most `capacity` entries that evicts the least recently used
/// entry to make room for a new key.
///
/// An entry is *used* when it is written ([`put`](Self::put)) or read with
/// [`get`](Self::get); [`peek`](Self::peek) reads without using it. Every
/// operation is O(1).
#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    core: Core<K, V, ()>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    /// An empty cache that holds at most `capacity` entries. A capacity of
    /// zero is allowed: such a cache stores nothing.
    pub fn new(capacity: usize) -> Self {
        LruCache {
            core: Core::new(),
            capacity,
        }
    }

    /// The value of `key`, which becomes the most recently used entry.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let i = self.core.find(key)?;
        self.core.touch(i);
        Some(self.core.value(i))
    }

    /// The value of `key`, leaving the recency order as it is.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.core.find(key).map(|i| self.core.value(i))
    }

    /// Stores `value` under `key` as the most recently used entry and returns
    /// the value it replaced, if the key was there.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        if let Some(i) = self.core.find(&key) {
            return Some(self.core.rewrite(i, value, ()));
        }
        if self.core.len() >= self.capacity {
            if let Some(lru) = self.core.front(RECENCY) {
                self.core.take(lru);
            }
        }
        self.core.insert(key, value, ());
        None
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.core.find(key)?;
        Some(self.core.take(i))
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// An LRU cache whose entries also expire `ttl` after their last write.
///
/// An entry written at `w` is *live* at `now` while `now < w + ttl`.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    core: Core<K, V, Instant>,
    capacity: usize,
    ttl: Duration,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    /// An empty cache of at most `capacity` live entries, each of which
    /// expires `ttl` after its last write.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            core: Core::new(),
            capacity,
            ttl,
        }
    }

    /// Never `written + ttl`: that overflows an `Instant` for a huge `ttl`.
    fn live(&self, written: Instant, now: Instant) -> bool {
        now.saturating_duration_since(written) < self.ttl
    }

    /// Pops the write ring's front while it is expired: writes happen in
    /// time order, so the expired entries are exactly a prefix of it.
    fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.core.front(WRITES) {
            if self.live(*self.core.stamp(oldest), now) {
                break;
            }
            self.core.take(oldest);
        }
    }

    /// The value of `key` if it is live at `now`; the entry becomes the most
    /// recently used (its expiry does not move).
    pub fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        self.expire(now);
        let i = self.core.find(key)?;
        self.core.touch(i);
        Some(self.core.value(i))
    }

    /// The value of `key` if it is live at `now`, leaving the recency order
    /// as it is.
    pub fn peek(&self, key: &K, now: Instant) -> Option<&V> {
        let i = self.core.find(key)?;
        self.live(*self.core.stamp(i), now).then(|| self.core.value(i))
    }

    /// Stores `value` under `key`, written at `now`. Returns the value it
    /// replaced if that was still live.
    pub fn put(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        self.expire(now);
        if self.capacity == 0 {
            return None;
        }
        if let Some(i) = self.core.find(&key) {
            return Some(self.core.rewrite(i, value, now));
        }
        if self.core.len() >= self.capacity {
            if let Some(lru) = self.core.front(RECENCY) {
                self.core.take(lru);
            }
        }
        self.core.insert(key, value, now);
        None
    }

    /// Removes `key` and returns its value if it was live at `now`.
    pub fn remove(&mut self, key: &K, now: Instant) -> Option<V> {
        self.expire(now);
        let i = self.core.find(key)?;
        Some(self.core.take(i))
    }

    /// How many entries are live at `now`.
    pub fn len(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.core.len()
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
}
