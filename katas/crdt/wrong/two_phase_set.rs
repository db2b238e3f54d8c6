//! Wrong: a two-phase set (2P-Set) passed off as an OR-Set: a set of added
//! elements and a set of removed ones, both merged by union; an element is
//! in the set if it was added and never removed.
//!
//! Why candidates write it: it is the first set CRDT in every survey, it
//! converges, and it is commutative, associative and idempotent. But a remove
//! is final: an element can never be added back, and a remove beats an add
//! made concurrently (remove wins) instead of losing to it.
//!
//! Symptom: once an item has been removed from a cart it can never be added
//! back, on any replica.
//!
//! Caught by: `or_set_can_add_an_element_again_after_removing_it`,
//! `or_set_keeps_an_add_concurrent_with_a_remove`,
//! `or_set_replicas_converge_to_the_adds_no_remove_observed` and
//! `followup_or_set_an_add_concurrent_with_a_remove_wins_in_any_history`.
//!
//! Whole file: a 2P-Set (added and removed sets of elements, no tags, no
//! causal context) is a different CRDT from the reference's dotted OR-Set;
//! there is no small change from one to the other.

use std::collections::BTreeSet;

pub use crdt_solution::{GCounter, LwwRegister, PnCounter, ReplicaId};

#[derive(Debug, Clone)]
pub struct OrSet<T> {
    added: BTreeSet<T>,
    removed: BTreeSet<T>,
}

impl<T: Ord + Clone> OrSet<T> {
    pub fn new() -> Self {
        OrSet {
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, elem: T, _replica: ReplicaId) {
        self.added.insert(elem);
    }

    pub fn remove(&mut self, elem: &T) {
        if self.added.contains(elem) {
            // BUG: a tombstone for the element itself, for ever: nothing can
            // bring it back. Tombstone the tags of the adds observed instead.
            self.removed.insert(elem.clone());
        }
    }

    pub fn contains(&self, elem: &T) -> bool {
        self.added.contains(elem) && !self.removed.contains(elem)
    }

    pub fn elements(&self) -> BTreeSet<T> {
        self.added.difference(&self.removed).cloned().collect()
    }

    pub fn merge(&mut self, other: &OrSet<T>) {
        self.added.extend(other.added.iter().cloned());
        self.removed.extend(other.removed.iter().cloned());
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
