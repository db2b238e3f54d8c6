//! Wrong: `compare` checks only whether this clock is at most the other,
//! entry by entry: if so it is `Before` (or `Equal`), and otherwise it
//! assumes `After`. It never answers `Concurrent`, so `{a:1}` and `{b:1}`
//! are each "after" the other.
//!
//! Why candidates write it: "less than or equal everywhere" is the
//! definition of happened-before, and the other three outcomes feel like
//! "not before".
//!
//! Caught by: `compare_orders_clocks_entry_by_entry`,
//! `compare_mirrors_when_the_clocks_swap`,
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
        let at_most = self.counters.iter().all(|(n, &c)| c <= other.get(n));
        let equal = at_most && other.counters.iter().all(|(n, &c)| c <= self.get(n));
        // BUG: one direction only; "not before" is taken to mean "after".
        if equal {
            Causality::Equal
        } else if at_most {
            Causality::Before
        } else {
            Causality::After
        }
    }
}
