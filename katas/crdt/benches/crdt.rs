//! Merges per second: your code (`crdt`) and the reference (`crdt_solution`)
//! side by side in each group.
//!
//! ```text
//! cargo bench -p crdt --features solution
//! ```
//!
//! A merge ships and folds in a whole state, so its cost grows with the
//! state: the counters are measured with 100 replicas, the OR-Set with 1000
//! elements added on three replicas and some removed. A part of your code
//! that still panics (`todo!()`) is skipped with a note, and only the
//! reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Replicas that have incremented the counters.
const REPLICAS: u32 = 100;
/// Elements added to the OR-Set.
const ELEMENTS: u32 = 1000;

/// A function that merges one G-Counter state into a copy of another, each
/// having seen the increments of `REPLICAS` replicas, half of them newer.
macro_rules! g_counter_merge {
    ($krate:ident) => {{
        let mut a = $krate::GCounter::new();
        let mut b = $krate::GCounter::new();
        for replica in 0..REPLICAS {
            a.increment(replica, u64::from(replica));
            b.increment(replica, u64::from(replica % 2));
        }
        move || {
            let mut merged = a.clone();
            merged.merge(&b);
            merged.value()
        }
    }};
}

macro_rules! pn_counter_merge {
    ($krate:ident) => {{
        let mut a = $krate::PnCounter::new();
        let mut b = $krate::PnCounter::new();
        for replica in 0..REPLICAS {
            a.increment(replica, u64::from(replica));
            b.decrement(replica, u64::from(replica % 3));
        }
        move || {
            let mut merged = a.clone();
            merged.merge(&b);
            merged.value()
        }
    }};
}

macro_rules! lww_register_merge {
    ($krate:ident) => {{
        let mut a = $krate::LwwRegister::new();
        let mut b = $krate::LwwRegister::new();
        a.set(String::from("draft"), 10, 1);
        b.set(String::from("published"), 10, 2);
        move || {
            let mut merged = a.clone();
            // An older local write, which loses.
            merged.set(String::from("edit"), 5, 3);
            merged.merge(&b);
            merged.get().map(String::len)
        }
    }};
}

/// Three replicas each add a third of `ELEMENTS`, exchange, and remove every
/// tenth element; the function merges two of the resulting states.
macro_rules! or_set_merge {
    ($krate:ident) => {{
        let mut replicas: Vec<$krate::OrSet<u32>> = (0..3).map(|_| $krate::OrSet::new()).collect();
        for elem in 0..ELEMENTS {
            let at = (elem % 3) as usize;
            replicas[at].add(elem, at as u32);
        }
        let first = replicas[0].clone();
        replicas[1].merge(&first);
        for elem in (0..ELEMENTS).step_by(10) {
            replicas[1].remove(&elem);
        }
        let (a, b) = (replicas[1].clone(), replicas[2].clone());
        move || {
            let mut merged = a.clone();
            merged.merge(&b);
            merged.contains(&1)
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

/// Benchmarks one merge function of each crate in one group.
macro_rules! side_by_side {
    ($c:expr, $group:literal, $parameter:expr, $merge:ident) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let merge = $merge!(crdt);
            merge();
        }) {
            group.bench_function(BenchmarkId::new("yours", $parameter), |b| {
                let merge = $merge!(crdt);
                b.iter(|| black_box(merge()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", $parameter), |b| {
            let merge = $merge!(crdt_solution);
            b.iter(|| black_box(merge()));
        });
        group.finish();
    }};
}

fn merges_per_second(c: &mut Criterion) {
    side_by_side!(
        c,
        "GCounter::merge",
        format!("{REPLICAS} replicas"),
        g_counter_merge
    );
    side_by_side!(
        c,
        "PnCounter::merge",
        format!("{REPLICAS} replicas"),
        pn_counter_merge
    );
    side_by_side!(c, "LwwRegister::merge", "a tie", lww_register_merge);
    side_by_side!(
        c,
        "OrSet::merge",
        format!("{ELEMENTS} elements"),
        or_set_merge
    );
}

criterion_group!(benches, merges_per_second);
criterion_main!(benches);
