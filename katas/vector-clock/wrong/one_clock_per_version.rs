//! Wrong: each version carries one vector clock, made as Dynamo's paper
//! describes: the client's context with the accepting replica's entry set
//! to its next write counter. A put drops the versions whose clock is at or
//! before the context; a sync drops the versions whose clock is before
//! another's. At one replica this looks right; but a client that never saw
//! `"book"` ({a:1}) writes `"pen"` at the same replica and gets {a:2}, which
//! looks *later* than `"book"`: the first sync to another replica loses
//! `"book"`. The clock cannot tell "wrote after seeing it" from "wrote at
//! the same replica without seeing it"; the fix is to keep, per version, the
//! write that made it (its dot) apart from what its client had seen, as
//! Riak's dotted version vectors do.
//!
//! Why candidates write it: it is the textbook vector-clock store, and
//! every test with one writer per replica passes.
//!
//! Caught by:
//! `followup_a_stale_write_keeps_the_sibling_it_never_saw_even_after_sync`
//! and `followup_agrees_with_a_model_of_write_histories`.

use std::collections::BTreeMap;

pub use vector_clock_solution::{Causality, VectorClock};

#[derive(Debug, Clone, Default)]
pub struct Context {
    clock: VectorClock,
}

#[derive(Debug, Clone)]
struct Version<V> {
    value: V,
    clock: VectorClock,
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
            clock.merge(&version.clock);
            values.push(version.value.clone());
        }
        (values, Context { clock })
    }

    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        self.writes = self.writes.max(context.clock.get(&self.id)) + 1;
        // BUG: one clock per version: the context plus this replica's tick.
        let mut clock = context.clock.clone();
        while clock.get(&self.id) < self.writes {
            clock.increment(&self.id);
        }
        let versions = self.keys.entry(key.to_owned()).or_default();
        versions.retain(|old| {
            !matches!(
                old.clock.compare(&context.clock),
                Causality::Before | Causality::Equal
            )
        });
        versions.push(Version { value, clock });
    }

    pub fn sync_from(&mut self, other: &Replica<V>) {
        for (key, theirs) in &other.keys {
            let ours = self.keys.entry(key.clone()).or_default();
            for version in theirs {
                if !ours
                    .iter()
                    .any(|known| known.clock.compare(&version.clock) == Causality::Equal)
                {
                    ours.push(version.clone());
                }
            }
            let clocks: Vec<VectorClock> = ours.iter().map(|v| v.clock.clone()).collect();
            ours.retain(|version| {
                !clocks
                    .iter()
                    .any(|other| version.clock.compare(other) == Causality::Before)
            });
        }
    }
}
