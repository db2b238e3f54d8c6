//! The specification of the lru-cache kata.
//!
//! Every test name is a requirement; read the failing names first. The
//! model-based properties drive your cache and an obviously correct model (a
//! `Vec` in recency order, least recently used first) with the same random
//! operations and compare them after every step; proptest shrinks a
//! difference to a short list of operations. Time is passed in as
//! `t0 + <offset>`: nothing here sleeps.
//!
//! `cargo test -p lru-cache` judges your code;
//! `cargo test -p lru-cache --features solution` judges the reference.

// The kata has no loom models; this keeps any `--cfg kata_loom` build from
// compiling the spec.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use lru_cache as subject;
#[cfg(feature = "solution")]
use lru_cache_solution as subject;

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use spec_probes::keys::{Calls, Counted, count};
use subject::{LruCache, TtlCache};

// ───────────────────────────── helpers ─────────────────────────────

const NS: Duration = Duration::from_nanos(1);

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Which of `keys` the cache holds, looked up with `peek` (which must not
/// change anything).
fn held<V>(cache: &LruCache<u32, V>, keys: impl IntoIterator<Item = u32>) -> Vec<u32> {
    keys.into_iter()
        .filter(|key| cache.peek(key).is_some())
        .collect()
}

// ─────────────────────── LRU: storing and reading ───────────────────────

#[test]
fn get_returns_what_put_stored_and_none_for_a_missing_key() {
    let mut cache = LruCache::new(3);
    assert_eq!(
        cache.put("alice", 1),
        None,
        "put of a new key should return None: there was no value to replace"
    );
    cache.put("bob", 2);
    assert_eq!(
        cache.get(&"alice"),
        Some(&1),
        "get(alice) should return the value put under alice"
    );
    assert_eq!(
        cache.get(&"bob"),
        Some(&2),
        "get(bob) should return the value put under bob"
    );
    assert_eq!(
        cache.get(&"carol"),
        None,
        "get(carol) should return None: carol was never put"
    );
    assert_eq!(
        cache.peek(&"bob"),
        Some(&2),
        "peek(bob) should return the value put under bob"
    );
}

#[rstest]
#[case::capacity_one(1)]
#[case::capacity_two(2)]
#[case::capacity_five(5)]
#[case::capacity_a_hundred(100)]
fn evicts_the_least_recently_used_entry_when_a_new_key_arrives_at_a_full_cache(
    #[case] capacity: u32,
) {
    let mut cache = LruCache::new(capacity as usize);
    for key in 0..capacity {
        cache.put(key, key * 10);
    }
    assert_eq!(
        cache.len(),
        capacity as usize,
        "after {capacity} puts of distinct keys, a cache of capacity {capacity} should hold all of them"
    );
    cache.put(capacity, capacity * 10);
    assert_eq!(
        cache.peek(&0),
        None,
        "keys 0..{capacity} were put in order into a cache of capacity {capacity}: putting key \
         {capacity} should evict key 0, the least recently used"
    );
    assert_eq!(
        held(&cache, 1..=capacity),
        (1..=capacity).collect::<Vec<_>>(),
        "only key 0 should have been evicted: every other key (and the new one) should still be held"
    );
    assert_eq!(
        cache.len(),
        capacity as usize,
        "a full cache of capacity {capacity} should still hold {capacity} entries after an eviction"
    );
}

#[test]
fn get_makes_an_entry_the_most_recently_used() {
    let mut cache = LruCache::new(3);
    cache.put('a', 1);
    cache.put('b', 2);
    cache.put('c', 3);
    assert_eq!(cache.get(&'a'), Some(&1), "get(a) should return 1");
    cache.put('d', 4);
    assert_eq!(
        cache.peek(&'b'),
        None,
        "after put a, b, c and get(a), b is the least recently used: put(d) into the full cache \
         of 3 should evict b"
    );
    assert_eq!(
        cache.peek(&'a'),
        Some(&1),
        "get(a) made a the most recently used: put(d) must not evict it"
    );
    cache.put('e', 5);
    assert_eq!(
        cache.peek(&'c'),
        None,
        "after put a, b, c, get(a), put(d), the recency order is c, a, d: put(e) should evict c"
    );
    assert_eq!(
        cache.peek(&'a'),
        Some(&1),
        "a was read after c was written, so put(e) should evict c, not a"
    );
}

#[test]
fn peek_does_not_change_which_entry_is_evicted() {
    let mut cache = LruCache::new(2);
    cache.put('a', 1);
    cache.put('b', 2);
    assert_eq!(cache.peek(&'a'), Some(&1), "peek(a) should return 1");
    cache.put('c', 3);
    assert_eq!(
        cache.peek(&'a'),
        None,
        "peek reads without using: after put a, b and peek(a), a is still the least recently \
         used, so put(c) into the full cache of 2 should evict a"
    );
    assert_eq!(
        cache.peek(&'b'),
        Some(&2),
        "peek(a) must not make b the least recently used: b should survive put(c)"
    );
}

#[test]
fn put_of_an_existing_key_replaces_its_value_and_makes_it_the_most_recently_used() {
    let mut cache = LruCache::new(2);
    cache.put('a', 1);
    cache.put('b', 2);
    assert_eq!(
        cache.put('a', 10),
        Some(1),
        "put(a, 10) over put(a, 1) should return the replaced value 1"
    );
    assert_eq!(
        cache.peek(&'a'),
        Some(&10),
        "after put(a, 10), a should hold the new value 10"
    );
    assert_eq!(
        cache.len(),
        2,
        "replacing a value adds no entry: the cache should hold a and b"
    );
    cache.put('c', 3);
    assert_eq!(
        cache.peek(&'b'),
        None,
        "put(a, 10) made a the most recently used, so b is the least: put(c) should evict b"
    );
    assert_eq!(
        cache.peek(&'a'),
        Some(&10),
        "a was written after b, so put(c) must not evict a"
    );
}

#[test]
fn put_of_an_existing_key_into_a_full_cache_evicts_nothing() {
    let mut cache = LruCache::new(3);
    cache.put(1, 'x');
    cache.put(2, 'y');
    cache.put(3, 'z');
    assert_eq!(
        cache.put(3, 'w'),
        Some('z'),
        "put(3, w) should replace 3's value z"
    );
    assert_eq!(
        held(&cache, [1, 2, 3]),
        vec![1, 2, 3],
        "replacing the value of key 3 in a full cache of 3 needs no room: no entry should be \
         evicted (check whether the key is there before evicting)"
    );
}

#[test]
fn capacity_zero_stores_nothing() {
    let mut cache = LruCache::new(0);
    assert_eq!(cache.capacity(), 0, "capacity() should be 0");
    assert_eq!(
        cache.put("alice", 1),
        None,
        "put into a cache of capacity 0 should return None"
    );
    assert_eq!(
        cache.put("alice", 2),
        None,
        "a cache of capacity 0 stored nothing, so a second put(alice) replaces nothing"
    );
    assert_eq!(
        cache.get(&"alice"),
        None,
        "a cache of capacity 0 should store nothing: get(alice) should be None"
    );
    assert_eq!(
        cache.peek(&"alice"),
        None,
        "a cache of capacity 0 should store nothing: peek(alice) should be None"
    );
    assert_eq!(cache.len(), 0, "a cache of capacity 0 holds 0 entries");
    assert!(cache.is_empty(), "a cache of capacity 0 is always empty");
    assert_eq!(
        cache.remove(&"alice"),
        None,
        "remove from a cache of capacity 0 should return None"
    );
}

#[test]
fn capacity_one_keeps_only_the_last_key_written() {
    let mut cache = LruCache::new(1);
    cache.put('a', 1);
    assert_eq!(cache.get(&'a'), Some(&1), "a cache of 1 should hold a");
    assert_eq!(
        cache.put('a', 2),
        Some(1),
        "put(a, 2) should replace a's value 1 without evicting a"
    );
    assert_eq!(cache.get(&'a'), Some(&2), "a should now hold 2");
    assert_eq!(
        cache.put('b', 3),
        None,
        "put(b) should return None: b is new"
    );
    assert_eq!(
        cache.get(&'a'),
        None,
        "a cache of capacity 1 should evict a when b arrives"
    );
    assert_eq!(cache.get(&'b'), Some(&3), "a cache of 1 should hold b");
    assert_eq!(cache.len(), 1, "a cache of capacity 1 holds 1 entry");
}

#[test]
fn remove_takes_the_entry_out_and_frees_its_room() {
    let mut cache = LruCache::new(2);
    cache.put('a', 1);
    cache.put('b', 2);
    assert_eq!(
        cache.remove(&'a'),
        Some(1),
        "remove(a) should return a's value"
    );
    assert_eq!(
        cache.remove(&'a'),
        None,
        "a second remove(a) should return None"
    );
    assert_eq!(cache.get(&'a'), None, "a removed key should be gone");
    assert_eq!(cache.len(), 1, "after remove(a), only b is left");
    cache.put('c', 3);
    assert_eq!(
        (cache.peek(&'b'), cache.peek(&'c')),
        (Some(&2), Some(&3)),
        "remove(a) freed a place in the cache of 2: put(c) should evict nothing, so b and c are held"
    );
    assert_eq!(
        cache.remove(&'z'),
        None,
        "remove of a key never put should return None"
    );
}

#[test]
fn len_is_empty_and_capacity_describe_the_cache() {
    let mut cache = LruCache::new(3);
    assert_eq!(cache.capacity(), 3, "capacity() should be 3");
    assert!(cache.is_empty(), "a new cache should be empty");
    assert_eq!(cache.len(), 0, "a new cache holds 0 entries");
    for (key, len) in [(1, 1), (2, 2), (1, 2), (3, 3), (4, 3), (5, 3)] {
        cache.put(key, key);
        assert_eq!(
            cache.len(),
            len,
            "after put({key}) the cache of capacity 3 should hold {len} entries"
        );
        assert!(!cache.is_empty(), "a cache holding entries is not empty");
    }
    assert_eq!(
        cache.capacity(),
        3,
        "capacity() should stay 3 whatever was put"
    );
}

// ─────────────── LRU: a model in recency order, random operations ───────────────

/// Keys are drawn from `0..KEYS`, few enough that the random operations hit
/// existing keys, evict and re-insert all the time.
const KEYS: u8 = 8;

#[derive(Clone, Copy)]
enum LruOp {
    /// `put(key, value)`, where the value is the step's number (so that
    /// every value is distinct).
    Put(u8),
    Get(u8),
    Peek(u8),
    Remove(u8),
}

impl fmt::Debug for LruOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LruOp::Put(key) => write!(f, "put({key})"),
            LruOp::Get(key) => write!(f, "get({key})"),
            LruOp::Peek(key) => write!(f, "peek({key})"),
            LruOp::Remove(key) => write!(f, "remove({key})"),
        }
    }
}

