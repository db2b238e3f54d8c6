//! Wrong: the PN-Counter keeps one signed count per replica and merges with
//! the maximum, as the G-Counter does.
//!
//! Why candidates write it: it is the G-Counter with `i64` instead of `u64`,
//! and it works while counts only go up. But a replica's signed count goes
//! down on a decrement, so the maximum keeps the older, larger value: a peer
//! that saw +5 and then receives "+5 -3" keeps 5. Decrements are lost.
//!
//! Symptom: stock levels on some replicas ignore recent decrements after a
//! sync and never come back down.
//!
//! Caught by: `pn_counter_keeps_decrements_made_after_a_state_was_shared`,
//! `pn_counter_replicas_converge_to_increments_minus_decrements` and
//! `followup_a_merge_shows_exactly_the_updates_either_side_had_seen`.
//!
//! Whole file: the bug is the representation, one signed count per replica in
//! place of the reference's two grow-only counters; the type has to be
//! rebuilt, not edited.

use std::collections::BTreeMap;

pub use crdt_solution::{GCounter, LwwRegister, OrSet, ReplicaId};

#[derive(Debug, Clone, Default)]
pub struct PnCounter {
    counts: BTreeMap<ReplicaId, i64>,
}

impl PnCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        *self.counts.entry(replica).or_insert(0) += n as i64;
    }

    pub fn decrement(&mut self, replica: ReplicaId, n: u64) {
        *self.counts.entry(replica).or_insert(0) -= n as i64;
    }

    pub fn value(&self) -> i64 {
        self.counts.values().sum()
    }

    pub fn merge(&mut self, other: &PnCounter) {
        for (&replica, &count) in &other.counts {
            let mine = self.counts.entry(replica).or_insert(0);
            // BUG: a signed count is not monotone, so the max is not the
            // newest. Keep increments and decrements as two G-Counters.
            *mine = (*mine).max(count);
        }
    }
}
