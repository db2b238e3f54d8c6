//! Keys that count how often they are hashed, compared for equality and
//! ordered, so that a spec can state complexity as a count ("a lookup in a
//! map of 10,000 keys makes at most 40 comparisons") at two sizes; and keys
//! whose hash is the same for every value, the worst case of a hash table.

use std::cell::Cell;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

thread_local! {
    static HASHES: Cell<u64> = const { Cell::new(0) };
    static EQS: Cell<u64> = const { Cell::new(0) };
    static CMPS: Cell<u64> = const { Cell::new(0) };
}

/// How often [`Counted`] keys were hashed, compared and ordered on this
/// thread while a closure ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub hash: u64,
    pub eq: u64,
    pub cmp: u64,
}

impl Calls {
    /// Every call, whatever its kind.
    pub fn total(&self) -> u64 {
        self.hash + self.eq + self.cmp
    }
}

fn bump(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    counter.with(|c| c.set(c.get() + 1));
}

fn snapshot() -> Calls {
    Calls {
        hash: HASHES.with(Cell::get),
        eq: EQS.with(Cell::get),
        cmp: CMPS.with(Cell::get),
    }
}

/// Runs `f` and returns the calls [`Counted`] keys received on this thread
/// meanwhile, with `f`'s result.
pub fn count<T>(f: impl FnOnce() -> T) -> (Calls, T) {
    let before = snapshot();
    let out = f();
    let after = snapshot();
    (
        Calls {
            hash: after.hash - before.hash,
            eq: after.eq - before.eq,
            cmp: after.cmp - before.cmp,
        },
        out,
    )
}

/// A key that counts its `hash`, `eq` and `cmp` calls; otherwise it
/// behaves exactly as `K`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counted<K>(pub K);

impl<K: Hash> Hash for Counted<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        bump(&HASHES);
        self.0.hash(state);
    }
}

impl<K: PartialEq> PartialEq for Counted<K> {
    fn eq(&self, other: &Self) -> bool {
        bump(&EQS);
        self.0 == other.0
    }
}

impl<K: Eq> Eq for Counted<K> {}

impl<K: PartialOrd> PartialOrd for Counted<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        bump(&CMPS);
        self.0.partial_cmp(&other.0)
    }
}

impl<K: Ord> Ord for Counted<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        bump(&CMPS);
        self.0.cmp(&other.0)
    }
}

/// A key whose hash is the same for every value: every key collides. A
/// structure that promises correctness whatever the hash must still tell
/// them apart by `eq`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConstHash<K>(pub K);

impl<K> Hash for ConstHash<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(0x6b61_7461);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap, HashSet};

    #[test]
    fn a_btree_lookup_costs_a_logarithmic_number_of_comparisons() {
        let lookup_cost = |n: u64| {
            let map: BTreeMap<Counted<u64>, ()> = (0..n).map(|k| (Counted(k), ())).collect();
            count(|| map.get(&Counted(n / 2))).0.cmp
        };
        let (small, large) = (lookup_cost(1_000), lookup_cost(1_000_000));
        assert!(small > 0);
        assert!(
            large < small * 4,
            "1,000× the keys, a few more comparisons: {small} then {large}"
        );
    }

    #[test]
    fn a_hash_lookup_hashes_once_and_compares_little() {
        let map: HashMap<Counted<u64>, u64> = (0..10_000).map(|k| (Counted(k), k)).collect();
        let (calls, found) = count(|| map.get(&Counted(42)).copied());
        assert_eq!(found, Some(42));
        assert_eq!(calls.hash, 1);
        assert!(calls.eq <= 2, "{calls:?}");
    }

    #[test]
    fn constant_hash_keys_all_collide_but_stay_distinct() {
        let set: HashSet<ConstHash<&str>> = ["a", "A", "b"].into_iter().map(ConstHash).collect();
        assert_eq!(set.len(), 3);
        let (calls, ()) = count(|| {
            let keys: HashSet<ConstHash<Counted<u8>>> =
                (0..50).map(|k| ConstHash(Counted(k))).collect();
            assert_eq!(keys.len(), 50);
        });
        assert!(
            calls.eq > 50 * 49 / 4,
            "every insert compares with the others: {calls:?}"
        );
    }
}