/// How a step reads in a failure message: `put(key, value)` or `get(key)`.
fn lru_call(op: LruOp, value: u32) -> String {
    match op {
        LruOp::Put(key) => format!("put({key}, {value})"),
        other => format!("{other:?}"),
    }
}

fn lru_ops() -> impl Strategy<Value = (usize, Vec<LruOp>)> {
    let key = 0..KEYS;
    let op = prop_oneof![
        4 => key.clone().prop_map(LruOp::Put),
        3 => key.clone().prop_map(LruOp::Get),
        2 => key.clone().prop_map(LruOp::Peek),
        1 => key.prop_map(LruOp::Remove),
    ];
    (0usize..=5, vec(op, 1..60))
}

/// The obviously correct LRU cache: its entries in recency order, least
/// recently used first, found by a linear scan.
#[derive(Debug, Default)]
struct LruModel {
    capacity: usize,
    entries: Vec<(u8, u32)>,
}

impl LruModel {
    fn position(&self, key: u8) -> Option<usize> {
        self.entries.iter().position(|&(k, _)| k == key)
    }

    fn get(&mut self, key: u8) -> Option<u32> {
        let at = self.position(key)?;
        let entry = self.entries.remove(at);
        self.entries.push(entry);
        Some(entry.1)
    }

    fn peek(&self, key: u8) -> Option<u32> {
        self.position(key).map(|at| self.entries[at].1)
    }

