//! The cost of one `get` and one `put` as the capacity grows from a thousand
//! entries to a million: your code (`lru_cache`), the reference
//! (`lru_cache_solution`) and the `lru` crate (0.19, a widely used LRU cache
//! crate, wrapped behind this kata's API in `lru_crate`) side by side
//! in each group.
//!
//! ```text
//! cargo bench -p lru-cache --features solution
//! cargo bench -p lru-cache --features solution -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Each cache is first filled to its capacity. `get` then reads keys it
//! holds, in a pseudo-random order (every read is a hit and moves an entry
//! to the most recently used end); `put` writes keys it has never seen, so
//! every write evicts the least recently used entry. An O(1) cache costs the
//! same number of operations at every capacity: the nanoseconds grow only as
//! far as a million entries no longer fit in the CPU's caches. A cache that
//! scans a list grows a thousandfold. The `get` group also reads the same
//! keys from a plain `std` `HashMap`: the floor, the cost of the hash probe
//! alone, which climbs with the capacity in the same way. A part of your code
//! that still panics (`todo!()`) is skipped with a note, and only the others
//! are measured.

use std::collections::HashMap;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const CAPACITIES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// The peer's name in the report.
const PEER: &str = "lru 0.19";

/// The `lru` crate behind this kata's API, so that the macros below run the
/// same operations on it as on the two `LruCache`s.
mod lru_crate {
    use std::hash::Hash;
    use std::num::NonZeroUsize;

    pub struct LruCache<K, V>(lru::LruCache<K, V>);

    impl<K: Hash + Eq, V> LruCache<K, V> {
        /// `lru` has no cache of capacity 0; the bench never asks for one.
        pub fn new(capacity: usize) -> Self {
            let capacity = NonZeroUsize::new(capacity).expect("the bench's capacities are not 0");
            LruCache(lru::LruCache::new(capacity))
        }

        pub fn get(&mut self, key: &K) -> Option<&V> {
            self.0.get(key)
        }

        /// Like the kata's `put`, `lru`'s returns the value it replaced (not
        /// the entry it evicted).
        pub fn put(&mut self, key: K, value: V) -> Option<V> {
            self.0.put(key, value)
        }
    }
}

/// A cache of `$krate` holding keys `0..capacity`.
macro_rules! filled {
    ($krate:ident, $capacity:expr) => {{
        let capacity: u64 = $capacity;
        let mut cache = $krate::LruCache::new(capacity as usize);
        for key in 0..capacity {
            cache.put(key, key);
        }
        cache
    }};
}

/// One hit per call, on a key drawn by xorshift from the keys held.
macro_rules! get {
    ($krate:ident, $capacity:expr) => {{
        let capacity: u64 = $capacity;
        let mut cache = filled!($krate, capacity);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            cache.get(&(state % capacity)).copied()
        }
    }};
}

/// The floor under `get`: the same reads from a `std` `HashMap` holding the
/// same keys, with no recency to keep.
fn hash_map_get(capacity: u64) -> impl FnMut() -> Option<u64> {
    let map: HashMap<u64, u64> = (0..capacity).map(|key| (key, key)).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        map.get(&(state % capacity)).copied()
    }
}

/// One new key per call: each write evicts the least recently used entry.
macro_rules! put {
    ($krate:ident, $capacity:expr) => {{
        let capacity: u64 = $capacity;
        let mut cache = filled!($krate, capacity);
        let mut next = capacity;
        move || {
            next += 1;
            cache.put(next, next)
        }
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

/// Benchmarks one operation of each crate (yours, the reference, the peer) at
/// every capacity, in one group, and optionally a floor to compare them with.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $operation:ident $(, $floor:literal, $floor_operation:expr)?) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        let yours = implemented($group, || {
            let mut operation = $operation!(lru_cache, 2);
            operation();
        });
        for capacity in CAPACITIES {
            if yours {
                group.bench_function(BenchmarkId::new("yours", capacity), |b| {
                    let mut operation = $operation!(lru_cache, capacity);
                    b.iter(|| black_box(operation()));
                });
            }
            group.bench_function(BenchmarkId::new("reference", capacity), |b| {
                let mut operation = $operation!(lru_cache_solution, capacity);
                b.iter(|| black_box(operation()));
            });
            group.bench_function(BenchmarkId::new(PEER, capacity), |b| {
                let mut operation = $operation!(lru_crate, capacity);
                b.iter(|| black_box(operation()));
            });
            $(
                group.bench_function(BenchmarkId::new($floor, capacity), |b| {
                    let mut operation = $floor_operation(capacity);
                    b.iter(|| black_box(operation()));
                });
            )?
        }
        group.finish();
    }};
}

fn cost_per_operation(c: &mut Criterion) {
    side_by_side!(c, "LruCache::get", get, "std HashMap::get", hash_map_get);
    side_by_side!(c, "LruCache::put", put);
}

criterion_group!(benches, cost_per_operation);
criterion_main!(benches);
