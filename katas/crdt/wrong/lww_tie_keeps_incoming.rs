//! Wrong: the LWW-Register compares timestamps only, and on a tie keeps the
//! incoming write (`>=`), so the winner depends on the order of arrival.
//!
//! Why candidates write it: "last writer wins" reads as "the newest timestamp
//! wins", and equal timestamps look too rare to matter. They are not rare
//! (coarse clocks, many writers), and on a tie replica 1 ends with replica
//! 2's value while replica 2 ends with replica 1's: merge is not
//! commutative, and the replicas never converge.
//!
//! Caught by: `lww_register_breaks_a_timestamp_tie_in_favour_of_the_larger_replica_id`,
//! `lww_register_merge_is_commutative_associative_and_idempotent`,
//! `lww_register_replicas_converge_to_the_latest_write` and
//! `followup_a_merge_shows_exactly_the_updates_either_side_had_seen`.

pub use crdt_solution::{GCounter, OrSet, PnCounter, ReplicaId};

#[derive(Debug, Clone)]
pub struct LwwRegister<T> {
    current: Option<(T, u64)>,
}

impl<T: Clone> LwwRegister<T> {
    pub fn new() -> Self {
        LwwRegister { current: None }
    }

    pub fn set(&mut self, value: T, timestamp: u64, _replica: ReplicaId) {
        // BUG: `>=` on the timestamp alone: the later arrival wins a tie.
        // Compare `(timestamp, replica)` instead.
        if self.current.as_ref().is_none_or(|(_, ts)| timestamp >= *ts) {
            self.current = Some((value, timestamp));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.current.as_ref().map(|(value, _)| value)
    }

    pub fn merge(&mut self, other: &LwwRegister<T>) {
        if let Some((value, timestamp)) = &other.current
            && self.current.as_ref().is_none_or(|(_, ts)| timestamp >= ts)
        {
            self.current = Some((value.clone(), *timestamp));
        }
    }
}

impl<T: Clone> Default for LwwRegister<T> {
    fn default() -> Self {
        Self::new()
    }
}
