//! The memory and allocation bounds of the lru-cache kata, measured with a
//! counting allocator (it has to be this file's global allocator, so it has
//! a file of its own). Counts, not times: the same on every run.
//!
//! `cargo test -p lru-cache` judges your code;
//! `cargo test -p lru-cache --features solution` judges the reference.

#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use lru_cache as subject;
#[cfg(feature = "solution")]
use lru_cache_solution as subject;

use std::time::{Duration, Instant};

use spec_probes::alloc::{Counting, installed, measure};
use subject::{LruCache, TtlCache};

#[global_allocator]
static ALLOC: Counting = Counting;

/// How many bytes a cache may gain while its contents stay the same size:
/// room for a hash table that tidies itself, nothing that grows with the
/// traffic.
const SLACK: i64 = 4 * 1024;

#[test]
fn a_hit_allocates_nothing() {
    assert!(installed(), "the counting allocator should be installed");
    let t0 = Instant::now();
    let mut lru = LruCache::new(1_000);
    let mut ttl = TtlCache::new(1_000, Duration::from_secs(3_600));
    for key in 0..1_000u64 {
        lru.put(key, key);
        ttl.put(key, key, t0);
    }
    let (usage, ()) = measure(|| {
        for i in 0..20_000u64 {
            let key = (i * 7) % 1_000;
            assert_eq!(
                lru.get(&key),
                Some(&key),
                "LruCache: get({key}) of a held key"
            );
        }
    });
    assert_eq!(
        usage.allocations, 0,
        "20,000 gets of held keys on a full LruCache of 1,000 made {} allocations: using an entry \
         is a few pointer (or index) updates and allocates nothing (a BTreeMap of access times, or \
         a log of accesses, allocates as it goes)",
        usage.allocations
    );
    let (usage, ()) = measure(|| {
        for i in 0..20_000u64 {
            let key = (i * 7) % 1_000;
            let now = t0 + Duration::from_nanos(i);
            assert_eq!(
                ttl.get(&key, now),
                Some(&key),
                "TtlCache: get({key}) of a live key"
            );
        }
    });
    assert_eq!(
        usage.allocations, 0,
        "20,000 gets of live keys on a full TtlCache of 1,000 made {} allocations: using an entry \
         allocates nothing",
        usage.allocations
    );
}

#[test]
fn memory_stays_flat_under_remove_and_put_churn() {
    assert!(installed(), "the counting allocator should be installed");
    const CAPACITY: u64 = 100;
    let mut cache = LruCache::new(CAPACITY as usize);
    for key in 0..CAPACITY {
        cache.put(key, key);
    }
    // Warm up: the first churn may settle the hash table.
    let churn = |cache: &mut LruCache<u64, u64>, from: u64, rounds: u64| {
        for i in from..from + rounds {
            assert_eq!(cache.remove(&i), Some(i), "remove({i}) of a held key");
            cache.put(i + CAPACITY, i + CAPACITY);
        }
    };
    churn(&mut cache, 0, 1_000);
    let (usage, ()) = measure(|| churn(&mut cache, 1_000, 50_000));
    assert!(
        usage.live_bytes <= SLACK,
        "50,000 rounds of remove then put of a new key on a cache of {CAPACITY} entries (always \
         {CAPACITY} held) left it {} bytes bigger: memory must stay proportional to the capacity \
         whatever the traffic (does remove free its node's place for the next put?)",
        usage.live_bytes
    );
}

#[test]
fn ttl_memory_stays_flat_however_often_entries_are_rewritten() {
    assert!(installed(), "the counting allocator should be installed");
    const CAPACITY: u64 = 100;
    let t0 = Instant::now();
    let mut cache = TtlCache::new(CAPACITY as usize, Duration::from_secs(3_600));
    // Key 0 is written once and stays live all along; the others are
    // rewritten again and again.
    for key in 0..CAPACITY {
        cache.put(key, key, t0);
    }
    let rewrite = |cache: &mut TtlCache<u64, u64>, from: u64, rounds: u64| {
        for i in from..from + rounds {
            let key = 1 + i % (CAPACITY - 1);
            let now = t0 + Duration::from_nanos(i + 1);
            cache.put(key, i, now);
            assert_eq!(cache.get(&0, now), Some(&0), "key 0 is live for an hour");
        }
    };
    rewrite(&mut cache, 0, 1_000);
    let (usage, ()) = measure(|| rewrite(&mut cache, 1_000, 50_000));
    assert!(
        usage.live_bytes <= SLACK,
        "50,000 rewrites of live keys on a TtlCache of {CAPACITY} entries (always {CAPACITY} \
         held, key 0 never rewritten) left it {} bytes bigger: memory must stay proportional to \
         the capacity whatever the traffic (a log of writes that only expiry shortens grows \
         behind the entry that never expires)",
        usage.live_bytes
    );
}