    fn put(&mut self, key: u8, value: u32) -> Option<u32> {
        let old = self.position(key).map(|at| self.entries.remove(at).1);
        if old.is_none() && self.entries.len() == self.capacity && self.capacity > 0 {
            self.entries.remove(0);
        }
        if self.capacity > 0 {
            self.entries.push((key, value));
        }
        old
    }

    fn remove(&mut self, key: u8) -> Option<u32> {
        self.position(key).map(|at| self.entries.remove(at).1)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lru_agrees_with_a_list_in_recency_order((capacity, ops) in lru_ops()) {
        let mut cache: LruCache<u8, u32> = LruCache::new(capacity);
        let mut model = LruModel { capacity, ..LruModel::default() };
        for (step, &op) in ops.iter().enumerate() {
            let before = model.entries.clone();
            let value = step as u32;
            let (got, expected) = match op {
                LruOp::Put(key) => (cache.put(key, value), model.put(key, value)),
                LruOp::Get(key) => (cache.get(&key).copied(), model.get(key)),
                LruOp::Peek(key) => (cache.peek(&key).copied(), model.peek(key)),
                LruOp::Remove(key) => (cache.remove(&key), model.remove(key)),
            };
            prop_assert_eq!(
                got, expected,
                "step {}: {} on a cache of capacity {} returned {:?}, expected {:?}; the entries \
                 before it, least recently used first, as (key, value): {:?}",
                step, lru_call(op, value), capacity, got, expected, before
            );
            prop_assert_eq!(
                cache.len(), model.entries.len(),
                "step {}: after {}, a cache of capacity {} should hold {} entries, least recently \
                 used first: {:?}",
                step, lru_call(op, value), capacity, model.entries.len(), model.entries
            );
            prop_assert_eq!(
                cache.is_empty(), model.entries.is_empty(),
                "step {}: after {}, is_empty() should be {}",
                step, lru_call(op, value), model.entries.is_empty()
            );
            for key in 0..KEYS {
                prop_assert_eq!(
                    cache.peek(&key).copied(), model.peek(key),
                    "step {}: after {} on a cache of capacity {}, peek({}) should be {:?}: the \
                     entries should be, least recently used first, as (key, value): {:?} \
                     (before it: {:?})",
                    step, lru_call(op, value), capacity, key, model.peek(key), model.entries, before
                );
            }
        }
    }
}

// ─────────────────────── LRU: at scale, and memory ───────────────────────

/// The most key calls (`hash` and `eq`) one operation may make on average
/// over a block of 10,000: a few hash probes and key comparisons, plus the
/// hash table's own rehash of every key now and then (a `HashMap` of 100,000
/// keys under churn rehashes them all every 14,000 or so inserts), whatever
/// the size. A list scanned for the key makes about n/2 comparisons.
const CALLS_PER_OPERATION: u64 = 32;

#[test]
fn followup_a_hundred_thousand_entries_evict_in_exact_recency_order() {
    // O(1) per operation, counted rather than timed: the keys count their
    // `hash` and `eq` calls, and every block of 10,000 operations must stay
    // within a few calls per operation. An answer that scans a list for the
    // key fails at its first block.
    const N: u32 = 100_000;
    const BLOCK: u32 = 10_000;
    let mut cache = LruCache::new(N as usize);
    let check = |calls: Calls, what: &str, from: u32, to: u32, len: u32| {
        let per_op = calls.total() / u64::from((to - from).max(1));
        assert!(
            per_op <= CALLS_PER_OPERATION,
            "{what} on keys {from}..{to} of a cache holding {len} entries hashed or compared keys \
             {per_op} times per operation on average ({calls:?}); O(1) per operation allows at \
             most {CALLS_PER_OPERATION}, whatever the size: a lookup is one hash probe, and \
             using or evicting an entry moves links, not keys"
        );
    };
    for from in (0..N).step_by(BLOCK as usize) {
        let (calls, ()) = count(|| {
            for key in from..from + BLOCK {
                cache.put(Counted(key), key);
            }
        });
        check(calls, "put", from, from + BLOCK, from + BLOCK);
    }
    for from in (0..N).step_by(BLOCK as usize) {
        let (calls, ()) = count(|| {
            for key in (from..from + BLOCK).step_by(2) {
                assert_eq!(
                    cache.get(&Counted(key)),
                    Some(&key),
                    "a cache of capacity {N} holding keys 0..{N} should return key {key}"
                );
            }
        });
        check(calls, "get of every even key", from, from + BLOCK / 2, N);
    }
    for from in (N..N + N / 2).step_by(BLOCK as usize) {
        let (calls, ()) = count(|| {
            for key in from..from + BLOCK {
                cache.put(Counted(key), key);
            }
        });
        check(
            calls,
            "put of a new key (evicting one)",
            from,
            from + BLOCK,
            N,
        );
    }
    assert_eq!(
        cache.len(),
        N as usize,
        "a full cache of capacity {N} should still hold {N} entries"
    );
    for key in 0..N + N / 2 {
        let expected = (key % 2 == 0 || key >= N).then_some(key);
        assert_eq!(
            cache.peek(&Counted(key)).copied(),
            expected,
            "keys 0..{N} were put, every even one was read, then {} new keys were put: exactly \
             the {} odd keys (the least recently used) should have been evicted, so key {key} \
             should be {}",
            N / 2,
            N / 2,
            if expected.is_some() {
                "held"
            } else {
                "evicted"
            }
        );
    }
}

#[test]
fn followup_memory_stays_proportional_to_capacity_however_many_operations() {
    const CAPACITY: usize = 4;
    let keys: Vec<Rc<u32>> = (0..20).map(Rc::new).collect();
    let values: Vec<Rc<u32>> = (0..20).map(|v| Rc::new(v + 100)).collect();
    let mut cache = LruCache::new(CAPACITY);
    // Mostly reads of the keys put last, and now and then a new key: the
    // pattern of a hot cache.
    let mut next = 0;
    for round in 0..2_000usize {
        if round % 50 == 0 {
            let at = next % keys.len();
            cache.put(Rc::clone(&keys[at]), Rc::clone(&values[at]));
            next += 1;
        } else {
            let at = (next + keys.len() - 1 - round % CAPACITY) % keys.len();
            if let Some(value) = cache.get(&keys[at]) {
                assert_eq!(
                    **value, *values[at],
                    "get of key {} should return the value put with it",
                    *keys[at]
                );
            }
        }
    }
    cache.remove(&keys[(next - 1) % keys.len()]);
    let replaced = (next - 2) % keys.len();
    cache.put(Rc::clone(&keys[replaced]), Rc::new(0));
    let key_clones: usize = keys.iter().map(|k| Rc::strong_count(k) - 1).sum();
    assert!(
        key_clones <= 4 * CAPACITY,
        "after 2000 operations on a cache of capacity {CAPACITY}, it holds {key_clones} clones of \
         its keys; memory must stay proportional to the capacity (at most 4 clones per entry), \
         whatever the number of gets: a log of every access grows without bound"
    );
    for (at, value) in values.iter().enumerate() {
        let held = cache
            .peek(&keys[at])
            .is_some_and(|held| Rc::ptr_eq(held, value));
        let count = Rc::strong_count(value) - 1;
        assert!(
            count == usize::from(held),
            "value {} is {} but the cache still holds {count} references to it: an evicted, \
             removed or replaced value must be dropped",
            **value,
            if held { "held once" } else { "no longer held" }
        );
    }
}

// ─────────────────────── TTL: expiry on an injected clock ───────────────────────

#[rstest]
#[case::one_nanosecond(NS)]
#[case::one_second(ms(1000))]
#[case::one_and_a_half_seconds(ms(1500))]
#[case::one_day(Duration::from_secs(24 * 60 * 60))]
fn ttl_get_returns_an_entry_until_exactly_ttl_after_its_write(#[case] ttl: Duration) {
    let t0 = Instant::now();
    let written = t0 + ms(7);
    let mut cache = TtlCache::new(4, ttl);
    cache.put("session", 42, written);
    assert_eq!(
        cache.get(&"session", written),
        Some(&42),
        "an entry should be live at the instant it was written (ttl {ttl:?})"
    );
    assert_eq!(
        cache.get(&"session", written + ttl - NS),
        Some(&42),
        "an entry written at t with a ttl of {ttl:?} should still be live 1ns before t + {ttl:?}"
    );
    assert_eq!(
        cache.get(&"session", written + ttl),
        None,
        "an entry written at t with a ttl of {ttl:?} has expired at exactly t + {ttl:?}: get \
         must never return an expired entry"
    );
    assert_eq!(
        cache.get(&"session", written + ttl * 3),
        None,
        "an expired entry should stay expired (get at t + 3 × {ttl:?})"
    );
}

#[test]
fn ttl_get_refreshes_recency_but_does_not_extend_life() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ms(100));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0 + ms(10));
    assert_eq!(
        cache.get(&'a', t0 + ms(90)),
        Some(&1),
        "a, written at t0 with a ttl of 100ms, should be live at t0 + 90ms"
    );
    cache.put('c', 3, t0 + ms(95));
    assert_eq!(
        cache.peek(&'b', t0 + ms(95)),
        None,
        "get(a) at t0 + 90ms made a the most recently used, so put(c) into the full cache of 2 \
         should evict b"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(99)),
        Some(&1),
        "a should still be live at t0 + 99ms"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(100)),
        None,
        "a was written at t0 with a ttl of 100ms: reading it at t0 + 90ms and t0 + 99ms must not \
         extend its life (expiry counts from the last write), so it has expired at t0 + 100ms"
    );
}

