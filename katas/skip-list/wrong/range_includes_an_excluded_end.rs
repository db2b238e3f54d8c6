//! Wrong: `range` treats an excluded end like an included one, so
//! `range(10..20)` also yields 20. A leaderboard page "scores from 100 up to
//! 200" shows the players at exactly 200 twice, once on each page.
//!
//! Why candidates write it: the end of a range is found with the same
//! search as the start, and the strict and non-strict comparisons are easy
//! to swap between the four kinds of bound (`Included`, `Excluded`, on
//! either end).
//!
//! Caught by: `range_yields_exactly_the_keys_within_its_bounds`
//! (`half_open`, `both_excluded`, `unbounded_start`, `empty_half_open`,
//! `excluded_end_at_the_first_key`) and
//! `agrees_with_a_btreemap_under_random_operations`.

use std::fmt;
use std::iter::FusedIterator;
use std::mem;
use std::ops::{Bound, RangeBounds};

/// The most levels a list uses. With p = 1/4, 32 levels serve 4^32 keys.
const MAX_LEVEL: usize = 32;
/// The index that links to nothing: the end of every level.
const NIL: usize = usize::MAX;
/// The index of the head: not a slot of `nodes` but the list's own links.
const HEAD: usize = usize::MAX - 1;

/// One forward link: the next node on this level, and how many level-0
/// steps that is. A link to `NIL` spans the nodes left after its own node.
#[derive(Debug, Clone, Copy)]
struct Link {
    next: usize,
    span: usize,
}

const END: Link = Link { next: NIL, span: 0 };

#[derive(Debug, Clone)]
struct Node<K, V> {
    key: K,
    value: V,
    /// One link per level the node is on, level 0 first.
    links: Box<[Link]>,
}

/// Where a search stopped on each level: the last node before the place it
/// looked for, and that node's position (the head is 0, the first node 1).
struct Path {
    before: [usize; MAX_LEVEL],
    position: [usize; MAX_LEVEL],
}

/// An ordered map from `K` to `V` with range iteration and rank queries, all
/// in O(log n) expected time.
///
/// The levels of its nodes are drawn from a pseudo-random generator seeded by
/// [`new`](Self::new): the same seed and the same operations build the same
/// list.
#[derive(Clone)]
pub struct SkipList<K, V> {
    /// The head's link on every level; only the first `level` are in use.
    head: [Link; MAX_LEVEL],
    /// How many levels are in use (at least 1).
    level: usize,
    nodes: Vec<Option<Node<K, V>>>,
    /// Indices of the `None` slots in `nodes`.
    free: Vec<usize>,
    len: usize,
    rng: SplitMix64,
}

impl<K: Ord, V> SkipList<K, V> {
    /// An empty list whose node levels are drawn from a generator seeded
    /// with `seed`. Any seed works, zero included.
    pub fn new(seed: u64) -> Self {
        SkipList {
            head: [END; MAX_LEVEL],
            level: 1,
            nodes: Vec::new(),
            free: Vec::new(),
            len: 0,
            rng: SplitMix64(seed),
        }
    }

    /// Inserts `value` under `key` and returns the value it replaced, if the
    /// key was there (the key keeps its one node).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let mut path = self.search(|k| *k < key);
        let found = self.links(path.before[0])[0].next;
        if found != NIL && self.node(found).key == key {
            return Some(mem::replace(&mut self.node_mut(found).value, value));
        }
        let height = self.rng.level();
        if height > self.level {
            // New levels start at the head and span the whole list.
            for level in self.level..height {
                self.head[level] = Link {
                    next: NIL,
                    span: self.len,
                };
                path.before[level] = HEAD;
                path.position[level] = 0;
            }
            self.level = height;
        }
        let at = self.allocate(Node {
            key,
            value,
            links: vec![END; height].into_boxed_slice(),
        });
        // The new node's position is `path.position[0] + 1`.
        for level in 0..height {
            let before = path.before[level];
            let old = self.links(before)[level];
            let skipped = path.position[0] - path.position[level];
            self.node_mut(at).links[level] = Link {
                next: old.next,
                span: old.span - skipped,
            };
            *self.link_mut(before, level) = Link {
                next: at,
                span: skipped + 1,
            };
        }
        // Links above the new node now pass over one more node.
        for level in height..self.level {
            self.link_mut(path.before[level], level).span += 1;
        }
        self.len += 1;
        None
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let path = self.search(|k| k < key);
        let found = self.links(path.before[0])[0].next;
        (found != NIL && self.node(found).key == *key).then(|| &self.node(found).value)
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let path = self.search(|k| k < key);
        let at = self.links(path.before[0])[0].next;
        if at == NIL || self.node(at).key != *key {
            return None;
        }
        for level in 0..self.level {
            let before = path.before[level];
            if self.links(before)[level].next == at {
                // Unlink: the link before now jumps over the node as well.
                let out = self.node(at).links[level];
                let link = self.link_mut(before, level);
                link.next = out.next;
                link.span += out.span;
                link.span -= 1;
            } else {
                // A link passing over the node is one step shorter.
                self.link_mut(before, level).span -= 1;
            }
        }
        while self.level > 1 && self.head[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let node = self.nodes[at].take().expect(OCCUPIED);
        self.free.push(at);
        Some(node.value)
    }

