//! The vector-clock kata's resource constraints, by counting: `compare`
//! allocates nothing, `merge` allocates only for nodes it did not know, a
//! clock stores only the nodes it has heard of, and a sync from a replica
//! holding nothing new does not grow the store. A counting global allocator
//! needs a test binary of its own, hence this file.
//!
//! `cargo test -p vector-clock` judges your code;
//! `cargo test -p vector-clock --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use vector_clock as subject;
#[cfg(feature = "solution")]
use vector_clock_solution as subject;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Causality, Context, Replica, VectorClock};

#[global_allocator]
static ALLOC: Counting = Counting;

/// A clock that has counted `count` events of each of `nodes`.
fn clock<'a>(nodes: impl IntoIterator<Item = (&'a str, u64)>) -> VectorClock {
    let mut clock = VectorClock::new();
    for (node, count) in nodes {
        for _ in 0..count {
            clock.increment(node);
        }
    }
    clock
}

const EIGHT: [&str; 8] = [
    "replica-1",
    "replica-2",
    "replica-3",
    "replica-4",
    "replica-5",
    "replica-6",
    "replica-7",
    "replica-8",
];

#[test]
fn compare_allocates_nothing() {
    assert!(installed(), "the counting allocator should be installed");
    let base = clock(EIGHT.iter().map(|&n| (n, 2)));
    let later = clock(EIGHT.iter().map(|&n| (n, 3)));
    let concurrent = clock(
        EIGHT
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, 1 + (i as u64 % 3))),
    );
    let other_nodes = clock([("west-1", 1), ("west-2", 4)]);
    for (other, expected) in [
        (&base, Causality::Equal),
        (&later, Causality::Before),
        (&concurrent, Causality::Concurrent),
        (&other_nodes, Causality::Concurrent),
    ] {
        let (usage, answer) = measure(|| base.compare(std::hint::black_box(other)));
        assert_eq!(
            answer, expected,
            "comparing two 8-node clocks should say {expected:?}"
        );
        assert_eq!(
            usage.allocations, 0,
            "compare should allocate nothing (README, Constraints): comparing two clocks (the \
             second {expected:?}) made {} allocations; walk both clocks' entries instead of \
             collecting their nodes",
            usage.allocations
        );
    }
}

#[test]
fn merge_allocates_nothing_for_nodes_it_already_knows() {
    assert!(installed(), "the counting allocator should be installed");
    let mut ours = clock(EIGHT.iter().map(|&n| (n, 2)));
    let theirs = clock(
        EIGHT
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, 1 + i as u64 % 3)),
    );
    let (usage, ()) = measure(|| ours.merge(std::hint::black_box(&theirs)));
    assert_eq!(
        (ours.get("replica-3"), ours.get("replica-1")),
        (3, 2),
        "merge should keep the larger count of every node"
    );
    assert_eq!(
        usage.allocations, 0,
        "merging a clock whose 8 nodes this clock already knows made {} allocations: merge \
         should allocate only for nodes it did not know (README, Constraints), so no node name \
         may be copied when the node is already there",
        usage.allocations
    );

    // Many known nodes and one new one: a handful of allocations for the
    // new node, not one per node.
    let many: Vec<String> = (0..32).map(|i| format!("node-{i:02}")).collect();
    let mut ours = clock(many.iter().map(|n| (n.as_str(), 1)));
    let theirs = clock(
        many.iter()
            .map(|n| (n.as_str(), 2))
            .chain([("node-new", 1)]),
    );
    let (usage, ()) = measure(|| ours.merge(std::hint::black_box(&theirs)));
    assert_eq!(
        (ours.get("node-07"), ours.get("node-new")),
        (2, 1),
        "merge should take the larger count of every node, and learn the new one"
    );
    assert!(
        usage.allocations <= 4,
        "merging a clock that knows this clock's 32 nodes and one more made {} allocations: \
         merge should allocate only for the one node it did not know (README, Constraints)",
        usage.allocations
    );
}

/// How many nodes the system has seen before the clock under test.
const SYSTEM: usize = 10_000;

/// What a clock of one node may take, with the bookkeeping of any map: far
/// less than a slot for each of the system's `SYSTEM` nodes (80 KB of `u64`s).
const ONE_ENTRY: i64 = 4 * 1024;

