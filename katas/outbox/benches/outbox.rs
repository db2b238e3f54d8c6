//! Orders placed and events relayed per second: your code (`outbox`), the
//! reference (`outbox_solution`) and a bare floor side by side in each group.
//!
//! ```text
//! cargo bench -p outbox --features solution
//! ```
//!
//! No crate does the outbox's job in-process on SQLite, so the yardstick is
//! what the pattern adds to the work under it, on a connection set up the
//! same way (WAL, `synchronous = NORMAL`), with statements prepared once and
//! cached. `order row only` (`order_only`) places an order the way a shop
//! without an outbox would: one `INSERT` into `orders`, no event, no
//! transaction around it; the gap is what the outbox costs each order. `bare
//! SELECT + DELETE` (`bare_relay`) relays the reference shop's events with no
//! lease: it SELECTs the next 16 unpublished events, and after each publish
//! DELETEs that one; the gap is what the claim (a transaction, a lease
//! written per event) and the per-aggregate guard cost. It is safe only with
//! one relay.
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

/// The order insert with no outbox row, behind the kata's `Shop`.
mod order_only {
    use std::path::Path;

    use rusqlite::{Connection, params};

    pub use outbox_solution::Order;

    pub struct Shop(Connection);

    impl Shop {
        pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Shop> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(
                "CREATE TABLE orders (
                     id       INTEGER PRIMARY KEY,
                     customer TEXT    NOT NULL,
                     item     TEXT    NOT NULL,
                     quantity INTEGER NOT NULL,
                     status   TEXT    NOT NULL
                 );",
            )?;
            Ok(Shop(conn))
        }

        pub fn place_order(&mut self, order: &Order) -> rusqlite::Result<i64> {
            self.0
                .prepare_cached(
                    "INSERT INTO orders (customer, item, quantity, status)
                     VALUES (?1, ?2, ?3, 'placed')",
                )?
                .execute(params![order.customer, order.item, order.quantity])?;
            Ok(self.0.last_insert_rowid())
        }
    }
}

/// A relay with no lease, behind the kata's `Relay`, over the events the
/// reference's `Shop` writes: SELECT a batch, then publish and DELETE each.
mod bare_relay {
    use std::path::Path;

    use rusqlite::{Connection, params};

    pub use outbox_solution::{Event, EventKind, Order, PublishError, Publisher, Shop};

    pub struct Relay(Connection);

    impl Relay {
        pub fn new(
            path: impl AsRef<Path>,
            _relay_id: &str,
            _lease: i64,
        ) -> rusqlite::Result<Relay> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(Relay(conn))
        }

        /// Events published; stops at the first failure.
        pub fn run_once(
            &mut self,
            _now: i64,
            publisher: &mut impl Publisher,
        ) -> rusqlite::Result<usize> {
            let mut published = 0;
            loop {
                let batch = self
                    .0
                    .prepare_cached(
                        "SELECT id, aggregate_id, sequence, kind, payload FROM outbox
                          WHERE published_at IS NULL ORDER BY id LIMIT 16",
                    )?
                    .query_map([], |row| {
                        let kind: String = row.get(3)?;
                        Ok(Event {
                            id: row.get(0)?,
                            aggregate_id: row.get(1)?,
                            sequence: row.get(2)?,
                            kind: if kind == "OrderPlaced" {
                                EventKind::OrderPlaced
                            } else {
                                EventKind::OrderCancelled
                            },
                            payload: row.get(4)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                if batch.is_empty() {
                    return Ok(published);
                }
                for event in &batch {
                    if publisher.publish(event).is_err() {
                        return Ok(published);
                    }
                    self.0
                        .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
                        .execute(params![event.id])?;
                    published += 1;
                }
            }
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
    group.bench_function("order row only", |b| place_order!(order_only, b));
    group.finish();

    let mut group = c.benchmark_group("Relay::run_once");
    group.throughput(Throughput::Elements(EVENTS));
    if yours {
        group.bench_function("yours", |b| relay!(outbox, b));
    }
    group.bench_function("reference", |b| relay!(outbox_solution, b));
    group.bench_function("bare SELECT + DELETE", |b| relay!(bare_relay, b));
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
