//! Wrong: a node that only one of the two clocks has heard of is treated as
//! unknown rather than as zero, and makes the clocks incomparable. So
//! `{a:1}` and `{a:1, b:1}` come out `Concurrent`, though the second has seen
//! everything the first has: after `a` sends to `b`, the receipt no longer
//! follows the send.
//!
//! Why candidates write it: with a fixed set of nodes every clock has every
//! entry, and "no entry" looks like "no information"; but a clock only
//! learns of a node when it hears of one of its events.
//!
//! Caught by: `compare_orders_clocks_entry_by_entry`
//! (`a_missing_node_counts_zero`, `nothing_before_something`),
//! `compare_agrees_with_the_entry_by_entry_order` and
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
        self.merge(message);
        self.increment(node);
    }

    pub fn compare(&self, other: &VectorClock) -> Causality {
        let mut ours_larger = false;
        let mut theirs_larger = false;
        let nodes: std::collections::BTreeSet<&String> =
            self.counters.keys().chain(other.counters.keys()).collect();
        for node in nodes {
            match (self.counters.get(node), other.counters.get(node)) {
                (Some(ours), Some(theirs)) => {
                    ours_larger |= ours > theirs;
                    theirs_larger |= theirs > ours;
                }
                // BUG: a missing entry is "unknown", not zero.
                _ => return Causality::Concurrent,
            }
        }
        match (ours_larger, theirs_larger) {
            (false, false) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }
}
