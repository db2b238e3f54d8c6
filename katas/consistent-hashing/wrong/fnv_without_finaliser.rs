//! Wrong: the ring uses plain 64-bit FNV-1a and skips the `fmix64`
//! finaliser. FNV-1a's last byte moves only the low bits and bits 40 to 48
//! of the hash, so `"node-3#1"`, `"node-3#2"`, ... all land within a tiny
//! arc: a node's virtual nodes bunch up instead of spreading, and the load
//! is as uneven as with one point per node.
//!
//! Why candidates write it: "FNV-1a" is the famous half of the specified
//! hash, and it does give stable answers.
//!
//! Caught by: `ring_hash_is_fnv1a_64_followed_by_fmix64`,
//! `every_node_owns_its_share_of_keys_with_200_virtual_nodes`,
//! `node_for_matches_the_known_answers_of_the_specified_hash` and the
//! model-based `agrees_with_a_sorted_list_of_virtual_node_points`.

use std::collections::{BTreeMap, BTreeSet};

/// BUG: FNV-1a alone, without the finaliser.
pub fn ring_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[derive(Debug, Clone)]
pub struct HashRing {
    vnodes: usize,
    nodes: BTreeSet<String>,
    points: BTreeMap<u64, String>,
}

impl HashRing {
    pub fn new(vnodes_per_node: usize) -> Self {
        assert!(vnodes_per_node > 0, "a node needs at least one virtual node");
        HashRing {
            vnodes: vnodes_per_node,
            nodes: BTreeSet::new(),
            points: BTreeMap::new(),
        }
    }

    pub fn add_node(&mut self, node: &str) -> bool {
        if !self.nodes.insert(node.to_owned()) {
            return false;
        }
        for i in 0..self.vnodes {
            let point = ring_hash(format!("{node}#{i}").as_bytes());
            self.points.insert(point, node.to_owned());
        }
        true
    }

    pub fn remove_node(&mut self, node: &str) -> bool {
        if !self.nodes.remove(node) {
            return false;
        }
        for i in 0..self.vnodes {
            self.points.remove(&ring_hash(format!("{node}#{i}").as_bytes()));
        }
        true
    }

    /// The owners of the points from the key's point clockwise, wrapping.
    fn walk(&self, key: &[u8]) -> impl Iterator<Item = &str> {
        let hash = ring_hash(key);
        self.points
            .range(hash..)
            .chain(self.points.range(..hash))
            .map(|(_, node)| node.as_str())
    }

    pub fn node_for<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&str> {
        self.walk(key.as_ref()).next()
    }

    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Vec<&str> {
        let mut replicas = Vec::new();
        for node in self.walk(key.as_ref()) {
            if replicas.len() == n {
                break;
            }
            if !replicas.contains(&node) {
                replicas.push(node);
            }
        }
        replicas
    }

    pub fn nodes(&self) -> Vec<&str> {
        self.nodes.iter().map(String::as_str).collect()
    }
}
