//! Reserve-then-release cycles per second: your code (`inventory_reservation`),
//! the reference (`inventory_reservation_solution`) and a bare counter
//! (`bare`) side by side, for both implementations.
//!
//! ```text
//! cargo bench -p inventory-reservation --features solution
//! ```
//!
//! No crate does this kata's job (stock per SKU, reserved all or nothing,
//! handed back through a token), so the yardstick is the floor under it:
//! `bare Mutex<u64>` and `bare AtomicU64` are one counter of the benchmark's
//! one SKU, with the same check-and-decrement (under the lock, or by
//! compare-and-swap) and the same add back, but no lookup by SKU name and no
//! `Reservation` token. The gap between them and the reference is what the
//! kata's API costs: finding the SKU's counter by its name, and the token
//! that names it.
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

/// The floor: the bare counter of the one SKU every cycle uses, behind the
/// kata's method names so that the benchmark's macros drive it like the
/// others. `reserve` ignores the SKU (there is one counter) and its "token"
/// is the quantity.
mod bare {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The two methods a cycle calls.
    pub trait Inventory {
        fn reserve(&self, sku: &str, qty: u32) -> Result<u32, u64>;
        fn release(&self, qty: u32);
    }

    /// The opening stock of the first SKU: the one the benchmark cycles on.
    fn first(stock: &[(&str, u32)]) -> u64 {
        stock.first().map_or(0, |&(_, qty)| u64::from(qty))
    }

    /// `Mutex<u64>`: check and decrement under one lock.
    pub struct LockedInventory(Mutex<u64>);

    impl LockedInventory {
        pub fn new(stock: &[(&str, u32)]) -> Self {
            LockedInventory(Mutex::new(first(stock)))
        }
    }

    impl Inventory for LockedInventory {
        fn reserve(&self, _sku: &str, qty: u32) -> Result<u32, u64> {
            let mut units = self.0.lock().expect("never poisoned");
            let left = units.checked_sub(u64::from(qty)).ok_or(*units)?;
            *units = left;
            Ok(qty)
        }

        fn release(&self, qty: u32) {
            *self.0.lock().expect("never poisoned") += u64::from(qty);
        }
    }

    /// `AtomicU64`: a compare-and-swap loop that checks the value it
    /// replaces, and `fetch_add` to give back.
    pub struct AtomicInventory(AtomicU64);

    impl AtomicInventory {
        pub fn new(stock: &[(&str, u32)]) -> Self {
            AtomicInventory(AtomicU64::new(first(stock)))
        }
    }

    impl Inventory for AtomicInventory {
        fn reserve(&self, _sku: &str, qty: u32) -> Result<u32, u64> {
            self.0
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |units| {
                    units.checked_sub(u64::from(qty))
                })
                .map(|_| qty)
        }

        fn release(&self, qty: u32) {
            self.0.fetch_add(u64::from(qty), Ordering::Relaxed);
        }
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

/// Benchmarks one implementation of each crate in one group, beside the
/// bare counter `$bare` names.
macro_rules! side_by_side {
    ($c:expr, $inventory:ident, $bare:literal) => {{
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
        group.bench_function(BenchmarkId::new($bare, "one thread"), |b| {
            let shop = bare::$inventory::new(&STOCK);
            b.iter(|| cycle!(bare, shop));
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
        group.bench_function(
            BenchmarkId::new($bare, format!("{THREADS} threads, one SKU")),
            |b| {
                b.iter_custom(|iters| contended!(bare, $inventory, iters));
            },
        );
        group.finish();
    }};
}

fn cycles_per_second(c: &mut Criterion) {
    side_by_side!(c, LockedInventory, "bare Mutex<u64>");
    side_by_side!(c, AtomicInventory, "bare AtomicU64");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = cycles_per_second
}
criterion_main!(benches);
