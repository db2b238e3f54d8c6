//! Wrong: `peek` refreshes recency, as `get` does, so a monitoring endpoint
//! that peeks at every key keeps them all "recently used", and eviction
//! throws out the entries the application really uses.
//!
//! Why candidates write it: both methods share one lookup helper that also
//! touches the entry; in most languages `peek` is then literally
//! `return get(key)`. In Rust, `peek(&self)` has to reach for a `RefCell` to
//! do it, which is the hint that it should not.
//!
//! This answer keeps a stamp of last use per entry and a `BTreeMap` from
//! stamp to key (O(log n) per operation where O(1) is asked; the spec does
//! not time it, the bench shows it).
//!
//! Symptom: turning on the dashboard that peeks at every cached key makes
//! the application's real hot keys start getting evicted.
//!
//! Caught by: `peek_does_not_change_which_entry_is_evicted` and
//! `lru_agrees_with_a_list_in_recency_order`.
//!
//! Whole file: `peek(&self)` cannot touch the reference's slab; refreshing
//! recency from `&self` takes a different design, with the order behind a
//! `RefCell` apart from the values, as this answer has.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::mem;

pub use lru_cache_solution::TtlCache;

#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    capacity: usize,
    /// Each key's value and the stamp of its last use.
    entries: HashMap<K, (V, Cell<u64>)>,
    /// Stamp of last use to key: the first is the least recently used.
    order: RefCell<BTreeMap<u64, K>>,
    clock: Cell<u64>,
}

/// Gives the entry stamped `stamp` a new stamp, the latest.
fn touch<K>(order: &RefCell<BTreeMap<u64, K>>, clock: &Cell<u64>, stamp: &Cell<u64>) {
    let mut order = order.borrow_mut();
    if let Some(key) = order.remove(&stamp.get()) {
        clock.set(clock.get() + 1);
        stamp.set(clock.get());
        order.insert(clock.get(), key);
    }
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        LruCache {
            capacity,
            entries: HashMap::new(),
            order: RefCell::new(BTreeMap::new()),
            clock: Cell::new(0),
        }
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.lookup(key)
    }

    pub fn peek(&self, key: &K) -> Option<&V> {
        // BUG: the same lookup as `get`, and it touches the entry.
        self.lookup(key)
    }

    fn lookup(&self, key: &K) -> Option<&V> {
        let (value, stamp) = self.entries.get(key)?;
        touch(&self.order, &self.clock, stamp);
        Some(value)
    }

    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        if let Some((old, stamp)) = self.entries.get_mut(&key) {
            touch(&self.order, &self.clock, stamp);
            return Some(mem::replace(old, value));
        }
        if self.capacity == 0 {
            return None;
        }
        if self.entries.len() == self.capacity
            && let Some((_, lru)) = self.order.get_mut().pop_first()
        {
            self.entries.remove(&lru);
        }
        self.clock.set(self.clock.get() + 1);
        let stamp = self.clock.get();
        self.order.get_mut().insert(stamp, key.clone());
        self.entries.insert(key, (value, Cell::new(stamp)));
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, stamp) = self.entries.remove(key)?;
        self.order.get_mut().remove(&stamp.get());
        Some(value)
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
