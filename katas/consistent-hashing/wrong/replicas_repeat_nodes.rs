//! Wrong: `replicas` takes the owners of the next `n` virtual nodes on the
//! ring without skipping a node already listed. With virtual nodes, two
//! neighbouring points often belong to the same machine, so a key's "three
//! replicas" can be one machine twice: one failure loses two copies.
//!
//! Why candidates write it: without virtual nodes the next `n` points are `n`
//! different machines, and that is the picture in most diagrams.
//!
//! Caught by: `replicas_are_distinct_members_starting_with_the_keys_node`,
//! `replicas_match_the_known_answers_of_the_specified_hash`,
//! `followup_removing_a_node_only_drops_it_from_every_preference_list` and
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
        // BUG: the next n virtual nodes, not the next n distinct nodes.
        let points = self.points.len();
        self.walk(key.as_ref()).take(n.min(points)).collect()
    }

    pub fn nodes(&self) -> Vec<&str> {
        self.nodes.iter().map(String::as_str).collect()
    }
}
