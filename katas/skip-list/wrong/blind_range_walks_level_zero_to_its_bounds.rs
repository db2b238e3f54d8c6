//! Bug: `range` finds its first entry (and its stop) by walking level 0 from the head instead of
//! descending the levels, so `range(a..b)` costs O(position of b) comparisons before and besides
//! the entries it yields. Every answer is right; the README requires that "`range` finds its first
//! entry in O(log n) and then walks".
//!
//! Why candidates write it: the iterator walks level 0, so finding its start the same way feels
//! natural; the express lanes get used in `get` and `insert`, and small ranges near the front of
//! the test lists are instant.
//!
//! Symptom: ZRANGEBYSCORE for the top band is instant, but every "players around me" query near the bottom of the board costs a full scan of the 20 million nodes before it.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference.
//!
//! Caught by: `range_finds_its_first_entry_in_o_log_n_comparisons_then_walks` (counted
//! comparisons: thousands where a search needs a few dozen).
use std::ops::{Bound, RangeBounds};

/// "No node".
const NIL: usize = usize::MAX;
/// The head's slot in the arena.
const HEAD: usize = 0;
/// The most levels a node (and the list) can have.
const MAX_LEVEL: usize = 32;

#[derive(Debug, Clone, Copy)]
struct Link {
    next: usize,
    /// How many level-0 steps this link jumps (to NIL: how many nodes follow).
    span: usize,
}

#[derive(Debug)]
struct Node<K, V> {
    /// `None` for the head and for free slots.
    entry: Option<(K, V)>,
    links: Vec<Link>,
}

/// An ordered map from `K` to `V` with range iteration and rank queries, all
/// in O(log n) expected time.
#[derive(Debug)]
pub struct SkipList<K, V> {
    nodes: Vec<Node<K, V>>,
    free: Vec<usize>,
    /// Levels in use (at least 1).
    level: usize,
    len: usize,
    rng: u64,
}

impl<K: Ord, V> SkipList<K, V> {
    /// An empty list whose node levels are drawn from a generator seeded
    /// with `seed`. Any seed works, zero included.
    pub fn new(seed: u64) -> Self {
        SkipList {
            nodes: vec![Node {
                entry: None,
                links: vec![Link { next: NIL, span: 0 }; MAX_LEVEL],
            }],
            free: Vec::new(),
            level: 1,
            len: 0,
            rng: seed,
        }
    }

    /// SplitMix64: fine from any seed, zero included.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 1, plus one for every further level reached with probability 1/4.
    fn random_height(&mut self) -> usize {
        let r = self.next_random();
        (1 + r.trailing_zeros() as usize / 2).min(MAX_LEVEL)
    }

    fn key(&self, i: usize) -> &K {
        &self.nodes[i].entry.as_ref().expect("a linked node has an entry").0
    }

    /// Descends from the head, moving forward while `go(next key)`; the last
    /// node stood on (the head if none).
    fn seek(&self, go: impl Fn(&K) -> bool) -> usize {
        let mut x = HEAD;
        for lvl in (0..self.level).rev() {
            loop {
                let next = self.nodes[x].links[lvl].next;
                if next != NIL && go(self.key(next)) {
                    x = next;
                } else {
                    break;
                }
            }
        }
        x
    }

    /// Walks level 0 from the head while `go(next key)`; the last node
    /// stood on (the head if none).
    fn walk(&self, go: impl Fn(&K) -> bool) -> usize {
        let mut x = HEAD;
        loop {
            let next = self.nodes[x].links[0].next;
            if next != NIL && go(self.key(next)) {
                x = next;
            } else {
                return x;
            }
        }
    }

