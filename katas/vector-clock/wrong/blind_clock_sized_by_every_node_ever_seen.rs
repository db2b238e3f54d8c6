//! Bug: the clock is the textbook array, `Vec<u64>` indexed by a process-wide registry of node
//! names, so a clock that knows one node stores a slot for every node registered before it: clocks
//! (and every Context) grow with the number of nodes in the system, not the nodes they heard of.
//! Behaviour is right; "A clock stores only nodes it has heard of" is violated.
//!
//! Why candidates write it: every textbook and lecture draws a vector clock as an array of N
//! counters.
//!
//! Symptom: after 50k client ids have coordinated writes, a context for a key touched by one node is 400 KB.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference: the clock is a `Vec<u64>` indexed by a process-wide registry of
//! node names, where the reference's clock is a map of the nodes it has heard of.
//!
//! Caught by: `a_clock_stores_only_the_nodes_it_has_heard_of` (tests/resources.rs, a counting
//! allocator: a clock of one node, after 10,000 nodes have used clocks).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// How two clocks (or the events they stamp) are related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Causality {
    /// The first happened before the second.
    Before,
    /// The second happened before the first.
    After,
    /// Both know exactly the same events.
    Equal,
    /// Neither happened before the other.
    Concurrent,
}

/// Every node name ever seen by any clock in this process, by index: the
/// textbook vector clock is an array with one slot per node.
fn node_index(node: &str, register: bool) -> Option<usize> {
    static NODES: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    let mut nodes = NODES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&i) = nodes.get(node) {
        return Some(i);
    }
    if !register {
        return None;
    }
    let i = nodes.len();
    nodes.insert(node.to_owned(), i);
    Some(i)
}

/// A vector clock: for each node, how many of its events are known, as an
/// array indexed by the node's number (missing slots count zero).
#[derive(Debug, Clone)]
pub struct VectorClock {
    counts: Vec<u64>,
}

impl VectorClock {
    /// A clock that knows no event.
    pub fn new() -> Self {
        VectorClock { counts: Vec::new() }
    }

    /// How many events of `node` this clock knows (zero if none).
    pub fn get(&self, node: &str) -> u64 {
        node_index(node, false).and_then(|i| self.counts.get(i).copied()).unwrap_or(0)
    }

    fn set(&mut self, node: &str, count: u64) {
        let i = node_index(node, true).expect("registered");
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] = count;
    }

    /// Records one more event of `node` and returns its new count.
    pub fn increment(&mut self, node: &str) -> u64 {
        let c = self.get(node) + 1;
        self.set(node, c);
        c
    }

    /// Each entry becomes the larger of the two.
    pub fn merge(&mut self, other: &VectorClock) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// `node` receives a message stamped `message`: merge, then count the receipt.
    pub fn receive(&mut self, node: &str, message: &VectorClock) {
        self.merge(message);
        self.increment(node);
    }

    /// How this clock relates to `other` (a missing slot counts zero).
    pub fn compare(&self, other: &VectorClock) -> Causality {
        let (mut self_larger, mut other_larger) = (false, false);
        for i in 0..self.counts.len().max(other.counts.len()) {
            let a = self.counts.get(i).copied().unwrap_or(0);
            let b = other.counts.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Greater => self_larger = true,
                Ordering::Less => other_larger = true,
                Ordering::Equal => {}
            }
        }
        match (self_larger, other_larger) {
            (false, false) => Causality::Equal,
            (false, true) => Causality::Before,
            (true, false) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }
}

impl Default for VectorClock {
    /// The same as [`VectorClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// What a client read, to be sent back with its next write of the same key.
#[derive(Debug, Clone)]
pub struct Context {
    clock: VectorClock,
}

impl Default for Context {
    /// A context that has seen nothing.
    fn default() -> Self {
        Context { clock: VectorClock::new() }
    }
}

/// One stored version: the value, the write that made it (its dot), and the
/// context its client sent.
#[derive(Debug, Clone)]
struct Version<V> {
    value: V,
    replica: String,
    counter: u64,
    context: VectorClock,
}

impl<V> Version<V> {
    fn seen_by(&self, clock: &VectorClock) -> bool {
        clock.get(&self.replica) >= self.counter
    }

    fn same_write(&self, other: &Version<V>) -> bool {
        self.counter == other.counter && self.replica == other.replica
    }
}

/// One replica of a replicated key-value store that keeps siblings.
#[derive(Debug, Clone)]
pub struct Replica<V> {
    id: String,
    /// How many writes this replica has coordinated (the counter of its dots).
    writes: u64,
    keys: BTreeMap<String, Vec<Version<V>>>,
}

impl<V: Clone> Replica<V> {
    /// An empty replica named `id`.
    pub fn new(id: &str) -> Self {
        Replica { id: id.to_owned(), writes: 0, keys: BTreeMap::new() }
    }

    /// Every sibling value of `key`, and the context to send back with the next write.
    pub fn get(&self, key: &str) -> (Vec<V>, Context) {
        let mut context = Context::default();
        let Some(versions) = self.keys.get(key) else {
            return (Vec::new(), context);
        };
        let mut values = Vec::with_capacity(versions.len());
        for v in versions {
            values.push(v.value.clone());
            context.clock.merge(&v.context);
            if context.clock.get(&v.replica) < v.counter {
                context.clock.set(&v.replica, v.counter);
            }
        }
        (values, context)
    }

    /// Writes `value` under `key`, replacing every version `context` has seen.
    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        self.writes = self.writes.max(context.clock.get(&self.id)) + 1;
        let versions = self.keys.entry(key.to_owned()).or_default();
        versions.retain(|v| !v.seen_by(&context.clock));
        versions.push(Version {
            value,
            replica: self.id.clone(),
            counter: self.writes,
            context: context.clock.clone(),
        });
    }

    /// Anti-entropy: takes in every version `other` holds, for every key.
    pub fn sync_from(&mut self, other: &Replica<V>) {
        for (key, theirs) in &other.keys {
            let mine = self.keys.entry(key.clone()).or_default();
            for v in theirs {
                if !mine.iter().any(|m| m.same_write(v)) {
                    mine.push(v.clone());
                }
            }
            let keep: Vec<bool> =
                mine.iter().map(|v| !mine.iter().any(|w| v.seen_by(&w.context))).collect();
            let mut keep = keep.into_iter();
            mine.retain(|_| keep.next().unwrap_or(true));
        }
    }
}
