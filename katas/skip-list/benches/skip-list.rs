//! Your skip list (`skip_list`), the reference (`skip_list_solution`), the
//! `crossbeam-skiplist` crate (0.1, the best-known skip-list crate, wrapped
//! behind this kata's API in `crossbeam_skiplist_crate`) and the standard
//! library's `BTreeMap` side by side, at 1e3, 1e4 and 1e5 keys.
//!
//! ```text
//! cargo bench -p skip-list --features solution
//! cargo bench -p skip-list --features solution -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - `insert`: building a map of n keys in a scrambled order, per key
//!   (the time is divided by n).
//! - `get`: one hit on a pseudo-random key of a map of n keys.
//! - `rank`: one `rank` of a pseudo-random key (neither `BTreeMap` nor
//!   `crossbeam-skiplist` has a rank query: counting up to a key is O(n)
//!   there, so this group has the kata's lists only).
//!
//! `crossbeam-skiplist` is the peer that does this kata's job with the same
//! structure, but it is a *concurrent* map: every link is an atomic, a read
//! pins an epoch and takes a reference count on the entry it returns, and
//! nodes are freed by epoch-based reclamation. The `BTreeMap` is the
//! single-threaded ordered map the kata's list competes with: a B-tree keeps
//! several keys per node and wins on cache misses; a skip list chases a
//! pointer per step. What matters here is the shape: every column grows with
//! log n, not n. A part of your code that still panics (`todo!()`) is skipped
//! with a note, and only the others are measured.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [u64; 3] = [1_000, 10_000, 100_000];
const SEED: u64 = 0x5eed;

/// The peer's name in the report.
const PEER: &str = "crossbeam-skiplist 0.1";

/// `crossbeam_skiplist::SkipMap` behind this kata's API, so that the macros
/// below run the same operations on it as on the two `SkipList`s.
mod crossbeam_skiplist_crate {
    use crossbeam_skiplist::SkipMap;

    pub struct SkipList<K, V>(SkipMap<K, V>);

    impl<K: Ord + Send + 'static, V: Clone + Send + 'static> SkipList<K, V> {
        /// `SkipMap` draws its node heights from a generator of its own.
        pub fn new(_seed: u64) -> Self {
            SkipList(SkipMap::new())
        }

        pub fn insert(&mut self, key: K, value: V) {
            self.0.insert(key, value);
        }

        /// A copy of the value: `SkipMap::get` returns an entry that holds a
        /// reference count on its node, not a borrow.
        pub fn get(&self, key: &K) -> Option<V> {
            self.0.get(key).map(|entry| entry.value().clone())
        }
    }
}

/// `n` distinct keys in a scrambled order (multiplication by an odd
/// constant is a bijection on `u64`).
fn keys(n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect()
}

/// Pseudo-random indices into `0..n`, one per call.
fn indices(n: u64) -> impl FnMut() -> usize {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n) as usize
    }
}

macro_rules! build {
    ($krate:ident, $keys:expr) => {{
        let mut list = $krate::SkipList::new(SEED);
        for &key in $keys {
            list.insert(key, key);
        }
        list
    }};
}

/// Whether `probe` runs without panicking, with the panic message silenced:
/// your code may still be `todo!()`.
fn implemented(what: &str, probe: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(probe)).is_ok();
    panic::set_hook(hook);
    if !ok {
        eprintln!("note: your {what} panics (still todo!()?): measuring only the others");
    }
    ok
}

macro_rules! insert {
    ($group:expr, $name:expr, $n:expr, $keys:expr, $krate:ident) => {
        $group.bench_function(BenchmarkId::new($name, $n), |b| {
            b.iter_with_large_drop(|| build!($krate, $keys))
        });
    };
}

macro_rules! query {
    ($group:expr, $name:expr, $n:expr, $keys:expr, $krate:ident, $query:ident) => {{
        let list = build!($krate, $keys);
        let mut next = indices($n);
        $group.bench_function(BenchmarkId::new($name, $n), |b| {
            b.iter(|| black_box(list.$query(&$keys[next()])))
        });
    }};
}

fn insert(c: &mut Criterion) {
    let yours = implemented("insert", || {
        build!(skip_list, &keys(2));
    });
    let mut group = c.benchmark_group("insert");
    for n in SIZES {
        let keys = keys(n);
        group.throughput(Throughput::Elements(n));
        if yours {
            insert!(group, "yours", n, &keys, skip_list);
        }
        insert!(group, "reference", n, &keys, skip_list_solution);
        insert!(group, PEER, n, &keys, crossbeam_skiplist_crate);
        group.bench_function(BenchmarkId::new("BTreeMap", n), |b| {
            b.iter_batched(
                BTreeMap::new,
                |mut map| {
                    for &key in &keys {
                        map.insert(key, key);
                    }
                    map
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn get(c: &mut Criterion) {
    let yours = implemented("get", || {
        build!(skip_list, &keys(2)).get(&0);
    });
    let mut group = c.benchmark_group("get");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let keys = keys(n);
        if yours {
            query!(group, "yours", n, &keys, skip_list, get);
        }
        query!(group, "reference", n, &keys, skip_list_solution, get);
        query!(group, PEER, n, &keys, crossbeam_skiplist_crate, get);
        let map: BTreeMap<u64, u64> = keys.iter().map(|&k| (k, k)).collect();
        let mut next = indices(n);
        group.bench_function(BenchmarkId::new("BTreeMap", n), |b| {
            b.iter(|| black_box(map.get(&keys[next()])))
        });
    }
    group.finish();
}

fn rank(c: &mut Criterion) {
    let yours = implemented("rank", || {
        build!(skip_list, &keys(2)).rank(&0);
    });
    let mut group = c.benchmark_group("rank");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let keys = keys(n);
        if yours {
            query!(group, "yours", n, &keys, skip_list, rank);
        }
        query!(group, "reference", n, &keys, skip_list_solution, rank);
    }
    group.finish();
}

criterion_group!(benches, insert, get, rank);
criterion_main!(benches);