#[test]
fn ttl_put_of_an_existing_key_restarts_its_life_and_returns_the_live_value() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ms(100));
    cache.put('a', 1, t0);
    assert_eq!(
        cache.put('a', 2, t0 + ms(60)),
        Some(1),
        "put(a, 2) at t0 + 60ms over a live put(a, 1) at t0 should return the replaced value 1"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(159)),
        Some(&2),
        "a was written again at t0 + 60ms with a ttl of 100ms: it should be live until \
         t0 + 160ms (the life counts from the last write)"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(160)),
        None,
        "a was last written at t0 + 60ms with a ttl of 100ms: it has expired at t0 + 160ms"
    );
}

#[test]
fn ttl_put_over_an_expired_entry_replaces_nothing() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ms(100));
    cache.put('a', 1, t0);
    assert_eq!(
        cache.put('a', 2, t0 + ms(100)),
        None,
        "a expired at t0 + 100ms, so put(a, 2) then replaces nothing and should return None"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(150)),
        Some(&2),
        "put(a, 2) at t0 + 100ms should be live at t0 + 150ms"
    );
}

#[test]
fn ttl_peek_does_not_refresh_recency_and_never_returns_an_expired_entry() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ms(100));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0 + ms(1));
    assert_eq!(
        cache.peek(&'a', t0 + ms(2)),
        Some(&1),
        "peek(a) at t0 + 2ms should return a's live value"
    );
    cache.put('c', 3, t0 + ms(3));
    assert_eq!(
        cache.peek(&'a', t0 + ms(3)),
        None,
        "peek reads without using: a is still the least recently used, so put(c) into the full \
         cache of 2 should evict a"
    );
    assert_eq!(
        cache.peek(&'b', t0 + ms(100)),
        Some(&2),
        "b, written at t0 + 1ms with a ttl of 100ms, should be live at t0 + 100ms"
    );
    assert_eq!(
        cache.peek(&'b', t0 + ms(101)),
        None,
        "b, written at t0 + 1ms with a ttl of 100ms, has expired at t0 + 101ms: peek must not \
         return it"
    );
}

