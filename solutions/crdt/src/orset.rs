//! The add-wins observed-remove set.

use std::collections::{BTreeMap, BTreeSet};

use crate::ReplicaId;

/// A unique tag for one add: the replica that made it and that replica's
/// count of adds so far.
type Dot = (ReplicaId, u64);

/// An add-wins observed-remove set (OR-Set).
///
/// Every add is tagged with a unique dot (replica id, that replica's add
/// count). A remove takes away the dots of the element this state has
/// observed, and nothing else: an add made concurrently elsewhere carries a
/// dot the remover never saw, so it survives the merge. The element is in the
/// set while at least one of its dots is.
///
/// Instead of keeping tombstones for removed dots, each state keeps a causal
/// context, `clock`: for each replica, the highest add count it has seen
/// (dots of one replica are numbered 1, 2, 3... and a state that has seen dot
/// `n` has seen all earlier ones). On merge, a dot one side holds and the
/// other lacks survives only if the other side has not seen it; if it has,
/// its absence there means it was removed. (This is Riak's ORSWOT: OR-Set
/// without tombstones.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrSet<T> {
    /// The elements present, each with the live dots of the adds that put it
    /// there. Never holds an empty set of dots.
    entries: BTreeMap<T, BTreeSet<Dot>>,
    /// For each replica, the highest add count this state has seen.
    clock: BTreeMap<ReplicaId, u64>,
}

impl<T: Ord + Clone> OrSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        OrSet {
            entries: BTreeMap::new(),
            clock: BTreeMap::new(),
        }
    }

    /// Adds `elem` on behalf of `replica`, with a new unique tag. The new add
    /// supersedes the adds of `elem` this state has seen (a remove that
    /// observes the new one has observed them too), so they are dropped.
    pub fn add(&mut self, elem: T, replica: ReplicaId) {
        let counter = self.clock.entry(replica).or_insert(0);
        *counter += 1;
        let dot = (replica, *counter);
        self.entries.insert(elem, BTreeSet::from([dot]));
    }

    /// Removes `elem`: the adds of it this state has observed. An add this
    /// state has not seen is untouched. Removing an absent element changes
    /// nothing.
    pub fn remove(&mut self, elem: &T) {
        // The clock still covers the removed dots: that is the remove.
        self.entries.remove(elem);
    }

    /// Whether `elem` is in the set.
    pub fn contains(&self, elem: &T) -> bool {
        self.entries.contains_key(elem)
    }

    /// The elements in the set, in order.
    pub fn elements(&self) -> BTreeSet<T> {
        self.entries.keys().cloned().collect()
    }

    /// Brings in every add and remove `other` has seen: a dot both sides
    /// hold stays; a dot only one side holds stays unless the other side has
    /// seen it (and so removed it).
    pub fn merge(&mut self, other: &OrSet<T>) {
        // Our dots, in place: one the other side lacks but has seen, it
        // removed.
        self.entries.retain(|elem, dots| {
            let theirs = other.entries.get(elem);
            dots.retain(|dot| {
                theirs.is_some_and(|theirs| theirs.contains(dot)) || !covers(&other.clock, dot)
            });
            !dots.is_empty()
        });
        // Their dots: a state's clock covers every dot it holds, so one our
        // clock covers is either held here already or was removed here; one
        // it does not cover is new to us.
        for (elem, dots) in &other.entries {
            let mut new = dots
                .iter()
                .filter(|dot| !covers(&self.clock, dot))
                .peekable();
            if new.peek().is_none() {
                continue;
            }
            match self.entries.get_mut(elem) {
                Some(mine) => mine.extend(new),
                None => {
                    self.entries.insert(elem.clone(), new.copied().collect());
                }
            }
        }
        for (&replica, &count) in &other.clock {
            let mine = self.clock.entry(replica).or_insert(0);
            *mine = (*mine).max(count);
        }
    }
}

/// Whether a state with this clock has seen `dot`.
fn covers(clock: &BTreeMap<ReplicaId, u64>, &(replica, counter): &Dot) -> bool {
    clock.get(&replica).is_some_and(|&seen| seen >= counter)
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
