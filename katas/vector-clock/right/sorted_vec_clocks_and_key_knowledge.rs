//! Right: two departures from the obvious design (BTreeMap clocks, and per key a list of
//! versions each carrying its dot and its client's context, pruned pairwise on sync).
//! 1. A clock is a sorted `Vec<(Box<str>, u64)>` (no zero entries); `compare` and `merge` are
//!    linear two-pointer walks, `compare` allocates nothing, and `merge` allocates only when
//!    `other` knows nodes this clock does not.
//! 2. The store is a per-key "knowledge + dots" state, as an ORSWOT does for sets (Riak's
//!    DVVSet idea): per key one clock `seen` (every write this replica knows of for the key,
//!    held or overwritten) and a map `dot -> value` of the live siblings. No per-version
//!    context is kept. A put removes the live dots its context covers, then folds the context
//!    and its new dot into `seen`; a sync keeps a dot both sides hold, and a dot only one side
//!    holds unless the other side's `seen` covers it (it saw it and it was overwritten there),
//!    then merges the `seen` clocks. `get`'s context is `seen`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

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

/// A vector clock: sorted `(node, count)` pairs, counts never zero.
#[derive(Debug, Clone)]
pub struct VectorClock {
    entries: Vec<(Box<str>, u64)>,
}

impl VectorClock {
    /// A clock that knows no event.
    pub fn new() -> Self {
        VectorClock { entries: Vec::new() }
    }

    fn find(&self, node: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(n, _)| (**n).cmp(node))
    }

    /// How many events of `node` this clock knows (zero if none).
    pub fn get(&self, node: &str) -> u64 {
        self.find(node).map_or(0, |i| self.entries[i].1)
    }

    /// Raises `node`'s count to at least `count`.
    fn raise(&mut self, node: &str, count: u64) {
        if count == 0 {
            return;
        }
        match self.find(node) {
            Ok(i) => self.entries[i].1 = self.entries[i].1.max(count),
            Err(i) => self.entries.insert(i, (node.into(), count)),
        }
    }

    /// Records one more event of `node` and returns its new count.
    pub fn increment(&mut self, node: &str) -> u64 {
        match self.find(node) {
            Ok(i) => {
                self.entries[i].1 += 1;
                self.entries[i].1
            }
            Err(i) => {
                self.entries.insert(i, (node.into(), 1));
                1
            }
        }
    }

    /// Each entry becomes the larger of the two.
    pub fn merge(&mut self, other: &VectorClock) {
        // Count the nodes only `other` knows.
        let (mut i, mut j, mut unknown) = (0, 0, 0usize);
        while j < other.entries.len() {
            if i == self.entries.len() {
                unknown += other.entries.len() - j;
                break;
            }
            match self.entries[i].0.cmp(&other.entries[j].0) {
                Ordering::Less => i += 1,
                Ordering::Greater => {
                    unknown += 1;
                    j += 1;
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            }
        }
        if unknown == 0 {
            // In place: every node of `other` is already here.
            let mut i = 0;
            for (node, count) in &other.entries {
                while self.entries[i].0 < *node {
                    i += 1;
                }
                self.entries[i].1 = self.entries[i].1.max(*count);
            }
            return;
        }
        let mine = std::mem::take(&mut self.entries);
        let mut out = Vec::with_capacity(mine.len() + unknown);
        let mut theirs = other.entries.iter().peekable();
        for (node, count) in mine {
            while let Some((n, c)) = theirs.next_if(|(n, _)| *n < node) {
                out.push((n.clone(), *c));
            }
            let count = match theirs.next_if(|(n, _)| *n == node) {
                Some((_, c)) => count.max(*c),
                None => count,
            };
            out.push((node, count));
        }
        out.extend(theirs.map(|(n, c)| (n.clone(), *c)));
        self.entries = out;
    }

    /// `node` receives a message stamped `message`: merge, then count the receipt.
    pub fn receive(&mut self, node: &str, message: &VectorClock) {
        self.merge(message);
        self.increment(node);
    }

    /// How this clock relates to `other` (a missing node counts zero).
    pub fn compare(&self, other: &VectorClock) -> Causality {
        let (a, b) = (&self.entries, &other.entries);
        let (mut i, mut j) = (0, 0);
        let (mut mine_more, mut theirs_more) = (false, false);
        while i < a.len() && j < b.len() && !(mine_more && theirs_more) {
            match a[i].0.cmp(&b[j].0) {
                Ordering::Less => {
                    mine_more = true;
                    i += 1;
                }
                Ordering::Greater => {
                    theirs_more = true;
                    j += 1;
                }
                Ordering::Equal => {
                    mine_more |= a[i].1 > b[j].1;
                    theirs_more |= a[i].1 < b[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        mine_more |= i < a.len();
        theirs_more |= j < b.len();
        match (mine_more, theirs_more) {
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
    seen: VectorClock,
}

impl Default for Context {
    /// A context that has seen nothing.
    fn default() -> Self {
        Context { seen: VectorClock::new() }
    }
}

/// The write that made a version: the replica that took it and that replica's write number.
type Dot = (Box<str>, u64);

fn covers(clock: &VectorClock, dot: &Dot) -> bool {
    clock.get(&dot.0) >= dot.1
}

/// One key at one replica: every write known for it, and the live siblings.
#[derive(Debug, Clone)]
struct KeyState<V> {
    seen: VectorClock,
    live: BTreeMap<Dot, V>,
}

/// One replica of a replicated key-value store that keeps siblings.
#[derive(Debug, Clone)]
pub struct Replica<V> {
    id: Box<str>,
    writes: u64,
    keys: BTreeMap<String, KeyState<V>>,
}

impl<V: Clone> Replica<V> {
    /// An empty replica named `id`.
    pub fn new(id: &str) -> Self {
        Replica { id: id.into(), writes: 0, keys: BTreeMap::new() }
    }

    /// Every sibling value of `key`, and the context to send back with the next write.
    pub fn get(&self, key: &str) -> (Vec<V>, Context) {
        match self.keys.get(key) {
            None => (Vec::new(), Context::default()),
            Some(state) => (state.live.values().cloned().collect(), Context { seen: state.seen.clone() }),
        }
    }

    /// Writes `value` under `key`, replacing every version `context` has seen.
    pub fn put(&mut self, key: &str, value: V, context: &Context) {
        let state = self
            .keys
            .entry(key.to_owned())
            .or_insert_with(|| KeyState { seen: VectorClock::new(), live: BTreeMap::new() });
        state.live.retain(|dot, _| !covers(&context.seen, dot));
        self.writes = self
            .writes
            .max(context.seen.get(&self.id))
            .max(state.seen.get(&self.id))
            + 1;
        state.seen.merge(&context.seen);
        state.seen.raise(&self.id, self.writes);
        state.live.insert((self.id.clone(), self.writes), value);
    }

    /// Anti-entropy: takes in every version `other` holds, for every key.
    pub fn sync_from(&mut self, other: &Replica<V>) {
        for (key, theirs) in &other.keys {
            let Some(mine) = self.keys.get_mut(key) else {
                self.keys.insert(key.clone(), theirs.clone());
                continue;
            };
            // A dot only I hold goes if they have seen it (it was overwritten there).
            mine.live
                .retain(|dot, _| theirs.live.contains_key(dot) || !covers(&theirs.seen, dot));
            // A dot only they hold comes in unless I have seen it.
            for (dot, value) in &theirs.live {
                if !mine.live.contains_key(dot) && !covers(&mine.seen, dot) {
                    mine.live.insert(dot.clone(), value.clone());
                }
            }
            mine.seen.merge(&theirs.seen);
        }
    }
}