#[test]
fn ttl_len_counts_only_live_entries() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(10, ms(100));
    cache.put(1, 'a', t0);
    cache.put(2, 'b', t0 + ms(30));
    cache.put(3, 'c', t0 + ms(60));
    for (at, live) in [
        (60, 3),
        (99, 3),
        (100, 2),
        (129, 2),
        (130, 1),
        (159, 1),
        (160, 0),
    ] {
        assert_eq!(
            cache.len(t0 + ms(at)),
            live,
            "entries written at t0, t0 + 30ms and t0 + 60ms with a ttl of 100ms: {live} should be \
             live at t0 + {at}ms (an expired entry does not count)"
        );
    }
    assert!(
        cache.is_empty(t0 + ms(160)),
        "every entry has expired at t0 + 160ms: the cache should be empty"
    );
}

#[test]
fn ttl_is_empty_once_every_entry_has_expired() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(4, ms(100));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0 + ms(10));
    assert!(
        !cache.is_empty(t0 + ms(109)),
        "b, written at t0 + 10ms with a ttl of 100ms, is live at t0 + 109ms: the cache is not \
         empty"
    );
    assert!(
        cache.is_empty(t0 + ms(110)),
        "a and b, written at t0 and t0 + 10ms with a ttl of 100ms, have both expired at \
         t0 + 110ms: is_empty must say so by itself, without a len first (an expired entry does \
         not count)"
    );
}

