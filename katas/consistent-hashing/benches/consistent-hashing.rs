//! Lookups per second: your ring (`consistent_hashing`) and the reference
//! (`consistent_hashing_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p consistent-hashing --features solution
//! ```
//!
//! Every ring has 10 nodes of 200 virtual nodes (2000 points), the size the
//! balance spec uses; lookups cycle through 1024 keys shaped like cache keys.
//! A part of your code that still panics (`todo!()`) is skipped with a note,
//! and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const NODES: usize = 10;
const VNODES: usize = 200;
const KEYS: usize = 1024;

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
        eprintln!("note: your {what} panics (still todo!()?): measuring only the reference");
    }
    ok
}

/// Benchmarks one operation of each crate in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $op:ident) => {{
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
        group.finish();
    }};
}

fn lookups(c: &mut Criterion) {
    let size = format!("{NODES} nodes x {VNODES} vnodes");
    side_by_side!(c, "HashRing::node_for", &size, node_for);
    side_by_side!(c, "HashRing::replicas(3)", &size, replicas);
    side_by_side!(c, "HashRing::add_node+remove_node", &size, join_and_leave);
}

criterion_group!(benches, lookups);
criterion_main!(benches);
