//! Wrong: `compare` orders clocks by the total number of events they know,
//! like Lamport timestamps: the clock with the larger sum "happened later",
//! equal sums are concurrent unless the clocks are identical. A clock of
//! `{a:3}` then looks later than `{a:1, b:1}`, though neither has seen the
//! other's events: a replica would overwrite a concurrent write instead of
//! keeping it as a sibling.
//!
//! Why candidates write it: a single number is how a Lamport clock orders
//! events, and "more events means later" is true along any one chain.
//!
//! Caught by: `compare_orders_clocks_entry_by_entry`
//! (`a_larger_sum_is_not_later`, `ahead_on_all_but_one`),
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
        // BUG: a partial order squeezed into a total one.
        let total = |clock: &VectorClock| clock.counters.values().sum::<u64>();
        match total(self).cmp(&total(other)) {
            std::cmp::Ordering::Less => Causality::Before,
            std::cmp::Ordering::Greater => Causality::After,
            std::cmp::Ordering::Equal => {
                let same = self.counters.iter().all(|(n, &c)| other.get(n) == c)
                    && other.counters.iter().all(|(n, &c)| self.get(n) == c);
                if same {
                    Causality::Equal
                } else {
                    Causality::Concurrent
                }
            }
        }
    }
}
