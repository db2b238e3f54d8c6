//! Right: counters are sorted `Vec<(replica, count)>` merged by a two-pointer walk (the
//! PN-Counter one vector of `(replica, incs, decs)` triples); the OR-Set is neither the
//! tombstone set nor the reference's version vector (ORSWOT). It keeps, per replica, that
//! replica's add log: `logs[r][i]` is the add tagged `(r, i + 1)` with a removed flag. Only `r`
//! appends to its log and states travel whole, so any two states hold prefixes of the same log;
//! a merge takes the longer log and ORs the removed flags of the common prefix: linear in the
//! two states, no hashing or tag lookups. The next tag of `r` is simply `len(logs[r]) + 1`, so it
//! can never repeat a tag any merged state has seen. A `BTreeMap<elem, live tags>` index answers
//! `contains`, `elements` and `remove`.

use std::collections::{BTreeMap, BTreeSet};

/// Identifies a replica.
pub type ReplicaId = u32;

/// Merges two sorted `(replica, state)` vectors, combining states with `join`.
fn merge_sorted<S: Copy>(mine: &mut Vec<(ReplicaId, S)>, theirs: &[(ReplicaId, S)], join: impl Fn(S, S) -> S) {
    let mut out = Vec::with_capacity(mine.len().max(theirs.len()));
    let mut a = std::mem::take(mine).into_iter().peekable();
    let mut b = theirs.iter().copied().peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (Some(x), Some(y)) if x.0 < y.0 => a.next(),
            (Some(x), Some(y)) if x.0 > y.0 => b.next(),
            (Some(_), Some(_)) => {
                let (r, s) = a.next().unwrap_or_else(|| unreachable!());
                let (_, t) = b.next().unwrap_or_else(|| unreachable!());
                Some((r, join(s, t)))
            }
        };
        out.extend(next);
    }
    *mine = out;
}

fn slot<S: Default>(v: &mut Vec<(ReplicaId, S)>, r: ReplicaId) -> &mut S {
    let i = match v.binary_search_by_key(&r, |e| e.0) {
        Ok(i) => i,
        Err(i) => {
            v.insert(i, (r, S::default()));
            i
        }
    };
    &mut v[i].1
}

/// A grow-only counter.
#[derive(Debug, Clone, Default)]
pub struct GCounter {
    counts: Vec<(ReplicaId, u64)>,
}

impl GCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        GCounter { counts: Vec::new() }
    }

    /// Adds `n` on behalf of `replica`.
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        *slot(&mut self.counts, replica) += n;
    }

    /// The total of every increment this state has seen.
    pub fn value(&self) -> u64 {
        self.counts.iter().map(|e| e.1).sum()
    }

    /// The larger count per replica.
    pub fn merge(&mut self, other: &GCounter) {
        merge_sorted(&mut self.counts, &other.counts, u64::max);
    }
}

/// A counter that goes up and down.
#[derive(Debug, Clone, Default)]
pub struct PnCounter {
    /// `(replica, (increments, decrements))`, sorted by replica.
    counts: Vec<(ReplicaId, (u64, u64))>,
}

impl PnCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        PnCounter { counts: Vec::new() }
    }

    /// Adds `n` on behalf of `replica`.
    pub fn increment(&mut self, replica: ReplicaId, n: u64) {
        slot(&mut self.counts, replica).0 += n;
    }

    /// Subtracts `n` on behalf of `replica`.
    pub fn decrement(&mut self, replica: ReplicaId, n: u64) {
        slot(&mut self.counts, replica).1 += n;
    }

    /// Increments minus decrements.
    pub fn value(&self) -> i64 {
        let total: i128 = self.counts.iter().map(|(_, (p, n))| i128::from(*p) - i128::from(*n)).sum();
        total as i64
    }

    /// The larger count per replica, for increments and decrements separately.
    pub fn merge(&mut self, other: &PnCounter) {
        merge_sorted(&mut self.counts, &other.counts, |a, b| (a.0.max(b.0), a.1.max(b.1)));
    }
}

