//! Bug: the recency order is a `BTreeMap<u64, K>` from a use counter ("tick") to the key, beside a
//! `HashMap<K, (V, tick)>`: every `get` and `put` removes and re-inserts a tick in the B-tree and
//! eviction takes its first entry. Every answer is exactly LRU, but each operation is O(log n) tree
//! work plus node allocation churn, where the README demands O(1) ("no `BTreeMap` of timestamps").
//!
//! Why candidates write it: it is the shortest correct LRU in safe Rust (no linked list, no
//! indices), and `first_key_value` looks like O(1); at 10^5 entries it is still fast enough that no
//! timeout fires.
//!
//! Symptom: the cache's p99 `get` latency climbs with capacity (3x from 10^3 to 10^6 entries, beyond the HashMap floor), and allocator profiles show B-tree node churn on every read.
//!
//! Whole file: written blind from the README and the stub by the red team; recency kept as a
//! `BTreeMap` of use ticks beside a `HashMap<K, (V, tick)>` instead of the reference's slab of
//! linked nodes.
//!
//! Caught by: `a_hit_allocates_nothing` (tests/memory.rs: 20,000 gets of held keys
//! allocate B-tree nodes as the ticks move).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// "No node" in the index links (used by the TTL cache).
const NIL: usize = usize::MAX;

/// A map of at most `capacity` entries that evicts the least recently used
/// entry to make room for a new key.
#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    /// key -> (value, the tick of its last use)
    map: HashMap<K, (V, u64)>,
    /// tick of last use -> key; the first entry is the least recently used.
    order: BTreeMap<u64, K>,
    tick: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    /// An empty cache that holds at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LruCache {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            capacity,
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The value of `key`, which becomes the most recently used entry.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let t = self.next_tick();
        let (_, tick) = self.map.get_mut(key)?;
        let old = std::mem::replace(tick, t);
        let k = self.order.remove(&old)?;
        self.order.insert(t, k);
        self.map.get(key).map(|(v, _)| v)
    }

    /// The value of `key`, leaving the recency order as it is.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    /// Stores `value` under `key` as the most recently used entry and returns
    /// the value it replaced, if the key was there.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        let t = self.next_tick();
        if let Some((v, tick)) = self.map.get_mut(&key) {
            let old = std::mem::replace(v, value);
            let old_tick = std::mem::replace(tick, t);
            if let Some(k) = self.order.remove(&old_tick) {
                self.order.insert(t, k);
            }
            return Some(old);
        }
        if self.map.len() >= self.capacity {
            if let Some((_, victim)) = self.order.pop_first() {
                self.map.remove(&victim);
            }
        }
        self.order.insert(t, key.clone());
        self.map.insert(key, (value, t));
        None
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (v, tick) = self.map.remove(key)?;
        self.order.remove(&tick);
        Some(v)
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A TTL node: on the recency list (`prev`/`next`, head = most recent) and
/// on the write-order list (`wprev`/`wnext`, `whead` = oldest write).
#[derive(Debug, Clone)]
struct TtlNode<K, V> {
    entry: Option<(K, V)>,
    written: Instant,
    prev: usize,
    next: usize,
    wprev: usize,
    wnext: usize,
}

/// An LRU cache whose entries also expire `ttl` after their last write.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    map: HashMap<K, usize>,
    nodes: Vec<TtlNode<K, V>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    whead: usize,
    wtail: usize,
    capacity: usize,
    ttl: Duration,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    /// An empty cache of at most `capacity` live entries, each of which
    /// expires `ttl` after its last write.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            map: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            whead: NIL,
            wtail: NIL,
            capacity,
            ttl,
        }
    }

    fn is_live(&self, written: Instant, now: Instant) -> bool {
        now.saturating_duration_since(written) < self.ttl
    }

    fn unlink(&mut self, i: usize) {
        let (p, n) = (self.nodes[i].prev, self.nodes[i].next);
        if p == NIL {
            self.head = n;
        } else {
            self.nodes[p].next = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.nodes[n].prev = p;
        }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head;
        if self.head == NIL {
            self.tail = i;
        } else {
            self.nodes[self.head].prev = i;
        }
        self.head = i;
    }

    fn wunlink(&mut self, i: usize) {
        let (p, n) = (self.nodes[i].wprev, self.nodes[i].wnext);
        if p == NIL {
            self.whead = n;
        } else {
            self.nodes[p].wnext = n;
        }
        if n == NIL {
            self.wtail = p;
        } else {
            self.nodes[n].wprev = p;
        }
    }

    fn wpush_back(&mut self, i: usize) {
        self.nodes[i].wnext = NIL;
        self.nodes[i].wprev = self.wtail;
        if self.wtail == NIL {
            self.whead = i;
        } else {
            self.nodes[self.wtail].wnext = i;
        }
        self.wtail = i;
    }

    /// Takes node `i` out of both lists and the map, and frees its slot.
    fn detach(&mut self, i: usize) -> Option<V> {
        self.unlink(i);
        self.wunlink(i);
        self.free.push(i);
        let (k, v) = self.nodes[i].entry.take()?;
        self.map.remove(&k);
        Some(v)
    }

    /// Drops the expired nodes from the front of the write-order list.
    fn expire(&mut self, now: Instant) {
        while self.whead != NIL && !self.is_live(self.nodes[self.whead].written, now) {
            let i = self.whead;
            self.detach(i);
        }
    }

    /// The value of `key` if it is live at `now`; the entry becomes the most
    /// recently used (its expiry does not move).
    pub fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        self.expire(now);
        let i = *self.map.get(key)?;
        self.unlink(i);
        self.push_front(i);
        self.nodes[i].entry.as_ref().map(|(_, v)| v)
    }

    /// The value of `key` if it is live at `now`, leaving the recency order
    /// as it is.
    pub fn peek(&self, key: &K, now: Instant) -> Option<&V> {
        let i = *self.map.get(key)?;
        let node = &self.nodes[i];
        if !self.is_live(node.written, now) {
            return None;
        }
        node.entry.as_ref().map(|(_, v)| v)
    }

    /// Stores `value` under `key`, written at `now`.
    pub fn put(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        self.expire(now);
        if self.capacity == 0 {
            return None;
        }
        if let Some(&i) = self.map.get(&key) {
            let old = self.nodes[i]
                .entry
                .as_mut()
                .map(|(_, v)| std::mem::replace(v, value));
            self.nodes[i].written = now;
            self.unlink(i);
            self.push_front(i);
            self.wunlink(i);
            self.wpush_back(i);
            return old;
        }
        if self.map.len() >= self.capacity {
            let t = self.tail;
            self.detach(t);
        }
        let node = TtlNode {
            entry: Some((key.clone(), value)),
            written: now,
            prev: NIL,
            next: NIL,
            wprev: NIL,
            wnext: NIL,
        };
        let i = if let Some(i) = self.free.pop() {
            self.nodes[i] = node;
            i
        } else {
            self.nodes.push(node);
            self.nodes.len() - 1
        };
        self.push_front(i);
        self.wpush_back(i);
        self.map.insert(key, i);
        None
    }

    /// Removes `key` and returns its value if it was live at `now`.
    pub fn remove(&mut self, key: &K, now: Instant) -> Option<V> {
        self.expire(now);
        let i = *self.map.get(key)?;
        self.detach(i)
    }

    /// How many entries are live at `now`.
    pub fn len(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.map.len()
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
