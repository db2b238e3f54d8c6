//! # Vector clocks and siblings
//!
//! Tell "happened before" from "happened at the same time" without a shared
//! clock, then use it in a replicated key-value store that keeps concurrent
//! writes instead of silently dropping one. Read `README.md` beside this
//! file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata vector-clock
//! ```

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::marker::PhantomData;

/// How two clocks (or the events they stamp) are related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Causality {
    /// Every event the first clock knows, the second knows too, and the
    /// second knows more: the first happened before the second.
    Before,
    /// The mirror of `Before`: the second happened before the first.
    After,
    /// Both know exactly the same events.
    Equal,
    /// Each knows an event the other does not: neither happened before the
    /// other.
    Concurrent,
}

/// A vector clock: for each node, how many of its events are known.
///
/// Nodes are named by strings (`"a"`, `"replica-2"`). A node the clock has
/// never heard of counts zero, exactly as if it were stored with a zero.
#[derive(Debug, Clone)]
pub struct VectorClock {
    // Your fields here: what does a clock need to remember per node?
}

impl VectorClock {
    /// A clock that knows no event: every node counts zero.
    pub fn new() -> Self {
        todo!("VectorClock::new: no events known")
    }

    /// How many events of `node` this clock knows (zero if none).
    pub fn get(&self, node: &str) -> u64 {
        todo!("VectorClock::get: zero for a node never seen")
    }

    /// Records one more event of `node` (a local event, or the sending of a
    /// message) and returns its new count.
    pub fn increment(&mut self, node: &str) -> u64 {
        todo!("VectorClock::increment: one more event of `node`")
    }

    /// Takes in every event `other` knows: each entry becomes the larger of
    /// the two (the least upper bound of the two clocks).
    pub fn merge(&mut self, other: &VectorClock) {
        todo!("VectorClock::merge: the pointwise maximum")
    }

    /// `node` receives a message stamped `message`: it learns everything the
    /// sender knew, then counts the receipt as one event of its own.
    pub fn receive(&mut self, node: &str, message: &VectorClock) {
        todo!("VectorClock::receive: merge, then count the receipt")
    }

    /// How this clock relates to `other`:
    ///
    /// - `Before` if every entry is at most `other`'s and at least one is
    ///   smaller (this clock happened before `other`);
    /// - `After` for the mirror;
    /// - `Equal` if every entry is equal;
    /// - `Concurrent` if each clock is larger than the other somewhere.
    ///
    /// A node missing from either clock counts zero there.
    pub fn compare(&self, other: &VectorClock) -> Causality {
        todo!("VectorClock::compare: look at every node of both clocks, in both directions")
    }
}

impl Default for VectorClock {
    /// The same as [`VectorClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// What a client read, to be sent back with its next write of the same key
/// (Riak's causal context; opaque to the client): a write replaces exactly
/// the versions its context has seen, and only those.
///
/// `Context::default()` has seen nothing: the context of a first write, or
/// of a blind write that replaces nothing.
#[derive(Debug, Clone)]
pub struct Context {
    // Your fields here.
}

impl Default for Context {
    /// A context that has seen nothing.
    fn default() -> Self {
        todo!("Context::default: a context that has seen no write")
    }
}

/// One replica of a replicated key-value store that keeps siblings (as
/// Dynamo and Riak do): writes no one has reconciled are all kept, and a
/// read returns all of them for the client to resolve.
#[derive(Debug, Clone)]
pub struct Replica<V> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _values: PhantomData<V>,
}

impl<V: Clone> Replica<V> {
    /// An empty replica named `id`. Every replica of one store has a
    /// distinct `id`.
    pub fn new(id: &str) -> Self {
        todo!("Replica::new")
    }

    /// Every sibling value of `key`, in no particular order (empty if the
    /// key was never written), and the context to send back with the next
    /// write of `key`.
    pub fn get(&self, key: &str) -> (Vec<V>, Context) {
        todo!("Replica::get: all the siblings, and a context that has seen each of them")
    }

    /// Writes `value` under `key` at this replica, on behalf of a client
    /// that read `context`. The write replaces every version of `key` that
    /// `context` has seen, and becomes a sibling of every version it has not
    /// (here, or at any replica it later reaches).
    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        todo!("Replica::put: drop what the context has seen, keep the rest beside the new value")
    }

    /// Anti-entropy: takes in every version `other` holds, for every key.
    /// Afterwards this replica holds, per key, the versions of both replicas
    /// that no version of either has seen: nothing overwritten comes back,
    /// nothing concurrent is lost, and a version known to both is kept once.
    pub fn sync_from(&mut self, other: &Replica<V>) {
        todo!("Replica::sync_from: union, then drop the versions another version has seen")
    }
}
