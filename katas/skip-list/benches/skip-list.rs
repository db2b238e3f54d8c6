//! Your skip list (`skip_list`), the reference (`skip_list_solution`) and the
//! standard library's `BTreeMap` side by side, at 1e3, 1e4 and 1e5 keys.
//!
//! ```text
//! cargo bench -p skip-list --features solution
//! cargo bench -p skip-list --features solution -- --warm-up-time 0.5 --measurement-time 1
//! ```
//!
//! - `insert`: building a map of n keys in a scrambled order, per key
//!   (the time is divided by n).
//! - `get`: one hit on a pseudo-random key of a map of n keys.
//! - `rank`: one `rank` of a pseudo-random key (the `BTreeMap` has no rank
//!   query: counting up to a key is O(n) there).
//!
//! A B-tree keeps several keys per node and wins on cache misses; a skip
//! list chases a pointer per step. What matters here is the shape: every
//! column grows with log n, not n. A part of your code that still panics
//! (`todo!()`) is skipped with a note, and only the others are measured.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SIZES: [u64; 3] = [1_000, 10_000, 100_000];
const SEED: u64 = 0x5eed;

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