#[test]
fn ttl_an_entry_expires_on_time_after_an_older_entry_was_rewritten() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(4, ms(100));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0 + ms(10));
    cache.put('a', 3, t0 + ms(20));
    // a now lives until t0 + 120ms, b until t0 + 110ms.
    assert_eq!(
        cache.get(&'b', t0 + ms(110)),
        None,
        "b, written at t0 + 10ms with a ttl of 100ms, has expired at t0 + 110ms, even though a, \
         written before it, was rewritten at t0 + 20ms and is still live"
    );
    assert_eq!(
        cache.peek(&'b', t0 + ms(110)),
        None,
        "peek(b) at t0 + 110ms: b has expired"
    );
    assert_eq!(
        cache.len(t0 + ms(110)),
        1,
        "at t0 + 110ms only a (rewritten at t0 + 20ms) is live"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(119)),
        Some(&3),
        "a, rewritten at t0 + 20ms, is live until t0 + 120ms"
    );
    assert_eq!(
        cache.get(&'a', t0 + ms(120)),
        None,
        "a, rewritten at t0 + 20ms, has expired at t0 + 120ms"
    );
}

#[test]
fn ttl_remove_returns_only_a_live_value() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ms(100));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0);
    assert_eq!(
        cache.remove(&'a', t0 + ms(99)),
        Some(1),
        "remove(a) at t0 + 99ms should return a's live value"
    );
    assert_eq!(
        cache.remove(&'b', t0 + ms(100)),
        None,
        "b expired at t0 + 100ms: remove(b) then should return None"
    );
    assert_eq!(
        cache.len(t0 + ms(100)),
        0,
        "nothing should be live after removing a and the expiry of b"
    );
}

#[test]
fn ttl_evicts_the_least_recently_used_live_entry_when_full() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(3, Duration::from_secs(60));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0 + ms(1));
    cache.put('c', 3, t0 + ms(2));
    cache.get(&'a', t0 + ms(3));
    cache.put('d', 4, t0 + ms(4));
    assert_eq!(
        cache.peek(&'b', t0 + ms(4)),
        None,
        "after put a, b, c and get(a), all live, put(d) into the full cache of 3 should evict \
         b, the least recently used"
    );
    for (key, value) in [('a', 1), ('c', 3), ('d', 4)] {
        assert_eq!(
            cache.peek(&key, t0 + ms(4)),
            Some(&value),
            "only b should have been evicted: {key} should still be held"
        );
    }
}

