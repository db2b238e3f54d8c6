//! Right: not Redis's `zslInsert`/`zslDeleteNode` with `update[]` and `rank[]` arrays. Every mutation
//! is two top-down descents: the first counts the keys smaller than the key (which is also its rank)
//! and finds whether it is there; the second relinks on the way down, already knowing the new node's
//! position, so each span is fixed on the spot (Pugh's top-down variant). The head's tower is a field
//! of the list rather than a node of the arena (`None` addresses it), links to "nothing" are
//! `Option`s, ranges are bounded by a count of entries (first and last positions, found by two
//! O(log n) descents) instead of a stop node, and the heights come from a wyrand generator (a Weyl
//! sequence, so no seed has a stuck state) read two bits per level.

use std::ops::{Bound, RangeBounds};

/// The most levels a node can have.
const MAX_LEVEL: usize = 32;

/// A forward link: the node it leads to (`None`: the end), and how many
/// level-0 steps it jumps (to the end: how many nodes follow its origin).
#[derive(Debug, Clone, Copy)]
struct Link {
    to: Option<usize>,
    span: usize,
}

#[derive(Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    tower: Vec<Link>,
}

/// An ordered map from `K` to `V` with range iteration and rank queries, all
/// in O(log n) expected time.
#[derive(Debug)]
pub struct SkipList<K, V> {
    /// The head's links; only the first `levels` are in use.
    head: Vec<Link>,
    levels: usize,
    /// The arena; `None` marks a free slot (listed in `vacant`).
    slots: Vec<Option<Node<K, V>>>,
    vacant: Vec<usize>,
    len: usize,
    weyl: u64,
}

impl<K: Ord, V> SkipList<K, V> {
    /// An empty list whose node levels are drawn from a generator seeded
    /// with `seed`. Any seed works, zero included.
    pub fn new(seed: u64) -> Self {
        SkipList {
            head: vec![Link { to: None, span: 0 }; MAX_LEVEL],
            levels: 1,
            slots: Vec::new(),
            vacant: Vec::new(),
            len: 0,
            weyl: seed,
        }
    }

