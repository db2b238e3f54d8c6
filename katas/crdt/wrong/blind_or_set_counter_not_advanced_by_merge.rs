//! Bug: the per-replica add counter only counts this state's own adds; `merge` does not take the
//! maximum with the other state's counters. A replica that restarts empty and catches up by merging
//! a peer's state then hands out tags it used before (and that are tombstoned), so its new adds
//! vanish at the next merge with anyone who saw the remove.
//!
//! Why candidates write it: "only replica r makes r's tags, so r's own counter is enough".
//!
//! Symptom: after a region restarts and resyncs, items added to carts there disappear at the next replication.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own, not
//! a change to the reference: a tombstone OR-Set with a separate add counter per replica. In the
//! reference the counter is the version vector the merge relies on, so leaving it behind on merge
//! would be a different bug.
//!
//! Caught by: `or_set_a_replica_that_restarts_and_catches_up_still_tags_its_adds_anew`.

use std::collections::{BTreeMap, BTreeSet};

/// Identifies a replica.
pub type ReplicaId = u32;

/// A grow-only counter: one count per replica that incremented it.
#[derive(Debug, Clone, Default)]
pub struct GCounter {
    counts: BTreeMap<ReplicaId, u64>,
}

impl GCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        GCounter { counts: BTreeMap::new() }
    }

    /// Adds `n` on behalf of `replica`.
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        *self.counts.entry(replica).or_insert(0) += n;
    }

    /// The total of every increment this state has seen.
    pub fn value(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Brings in everything `other` has seen: the larger count per replica.
    pub fn merge(&mut self, other: &GCounter) {
        for (&r, &c) in &other.counts {
            let mine = self.counts.entry(r).or_insert(0);
            *mine = (*mine).max(c);
        }
    }
}

/// A counter that goes up and down: two G-Counters.
#[derive(Debug, Clone, Default)]
pub struct PnCounter {
    incs: GCounter,
    decs: GCounter,
}

impl PnCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        PnCounter { incs: GCounter::new(), decs: GCounter::new() }
    }

    /// Adds `n` on behalf of `replica`.
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        self.incs.increment(replica, n);
    }

    /// Subtracts `n` on behalf of `replica`.
    pub fn decrement(&mut self, replica: ReplicaId, n: u64) {
        self.decs.increment(replica, n);
    }

    /// Increments minus decrements.
    pub fn value(&self) -> i64 {
        self.incs.value() as i64 - self.decs.value() as i64
    }

    /// Brings in everything `other` has seen.
    pub fn merge(&mut self, other: &PnCounter) {
        self.incs.merge(&other.incs);
        self.decs.merge(&other.decs);
    }
}

/// A last-writer-wins register: the greatest `(timestamp, replica)` wins.
#[derive(Debug, Clone)]
pub struct LwwRegister<T> {
    current: Option<(u64, ReplicaId, T)>,
}

impl<T: Clone> LwwRegister<T> {
    /// An empty register.
    pub fn new() -> Self {
        LwwRegister { current: None }
    }

    fn beats(&self, timestamp: u64, replica: ReplicaId) -> bool {
        match &self.current {
            None => true,
            Some((t, r, _)) => (timestamp, replica) > (*t, *r),
        }
    }

    /// Writes `value` at `timestamp` for `replica`, if it beats the current write.
    pub fn set(&mut self, value: T, timestamp: u64, replica: ReplicaId) {
        if self.beats(timestamp, replica) {
            self.current = Some((timestamp, replica, value));
        }
    }

    /// The value of the winning write.
    pub fn get(&self) -> Option<&T> {
        self.current.as_ref().map(|(_, _, v)| v)
    }

    /// Keeps whichever write wins.
    pub fn merge(&mut self, other: &LwwRegister<T>) {
        if let Some((t, r, v)) = &other.current {
            if self.beats(*t, *r) {
                self.current = Some((*t, *r, v.clone()));
            }
        }
    }
}

impl<T: Clone> Default for LwwRegister<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A tag: the replica that added, and that replica's add counter.
type Tag = (ReplicaId, u64);

/// An add-wins observed-remove set, with tombstones for removed tags.
#[derive(Debug, Clone)]
pub struct OrSet<T> {
    /// The highest add counter seen per replica (never goes back).
    counters: BTreeMap<ReplicaId, u64>,
    /// Live tags per element; no element has an empty set.
    entries: BTreeMap<T, BTreeSet<Tag>>,
    /// Every tag some remove has taken away.
    tombstones: BTreeSet<Tag>,
}

impl<T: Ord + Clone> OrSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        OrSet { counters: BTreeMap::new(), entries: BTreeMap::new(), tombstones: BTreeSet::new() }
    }

    /// Adds `elem` on behalf of `replica`, with a fresh tag.
    pub fn add(&mut self, elem: T, replica: ReplicaId) {
        let n = self.counters.entry(replica).or_insert(0);
        *n += 1;
        self.entries.entry(elem).or_default().insert((replica, *n));
    }

    /// Removes the tags of `elem` this state has observed.
    pub fn remove(&mut self, elem: &T) {
        if let Some(tags) = self.entries.remove(elem) {
            self.tombstones.extend(tags);
        }
    }

    /// Whether `elem` is in the set.
    pub fn contains(&self, elem: &T) -> bool {
        self.entries.contains_key(elem)
    }

    /// The elements in the set.
    pub fn elements(&self) -> BTreeSet<T> {
        self.entries.keys().cloned().collect()
    }

    /// Brings in every add and remove `other` has seen.
    pub fn merge(&mut self, other: &OrSet<T>) {
        for (elem, tags) in &other.entries {
            for tag in tags {
                if !self.tombstones.contains(tag) {
                    self.entries.entry(elem.clone()).or_default().insert(*tag);
                }
            }
        }
        for tag in &other.tombstones {
            self.tombstones.insert(*tag);
        }
        let tombstones = &self.tombstones;
        for tags in self.entries.values_mut() {
            tags.retain(|t| !tombstones.contains(t));
        }
        self.entries.retain(|_, tags| !tags.is_empty());
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
