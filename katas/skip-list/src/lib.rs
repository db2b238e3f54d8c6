//! # Skip list
//!
//! The ordered map behind a Redis sorted set, with the rank queries a
//! leaderboard needs. Read `README.md` beside this file for the problem, then
//! make the specification pass:
//!
//! ```text
//! cargo xtask kata skip-list
//! ```
//!
//! Every operation must take O(log n) expected time, `rank` and
//! `get_by_rank` included: no walk along the bottom level to count. The
//! levels of the nodes come from a pseudo-random generator you write
//! yourself (no `rand` crate), seeded by `new(seed)`.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::marker::PhantomData;
use std::ops::RangeBounds;

/// An ordered map from `K` to `V` with range iteration and rank queries, all
/// in O(log n) expected time.
///
/// The levels of its nodes are drawn from a pseudo-random generator seeded by
/// [`new`](Self::new): the same seed and the same operations build the same
/// list.
#[derive(Debug)]
pub struct SkipList<K, V> {
    // Your fields here: the head's links, the nodes (a `Vec` of nodes linked
    // by index keeps you out of `unsafe`), the length, the generator...
    // (`PhantomData` only lets the stub compile: replace it.)
    _entries: PhantomData<(K, V)>,
}

impl<K: Ord, V> SkipList<K, V> {
    /// An empty list whose node levels are drawn from a generator seeded
    /// with `seed`. Any seed works, zero included.
    pub fn new(seed: u64) -> Self {
        todo!("SkipList::new: an empty list and a generator seeded with `seed`")
    }

    /// Inserts `value` under `key` and returns the value it replaced, if the
    /// key was there (the key keeps its one node).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        todo!(
            "SkipList::insert: find the node before the key on every level; replace, or link a node of random height"
        )
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        todo!("SkipList::get: top level down, forward while the next key is smaller")
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        todo!("SkipList::remove: unlink the node on every level it is on")
    }

    /// How many keys the list holds.
    pub fn len(&self) -> usize {
        todo!("SkipList::len")
    }

    /// Whether the list holds no key.
    pub fn is_empty(&self) -> bool {
        todo!("SkipList::is_empty")
    }

    /// The entries whose keys lie in `range`, in key order: `list.range(..)`
    /// is all of them, `list.range(10..20)` those from 10 up to but not
    /// including 20. A range whose start is past its end is empty.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> Range<'_, K, V> {
        todo!("SkipList::range: find the first entry in range in O(log n), then walk level 0")
    }

    /// The 0-based position of `key` in key order (Redis's `ZRANK`), if it
    /// is there.
    pub fn rank(&self, key: &K) -> Option<usize> {
        todo!("SkipList::rank: add up the spans of the links the search crosses")
    }

    /// The entry at 0-based position `rank` in key order (Redis's
    /// `ZRANGE key rank rank`), if the list is that long.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&K, &V)> {
        todo!("SkipList::get_by_rank: walk down by spans to the position")
    }
}

/// The entries of a [`SkipList::range`], in key order.
#[derive(Debug)]
pub struct Range<'a, K, V> {
    // Your fields here: where the iteration is, and where it stops.
    // (`PhantomData` only lets the stub compile: replace it.)
    _list: PhantomData<&'a SkipList<K, V>>,
}

impl<'a, K, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        todo!("Range::next: the next entry, until the end of the range")
    }
}
