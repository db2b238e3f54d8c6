//! Lock round trips per second: your code (`rw_lock`), the reference
//! (`rw_lock_solution`), `parking_lot::RwLock` (0.12, the readers-writer lock
//! people ship: one atomic word, parking only when it must wait) and
//! `std::sync::RwLock` side by side in each group.
//!
//! ```text
//! cargo bench -p rw-lock --features solution
//! ```
//!
//! Each iteration takes a guard, touches the value and drops the guard:
//! uncontended, then with a second thread reading the same lock in a loop
//! (the reader count's cache line bouncing between cores is what a read-mostly
//! service pays for). A part of your code that still panics (`todo!()`) is
//! skipped with a note, and only the others are measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The four locks behind one face.
trait Lock: Send + Sync + 'static {
    fn with_value(value: u64) -> Self;
    fn read_once(&self) -> u64;
    fn write_once(&self);
}

impl Lock for rw_lock::RwLock<u64> {
    fn with_value(value: u64) -> Self {
        Self::new(value)
    }
    fn read_once(&self) -> u64 {
        *self.read()
    }
    fn write_once(&self) {
        *self.write() += 1;
    }
}

impl Lock for rw_lock_solution::RwLock<u64> {
    fn with_value(value: u64) -> Self {
        Self::new(value)
    }
    fn read_once(&self) -> u64 {
        *self.read()
    }
    fn write_once(&self) {
        *self.write() += 1;
    }
}

impl Lock for std::sync::RwLock<u64> {
    fn with_value(value: u64) -> Self {
        Self::new(value)
    }
    fn read_once(&self) -> u64 {
        *self
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn write_once(&self) {
        *self
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
    }
}

/// `parking_lot`'s lock behind the bench's face. Its guards, like the kata's,
/// do not poison, so a read is `*lock.read()` with nothing to unwrap.
mod parking_lot_peer {
    use super::Lock;

    impl Lock for parking_lot::RwLock<u64> {
        fn with_value(value: u64) -> Self {
            Self::new(value)
        }
        fn read_once(&self) -> u64 {
            *self.read()
        }
        fn write_once(&self) {
            *self.write() += 1;
        }
    }
}

/// What each iteration does.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
}

/// Measures `op` on a fresh `L`, with `background_reader` another thread
/// reading the same lock in a loop for the whole measurement.
fn measure<L: Lock>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    op: Op,
    background_reader: bool,
) {
    let lock = Arc::new(L::with_value(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = background_reader.then(|| {
        let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(lock.read_once());
            }
        })
    });
    group.bench_function(id, |b| {
        b.iter(|| match op {
            Op::Read => {
                black_box(lock.read_once());
            }
            Op::Write => lock.write_once(),
        })
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(reader) = reader {
        let _ = reader.join();
    }
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

fn round_trips_per_second(c: &mut Criterion) {
    let cases = [
        ("read", Op::Read, false, "uncontended"),
        ("write", Op::Write, false, "uncontended"),
        ("read", Op::Read, true, "beside a reading thread"),
        ("write", Op::Write, true, "beside a reading thread"),
    ];
    for (name, op, background_reader, parameter) in cases {
        let mut group = c.benchmark_group(format!("RwLock::{name} + drop"));
        group.throughput(Throughput::Elements(1));
        let yours = implemented(&format!("RwLock::{name}"), || {
            let lock = <rw_lock::RwLock<u64> as Lock>::with_value(0);
            match op {
                Op::Read => {
                    lock.read_once();
                }
                Op::Write => lock.write_once(),
            }
        });
        if yours {
            measure::<rw_lock::RwLock<u64>>(
                &mut group,
                BenchmarkId::new("yours", parameter),
                op,
                background_reader,
            );
        }
        measure::<rw_lock_solution::RwLock<u64>>(
            &mut group,
            BenchmarkId::new("reference", parameter),
            op,
            background_reader,
        );
        measure::<parking_lot::RwLock<u64>>(
            &mut group,
            BenchmarkId::new("parking_lot 0.12", parameter),
            op,
            background_reader,
        );
        measure::<std::sync::RwLock<u64>>(
            &mut group,
            BenchmarkId::new("std", parameter),
            op,
            background_reader,
        );
        group.finish();
    }
}

criterion_group!(benches, round_trips_per_second);
criterion_main!(benches);
