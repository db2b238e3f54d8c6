//! Orders placed and events relayed per second: your code (`outbox`) and the
//! reference (`outbox_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p outbox --features solution
//! ```
//!
//! Each benchmark works on a SQLite file in a temporary directory. A part of
//! your code that still panics (`todo!()`) is skipped with a note, and only
//! the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Events relayed per measured run.
const EVENTS: u64 = 200;

/// One `place_order` per iteration.
macro_rules! place_order {
    ($krate:ident, $b:expr) => {{
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let mut shop = $krate::Shop::open(dir.path().join("bench.db")).expect("open");
        let order = $krate::Order {
            customer: "alice".into(),
            item: "book".into(),
            quantity: 1,
        };
        $b.iter(|| black_box(shop.place_order(&order).expect("place_order")));
    }};
}

/// Relays `EVENTS` freshly placed events per iteration (placing them is not
/// measured).
macro_rules! relay {
    ($krate:ident, $b:expr) => {{
        struct Sink(u64);
        impl $krate::Publisher for Sink {
            fn publish(&mut self, event: &$krate::Event) -> Result<(), $krate::PublishError> {
                self.0 = self.0.wrapping_add(black_box(event.id).unsigned_abs());
                Ok(())
            }
        }
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let path = dir.path().join("bench.db");
        let mut shop = $krate::Shop::open(&path).expect("open");
        let mut relay = $krate::Relay::new(&path, "bench", 30).expect("relay");
        let order = $krate::Order {
            customer: "alice".into(),
            item: "book".into(),
            quantity: 1,
        };
        let mut now = 1_700_000_000;
        $b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                for _ in 0..EVENTS {
                    shop.place_order(&order).expect("place_order");
                }
                now += 1;
                let mut sink = Sink(0);
                let start = Instant::now();
                relay.run_once(now, &mut sink).expect("run_once");
                total += start.elapsed();
                black_box(sink.0);
            }
            total
        });
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

fn throughput(c: &mut Criterion) {
    let probe = || {
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let path = dir.path().join("probe.db");
        let mut shop = outbox::Shop::open(&path).expect("open");
        let order = outbox::Order {
            customer: "alice".into(),
            item: "book".into(),
            quantity: 1,
        };
        shop.place_order(&order).expect("place_order");
        struct Null;
        impl outbox::Publisher for Null {
            fn publish(&mut self, _: &outbox::Event) -> Result<(), outbox::PublishError> {
                Ok(())
            }
        }
        let mut relay = outbox::Relay::new(&path, "probe", 30).expect("relay");
        relay.run_once(0, &mut Null).expect("run_once");
    };
    let yours = implemented("shop or relay", probe);

    let mut group = c.benchmark_group("Shop::place_order");
    group.throughput(Throughput::Elements(1));
    if yours {
        group.bench_function("yours", |b| place_order!(outbox, b));
    }
    group.bench_function("reference", |b| place_order!(outbox_solution, b));
    group.finish();

    let mut group = c.benchmark_group("Relay::run_once");
    group.throughput(Throughput::Elements(EVENTS));
    if yours {
        group.bench_function("yours", |b| relay!(outbox, b));
    }
    group.bench_function("reference", |b| relay!(outbox_solution, b));
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
