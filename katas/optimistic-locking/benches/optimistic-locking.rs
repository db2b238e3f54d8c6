//! Read-modify-writes per second: your code (`optimistic_locking`), the
//! reference (`optimistic_locking_solution`) and pessimistic locking
//! (`BEGIN IMMEDIATE`) side by side in each group.
//!
//! ```text
//! cargo bench -p optimistic-locking --features solution
//! ```
//!
//! Each store works on its own SQLite file in a temporary directory, with
//! one connection and no contention, so the numbers show the cost of the
//! statements and commits themselves. A part of your code that still panics
//! (`todo!()`) is skipped with a note, and only the reference and
//! pessimistic locking are measured.
//!
//! No crate does this kata's job (it is a version column and a conditional
//! `UPDATE`), so the yardstick is the alternative the kata's follow-ups
//! weigh: [`pessimistic`], the same table and connection settings, where a
//! read-modify-write takes the write lock first (`BEGIN IMMEDIATE`), reads,
//! writes and commits, and so never conflicts. Without contention it is
//! the same two statements plus the transaction; the optimistic store pays
//! nothing for its safety until writers collide.

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

/// Pessimistic locking: read-modify-write under the database's write lock
/// (`BEGIN IMMEDIATE`), behind the kata's API so the bench's operations run
/// on it unchanged. Nobody can write between its read and its write, so it
/// needs no version check and no retry.
mod pessimistic {
    use std::path::Path;

    use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

    pub use optimistic_locking_solution::Versioned;

    pub struct Store {
        conn: Connection,
    }

    impl Store {
        /// The reference's connection settings and `records` table.
        pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| {
                row.get::<_, String>(0)
            })?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS records (
                     id      TEXT    PRIMARY KEY,
                     value   INTEGER NOT NULL,
                     version INTEGER NOT NULL
                 )",
            )?;
            Ok(Store { conn })
        }

        pub fn insert(&self, id: &str, value: i64) -> rusqlite::Result<()> {
            self.conn.execute(
                "INSERT INTO records (id, value, version) VALUES (?1, ?2, 1)",
                params![id, value],
            )?;
            Ok(())
        }

        pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
            get(&self.conn, id)
        }

        /// Lock, read, apply `f`, write, commit: one attempt always wins.
        pub fn update_with_retry(
            &self,
            id: &str,
            _max_attempts: u32,
            f: impl FnOnce(i64) -> i64,
        ) -> rusqlite::Result<Option<Versioned>> {
            // `&self`, as in the kata's API: one connection, one thread.
            let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            let Some(current) = get(&tx, id)? else {
                return Ok(None);
            };
            let written = Versioned {
                value: f(current.value),
                version: current.version + 1,
            };
            tx.prepare_cached(
                "UPDATE records SET value = ?1, version = version + 1 WHERE id = ?2",
            )?
            .execute(params![written.value, id])?;
            tx.commit()?;
            Ok(Some(written))
        }
    }

    fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Versioned>> {
        conn.prepare_cached("SELECT value, version FROM records WHERE id = ?1")?
            .query_row(params![id], |row| {
                Ok(Versioned {
                    value: row.get(0)?,
                    // Stored as SQLite's INTEGER (i64); versions start at 1.
                    version: row.get::<_, i64>(1)?.unsigned_abs(),
                })
            })
            .optional()
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
        group.bench_function("BEGIN IMMEDIATE", |b| {
            let (_dir, $store) = fresh_store!(pessimistic);
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
