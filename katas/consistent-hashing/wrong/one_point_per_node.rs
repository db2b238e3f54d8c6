//! Wrong: no virtual nodes. Each node is one point on the ring, at
//! `ring_hash(node)`, whatever `vnodes_per_node` says. The ring still moves
//! only a leaving node's keys, but the arcs between ten random points are
//! wildly unequal: one node owns a third of the keys while another idles, and
//! when a node leaves, its whole arc lands on its single successor.
//!
//! Why candidates write it: it is the textbook picture of a ring, and every
//! "keys only move to or from the changed node" test passes.
//!
//! Caught by: `every_node_owns_its_share_of_keys_with_200_virtual_nodes`,
//! `node_for_matches_the_known_answers_of_the_specified_hash` and
//! `agrees_with_a_sorted_list_of_virtual_node_points`.

use std::collections::{BTreeMap, BTreeSet};

pub use consistent_hashing_solution::ring_hash;

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
        // BUG: one point per node; `self.vnodes` is ignored.
        for _ in 0..1 {
            let point = ring_hash(node.as_bytes());
            self.points.insert(point, node.to_owned());
        }
        true
    }

    pub fn remove_node(&mut self, node: &str) -> bool {
        if !self.nodes.remove(node) {
            return false;
        }
        self.points.remove(&ring_hash(node.as_bytes()));
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
