//! # CRDTs
//!
//! State-based CRDTs (convergent replicated data types) for an active-active
//! store: replicas in several regions accept writes during a partition and
//! converge by exchanging their whole state. Read `README.md` beside this file
//! for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata crdt
//! ```
//!
//! Every type has a `merge(&mut self, other: &Self)` that brings in what
//! `other` has seen. It must be commutative, associative and idempotent: the
//! spec delivers states late, out of order and more than once, and requires
//! every replica to end with the same value, the one the updates add up to.
//!
//! Each replica passes its own [`ReplicaId`] to the updates it makes, and no
//! two replicas share one.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::collections::BTreeSet;
use std::marker::PhantomData;

/// Identifies a replica. Each replica passes its own id to the updates it
/// makes, and no two replicas share one.
pub type ReplicaId = u32;

/// A grow-only counter (G-Counter): page views, likes, events processed.
/// Replicas increment independently; the value is the total of every
/// increment a state has seen.
#[derive(Debug, Clone, Default)]
pub struct GCounter {
    // Your fields here: what must a state remember so that merging the same
    // state twice, or an older state after a newer one, changes nothing?
}

impl GCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        todo!("GCounter::new")
    }

    /// Adds `n` on behalf of `replica` (the replica making the change).
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        todo!("GCounter::increment: count it as `replica`'s")
    }

    /// The total of every increment this state has seen.
    pub fn value(&self) -> u64 {
        todo!("GCounter::value")
    }

    /// Brings in everything `other` has seen. Commutative, associative and
    /// idempotent.
    pub fn merge(&mut self, other: &GCounter) {
        todo!("GCounter::merge: what does each replica's count tell you, and which one is newer?")
    }
}

/// A counter that goes up and down (PN-Counter): items in stock, seats left,
/// a balance of credits.
#[derive(Debug, Clone, Default)]
pub struct PnCounter {
    // Your fields here.
}

impl PnCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        todo!("PnCounter::new")
    }

    /// Adds `n` on behalf of `replica`.
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        todo!("PnCounter::increment")
    }

    /// Subtracts `n` on behalf of `replica`.
    pub fn decrement(&mut self, replica: ReplicaId, n: u64) {
        todo!("PnCounter::decrement")
    }

    /// Increments minus decrements, over every update this state has seen.
    pub fn value(&self) -> i64 {
        todo!("PnCounter::value")
    }

    /// Brings in everything `other` has seen. Commutative, associative and
    /// idempotent.
    pub fn merge(&mut self, other: &PnCounter) {
        todo!("PnCounter::merge")
    }
}

/// A last-writer-wins register (LWW-Register): a user's display name, a
/// document's title. Of all the writes a state has seen, the one with the
/// greatest `(timestamp, replica)` wins: the later timestamp, and on equal
/// timestamps the **larger replica id**.
///
/// A replica never writes twice at the same timestamp (its clock is a Lamport
/// or hybrid logical clock), so `(timestamp, replica)` identifies a write.
#[derive(Debug, Clone)]
pub struct LwwRegister<T> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _value: PhantomData<T>,
}

impl<T: Clone> LwwRegister<T> {
    /// An empty register: `get` is `None` until the first write.
    pub fn new() -> Self {
        todo!("LwwRegister::new")
    }

    /// Writes `value` at `timestamp` on behalf of `replica`. The write is kept
    /// only if `(timestamp, replica)` is greater than the current write's: a
    /// local write older than what the register holds loses, exactly as it
    /// would on merge.
    pub fn set(&mut self, value: T, timestamp: u64, replica: ReplicaId) {
        todo!("LwwRegister::set: keep it only if it beats the current write")
    }

    /// The value of the winning write, or `None` if nothing was written.
    pub fn get(&self) -> Option<&T> {
        todo!("LwwRegister::get")
    }

    /// Keeps whichever write wins: the greater `(timestamp, replica)`.
    /// Commutative, associative and idempotent, so the winner never depends
    /// on the order states arrive in.
    pub fn merge(&mut self, other: &LwwRegister<T>) {
        todo!("LwwRegister::merge: the same rule as set, ties included")
    }
}

impl<T: Clone> Default for LwwRegister<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// An add-wins observed-remove set (OR-Set): a shopping cart, the members of
/// a group.
///
/// Every `add` is tagged with a unique tag: the replica id and a counter of
/// that replica's adds. A `remove` removes the tags of the element that this
/// state has observed, and nothing else, so an add made concurrently on
/// another replica (a tag the remover never saw) survives the merge: the add
/// wins. An element is in the set while at least one of its tags is. Unlike a
/// two-phase set, an element can be added again after it was removed.
#[derive(Debug, Clone)]
pub struct OrSet<T> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _elements: PhantomData<T>,
}

impl<T: Ord + Clone> OrSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        todo!("OrSet::new")
    }

    /// Adds `elem` on behalf of `replica`, tagged with a tag never used
    /// before: `replica` and the next value of its counter.
    pub fn add(&mut self, elem: T, replica: ReplicaId) {
        todo!("OrSet::add: a fresh tag (replica, counter), never one used before")
    }

    /// Removes `elem`: the tags of it this state has observed. Removing an
    /// element that is not there changes nothing.
    pub fn remove(&mut self, elem: &T) {
        todo!("OrSet::remove: only the tags you have seen")
    }

    /// Whether `elem` is in the set.
    pub fn contains(&self, elem: &T) -> bool {
        todo!("OrSet::contains")
    }

    /// The elements in the set.
    pub fn elements(&self) -> BTreeSet<T> {
        todo!("OrSet::elements")
    }

    /// Brings in every add and remove `other` has seen. Commutative,
    /// associative and idempotent; an add neither side's removes observed
    /// stays.
    pub fn merge(&mut self, other: &OrSet<T>) {
        todo!("OrSet::merge: which tags has the other side removed, and which has it never seen?")
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
