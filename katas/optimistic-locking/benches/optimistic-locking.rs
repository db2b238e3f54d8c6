//! Read-modify-writes per second: your code (`optimistic_locking`) and the
//! reference (`optimistic_locking_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p optimistic-locking --features solution
//! ```
//!
//! Each store works on its own SQLite file in a temporary directory, with
//! one connection and no contention, so the numbers show the cost of the
//! statements and commits themselves. A part of your code that still panics
//! (`todo!()`) is skipped with a note, and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;

/// A store of `$krate` on a fresh file holding `counter` = 0, and the
/// directory that must outlive it.
macro_rules! fresh_store {
    ($krate:ident) => {{
        let dir = TempDir::new().expect("create a temporary directory");
        let store = $krate::Store::open(dir.path().join("bench.db")).expect("open the store");
        store.insert("counter", 0).expect("insert the counter");
        (dir, store)
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
    ($c:expr, $group:literal, |$store:ident| $op:expr) => {{
        let mut group = $c.benchmark_group($group);
        group.throughput(Throughput::Elements(1));
        if implemented($group, || {
            let (_dir, $store) = fresh_store!(optimistic_locking);
            let _ = $op;
        }) {
            group.bench_function("yours", |b| {
                let (_dir, $store) = fresh_store!(optimistic_locking);
                b.iter(|| black_box($op));
            });
        }
        group.bench_function("reference", |b| {
            let (_dir, $store) = fresh_store!(optimistic_locking_solution);
            b.iter(|| black_box($op));
        });
        group.finish();
    }};
}

fn operations_per_second(c: &mut Criterion) {
    side_by_side!(c, "Store::get", |store| store.get("counter").is_ok());
    side_by_side!(c, "Store::update_with_retry", |store| store
        .update_with_retry("counter", 3, |v| v + 1)
        .is_ok());
}

criterion_group!(benches, operations_per_second);
criterion_main!(benches);
