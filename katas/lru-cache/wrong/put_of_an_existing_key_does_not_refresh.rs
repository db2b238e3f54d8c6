//! Wrong: `put` of a key already there replaces its value in place, and the
//! entry keeps its old place in the recency order: a key rewritten every
//! second is still evicted as the least recently used.
//!
//! Why candidates write it: the "key exists" branch is written as an update
//! (`nodes[i].value = value`) and returns early, before the code that links
//! new entries at the front.
//!
//! Caught by:
//! `put_of_an_existing_key_replaces_its_value_and_makes_it_the_most_recently_used`
//! and `lru_agrees_with_a_list_in_recency_order`.

use std::collections::HashMap;
use std::hash::Hash;
use std::mem;

pub use lru_cache_solution::TtlCache;

/// The index that links to nothing.
const NIL: usize = usize::MAX;

#[derive(Debug, Clone)]
struct Node<K, V> {
    key: K,
    value: V,
    prev: usize,
    next: usize,
}

/// A `HashMap` from key to slot and a doubly linked list threaded through a
/// `Vec` by index: most recently used at `head`, least at `tail`.
#[derive(Debug, Clone)]
pub struct LruCache<K, V> {
    capacity: usize,
    index: HashMap<K, usize>,
    nodes: Vec<Node<K, V>>,
    head: usize,
    tail: usize,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        LruCache {
            capacity,
            index: HashMap::new(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        let &at = self.index.get(key)?;
        self.detach(at);
        self.push_front(at);
        Some(&self.nodes[at].value)
    }

    pub fn peek(&self, key: &K) -> Option<&V> {
        self.index.get(key).map(|&at| &self.nodes[at].value)
    }

    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        if let Some(&at) = self.index.get(&key) {
            // BUG: the value is replaced in place; the entry keeps its old place
            // in the list, as if it had not been written.
            return Some(mem::replace(&mut self.nodes[at].value, value));
        }
        if self.capacity == 0 {
            return None;
        }
        let node = Node {
            key: key.clone(),
            value,
            prev: NIL,
            next: NIL,
        };
        let at = if self.index.len() == self.capacity {
            // Full: the least recently used entry's slot takes the new one.
            let lru = self.tail;
            self.detach(lru);
            let evicted = mem::replace(&mut self.nodes[lru], node);
            self.index.remove(&evicted.key);
            lru
        } else {
            self.nodes.push(node);
            self.nodes.len() - 1
        };
        self.push_front(at);
        self.index.insert(key, at);
        None
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.index.remove(key)?;
        self.detach(at);
        let node = self.nodes.swap_remove(at);
        if at < self.nodes.len() {
            // `swap_remove` moved the last node into `at`: relink it there.
            let (prev, next) = (self.nodes[at].prev, self.nodes[at].next);
            if prev == NIL {
                self.head = at;
            } else {
                self.nodes[prev].next = at;
            }
            if next == NIL {
                self.tail = at;
            } else {
                self.nodes[next].prev = at;
            }
            if let Some(slot) = self.index.get_mut(&self.nodes[at].key) {
                *slot = at;
            }
        }
        Some(node.value)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn detach(&mut self, at: usize) {
        let (prev, next) = (self.nodes[at].prev, self.nodes[at].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.nodes[at].prev = NIL;
        self.nodes[at].next = NIL;
    }

    fn push_front(&mut self, at: usize) {
        self.nodes[at].next = self.head;
        if self.head == NIL {
            self.tail = at;
        } else {
            self.nodes[self.head].prev = at;
        }
        self.head = at;
    }
}
