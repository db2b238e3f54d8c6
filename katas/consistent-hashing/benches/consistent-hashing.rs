//! Lookups per second: your ring (`consistent_hashing`), the reference
//! (`consistent_hashing_solution`) and the `hashring` crate (0.3, wrapped
//! behind this kata's API in `hashring_crate`) side by side in each group.
//!
//! ```text
//! cargo bench -p consistent-hashing --features solution
//! cargo bench -p consistent-hashing --features solution -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every ring has 10 nodes of 200 virtual nodes (2000 points), the size the
//! balance spec uses; lookups cycle through 1024 keys shaped like cache keys.
//! `hashring` has no virtual nodes of its own: as its documentation shows,
//! the caller adds each virtual node as a point, here `(node, index)`, hashed
//! with the crate's default SipHash-2-4 rather than the kata's ring hash, so
//! it sends keys to other nodes. Its `get_with_replicas` returns the next
//! points, duplicates of one node included (and clones the whole ring to do
//! it), not the next distinct nodes, so the `replicas(3)` group has no
//! `hashring` column. A part of your code that still panics (`todo!()`) is
//! skipped with a note, and only the others are measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const NODES: usize = 10;
const VNODES: usize = 200;
const KEYS: usize = 1024;

/// The peer's name in the report.
const PEER: &str = "hashring 0.3";

/// `hashring::HashRing` behind this kata's API, so that the macros below run
/// the same operations on it as on the two `HashRing`s.
mod hashring_crate {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// One of a node's points on the ring.
    #[derive(Debug, Clone, Hash)]
    struct VirtualNode {
        node: Arc<str>,
        index: usize,
    }

    pub struct HashRing {
        vnodes_per_node: usize,
        /// `hashring` does not know which nodes are members, and the kata's
        /// `add_node` and `remove_node` must.
        nodes: BTreeSet<Arc<str>>,
        ring: hashring::HashRing<VirtualNode>,
    }

    impl HashRing {
        pub fn new(vnodes_per_node: usize) -> Self {
            HashRing {
                vnodes_per_node,
                nodes: BTreeSet::new(),
                ring: hashring::HashRing::new(),
            }
        }

        /// All of a node's points in one `batch_add`: one sort, not one per
        /// point as `add` would.
        pub fn add_node(&mut self, node: &str) -> bool {
            if self.nodes.contains(node) {
                return false;
            }
            let node: Arc<str> = Arc::from(node);
            self.nodes.insert(Arc::clone(&node));
            self.ring.batch_add(self.points(&node));
            true
        }

        pub fn remove_node(&mut self, node: &str) -> bool {
            let Some(node) = self.nodes.take(node) else {
                return false;
            };
            for point in self.points(&node) {
                self.ring.remove(&point);
            }
            true
        }

        pub fn node_for(&self, key: &str) -> Option<&str> {
            self.ring.get(&key).map(|point| &*point.node)
        }

        fn points(&self, node: &Arc<str>) -> Vec<VirtualNode> {
            (0..self.vnodes_per_node)
                .map(|index| VirtualNode {
                    node: Arc::clone(node),
                    index,
                })
                .collect()
        }
    }
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i}:profile")).collect()
}

/// A ring of `NODES` nodes of `VNODES` virtual nodes each, from `$krate`.
macro_rules! ring {
    ($krate:ident) => {{
        let mut ring = $krate::HashRing::new(VNODES);
        for i in 0..NODES {
            ring.add_node(&format!("10.0.0.{i}:6379"));
        }
        ring
    }};
}

/// One operation on a ring of `$krate`, as a closure called per iteration.
macro_rules! node_for {
    ($krate:ident) => {{
        let ring = ring!($krate);
        let keys = keys();
        let mut i = 0;
        move || {
            i = (i + 1) % KEYS;
            ring.node_for(&keys[i]).map(str::len)
        }
    }};
}

macro_rules! replicas {
    ($krate:ident) => {{
        let ring = ring!($krate);
        let keys = keys();
        let mut i = 0;
        move || {
            i = (i + 1) % KEYS;
            Some(ring.replicas(&keys[i], 3).len())
        }
    }};
}

macro_rules! join_and_leave {
    ($krate:ident) => {{
        let mut ring = ring!($krate);
        move || {
            ring.add_node("10.0.0.99:6379");
            ring.remove_node("10.0.0.99:6379");
            Some(0)
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

/// Benchmarks one operation of each crate in one group, the peer's only
/// where it does the same job.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $op:ident $(, $peer:ident)?) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let mut op = $op!(consistent_hashing);
            op();
        }) {
            group.bench_function(BenchmarkId::new("yours", $parameter), |b| {
                let mut op = $op!(consistent_hashing);
                b.iter(|| black_box(op()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", $parameter), |b| {
            let mut op = $op!(consistent_hashing_solution);
            b.iter(|| black_box(op()));
        });
        $(
            group.bench_function(BenchmarkId::new(PEER, $parameter), |b| {
                let mut op = $op!($peer);
                b.iter(|| black_box(op()));
            });
        )?
        group.finish();
    }};
}

fn lookups(c: &mut Criterion) {
    let size = format!("{NODES} nodes x {VNODES} vnodes");
    side_by_side!(c, "HashRing::node_for", &size, node_for, hashring_crate);
    side_by_side!(c, "HashRing::replicas(3)", &size, replicas);
    side_by_side!(
        c,
        "HashRing::add_node+remove_node",
        &size,
        join_and_leave,
        hashring_crate
    );
}

criterion_group!(benches, lookups);
criterion_main!(benches);
