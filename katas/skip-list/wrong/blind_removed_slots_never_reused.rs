//! Wrong: nodes live in an arena `Vec`, and `remove` leaves the removed
//! node's slot empty (`None`) without keeping a free list, so every insert
//! pushes a new slot: the arena grows with the number of inserts ever made,
//! not with the entries the list holds. Every answer stays right.
//!
//! Why candidates write it: "indices must stay stable, so move nothing",
//! and a tombstone is the simplest remove; the key, the value and the
//! links are dropped, so the memory looks released.
//!
//! Symptom: a leaderboard whose players re-score all day (remove, then
//! insert) grows without bound: 860 bytes per player after 20 re-scores
//! each, and more every hour.
//!
//! Written blind: from the README and the stub, by the red team.
//!
//! Whole file: the bug lives in an arena of the answer's own design (slot
//! indices, no free list); the reference's arena reuses its slots, and
//! taking that away as a patch would rewrite its allocation wholesale.
//!
//! Caught by: `removing_entries_gives_their_memory_back_to_the_list`.

use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};

const MAX_LEVEL: usize = 32;
const NIL: usize = usize::MAX;
const HEAD: usize = usize::MAX - 1;
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug, Clone, Copy)]
struct Link {
    next: usize,
    span: usize,
}

#[derive(Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    links: Box<[Link]>,
}

#[derive(Debug)]
pub struct SkipList<K, V> {
    nodes: Vec<Option<Node<K, V>>>,
    head: Vec<Link>,
    level: usize,
    len: usize,
    rng: u64,
}

impl<K: Ord, V> SkipList<K, V> {
    pub fn new(seed: u64) -> Self {
        SkipList {
            nodes: Vec::new(),
            head: vec![Link { next: NIL, span: 0 }; MAX_LEVEL],
            level: 1,
            len: 0,
            rng: seed,
        }
    }

    // SplitMix64: a counter plus a mixer, no stuck seed.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(GOLDEN);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    // Two fair bits per level: each level above with probability 1/4.
    fn random_level(&mut self) -> usize {
        let x = self.next_u64();
        (1 + (x.trailing_zeros() / 2) as usize).min(MAX_LEVEL)
    }

    fn links(&self, x: usize) -> &[Link] {
        if x == HEAD {
            &self.head
        } else {
            &self.nodes[x].as_ref().expect("live node").links
        }
    }

    fn links_mut(&mut self, x: usize) -> &mut [Link] {
        if x == HEAD {
            &mut self.head
        } else {
            &mut self.nodes[x].as_mut().expect("live node").links
        }
    }

    fn node(&self, x: usize) -> &Node<K, V> {
        self.nodes[x].as_ref().expect("live node")
    }

    fn seek(&self, key: &K, inclusive: bool) -> (usize, usize) {
        let mut x = HEAD;
        let mut pos = 0;
        for i in (0..self.level).rev() {
            loop {
                let l = self.links(x)[i];
                if l.next == NIL {
                    break;
                }
                let ord = self.node(l.next).key.cmp(key);
                if ord == Ordering::Less || (inclusive && ord == Ordering::Equal) {
                    pos += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
        }
        (x, pos)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.links(x)[i];
                if l.next != NIL && self.node(l.next).key.cmp(&key) == Ordering::Less {
                    rank[i] += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let n = self.links(x)[0].next;
        if n != NIL && self.node(n).key.cmp(&key) == Ordering::Equal {
            let node = self.nodes[n].as_mut().expect("live node");
            return Some(std::mem::replace(&mut node.value, value));
        }
        let lvl = self.random_level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.head[i] = Link { next: NIL, span: self.len };
            }
            self.level = lvl;
        }
        let node = Node {
            key,
            value,
            links: vec![Link { next: NIL, span: 0 }; lvl].into_boxed_slice(),
        };
        // Indices stay stable: a removed node's slot is left as `None`.
        self.nodes.push(Some(node));
        let idx = self.nodes.len() - 1;
        for i in 0..lvl {
            let u = self.links(update[i])[i];
            let gap = rank[0] - rank[i];
            self.links_mut(idx)[i] = Link { next: u.next, span: u.span - gap };
            self.links_mut(update[i])[i] = Link { next: idx, span: gap + 1 };
        }
        for i in lvl..self.level {
            self.links_mut(update[i])[i].span += 1;
        }
        self.len += 1;
        None
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let (x, _) = self.seek(key, false);
        let n = self.links(x)[0].next;
        if n != NIL && self.node(n).key.cmp(key) == Ordering::Equal {
            Some(&self.node(n).value)
        } else {
            None
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.links(x)[i];
                if l.next != NIL && self.node(l.next).key.cmp(key) == Ordering::Less {
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let n = self.links(x)[0].next;
        if n == NIL || self.node(n).key.cmp(key) != Ordering::Equal {
            return None;
        }
        let node = self.nodes[n].take().expect("live node");
        for i in 0..self.level {
            let u = self.links(update[i])[i];
            if u.next == n {
                let own = node.links[i];
                self.links_mut(update[i])[i] = Link { next: own.next, span: u.span + own.span - 1 };
            } else {
                self.links_mut(update[i])[i].span -= 1;
            }
        }
        while self.level > 1 && self.head[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        Some(node.value)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn range<R: RangeBounds<K>>(&self, range: R) -> Range<'_, K, V> {
        let (pred, start) = match range.start_bound() {
            Bound::Unbounded => (HEAD, 0),
            Bound::Included(s) => self.seek(s, false),
            Bound::Excluded(s) => self.seek(s, true),
        };
        let end = match range.end_bound() {
            Bound::Unbounded => self.len,
            Bound::Included(e) => self.seek(e, true).1,
            Bound::Excluded(e) => self.seek(e, false).1,
        };
        Range {
            list: self,
            cur: self.links(pred)[0].next,
            remaining: end.saturating_sub(start),
        }
    }

    pub fn rank(&self, key: &K) -> Option<usize> {
        let (x, pos) = self.seek(key, false);
        let n = self.links(x)[0].next;
        if n != NIL && self.node(n).key.cmp(key) == Ordering::Equal {
            Some(pos)
        } else {
            None
        }
    }

    pub fn get_by_rank(&self, rank: usize) -> Option<(&K, &V)> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut x = HEAD;
        let mut pos = 0;
        for i in (0..self.level).rev() {
            loop {
                let l = self.links(x)[i];
                if l.next != NIL && pos + l.span <= target {
                    pos += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            if pos == target {
                let node = self.node(x);
                return Some((&node.key, &node.value));
            }
        }
        None
    }
}

#[derive(Debug)]
pub struct Range<'a, K, V> {
    list: &'a SkipList<K, V>,
    cur: usize,
    remaining: usize,
}

impl<'a, K, V> Iterator for Range<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 || self.cur == NIL {
            return None;
        }
        let node = self.list.nodes[self.cur].as_ref().expect("live node");
        self.cur = node.links[0].next;
        self.remaining -= 1;
        Some((&node.key, &node.value))
    }
}