/// A last-writer-wins register.
#[derive(Debug, Clone)]
pub struct LwwRegister<T> {
    stamp: Option<(u64, ReplicaId)>,
    value: Option<T>,
}

impl<T: Clone> LwwRegister<T> {
    /// An empty register.
    pub fn new() -> Self {
        LwwRegister { stamp: None, value: None }
    }

    fn take_if_later(&mut self, stamp: (u64, ReplicaId), value: impl FnOnce() -> T) {
        // `None < Some(_)` for `Option`'s order: any write beats an empty register.
        if Some(stamp) > self.stamp {
            self.stamp = Some(stamp);
            self.value = Some(value());
        }
    }

    /// Writes `value` at `timestamp` for `replica`, if it beats the current write.
    pub fn set(&mut self, value: T, timestamp: u64, replica: ReplicaId) {
        self.take_if_later((timestamp, replica), || value);
    }

    /// The value of the winning write.
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// Keeps whichever write wins.
    pub fn merge(&mut self, other: &LwwRegister<T>) {
        if let (Some(stamp), Some(v)) = (other.stamp, &other.value) {
            self.take_if_later(stamp, || v.clone());
        }
    }
}

impl<T: Clone> Default for LwwRegister<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// One add in a replica's log.
#[derive(Debug, Clone)]
struct Add<T> {
    elem: T,
    removed: bool,
}

/// An add-wins observed-remove set as per-replica add logs.
#[derive(Debug, Clone)]
pub struct OrSet<T> {
    /// `logs[r][i]` is the add tagged `(r, i + 1)`.
    logs: BTreeMap<ReplicaId, Vec<Add<T>>>,
    /// Live tags per element (an index over `logs`); never an empty set.
    live: BTreeMap<T, BTreeSet<(ReplicaId, usize)>>,
}

impl<T: Ord + Clone> OrSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        OrSet { logs: BTreeMap::new(), live: BTreeMap::new() }
    }

    /// Adds `elem` on behalf of `replica`: tag `(replica, length of its log + 1)`.
    pub fn add(&mut self, elem: T, replica: ReplicaId) {
        let log = self.logs.entry(replica).or_default();
        self.live.entry(elem.clone()).or_default().insert((replica, log.len()));
        log.push(Add { elem, removed: false });
    }

    /// Removes the tags of `elem` this state has observed.
    pub fn remove(&mut self, elem: &T) {
        if let Some(tags) = self.live.remove(elem) {
            for (r, i) in tags {
                if let Some(add) = self.logs.get_mut(&r).and_then(|log| log.get_mut(i)) {
                    add.removed = true;
                }
            }
        }
    }

    /// Whether `elem` is in the set.
    pub fn contains(&self, elem: &T) -> bool {
        self.live.contains_key(elem)
    }

    /// The elements in the set.
    pub fn elements(&self) -> BTreeSet<T> {
        self.live.keys().cloned().collect()
    }

    fn unindex(live: &mut BTreeMap<T, BTreeSet<(ReplicaId, usize)>>, elem: &T, tag: (ReplicaId, usize)) {
        if let Some(tags) = live.get_mut(elem) {
            tags.remove(&tag);
            if tags.is_empty() {
                live.remove(elem);
            }
        }
    }

    /// Brings in every add and remove `other` has seen.
    pub fn merge(&mut self, other: &OrSet<T>) {
        for (&r, theirs) in &other.logs {
            let mine = self.logs.entry(r).or_default();
            let common = mine.len().min(theirs.len());
            for (i, (m, t)) in mine.iter_mut().zip(&theirs[..common]).enumerate() {
                if t.removed && !m.removed {
                    m.removed = true;
                    Self::unindex(&mut self.live, &m.elem, (r, i));
                }
            }
            for (i, t) in theirs.iter().enumerate().skip(common) {
                if !t.removed {
                    self.live.entry(t.elem.clone()).or_default().insert((r, i));
                }
                mine.push(t.clone());
            }
        }
    }
}

impl<T: Ord + Clone> Default for OrSet<T> {
    fn default() -> Self {
        Self::new()
    }
}
