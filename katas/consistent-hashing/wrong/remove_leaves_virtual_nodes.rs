//! Wrong: `remove_node` takes the node off the member list but leaves one of
//! its virtual nodes on the ring (the loop starts at 1, and virtual node 0
//! stays). Keys near that point keep going to a machine that has left: every
//! request for them fails, or reads a cache that is no longer kept up to date.
//!
//! Why candidates write it: the member list looks right in every log line,
//! and most keys did move.
//!
//! Caught by: `an_empty_ring_owns_no_keys`,
//! `removing_a_node_moves_only_that_nodes_keys`,
//! `adding_a_member_twice_or_removing_a_stranger_changes_nothing` and
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
        // BUG: virtual node 0 is left behind.
        for i in 1..self.vnodes {
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
