//! Reference solution of the consistent-hashing kata: a hash ring with
//! virtual nodes that shards keys over cache or database nodes.
//!
//! The ring is a sorted array of points `(hash, node)`. A key belongs to the
//! first point at or after its own hash, wrapping around past the largest
//! point to the smallest; its replicas are the distinct nodes met walking on
//! from there. Every node owns `vnodes_per_node` points, hashed from
//! `"{node}#{i}"`, so that its share of the ring is the sum of many small
//! arcs rather than one large one.
//!
//! The hash is part of the specification ([`ring_hash`]): every process that
//! builds the same ring, on any platform, in any run, sends every key to the
//! same node. A ring hashed with `std`'s `RandomState` would send a key to a
//! different node in every process.

use std::collections::BTreeSet;
use std::sync::Arc;

/// FNV-1a's 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a's 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The position of `bytes` on the ring: 64-bit FNV-1a of the bytes, then
/// MurmurHash3's 64-bit finaliser (`fmix64`).
///
/// FNV-1a alone is a poor ring hash: its last byte moves only the low bits
/// and bits 40 to 48 of the result, so `"cache-a#1"`, `"cache-a#2"`, ...
/// land next to each other and a node's virtual nodes bunch up. The
/// finaliser spreads every input bit over the whole word.
pub fn ring_hash(bytes: &[u8]) -> u64 {
    let fnv = bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    });
    fmix64(fnv)
}

/// MurmurHash3's 64-bit finaliser: a bijection with full avalanche.
const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The point of virtual node `index` of `node`: the hash of `"{node}#{index}"`.
fn vnode_point(node: &str, index: usize) -> u64 {
    ring_hash(format!("{node}#{index}").as_bytes())
}

/// A consistent-hash ring of named nodes, each placed on the ring as
/// `vnodes_per_node` virtual nodes.
#[derive(Debug, Clone)]
pub struct HashRing {
    vnodes_per_node: usize,
    /// The members, in byte order.
    nodes: BTreeSet<Arc<str>>,
    /// Every virtual node, sorted by `(point, node)`: where two virtual nodes
    /// share a point, the one of the smaller node name comes first and owns
    /// the keys that land there.
    points: Vec<(u64, Arc<str>)>,
}

impl HashRing {
    /// An empty ring whose nodes will each own `vnodes_per_node` points.
    ///
    /// # Panics
    /// If `vnodes_per_node` is zero: a node without a point owns nothing.
    pub fn new(vnodes_per_node: usize) -> Self {
        assert!(
            vnodes_per_node > 0,
            "a node needs at least one virtual node on the ring"
        );
        HashRing {
            vnodes_per_node,
            nodes: BTreeSet::new(),
            points: Vec::new(),
        }
    }

    /// Adds `node` with its virtual nodes. Returns `false`, changing nothing,
    /// if it is already a member.
    pub fn add_node(&mut self, node: &str) -> bool {
        if self.nodes.contains(node) {
            return false;
        }
        let name: Arc<str> = Arc::from(node);
        self.nodes.insert(Arc::clone(&name));
        self.points.reserve(self.vnodes_per_node);
        for index in 0..self.vnodes_per_node {
            self.points
                .push((vnode_point(node, index), Arc::clone(&name)));
        }
        // Mostly sorted already: the standard sort merges the sorted prefix
        // with the new run.
        self.points.sort();
        true
    }

    /// Removes `node` and all of its virtual nodes. Returns `false`,
    /// changing nothing, if it was not a member.
    pub fn remove_node(&mut self, node: &str) -> bool {
        if !self.nodes.remove(node) {
            return false;
        }
        self.points.retain(|(_, owner)| &**owner != node);
        true
    }

    /// The node that owns `key`: the owner of the first virtual node at or
    /// after `ring_hash(key)`, wrapping around to the first point of the
    /// ring. `None` if the ring has no nodes.
    pub fn node_for<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&str> {
        let start = self.first_point_at_or_after(ring_hash(key.as_ref()))?;
        Some(&self.points[start].1)
    }

    /// The first `n` distinct nodes met walking clockwise from `key`'s point,
    /// starting with [`node_for`](Self::node_for): the key's preference list
    /// for `n` replicas. Fewer than `n` if the ring has fewer nodes.
    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Vec<&str> {
        let wanted = n.min(self.nodes.len());
        let mut replicas: Vec<&str> = Vec::with_capacity(wanted);
        let Some(start) = self.first_point_at_or_after(ring_hash(key.as_ref())) else {
            return replicas;
        };
        let (wrapped, from_key) = self.points.split_at(start);
        for (_, node) in from_key.iter().chain(wrapped) {
            if replicas.len() == wanted {
                break;
            }
            if !replicas.contains(&&**node) {
                replicas.push(node);
            }
        }
        replicas
    }

    /// The members of the ring, in byte order of their names.
    pub fn nodes(&self) -> Vec<&str> {
        self.nodes.iter().map(|node| &**node).collect()
    }

    /// Index of the first point at or after `hash`, wrapping to 0; `None` on
    /// an empty ring.
    fn first_point_at_or_after(&self, hash: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let index = self.points.partition_point(|(point, _)| *point < hash);
        Some(if index == self.points.len() { 0 } else { index })
    }
}
