//! The README's memory constraints, counted: this test binary installs a
//! counting global allocator (`spec_probes::alloc`), and the spec counts what
//! the calling thread allocates while it asks the ring. Every application
//! server answers `node_for` for every cache request, so a lookup that copies
//! or sorts the ring's points (a "lazy" sort, a fresh `Vec` per call) costs an
//! allocation of the whole ring per request; and a preference list of 3 needs
//! room for 3 names, not for every node on the ring.
//!
//! `cargo test -p consistent-hashing` judges your code;
//! `cargo test -p consistent-hashing --features solution` judges the
//! reference.

// No loom models in this kata; this keeps the file out of a loom build.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use consistent_hashing as subject;
#[cfg(feature = "solution")]
use consistent_hashing_solution as subject;

use spec_probes::alloc::{self, Counting};
use subject::HashRing;

#[global_allocator]
static ALLOC: Counting = Counting;

/// A ring of `nodes` members named `cache-<i>`, `vnodes` points each.
fn ring(nodes: usize, vnodes: usize) -> HashRing {
    let mut ring = HashRing::new(vnodes);
    for i in 0..nodes {
        ring.add_node(&format!("cache-{i}"));
    }
    ring
}

#[test]
fn node_for_allocates_nothing() {
    assert!(
        alloc::installed(),
        "the counting allocator should be installed"
    );
    // The bench's ring: 10 nodes of 200 virtual nodes each.
    let ring = ring(10, 200);
    let keys: Vec<String> = (0..200).map(|i| format!("user:{i}")).collect();
    // A first lookup may settle anything lazy; from then on, none may allocate.
    assert!(ring.node_for("warm-up").is_some());
    for key in &keys {
        let (usage, node) = alloc::measure(|| ring.node_for(key).map(str::len));
        assert!(
            node.is_some(),
            "a ring of 10 nodes should have a node for {key:?}"
        );
        assert_eq!(
            usage.allocations, 0,
            "node_for({key:?}) on a ring of 10 nodes x 200 virtual nodes made {} allocations \
             ({} bytes): a lookup is a search of the sorted points the ring already holds, and \
             allocates nothing (no copy of the points, no sort per call, no formatted string)",
            usage.allocations, usage.bytes_allocated
        );
    }
}

#[test]
fn replicas_allocate_for_the_nodes_they_return_not_for_the_whole_ring() {
    assert!(
        alloc::installed(),
        "the counting allocator should be installed"
    );
    // 1000 members: a walk that collects every distinct node before keeping
    // the first n allocates for 1000 names.
    let ring = ring(1000, 2);
    assert!(ring.replicas("warm-up", 3).len() == 3);
    for i in 0..100 {
        let key = format!("user:{i}");
        for n in [1, 3] {
            let (usage, replicas) = alloc::measure(|| ring.replicas(&key, n).len());
            assert_eq!(
                replicas, n,
                "a ring of 1000 nodes should give {n} replicas of {key:?}"
            );
            assert!(
                usage.bytes_allocated <= 1024,
                "replicas({key:?}, {n}) on a ring of 1000 nodes allocated {} bytes in {} \
                 allocations: a preference list of {n} needs room for {n} names, not for every \
                 node of the ring (walk on from the key's point and stop once you have {n} \
                 distinct nodes)",
                usage.bytes_allocated,
                usage.allocations
            );
        }
    }
}
