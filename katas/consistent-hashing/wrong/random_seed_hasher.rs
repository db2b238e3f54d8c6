//! Wrong: the ring places keys and virtual nodes with `std`'s hasher,
//! `RandomState`, which is seeded at random once per process. Inside one
//! process every answer is stable and every property holds; but two router
//! processes (or one router after a restart) send the same key to different
//! cache nodes, so every restart is a cold cache and two routers disagree.
//!
//! Why candidates write it: `HashMap` hashes this way, `hash_one` is one
//! line, and nothing in a single-process test shows the difference.
//!
//! Caught by: `node_for_matches_the_known_answers_of_the_specified_hash`,
//! `replicas_match_the_known_answers_of_the_specified_hash`,
//! `a_key_past_the_last_point_wraps_around_to_the_first` and
//! `agrees_with_a_sorted_list_of_virtual_node_points` (the answers of the
//! specified hash).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

pub use consistent_hashing_solution::ring_hash;

/// BUG: a hash seeded at random once per process.
fn seeded_hash(bytes: &[u8]) -> u64 {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    SEED.get_or_init(RandomState::new).hash_one(bytes)
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
            let point = seeded_hash(format!("{node}#{i}").as_bytes());
            self.points.insert(point, node.to_owned());
        }
        true
    }

    pub fn remove_node(&mut self, node: &str) -> bool {
        if !self.nodes.remove(node) {
            return false;
        }
        for i in 0..self.vnodes {
            self.points.remove(&seeded_hash(format!("{node}#{i}").as_bytes()));
        }
        true
    }

    /// The owners of the points from the key's point clockwise, wrapping.
    fn walk(&self, key: &[u8]) -> impl Iterator<Item = &str> {
        let hash = seeded_hash(key);
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
