//! Wrong: not a ring at all. The members are kept sorted and a key goes to
//! `nodes[ring_hash(key) % nodes.len()]`. Every answer is stable while the
//! membership is, but when one of ten nodes leaves, `% 10` becomes `% 9` and
//! about nine keys in ten move: the whole cache goes cold at once, and the
//! database behind it takes the full load.
//!
//! Why candidates write it: it is the obvious way to shard, and it balances
//! keys perfectly. It is the very problem consistent hashing solves.
//!
//! Symptom: removing one of ten cache nodes sends almost every key to a
//! different node: the cache hit rate collapses and the database behind it
//! is flooded.
//!
//! Whole file: not a ring at all: a sorted member list and `hash % n`, with
//! no points and no virtual nodes. Nothing of the reference's ring is left
//! to patch; it is the design consistent hashing replaces.
//!
//! Caught by: `removing_a_node_moves_only_that_nodes_keys`,
//! `adding_a_node_moves_keys_only_to_the_new_node`,
//! `node_for_matches_the_known_answers_of_the_specified_hash` and
//! `agrees_with_a_sorted_list_of_virtual_node_points`.

use std::collections::BTreeSet;

pub use consistent_hashing_solution::ring_hash;

#[derive(Debug, Clone)]
pub struct HashRing {
    nodes: BTreeSet<String>,
}

impl HashRing {
    pub fn new(vnodes_per_node: usize) -> Self {
        assert!(vnodes_per_node > 0, "a node needs at least one virtual node");
        HashRing {
            nodes: BTreeSet::new(),
        }
    }

    pub fn add_node(&mut self, node: &str) -> bool {
        self.nodes.insert(node.to_owned())
    }

    pub fn remove_node(&mut self, node: &str) -> bool {
        self.nodes.remove(node)
    }

    pub fn node_for<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Option<&str> {
        self.replicas(key, 1).first().copied()
    }

    pub fn replicas<K: AsRef<[u8]> + ?Sized>(&self, key: &K, n: usize) -> Vec<&str> {
        if self.nodes.is_empty() {
            return Vec::new();
        }
        let members: Vec<&str> = self.nodes.iter().map(String::as_str).collect();
        // BUG: hash modulo the number of nodes.
        let start = (ring_hash(key.as_ref()) % members.len() as u64) as usize;
        (0..n.min(members.len()))
            .map(|step| members[(start + step) % members.len()])
            .collect()
    }

    pub fn nodes(&self) -> Vec<&str> {
        self.nodes.iter().map(String::as_str).collect()
    }
}
