//! Wrong: `sync_from` takes the union of both replicas' versions and drops
//! none of them (it only skips a version it already holds). Writes at one
//! replica are right, but an overwritten value still held by a replica
//! that had not heard of the overwrite comes back on the next sync, and a
//! resolved conflict reappears beside its own resolution.
//!
//! Why candidates write it: "keep everything, let the client resolve" is the
//! sibling idea, and union is the safe-looking merge: nothing is ever lost.
//! But anti-entropy must also forget what a newer write has seen.
//!
//! Caught by: `sync_never_brings_back_an_overwritten_value`,
//! `a_write_that_saw_both_siblings_resolves_them_on_every_replica` and
//! `followup_agrees_with_a_model_of_write_histories`.

use std::collections::BTreeMap;

pub use vector_clock_solution::{Causality, VectorClock};

#[derive(Debug, Clone, Default)]
pub struct Context {
    clock: VectorClock,
}

#[derive(Debug, Clone)]
struct Version<V> {
    value: V,
    dot: (String, u64),
    seen: VectorClock,
}

#[derive(Debug, Clone)]
pub struct Replica<V> {
    id: String,
    writes: u64,
    keys: BTreeMap<String, Vec<Version<V>>>,
}

impl<V: Clone> Replica<V> {
    pub fn new(id: &str) -> Self {
        Replica {
            id: id.to_owned(),
            writes: 0,
            keys: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &str) -> (Vec<V>, Context) {
        let mut clock = VectorClock::new();
        let mut values = Vec::new();
        for version in self.keys.get(key).into_iter().flatten() {
            clock.merge(&version.seen);
            let mut dot = VectorClock::new();
            for _ in 0..version.dot.1 {
                dot.increment(&version.dot.0);
            }
            clock.merge(&dot);
            values.push(version.value.clone());
        }
        (values, Context { clock })
    }

    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        self.writes = self.writes.max(context.clock.get(&self.id)) + 1;
        let versions = self.keys.entry(key.to_owned()).or_default();
        versions.retain(|old| context.clock.get(&old.dot.0) < old.dot.1);
        versions.push(Version {
            value,
            dot: (self.id.clone(), self.writes),
            seen: context.clock.clone(),
        });
    }

    pub fn sync_from(&mut self, other: &Replica<V>) {
        for (key, theirs) in &other.keys {
            let ours = self.keys.entry(key.clone()).or_default();
            for version in theirs {
                if !ours.iter().any(|known| known.dot == version.dot) {
                    ours.push(version.clone());
                }
            }
            // BUG: nothing is dropped, even a version another has seen.
        }
    }
}
