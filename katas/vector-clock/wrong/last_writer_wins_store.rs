//! Wrong: the store keeps one value per key, and the last write wins. A put
//! replaces whatever is there, whatever its context saw; on sync, the
//! version whose clock is later wins, and of two concurrent versions the
//! one with more events (then the larger replica id) wins. Every replica
//! converges, and a concurrent write is silently thrown away: two shoppers
//! add to one cart during a partition, and one of the items disappears.
//!
//! Why candidates write it: it is what the system-design notes' CAP
//! simulation does ("resolved with last-write-wins"), it needs no siblings
//! in the API, and every single-writer test passes.
//!
//! Caught by: `a_blind_write_becomes_a_sibling_instead_of_overwriting`,
//! `concurrent_writes_at_two_replicas_become_siblings_after_sync`,
//! `two_writes_from_the_same_read_become_siblings`,
//! `followup_a_stale_write_keeps_the_sibling_it_never_saw_even_after_sync`
//! and `followup_agrees_with_a_model_of_write_histories`.

use std::collections::BTreeMap;

pub use vector_clock_solution::{Causality, VectorClock};

#[derive(Debug, Clone, Default)]
pub struct Context {
    clock: VectorClock,
}

#[derive(Debug, Clone)]
struct Stored<V> {
    value: V,
    clock: VectorClock,
    writer: String,
}

#[derive(Debug, Clone)]
pub struct Replica<V> {
    id: String,
    keys: BTreeMap<String, Stored<V>>,
}

/// Total events a clock knows: the tie-break between concurrent versions.
fn events(clock: &VectorClock, nodes: &[&str]) -> u64 {
    nodes.iter().map(|node| clock.get(node)).sum()
}

impl<V: Clone> Replica<V> {
    pub fn new(id: &str) -> Self {
        Replica {
            id: id.to_owned(),
            keys: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &str) -> (Vec<V>, Context) {
        match self.keys.get(key) {
            None => (Vec::new(), Context::default()),
            Some(stored) => (
                vec![stored.value.clone()],
                Context {
                    clock: stored.clock.clone(),
                },
            ),
        }
    }

    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        let mut clock = context.clock.clone();
        if let Some(old) = self.keys.get(key) {
            clock.merge(&old.clock);
        }
        clock.increment(&self.id);
        // BUG: the new value replaces whatever was there.
        self.keys.insert(
            key.to_owned(),
            Stored {
                value,
                clock,
                writer: self.id.clone(),
            },
        );
    }

    pub fn sync_from(&mut self, other: &Replica<V>) {
        for (key, theirs) in &other.keys {
            let take = match self.keys.get(key) {
                None => true,
                Some(ours) => match theirs.clock.compare(&ours.clock) {
                    Causality::After => true,
                    Causality::Before | Causality::Equal => false,
                    // BUG: one of two concurrent writes is dropped.
                    Causality::Concurrent => {
                        let nodes: Vec<&str> = vec![&ours.writer, &theirs.writer, &self.id];
                        (events(&theirs.clock, &nodes), &theirs.writer)
                            > (events(&ours.clock, &nodes), &ours.writer)
                    }
                },
            };
            if take {
                self.keys.insert(key.clone(), theirs.clone());
            }
        }
    }
}