    /// Inserts `value` under `key` and returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for lvl in (0..self.level).rev() {
            rank[lvl] = if lvl + 1 == self.level { 0 } else { rank[lvl + 1] };
            loop {
                let link = self.nodes[x].links[lvl];
                if link.next != NIL && *self.key(link.next) < key {
                    rank[lvl] += link.span;
                    x = link.next;
                } else {
                    break;
                }
            }
            update[lvl] = x;
        }
        let next = self.nodes[x].links[0].next;
        if next != NIL && *self.key(next) == key {
            let entry = self.nodes[next].entry.as_mut().expect("linked");
            return Some(std::mem::replace(&mut entry.1, value));
        }
        let height = self.random_height();
        if height > self.level {
            for lvl in self.level..height {
                rank[lvl] = 0;
                update[lvl] = HEAD;
                self.nodes[HEAD].links[lvl] = Link { next: NIL, span: self.len };
            }
            self.level = height;
        }
        let node = Node {
            entry: Some((key, value)),
            links: vec![Link { next: NIL, span: 0 }; height],
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        for lvl in 0..height {
            let u = update[lvl];
            let before = self.nodes[u].links[lvl];
            self.nodes[i].links[lvl] = Link {
                next: before.next,
                span: before.span - (rank[0] - rank[lvl]),
            };
            self.nodes[u].links[lvl] = Link {
                next: i,
                span: rank[0] - rank[lvl] + 1,
            };
        }
        for lvl in height..self.level {
            self.nodes[update[lvl]].links[lvl].span += 1;
        }
        self.len += 1;
        None
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let x = self.seek(|k| k < key);
        let next = self.nodes[x].links[0].next;
        if next == NIL {
            return None;
        }
        let (k, v) = self.nodes[next].entry.as_ref()?;
        (k == key).then_some(v)
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for lvl in (0..self.level).rev() {
            loop {
                let next = self.nodes[x].links[lvl].next;
                if next != NIL && self.key(next) < key {
                    x = next;
                } else {
                    break;
                }
            }
            update[lvl] = x;
        }
        let target = self.nodes[x].links[0].next;
        if target == NIL || self.key(target) != key {
            return None;
        }
        for lvl in 0..self.level {
            let u = update[lvl];
            if self.nodes[u].links[lvl].next == target {
                let gone = self.nodes[target].links[lvl];
                let link = &mut self.nodes[u].links[lvl];
                link.next = gone.next;
                link.span = link.span + gone.span - 1;
            } else {
                self.nodes[u].links[lvl].span -= 1;
            }
        }
        while self.level > 1 && self.nodes[HEAD].links[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        self.free.push(target);
        self.nodes[target].entry.take().map(|(_, v)| v)
    }

    /// How many keys the list holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries whose keys lie in `range`, in key order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> Range<'_, K, V> {
        // A range is read along level 0 anyway: walk it to the bounds.
        let before_start = match range.start_bound() {
            Bound::Included(s) => self.walk(|k| k < s),
            Bound::Excluded(s) => self.walk(|k| k <= s),
            Bound::Unbounded => HEAD,
        };
        let first = self.nodes[before_start].links[0].next;
        let (before_stop, in_end): (usize, bool) = match range.end_bound() {
            Bound::Included(e) => (
                self.walk(|k| k <= e),
                first != NIL && self.key(first) <= e,
            ),
            Bound::Excluded(e) => (
                self.walk(|k| k < e),
                first != NIL && self.key(first) < e,
            ),
            Bound::Unbounded => (NIL, true),
        };
        let stop = if before_stop == NIL {
            NIL
        } else {
            self.nodes[before_stop].links[0].next
        };
        Range {
            nodes: &self.nodes,
            cur: if in_end { first } else { NIL },
            stop,
        }
    }

    /// The 0-based position of `key` in key order, if it is there.
    pub fn rank(&self, key: &K) -> Option<usize> {
        let mut x = HEAD;
        let mut traversed = 0;
        for lvl in (0..self.level).rev() {
            loop {
                let link = self.nodes[x].links[lvl];
                if link.next != NIL && self.key(link.next) <= key {
                    traversed += link.span;
                    x = link.next;
                } else {
                    break;
                }
            }
        }
        (x != HEAD && self.key(x) == key).then(|| traversed - 1)
    }

    /// The entry at 0-based position `rank` in key order, if the list is
    /// that long.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&K, &V)> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0;
        for lvl in (0..self.level).rev() {
            loop {
                let link = self.nodes[x].links[lvl];
                if link.next != NIL && traversed + link.span <= target {
                    traversed += link.span;
                    x = link.next;
                } else {
                    break;
                }
            }
            if traversed == target {
                let (k, v) = self.nodes[x].entry.as_ref()?;
                return Some((k, v));
            }
        }
        None
    }
}

/// The entries of a [`SkipList::range`], in key order.
#[derive(Debug)]
pub struct Range<'a, K, V> {
    nodes: &'a [Node<K, V>],
    /// The next node to yield, or NIL.
    cur: usize,
    /// The first node past the range, or NIL.
    stop: usize,
}

impl<'a, K, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL || self.cur == self.stop {
            return None;
        }
        let node = &self.nodes[self.cur];
        self.cur = node.links[0].next;
        node.entry.as_ref().map(|(k, v)| (k, v))
    }
}
