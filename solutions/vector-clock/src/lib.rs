//! Reference solution of the vector-clock kata: vector clocks, and a small
//! Dynamo-style replicated key-value store that keeps concurrent writes as
//! siblings instead of silently dropping one.
//!
//! A [`VectorClock`] counts, per node, the events of that node that are
//! known: a missing entry is zero, and no entry is ever stored as zero, so
//! two clocks that know the same events are equal entry for entry. Clocks
//! are ordered pointwise, which is only a *partial* order: two clocks where
//! each has seen an event the other has not are [`Causality::Concurrent`].
//!
//! The store keeps, per key, every version that no other known version has
//! seen. Each version remembers the write that made it as a *dot* (the
//! replica that accepted it and that replica's write counter) and the
//! *context* the client sent with it (what the client had read). A version
//! is obsolete once another version's context covers its dot. This is the
//! dotted-version-vector scheme Riak adopted: a clock per version built as
//! "context plus one" cannot tell a write that saw an earlier one from a
//! write that raced it at the same replica, and loses the latter on sync.

use std::collections::BTreeMap;

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
/// Nodes are named by strings. A node the clock has never heard of counts
/// zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VectorClock {
    /// Counters above zero only: a missing node is zero, and keeping zeros
    /// out makes the derived `PartialEq` mean "knows the same events".
    counters: BTreeMap<String, u64>,
}

impl VectorClock {
    /// A clock that knows no event: every node counts zero.
    pub fn new() -> Self {
        VectorClock::default()
    }

    /// How many events of `node` this clock knows (zero if none).
    pub fn get(&self, node: &str) -> u64 {
        self.counters.get(node).copied().unwrap_or(0)
    }

    /// Records one more event of `node` (a local event, or the sending of a
    /// message) and returns its new count.
    pub fn increment(&mut self, node: &str) -> u64 {
        let counter = self.counters.entry(node.to_owned()).or_insert(0);
        *counter += 1;
        *counter
    }

    /// Takes in every event `other` knows: each entry becomes the larger of
    /// the two (the least upper bound of the two clocks).
    pub fn merge(&mut self, other: &VectorClock) {
        for (node, &theirs) in &other.counters {
            // Look up before inserting: most merges bring nothing new, and
            // need not allocate a key.
            match self.counters.get_mut(node) {
                Some(ours) => *ours = (*ours).max(theirs),
                None => {
                    self.counters.insert(node.clone(), theirs);
                }
            }
        }
    }

    /// `node` receives a message stamped `message`: it learns everything
    /// the sender knew, then counts the receipt as one event of its own.
    pub fn receive(&mut self, node: &str, message: &VectorClock) {
        self.merge(message);
        self.increment(node);
    }