#[rstest]
#[case::capacity_zero(0, ms(100))]
#[case::ttl_zero(4, Duration::ZERO)]
fn ttl_cache_of_capacity_zero_or_ttl_zero_returns_nothing(
    #[case] capacity: usize,
    #[case] ttl: Duration,
) {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(capacity, ttl);
    assert_eq!(
        (cache.capacity(), cache.ttl()),
        (capacity, ttl),
        "capacity() and ttl() should be what new() was given"
    );
    assert_eq!(
        cache.put('a', 1, t0),
        None,
        "put into a new cache should return None"
    );
    assert_eq!(
        cache.put('a', 2, t0),
        None,
        "a cache of capacity {capacity} with a ttl of {ttl:?} holds nothing live, so put(a) \
         replaces nothing"
    );
    assert_eq!(
        cache.get(&'a', t0),
        None,
        "a cache of capacity {capacity} with a ttl of {ttl:?} should return nothing"
    );
    assert_eq!(
        cache.peek(&'a', t0),
        None,
        "a cache of capacity {capacity} with a ttl of {ttl:?} should return nothing"
    );
    assert_eq!(
        cache.len(t0),
        0,
        "a cache of capacity {capacity} with a ttl of {ttl:?} holds no live entry"
    );
}

#[test]
fn followup_an_expired_entry_makes_room_before_a_live_entry_is_evicted() {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ms(100));
    cache.put('a', 1, t0);
    cache.put('b', 2, t0 + ms(50));
    cache.get(&'a', t0 + ms(60));
    // a is now the most recently used, b the least, and a expires at t0 + 100ms.
    cache.put('c', 3, t0 + ms(100));
    assert_eq!(
        cache.peek(&'b', t0 + ms(100)),
        Some(&2),
        "a (written at t0, read at t0 + 60ms) expired at t0 + 100ms, so the cache of 2 held one \
         live entry, b, when put(c) came: c should take a's place and b must not be evicted \
         (an expired entry never counts against the capacity, and goes before any live one)"
    );
    assert_eq!(cache.peek(&'c', t0 + ms(100)), Some(&3), "c should be held");
    assert_eq!(
        cache.len(t0 + ms(100)),
        2,
        "b and c should be live at t0 + 100ms"
    );
}

#[rstest]
#[case::a_century(Duration::from_secs(100 * 365 * 24 * 60 * 60))]
#[case::the_longest_duration(Duration::MAX)]
fn followup_a_huge_ttl_never_overflows(#[case] ttl: Duration) {
    let t0 = Instant::now();
    let mut cache = TtlCache::new(2, ttl);
    cache.put('a', 1, t0);
    let later = t0 + Duration::from_secs(10 * 365 * 24 * 60 * 60);
    assert_eq!(
        cache.get(&'a', later),
        Some(&1),
        "an entry with a ttl of {ttl:?} should be live ten years after its write (and computing \
         when it expires must not overflow an Instant)"
    );
    assert_eq!(
        cache.put('a', 2, later),
        Some(1),
        "put(a) ten years later should replace the live value"
    );
    assert_eq!(cache.len(later), 1, "a should be live");
}

// ─────────── TTL: a model in recency order with write times ───────────

/// One tick of the TTL property's clock. Every wait is a whole number of
/// ticks (or one nanosecond), so that reads land exactly on expiries.
const TICK: Duration = Duration::from_millis(1);

#[derive(Clone, Copy)]
enum TtlOp {
    /// `put(key, value, now)`, where the value is the step's number.
    Put(u8),
    Get(u8),
    Peek(u8),
    Remove(u8),
    /// `len(now)` and `is_empty(now)`.
    Len,
    /// The clock moves this many ticks.
    Wait(u8),
    /// The clock moves one nanosecond.
    WaitNs,
}

impl fmt::Debug for TtlOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TtlOp::Put(key) => write!(f, "put({key})"),
            TtlOp::Get(key) => write!(f, "get({key})"),
            TtlOp::Peek(key) => write!(f, "peek({key})"),
            TtlOp::Remove(key) => write!(f, "remove({key})"),
            TtlOp::Len => write!(f, "len"),
            TtlOp::Wait(ticks) => write!(f, "wait({ticks}ms)"),
            TtlOp::WaitNs => write!(f, "wait(1ns)"),
        }
    }
}

/// How a step reads in a failure message: `put(key, value)` or `get(key)`.
fn ttl_call(op: TtlOp, value: u32) -> String {
    match op {
        TtlOp::Put(key) => format!("put({key}, {value})"),
        other => format!("{other:?}"),
    }
}

fn ttl_ops() -> impl Strategy<Value = (usize, u8, Vec<TtlOp>)> {
    let key = 0..KEYS;
    let op = prop_oneof![
        4 => key.clone().prop_map(TtlOp::Put),
        3 => key.clone().prop_map(TtlOp::Get),
        2 => key.clone().prop_map(TtlOp::Peek),
        1 => key.prop_map(TtlOp::Remove),
        1 => Just(TtlOp::Len),
        3 => (0u8..=4).prop_map(TtlOp::Wait),
        1 => Just(TtlOp::WaitNs),
    ];
    // Small capacities fill up, so that expiry and eviction meet.
    let capacity = prop_oneof![1 => Just(0usize), 6 => 1usize..=4];
    (capacity, 1u8..=10, vec(op, 1..80))
}