    /// How many keys the list holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries whose keys lie in `range`, in key order. A range whose
    /// start is past its end is empty.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> Range<'_, K, V> {
        // How many keys lie before the range, and how many are not past its
        // end: the range is the difference.
        let before = match range.start_bound() {
            Bound::Included(start) => self.search(|k| k < start),
            Bound::Excluded(start) => self.search(|k| k <= start),
            Bound::Unbounded => self.search(|_| false),
        };
        let up_to_end = match range.end_bound() {
            Bound::Included(end) => self.search(|k| k <= end).position[0],
            // BUG: an excluded end is counted like an included one.
            Bound::Excluded(end) => self.search(|k| k <= end).position[0],
            Bound::Unbounded => self.len,
        };
        Range {
            list: self,
            next: self.links(before.before[0])[0].next,
            remaining: up_to_end.saturating_sub(before.position[0]),
        }
    }

    /// The 0-based position of `key` in key order (Redis's `ZRANK`), if it
    /// is there.
    pub fn rank(&self, key: &K) -> Option<usize> {
        let path = self.search(|k| k <= key);
        let last = path.before[0];
        (last != HEAD && self.node(last).key == *key).then(|| path.position[0] - 1)
    }

    /// The entry at 0-based position `rank` in key order (Redis's
    /// `ZRANGE key rank rank`), if the list is that long.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&K, &V)> {
        if rank >= self.len {
            return None;
        }
        // Positions count from 1 (the head is 0).
        let target = rank + 1;
        let mut at = HEAD;
        let mut position = 0;
        for level in (0..self.level).rev() {
            loop {
                let link = self.links(at)[level];
                if link.next == NIL || position + link.span > target {
                    break;
                }
                position += link.span;
                at = link.next;
            }
            if position == target {
                let node = self.node(at);
                return Some((&node.key, &node.value));
            }
        }
        None
    }

    /// Walks from the head down every level, moving forward while the next
    /// key satisfies `before` (which must hold for a prefix of the keys in
    /// order, like `k < key`). Stops, on each level, at the last node whose
    /// key satisfies it (or the head).
    fn search(&self, before: impl Fn(&K) -> bool) -> Path {
        let mut path = Path {
            before: [HEAD; MAX_LEVEL],
            position: [0; MAX_LEVEL],
        };
        let mut at = HEAD;
        let mut position = 0;
        for level in (0..self.level).rev() {
            loop {
                let link = self.links(at)[level];
                if link.next == NIL || !before(&self.node(link.next).key) {
                    break;
                }
                position += link.span;
                at = link.next;
            }
            path.before[level] = at;
            path.position[level] = position;
        }
        path
    }

    fn allocate(&mut self, node: Node<K, V>) -> usize {
        match self.free.pop() {
            Some(at) => {
                self.nodes[at] = Some(node);
                at
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        }
    }
}

impl<K, V> SkipList<K, V> {
    fn links(&self, at: usize) -> &[Link] {
        if at == HEAD {
            &self.head
        } else {
            &self.node(at).links
        }
    }

    fn link_mut(&mut self, at: usize, level: usize) -> &mut Link {
        if at == HEAD {
            &mut self.head[level]
        } else {
            &mut self.node_mut(at).links[level]
        }
    }

    fn node(&self, at: usize) -> &Node<K, V> {
        self.nodes[at].as_ref().expect(OCCUPIED)
    }

    fn node_mut(&mut self, at: usize) -> &mut Node<K, V> {
        self.nodes[at].as_mut().expect(OCCUPIED)
    }
}

/// Links only ever point at occupied slots: a free slot behind one is a bug
/// in this crate, not bad input.
const OCCUPIED: &str = "a link names an occupied slot";

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SkipList<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        let mut at = self.head[0].next;
        while at != NIL {
            let node = self.node(at);
            map.entry(&node.key, &node.value);
            at = node.links[0].next;
        }
        map.finish()
    }
}

/// The entries of a [`SkipList::range`], in key order.
#[derive(Debug)]
pub struct Range<'a, K, V> {
    list: &'a SkipList<K, V>,
    next: usize,
    remaining: usize,
}

impl<'a, K, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let node = self.list.node(self.next);
        self.next = node.links[0].next;
        self.remaining -= 1;
        Some((&node.key, &node.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> ExactSizeIterator for Range<'_, K, V> {}

impl<K, V> FusedIterator for Range<'_, K, V> {}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny generator with a good
/// spread from any seed, zero included (xorshift would be stuck at zero).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A node's height: 1, plus one more level with probability 1/4 each
    /// time (every two trailing zero bits of a random word), at most
    /// `MAX_LEVEL`.
    fn level(&mut self) -> usize {
        let extra = self.next_u64().trailing_zeros() as usize / 2;
        (1 + extra).min(MAX_LEVEL)
    }
}