    /// How this clock relates to `other`: `Before` if every entry is at most
    /// `other`'s and one is smaller, `After` for the mirror, `Equal` if all
    /// are equal, `Concurrent` if each is larger somewhere.
    pub fn compare(&self, other: &VectorClock) -> Causality {
        // One walk over both sorted maps at once. A node missing on one
        // side counts zero there, so a node known to one side only makes
        // that side larger.
        let mut self_larger_somewhere = false;
        let mut other_larger_somewhere = false;
        let mut ours = self.counters.iter().peekable();
        let mut theirs = other.counters.iter().peekable();
        loop {
            match (ours.peek(), theirs.peek()) {
                (None, None) => break,
                (Some(_), None) => {
                    self_larger_somewhere = true;
                    break;
                }
                (None, Some(_)) => {
                    other_larger_somewhere = true;
                    break;
                }
                (Some((our_node, our_count)), Some((their_node, their_count))) => {
                    match our_node.cmp(their_node) {
                        std::cmp::Ordering::Less => {
                            self_larger_somewhere = true;
                            ours.next();
                        }
                        std::cmp::Ordering::Greater => {
                            other_larger_somewhere = true;
                            theirs.next();
                        }
                        std::cmp::Ordering::Equal => {
                            self_larger_somewhere |= our_count > their_count;
                            other_larger_somewhere |= their_count > our_count;
                            ours.next();
                            theirs.next();
                        }
                    }
                }
            }
            if self_larger_somewhere && other_larger_somewhere {
                break;
            }
        }
        match (self_larger_somewhere, other_larger_somewhere) {
            (false, false) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    /// Whether this clock knows the event `counter` of `node`.
    fn covers(&self, node: &str, counter: u64) -> bool {
        self.get(node) >= counter
    }
}

/// What a client read, to be sent back with its next write of the same key
/// (Riak's causal context): a write replaces exactly the versions its
/// context has seen.
///
/// `Context::default()` has seen nothing: a first write, or a blind one.
#[derive(Debug, Clone, Default)]
pub struct Context {
    clock: VectorClock,
}

/// One stored version of a key's value.
#[derive(Debug, Clone)]
struct Version<V> {
    value: V,
    /// The write that made this version: `(replica, its write counter)`.
    dot: (String, u64),
    /// What the client had seen when it wrote this version.
    seen: VectorClock,
}

impl<V> Version<V> {
    /// Whether `clock` knows the write that made this version.
    fn is_covered_by(&self, clock: &VectorClock) -> bool {
        clock.covers(&self.dot.0, self.dot.1)
    }

    /// Everything this version stands for: what its writer had seen, plus
    /// its own write.
    fn clock(&self) -> VectorClock {
        let mut clock = self.seen.clone();
        clock.merge(&VectorClock {
            counters: BTreeMap::from([(self.dot.0.clone(), self.dot.1)]),
        });
        clock
    }
}

/// One replica of a replicated key-value store that keeps siblings: writes
/// no one has reconciled are all kept, and a read returns all of them.
#[derive(Debug, Clone)]
pub struct Replica<V> {
    id: String,
    /// Writes accepted by this replica so far: the counter of the last dot.
    writes: u64,
    /// Per key, the versions no other known version has seen.
    keys: BTreeMap<String, Vec<Version<V>>>,
}

impl<V: Clone> Replica<V> {
    /// An empty replica. Every replica of one store needs a distinct `id`.
    pub fn new(id: &str) -> Self {
        Replica {
            id: id.to_owned(),
            writes: 0,
            keys: BTreeMap::new(),
        }
    }

    /// Every sibling value of `key` (in no particular order; empty if the
    /// key was never written), and the context to send back with the next
    /// write of it.
    pub fn get(&self, key: &str) -> (Vec<V>, Context) {
        let mut clock = VectorClock::new();
        let mut values = Vec::new();
        for version in self.keys.get(key).into_iter().flatten() {
            clock.merge(&version.clock());
            values.push(version.value.clone());
        }
        (values, Context { clock })
    }

    /// Writes `value` under `key` at this replica. It replaces every version
    /// `context` has seen and becomes a sibling of every version it has not.
    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        // A fresh dot: above anything this replica has issued, and above
        // anything of this replica the context claims to have seen.
        self.writes = self.writes.max(context.clock.get(&self.id)) + 1;
        let version = Version {
            value,
            dot: (self.id.clone(), self.writes),
            seen: context.clock.clone(),
        };
        let versions = self.keys.entry(key.to_owned()).or_default();
        versions.retain(|old| !old.is_covered_by(&context.clock));
        versions.push(version);
    }

    /// Anti-entropy: takes in every version `other` holds. A version known
    /// to both is kept once; a version that some other version (from
    /// either side) has seen is dropped, so that nothing overwritten comes
    /// back and nothing concurrent is lost.
    pub fn sync_from(&mut self, other: &Replica<V>) {
        for (key, theirs) in &other.keys {
            let ours = match self.keys.get_mut(key) {
                Some(ours) => ours,
                None => self.keys.entry(key.clone()).or_default(),
            };
            for version in theirs {
                if !ours.iter().any(|known| known.dot == version.dot) {
                    ours.push(version.clone());
                }
            }
            let obsolete: Vec<bool> = ours
                .iter()
                .map(|version| ours.iter().any(|other| version.is_covered_by(&other.seen)))
                .collect();
            let mut obsolete = obsolete.into_iter();
            ours.retain(|_| !obsolete.next().unwrap_or(false));
        }
    }
}