/// The obviously correct TTL cache: (key, value, written) in recency order,
/// least recently used first; every operation first forgets what expired.
#[derive(Debug)]
struct TtlModel {
    capacity: usize,
    ttl: Duration,
    entries: Vec<(u8, u32, Instant)>,
}

impl TtlModel {
    fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.entries.retain(|&(_, _, written)| now - written < ttl);
    }

    fn position(&self, key: u8) -> Option<usize> {
        self.entries.iter().position(|&(k, _, _)| k == key)
    }

    fn get(&mut self, key: u8, now: Instant) -> Option<u32> {
        self.expire(now);
        let at = self.position(key)?;
        let entry = self.entries.remove(at);
        self.entries.push(entry);
        Some(entry.1)
    }

    fn peek(&mut self, key: u8, now: Instant) -> Option<u32> {
        self.expire(now);
        self.position(key).map(|at| self.entries[at].1)
    }

    fn put(&mut self, key: u8, value: u32, now: Instant) -> Option<u32> {
        self.expire(now);
        let old = self.position(key).map(|at| self.entries.remove(at).1);
        if self.capacity == 0 {
            return old;
        }
        if old.is_none() && self.entries.len() == self.capacity {
            self.entries.remove(0);
        }
        self.entries.push((key, value, now));
        old
    }

    fn remove(&mut self, key: u8, now: Instant) -> Option<u32> {
        self.expire(now);
        self.position(key).map(|at| self.entries.remove(at).1)
    }

    fn len(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.entries.len()
    }
}

/// Entries as (key, value, written at), least recently used first.
fn describe(entries: &[(u8, u32, Instant)], t0: Instant) -> String {
    let entries: Vec<String> = entries
        .iter()
        .map(|&(key, value, written)| format!("({key}, {value}, t0 + {:?})", written - t0))
        .collect();
    format!("[{}]", entries.join(", "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ttl_agrees_with_a_list_in_recency_order_with_write_times(
        (capacity, ttl_ticks, ops) in ttl_ops()
    ) {
        let ttl = TICK * u32::from(ttl_ticks);
        let t0 = Instant::now();
        let mut now = t0;
        let mut cache: TtlCache<u8, u32> = TtlCache::new(capacity, ttl);
        let mut model = TtlModel { capacity, ttl, entries: Vec::new() };
        for (step, &op) in ops.iter().enumerate() {
            match op {
                TtlOp::Wait(ticks) => now += TICK * u32::from(ticks),
                TtlOp::WaitNs => now += NS,
                _ => {}
            }
            model.expire(now);
            let before = model.entries.clone();
            let value = step as u32;
            let (got, expected) = match op {
                TtlOp::Put(key) => (cache.put(key, value, now), model.put(key, value, now)),
                TtlOp::Get(key) => (cache.get(&key, now).copied(), model.get(key, now)),
                TtlOp::Peek(key) => (cache.peek(&key, now).copied(), model.peek(key, now)),
                TtlOp::Remove(key) => (cache.remove(&key, now), model.remove(key, now)),
                TtlOp::Len => {
                    let expected = model.len(now);
                    prop_assert_eq!(
                        cache.len(now), expected,
                        "step {}: len at t0 + {:?} (ttl {:?}, capacity {}) should count the {} \
                         live entries, as (key, value, written), least recently used first: {}",
                        step, now - t0, ttl, capacity, expected, describe(&before, t0)
                    );
                    prop_assert_eq!(
                        cache.is_empty(now), expected == 0,
                        "step {}: is_empty at t0 + {:?} should be {}", step, now - t0, expected == 0
                    );
                    (None, None)
                }
                TtlOp::Wait(_) | TtlOp::WaitNs => (None, None),
            };
            prop_assert_eq!(
                got, expected,
                "step {}: {} at t0 + {:?} on a cache of capacity {} with a ttl of {:?} returned \
                 {:?}, expected {:?}; the live entries before it, as (key, value, written), \
                 least recently used first: {}",
                step, ttl_call(op, value), now - t0, capacity, ttl, got, expected, describe(&before, t0)
            );
            for key in 0..KEYS {
                let expected = model.peek(key, now);
                prop_assert_eq!(
                    cache.peek(&key, now).copied(), expected,
                    "step {}: after {} at t0 + {:?} on a cache of capacity {} with a ttl of {:?}, \
                     peek({}) should be {:?}: the live entries should be, as (key, value, \
                     written), least recently used first: {} (before it: {})",
                    step, ttl_call(op, value), now - t0, capacity, ttl, key, expected, describe(&model.entries, t0),
                    describe(&before, t0)
                );
            }
        }
    }
}
