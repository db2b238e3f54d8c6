//! Wrong: the G-Counter's merge adds the other replica's counts to its own
//! instead of taking the larger of the two per replica.
//!
//! Why candidates write it: "merge the counters" reads like "add them up",
//! and a demo that merges each pair of replicas exactly once shows the right
//! total. But state-based replication resends whole states: the same state
//! received twice, or a replica's own increments coming back inside a peer's
//! state, are counted again. Merge is not idempotent.
//!
//! Caught by: `g_counter_merge_counts_what_the_other_replica_saw_exactly_once`,
//! `g_counter_merge_is_commutative_associative_and_idempotent`,
//! `g_counter_replicas_converge_to_the_sum_of_all_increments` and
//! `followup_a_merge_shows_exactly_the_updates_either_side_had_seen`.

use std::collections::BTreeMap;

pub use crdt_solution::{LwwRegister, OrSet, PnCounter, ReplicaId};

#[derive(Debug, Clone, Default)]
pub struct GCounter {
    counts: BTreeMap<ReplicaId, u64>,
}

impl GCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        *self.counts.entry(replica).or_insert(0) += n;
    }

    pub fn value(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn merge(&mut self, other: &GCounter) {
        for (&replica, &count) in &other.counts {
            // BUG: sums; a state received twice is counted twice. Take the max.
            *self.counts.entry(replica).or_insert(0) += count;
        }
    }
}
