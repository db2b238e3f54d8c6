//! Wrong: the OR-Set numbers a replica's adds by how many live tags it holds
//! for that replica, so after a remove, the next add reuses a tag that is
//! already tombstoned, and vanishes at the next merge.
//!
//! Why candidates write it: "the counter of the replica's adds" is computed
//! from the state instead of kept as a counter that never goes back. Locally
//! the re-added element is there; once states are exchanged, the tombstone
//! of the old add, which carries the same tag, removes the new one too.
//!
//! Caught by: `or_set_can_add_an_element_again_after_removing_it`,
//! `or_set_replicas_converge_to_the_adds_no_remove_observed` and
//! `followup_a_merge_shows_exactly_the_updates_either_side_had_seen`.

use std::collections::{BTreeMap, BTreeSet};

pub use crdt_solution::{GCounter, LwwRegister, PnCounter, ReplicaId};

type Tag = (ReplicaId, u64);

#[derive(Debug, Clone)]
pub struct OrSet<T> {
    live: BTreeMap<T, BTreeSet<Tag>>,
    tombstones: BTreeSet<Tag>,
}

impl<T: Ord + Clone> OrSet<T> {
    pub fn new() -> Self {
        OrSet {
            live: BTreeMap::new(),
            tombstones: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, elem: T, replica: ReplicaId) {
        // BUG: derived from the live tags, this goes back down after a remove
        // and hands out a tag already in `tombstones`. Keep a counter per
        // replica that only grows.
        let held = self
            .live
            .values()
            .flatten()
            .filter(|(by, _)| *by == replica)
            .count() as u64;
        self.live
            .entry(elem)
            .or_default()
            .insert((replica, held + 1));
    }

    pub fn remove(&mut self, elem: &T) {
        if let Some(tags) = self.live.remove(elem) {
            self.tombstones.extend(tags);
        }
    }

    pub fn contains(&self, elem: &T) -> bool {
        self.live.contains_key(elem)
    }

    pub fn elements(&self) -> BTreeSet<T> {
        self.live.keys().cloned().collect()
    }

    pub fn merge(&mut self, other: &OrSet<T>) {
        self.tombstones.extend(other.tombstones.iter().copied());
        for (elem, tags) in &other.live {
            self.live
                .entry(elem.clone())
                .or_default()
                .extend(tags.iter().copied());
        }
        let tombstones = &self.tombstones;
        self.live.retain(|_, tags| {
            tags.retain(|tag| !tombstones.contains(tag));
            !tags.is_empty()
        });
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
