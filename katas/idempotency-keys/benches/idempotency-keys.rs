//! Requests per second: your code (`idempotency_keys`) and the reference
//! (`idempotency_keys_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p idempotency-keys --features solution
//! ```
//!
//! Each measures one request on a real SQLite file in a temporary directory:
//! a new key (the effect inserts a row, then the record is stored: one
//! commit), and a replay of a key already stored (a lookup, no effect). A
//! part of your code that still panics (`todo!()`) is skipped with a note,
//! and only the reference is measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::Connection;

/// Creates the effects' table in a fresh database file.
fn prepare(path: &Path) {
    let conn = Connection::open(path).expect("open the bench database");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS charges (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);",
    )
    .expect("create the charges table");
}

/// A request function over one handle of `$krate`: a new key every call, or
/// always the same key.
macro_rules! requests {
    ($krate:ident, $path:expr, $fresh:expr) => {{
        let mut idem = $krate::Idempotency::open($path, 86_400).expect("open");
        let mut tick = 0u64;
        move || {
            tick += 1;
            let key = if $fresh {
                format!("order-{tick}")
            } else {
                "order-0".to_owned()
            };
            idem.handle(&key, b"{\"amount\":1000}", 0, |tx| {
                tx.execute("INSERT INTO charges (amount) VALUES (1000)", [])?;
                Ok::<_, rusqlite::Error>($krate::Response {
                    status: 201,
                    body: b"ok".to_vec(),
                })
            })
            .map(|outcome| outcome.replayed)
            .map_err(|_| ())
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

/// Benchmarks one kind of request of each crate in one group, each on its
/// own database file.
fn side_by_side(c: &mut Criterion, group_name: &str, fresh: bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    let yours = dir.path().join("yours.db");
    prepare(&yours);
    if implemented(group_name, || {
        let mut request = requests!(idempotency_keys, &yours, fresh);
        let _ = request();
    }) {
        group.bench_function(BenchmarkId::new("yours", "WAL file"), |b| {
            let mut request = requests!(idempotency_keys, &yours, fresh);
            b.iter(|| black_box(request()));
        });
    }
    let reference = dir.path().join("reference.db");
    prepare(&reference);
    group.bench_function(BenchmarkId::new("reference", "WAL file"), |b| {
        let mut request = requests!(idempotency_keys_solution, &reference, fresh);
        b.iter(|| black_box(request()));
    });
    group.finish();
}

fn requests_per_second(c: &mut Criterion) {
    side_by_side(c, "handle: new key (effect + record, one commit)", true);
    side_by_side(c, "handle: replay of a stored key", false);
}

criterion_group!(benches, requests_per_second);
criterion_main!(benches);
