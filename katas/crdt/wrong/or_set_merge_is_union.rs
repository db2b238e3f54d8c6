//! Wrong: the "OR-Set" merges by taking the union of the two replicas'
//! elements, as the shopping-cart merge of the seed lesson does
//! (`merged = a_set | b_set`); a remove only removes locally.
//!
//! Why candidates write it: union is commutative, associative and
//! idempotent, so it *is* a CRDT: a grow-only set. But a removed item comes
//! back from any replica that still has it, the famous deleted item that
//! reappears in an Amazon Dynamo shopping cart.
//!
//! Caught by: `or_set_a_remove_that_observed_every_add_removes_the_element_everywhere`,
//! `or_set_can_add_an_element_again_after_removing_it`,
//! `or_set_replicas_converge_to_the_adds_no_remove_observed` and
//! `followup_a_merge_shows_exactly_the_updates_either_side_had_seen`.

use std::collections::BTreeSet;

pub use crdt_solution::{GCounter, LwwRegister, PnCounter, ReplicaId};

#[derive(Debug, Clone)]
pub struct OrSet<T> {
    elements: BTreeSet<T>,
}

impl<T: Ord + Clone> OrSet<T> {
    pub fn new() -> Self {
        OrSet {
            elements: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, elem: T, _replica: ReplicaId) {
        self.elements.insert(elem);
    }

    pub fn remove(&mut self, elem: &T) {
        self.elements.remove(elem);
    }

    pub fn contains(&self, elem: &T) -> bool {
        self.elements.contains(elem)
    }

    pub fn elements(&self) -> BTreeSet<T> {
        self.elements.clone()
    }

    pub fn merge(&mut self, other: &OrSet<T>) {
        // BUG: a union brings back what the other side has not removed yet.
        self.elements.extend(other.elements.iter().cloned());
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
