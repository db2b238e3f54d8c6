//! The crdt kata's bound on counter state, by counting: "counters keep one
//! entry per replica that updated them", whatever the replicas' ids. A
//! counting global allocator needs a test binary of its own, hence this
//! file.
//!
//! `cargo test -p crdt` judges your code;
//! `cargo test -p crdt --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use crdt as subject;
#[cfg(feature = "solution")]
use crdt_solution as subject;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{GCounter, PnCounter, ReplicaId};

#[global_allocator]
static ALLOC: Counting = Counting;

/// A replica id far from 0. Ids are the deployment's to choose (a hash of
/// the region's name, a node id): a counter updated by one replica keeps one
/// entry, not one for every id below it.
const FAR: ReplicaId = 1_000_000;

/// What an entry for a few replicas may take, with the bookkeeping of any
/// map: far less than a slot for every id up to `FAR` (8 MB of `u64`s).
const FEW_ENTRIES: u64 = 64 * 1024;

#[test]
fn counters_keep_one_entry_per_replica_that_updated_them_whatever_their_ids() {
    assert!(installed(), "the counting allocator should be installed");
    let (usage, g) = measure(|| {
        let mut g = GCounter::new();
        g.increment(FAR, 1);
        g.increment(7, 2);
        g
    });
    assert_eq!(
        g.value(),
        3,
        "increments of 1 by replica {FAR} and 2 by replica 7"
    );
    assert!(
        usage.bytes_allocated <= FEW_ENTRIES,
        "a G-Counter incremented by replicas {FAR} and 7 allocated {} bytes: it should keep one \
         entry per replica that updated it (README, Constraints: bounded state), not a slot for \
         every replica id up to {FAR}",
        usage.bytes_allocated
    );
    let (usage, merged) = measure(|| {
        let mut other = GCounter::new();
        other.increment(3, 1);
        other.merge(&g);
        other
    });
    assert_eq!(
        merged.value(),
        4,
        "the merge of {{3: 1}} and {{{FAR}: 1, 7: 2}}"
    );
    assert!(
        usage.bytes_allocated <= FEW_ENTRIES,
        "merging a G-Counter updated by replicas {FAR} and 7 into one updated by replica 3 \
         allocated {} bytes: a merged state should keep one entry per replica that updated it",
        usage.bytes_allocated
    );
    let (usage, pn) = measure(|| {
        let mut pn = PnCounter::new();
        pn.increment(FAR, 5);
        pn.decrement(FAR + 1, 7);
        pn
    });
    assert_eq!(
        pn.value(),
        -2,
        "5 up by replica {FAR}, 7 down by replica {}",
        FAR + 1
    );
    assert!(
        usage.bytes_allocated <= FEW_ENTRIES,
        "a PN-Counter updated by replicas {FAR} and {} allocated {} bytes: it should keep one \
         entry per replica that updated it, not a slot for every replica id below them",
        FAR + 1,
        usage.bytes_allocated
    );
}
