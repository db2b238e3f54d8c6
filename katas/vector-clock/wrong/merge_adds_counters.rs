//! Wrong: `merge` adds the two clocks' counters instead of taking the larger
//! of each. A message delivered twice, or a clock merged with one that
//! already knows the same events, now claims events that never happened,
//! and a receipt can look later than events it is concurrent with.
//!
//! Why candidates write it: "combine the two clocks" reads as a sum, and on
//! the first message between two fresh nodes the sum and the maximum agree.
//!
//! Caught by: `merge_takes_the_larger_count_of_every_node`,
//! `merge_is_the_entry_by_entry_maximum`, `merge_is_idempotent`,
//! `receive_merges_the_message_then_counts_one_event_of_the_receiver` and
//! `clocks_reproduce_happens_before_in_a_simulated_message_exchange`.

use std::collections::BTreeMap;

pub use vector_clock_solution::{Causality, Context, Replica};

#[derive(Debug, Clone, Default)]
pub struct VectorClock {
    counters: BTreeMap<String, u64>,
}

impl VectorClock {
    pub fn new() -> Self {
        VectorClock::default()
    }

    pub fn get(&self, node: &str) -> u64 {
        self.counters.get(node).copied().unwrap_or(0)
    }

    pub fn increment(&mut self, node: &str) -> u64 {
        let counter = self.counters.entry(node.to_owned()).or_insert(0);
        *counter += 1;
        *counter
    }

    pub fn merge(&mut self, other: &VectorClock) {
        for (node, &theirs) in &other.counters {
            // BUG: a sum, not the larger of the two.
            *self.counters.entry(node.clone()).or_insert(0) += theirs;
        }
    }

    pub fn receive(&mut self, node: &str, message: &VectorClock) {
        self.merge(message);
        self.increment(node);
    }

    pub fn compare(&self, other: &VectorClock) -> Causality {
        let ours_larger = self.counters.iter().any(|(n, &c)| c > other.get(n));
        let theirs_larger = other.counters.iter().any(|(n, &c)| c > self.get(n));
        match (ours_larger, theirs_larger) {
            (false, false) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }
}
