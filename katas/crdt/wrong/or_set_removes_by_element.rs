//! Wrong: the OR-Set tags its adds, but a remove is recorded against the
//! element, and a merge applies it to every tag of that element, including
//! tags the remover never saw.
//!
//! Why candidates write it: the tags are there and a local re-add works (it
//! clears the local tombstone), so the single-replica tests pass. But a
//! remove on one replica kills an add of the same element made concurrently
//! on another: remove wins, not add, and replicas disagree depending on who
//! merged whom last.
//!
//! Caught by: `or_set_keeps_an_add_concurrent_with_a_remove`,
//! `or_set_a_remove_only_takes_away_the_adds_it_has_observed`,
//! `or_set_replicas_converge_to_the_adds_no_remove_observed` and
//! `followup_or_set_an_add_concurrent_with_a_remove_wins_in_any_history`.

use std::collections::{BTreeMap, BTreeSet};

pub use crdt_solution::{GCounter, LwwRegister, PnCounter, ReplicaId};

type Tag = (ReplicaId, u64);

#[derive(Debug, Clone)]
pub struct OrSet<T> {
    tags: BTreeMap<T, BTreeSet<Tag>>,
    removed: BTreeSet<T>,
    counters: BTreeMap<ReplicaId, u64>,
}

impl<T: Ord + Clone> OrSet<T> {
    pub fn new() -> Self {
        OrSet {
            tags: BTreeMap::new(),
            removed: BTreeSet::new(),
            counters: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, elem: T, replica: ReplicaId) {
        let counter = self.counters.entry(replica).or_insert(0);
        *counter += 1;
        self.removed.remove(&elem);
        self.tags
            .entry(elem)
            .or_default()
            .insert((replica, *counter));
    }

    pub fn remove(&mut self, elem: &T) {
        // BUG: the remove is about the element, not the tags observed.
        self.tags.remove(elem);
        self.removed.insert(elem.clone());
    }

    pub fn contains(&self, elem: &T) -> bool {
        self.tags.contains_key(elem)
    }

    pub fn elements(&self) -> BTreeSet<T> {
        self.tags.keys().cloned().collect()
    }

    pub fn merge(&mut self, other: &OrSet<T>) {
        for (elem, tags) in &other.tags {
            self.tags
                .entry(elem.clone())
                .or_default()
                .extend(tags.iter().copied());
        }
        self.removed.extend(other.removed.iter().cloned());
        // Every tag of a removed element goes, seen by the remover or not.
        for elem in &self.removed {
            self.tags.remove(elem);
        }
        for (&replica, &count) in &other.counters {
            let mine = self.counters.entry(replica).or_insert(0);
            *mine = (*mine).max(count);
        }
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
