//! Reserve-then-release cycles per second: your code (`inventory_reservation`)
//! and the reference (`inventory_reservation_solution`) side by side, for
//! both implementations.
//!
//! ```text
//! cargo bench -p inventory-reservation --features solution
//! ```
//!
//! Each cycle reserves one unit of a SKU and releases it, so the stock stays
//! put and every reservation succeeds. "one thread" measures the cost of the
//! operations themselves; "4 threads, one SKU" has four threads cycle on the
//! same SKU at once, the launch-day console, where the atomic version retries
//! its compare-and-swap and the locked one waits for the lock. A part of
//! your code that still panics (`todo!()`) is skipped with a note, and only
//! the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Threads in the contended benchmark.
const THREADS: u64 = 4;

/// The SKUs of the benchmark's shop; every cycle uses the first.
const STOCK: [(&str, u32); 4] = [
    ("console", 1_000),
    ("mug", 1_000),
    ("tee", 1_000),
    ("cap", 1_000),
];

/// One reserve-then-release cycle on `shop`.
macro_rules! cycle {
    ($krate:ident, $shop:expr) => {{
        use $krate::Inventory as _;
        let reservation = $shop
            .reserve(black_box("console"), 1)
            .expect("1 of 1000 consoles, released after every cycle");
        $shop.release(black_box(reservation));
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

/// `iters` cycles split over `THREADS` threads on one shared shop, timed
/// from the first thread's start to the last one's end.
macro_rules! contended {
    ($krate:ident, $inventory:ident, $iters:expr) => {{
        let shop = Arc::new($krate::$inventory::new(&STOCK));
        let per_thread = $iters.div_ceil(THREADS);
        let start = Instant::now();
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let shop = Arc::clone(&shop);
                thread::spawn(move || {
                    for _ in 0..per_thread {
                        cycle!($krate, shop);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a benchmark thread panicked");
        }
        start.elapsed()
    }};
}

/// Benchmarks one implementation of each crate in two groups.
macro_rules! side_by_side {
    ($c:expr, $inventory:ident) => {{
        let name = stringify!($inventory);
        let yours = implemented(name, || {
            let shop = inventory_reservation::$inventory::new(&STOCK);
            cycle!(inventory_reservation, shop);
        });

        let mut group = $c.benchmark_group(format!("{name}: reserve + release"));
        group.throughput(Throughput::Elements(1));
        if yours {
            group.bench_function(BenchmarkId::new("yours", "one thread"), |b| {
                let shop = inventory_reservation::$inventory::new(&STOCK);
                b.iter(|| cycle!(inventory_reservation, shop));
            });
        }
        group.bench_function(BenchmarkId::new("reference", "one thread"), |b| {
            let shop = inventory_reservation_solution::$inventory::new(&STOCK);
            b.iter(|| cycle!(inventory_reservation_solution, shop));
        });
        if yours {
            group.bench_function(
                BenchmarkId::new("yours", format!("{THREADS} threads, one SKU")),
                |b| {
                    b.iter_custom(|iters| contended!(inventory_reservation, $inventory, iters));
                },
            );
        }
        group.bench_function(
            BenchmarkId::new("reference", format!("{THREADS} threads, one SKU")),
            |b| {
                b.iter_custom(|iters| {
                    contended!(inventory_reservation_solution, $inventory, iters)
                });
            },
        );
        group.finish();
    }};
}

fn cycles_per_second(c: &mut Criterion) {
    side_by_side!(c, LockedInventory);
    side_by_side!(c, AtomicInventory);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = cycles_per_second
}
criterion_main!(benches);