#[test]
fn a_clock_stores_only_the_nodes_it_has_heard_of() {
    assert!(installed(), "the counting allocator should be installed");
    let names: Vec<String> = (0..SYSTEM).map(|i| format!("client-{i}")).collect();
    // Every node of the system does some work on clocks of its own.
    for name in &names {
        let mut clock = VectorClock::new();
        clock.increment(name);
    }
    let last = names.last().expect("many nodes");
    let (usage, one) = measure(|| {
        let mut clock = VectorClock::new();
        clock.increment(last);
        clock
    });
    assert_eq!(one.get(last), 1, "the clock counted one event of {last:?}");
    assert!(
        usage.live_bytes <= ONE_ENTRY,
        "a clock that heard of one node ({last:?}) holds {} bytes after {SYSTEM} nodes have \
         used clocks: a clock should store only the nodes it has heard of (README, Constraints; \
         missing means zero), not a slot for every node in the system",
        usage.live_bytes
    );
    let (usage, copy) = measure(|| {
        let mut copy = VectorClock::new();
        copy.merge(&one);
        copy
    });
    assert_eq!(copy.get(last), 1, "the merge learned {last:?}'s event");
    assert!(
        usage.live_bytes <= ONE_ENTRY,
        "a clock that merged a one-node clock holds {} bytes: it should store only the node it \
         has heard of",
        usage.live_bytes
    );
}

#[test]
fn syncing_from_a_replica_with_nothing_new_does_not_grow_the_store() {
    assert!(installed(), "the counting allocator should be installed");
    let keys: Vec<String> = (0..10).map(|i| format!("cart-{i}")).collect();
    let mut east: Replica<u64> = Replica::new("east");
    let mut west: Replica<u64> = Replica::new("west");
    for (i, key) in keys.iter().enumerate() {
        east.put(key, i as u64, &Context::default());
        west.put(key, 100 + i as u64, &Context::default());
    }
    west.sync_from(&east);
    east.sync_from(&west);
    // Both now hold the same two siblings of every key.
    let (usage, ()) = measure(|| {
        for _ in 0..64 {
            east.sync_from(std::hint::black_box(&west));
            west.sync_from(std::hint::black_box(&east));
        }
    });
    for (i, key) in keys.iter().enumerate() {
        let (mut values, _) = east.get(key);
        values.sort_unstable();
        assert_eq!(
            values,
            vec![i as u64, 100 + i as u64],
            "{key:?} should keep its two siblings, once each"
        );
    }
    assert!(
        usage.live_bytes <= 1024,
        "two replicas holding the same two siblings of 10 keys synced 64 times each way and \
         their memory grew by {} bytes: a version known to both is kept once, and a sync with \
         nothing new should not grow the store (README, Constraints: sibling lists stay small)",
        usage.live_bytes
    );
}

#[test]
fn superseded_versions_are_not_kept() {
    assert!(installed(), "the counting allocator should be installed");
    let mut east: Replica<u64> = Replica::new("east");
    let mut west: Replica<u64> = Replica::new("west");
    east.put("cart", 0, &Context::default());
    west.sync_from(&east);
    // West keeps the first version; east overwrites it again and again.
    let (_, context) = east.get("cart");
    east.put("cart", 1, &context);
    let (usage, ()) = measure(|| {
        for value in 2..=200 {
            let (_, context) = east.get("cart");
            east.put("cart", value, &context);
        }
    });
    let (values, _) = east.get("cart");
    assert_eq!(
        values,
        vec![200],
        "each write carried the context of the latest read: only the last value should be left"
    );
    assert!(
        usage.live_bytes <= 1024,
        "199 writes, each with the context of the latest read, grew the replica by {} bytes: a \
         replica should keep only versions no other version has seen (README, Constraints: \
         resolving shrinks the sibling list to one), not every value ever written",
        usage.live_bytes
    );
    let (usage, ()) = measure(|| {
        for _ in 0..64 {
            east.sync_from(std::hint::black_box(&west));
        }
    });
    let (values, _) = east.get("cart");
    assert_eq!(
        values,
        vec![200],
        "syncing from west, which still holds the first value, must not bring it back"
    );
    assert!(
        usage.live_bytes <= 1024,
        "64 syncs from a replica holding only a superseded version grew the replica by {} bytes: \
         a sync should never grow the sibling list with versions already superseded (README, \
         Constraints)",
        usage.live_bytes
    );
}
