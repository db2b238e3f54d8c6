//! Wrong: `receive` merges the message's clock but does not count the
//! receipt as an event of the receiver. The receipt then carries the very
//! clock of the send (when the receiver knew nothing newer), so the two
//! events compare `Equal`, and the receiver's next event is not ordered after
//! the receipt by its own entry.
//!
//! Why candidates write it: the merge is the interesting part; the tick on
//! receipt is an easy line to forget, and `increment` is called on sends.
//!
//! Caught by:
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
            let ours = self.counters.entry(node.clone()).or_insert(0);
            *ours = (*ours).max(theirs);
        }
    }

    pub fn receive(&mut self, node: &str, message: &VectorClock) {
        // BUG: the receipt is not counted as an event of `node`.
        let _ = node;
        self.merge(message);
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