    /// wyrand: the state only ever adds an odd constant, so every seed
    /// walks the full period.
    fn random(&mut self) -> u64 {
        self.weyl = self.weyl.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.weyl) * u128::from(self.weyl ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// 1, plus one per pair of zero bits: P(height > h) = 4^-h, at most 32.
    fn random_height(&mut self) -> usize {
        let mut bits = self.random();
        let mut height = 1;
        while height < MAX_LEVEL && bits & 3 == 0 {
            height += 1;
            bits >>= 2;
        }
        height
    }

    fn node(&self, i: usize) -> &Node<K, V> {
        self.slots[i].as_ref().expect("a linked slot holds a node")
    }

    /// The link leaving `at` (`None`: the head) on `level`.
    fn link(&self, at: Option<usize>, level: usize) -> Link {
        match at {
            None => self.head[level],
            Some(i) => self.node(i).tower[level],
        }
    }

    fn link_mut(&mut self, at: Option<usize>, level: usize) -> &mut Link {
        match at {
            None => &mut self.head[level],
            Some(i) => &mut self.slots[i].as_mut().expect("a linked slot holds a node").tower[level],
        }
    }

    /// Descends while `ahead(next key)`; the last node stood on and its
    /// 1-based position (the head is 0), which is the number of nodes
    /// before and at it.
    fn descend(&self, ahead: impl Fn(&K) -> bool) -> (Option<usize>, usize) {
        let mut at = None;
        let mut pos = 0;
        for level in (0..self.levels).rev() {
            loop {
                let link = self.link(at, level);
                match link.to {
                    Some(n) if ahead(&self.node(n).key) => {
                        at = Some(n);
                        pos += link.span;
                    }
                    _ => break,
                }
            }
        }
        (at, pos)
    }

    /// The node holding `key`, if any, found right after the last smaller one.
    fn find(&self, key: &K) -> Option<usize> {
        let (at, _) = self.descend(|k| k < key);
        self.link(at, 0).to.filter(|&n| self.node(n).key == *key)
    }

    /// Inserts `value` under `key` and returns the value it replaced, if the
    /// key was there (the key keeps its one node).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let (at, smaller) = self.descend(|k| *k < key);
        if let Some(n) = self.link(at, 0).to.filter(|&n| self.node(n).key == key) {
            let node = self.slots[n].as_mut().expect("a linked slot holds a node");
            return Some(std::mem::replace(&mut node.value, value));
        }
        let height = self.random_height();
        while self.levels < height {
            self.head[self.levels] = Link { to: None, span: self.len };
            self.levels += 1;
        }
        let node = Node {
            key,
            value,
            tower: vec![Link { to: None, span: 0 }; height],
        };
        let new = match self.vacant.pop() {
            Some(i) => {
                self.slots[i] = Some(node);
                i
            }
            None => {
                self.slots.push(Some(node));
                self.slots.len() - 1
            }
        };
        // The new node will stand at 1-based position `smaller + 1`.
        let target = smaller + 1;
        let mut at = None;
        let mut pos = 0;
        for level in (0..self.levels).rev() {
            loop {
                let link = self.link(at, level);
                match link.to {
                    Some(n) if n != new && pos + link.span < target => {
                        at = Some(n);
                        pos += link.span;
                    }
                    _ => break,
                }
            }
            let link = self.link(at, level);
            if level < height {
                // `link.to` was at `pos + link.span`; it moves one place on.
                *self.link_mut(Some(new), level) = Link {
                    to: link.to,
                    span: pos + link.span + 1 - target,
                };
                *self.link_mut(at, level) = Link {
                    to: Some(new),
                    span: target - pos,
                };
            } else {
                self.link_mut(at, level).span += 1;
            }
        }
        self.len += 1;
        None
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).map(|n| &self.node(n).value)
    }

    /// Removes `key` and returns its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let gone = self.find(key)?;
        let mut at = None;
        for level in (0..self.levels).rev() {
            loop {
                match self.link(at, level).to {
                    Some(n) if n != gone && self.node(n).key < *key => at = Some(n),
                    _ => break,
                }
            }
            let link = self.link(at, level);
            if link.to == Some(gone) {
                let after = self.node(gone).tower[level];
                *self.link_mut(at, level) = Link {
                    to: after.to,
                    span: link.span + after.span - 1,
                };
            } else {
                // This link passes over the removed node (or runs to the end
                // past it): one step shorter.
                self.link_mut(at, level).span -= 1;
            }
        }
        while self.levels > 1 && self.head[self.levels - 1].to.is_none() {
            self.levels -= 1;
        }
        self.len -= 1;
        self.vacant.push(gone);
        self.slots[gone].take().map(|node| node.value)
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
        // How many keys lie before the range, and how many lie before its end.
        let (before, before_at) = match range.start_bound() {
            Bound::Included(s) => self.descend(|k| k < s),
            Bound::Excluded(s) => self.descend(|k| k <= s),
            Bound::Unbounded => (None, 0),
        };
        let (_, through) = match range.end_bound() {
            Bound::Included(e) => self.descend(|k| k <= e),
            Bound::Excluded(e) => self.descend(|k| k < e),
            Bound::Unbounded => (None, self.len),
        };
        Range {
            list: self,
            next: self.link(before, 0).to,
            remaining: through.saturating_sub(before_at),
        }
    }

    /// The 0-based position of `key` in key order (Redis's `ZRANK`): the
    /// number of keys smaller than it, if it is there.
    pub fn rank(&self, key: &K) -> Option<usize> {
        let (at, smaller) = self.descend(|k| k < key);
        self.link(at, 0)
            .to
            .filter(|&n| self.node(n).key == *key)
            .map(|_| smaller)
    }

    /// The entry at 0-based position `rank` in key order, if the list is
    /// that long.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&K, &V)> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut at = None;
        let mut pos = 0;
        for level in (0..self.levels).rev() {
            loop {
                let link = self.link(at, level);
                match link.to {
                    Some(n) if pos + link.span <= target => {
                        at = Some(n);
                        pos += link.span;
                    }
                    _ => break,
                }
            }
        }
        let node = self.node(at?);
        Some((&node.key, &node.value))
    }
}

/// The entries of a [`SkipList::range`], in key order.
#[derive(Debug)]
pub struct Range<'a, K, V> {
    list: &'a SkipList<K, V>,
    next: Option<usize>,
    /// How many entries are left to yield.
    remaining: usize,
}

impl<'a, K, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let node = self.list.slots[self.next?].as_ref()?;
        self.remaining -= 1;
        self.next = node.tower[0].to;
        Some((&node.key, &node.value))
    }
}
