//! Requests per second: your code (`idempotency_keys`), the reference
//! (`idempotency_keys_solution`) and a floor (`bare handler`) side by side
//! in each group.
//!
//! ```text
//! cargo bench -p idempotency-keys --features solution
//! ```
//!
//! Each measures one request on a real SQLite file in a temporary directory:
//! a new key (the effect inserts a row, then the record is stored: one
//! commit), and a replay of a key already stored (a lookup, no effect). A
//! part of your code that still panics (`todo!()`) is skipped with a note,
//! and only the reference and the floor are measured.
//!
//! No crate does this kata's job (it is a table and a transaction), so the
//! yardstick is the floor: [`bare_handler`], the same request handled with
//! no idempotency record at all (the effect in one transaction, on the same
//! connection settings). On a new key it is what the record costs on top of
//! the effect; on a retry it runs the effect again (which is exactly what
//! idempotency keys prevent: a second charge), so it shows what a replay
//! costs against doing the work twice.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Keys never used before in this process. criterion builds a request
/// function for every sample, on the same file: a counter of its own would
/// start again at 1 and replay the keys of the samples before.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A request function over one handle of `$krate`: a new key every call, or
/// always the same key.
macro_rules! requests {
    ($krate:ident, $path:expr, $fresh:expr) => {{
        let mut idem = $krate::Idempotency::open($path, 86_400).expect("open");
        move || {
            let key = if $fresh {
                format!("order-{}", NEXT_KEY.fetch_add(1, Ordering::Relaxed))
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

/// The floor: the request handler without idempotency keys, behind the
/// kata's API so the bench's requests run on it unchanged. Every request
/// runs the effect, a retry included.
mod bare_handler {
    use std::path::Path;

    use rusqlite::{Connection, Transaction};

    pub use idempotency_keys_solution::{Outcome, Response};

    pub struct Idempotency {
        conn: Connection,
    }

    impl Idempotency {
        /// The reference's connection settings; no table of records.
        pub fn open(path: impl AsRef<Path>, _retention: i64) -> rusqlite::Result<Self> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(Idempotency { conn })
        }

        /// Runs `effect` in a transaction and commits: the key and the body
        /// are not looked at.
        pub fn handle(
            &mut self,
            _key: &str,
            _body: &[u8],
            _now: i64,
            effect: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Response>,
        ) -> rusqlite::Result<Outcome> {
            let tx = self.conn.transaction()?;
            let response = effect(&tx)?;
            tx.commit()?;
            Ok(Outcome {
                response,
                replayed: false,
            })
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
    let bare = dir.path().join("bare.db");
    prepare(&bare);
    group.bench_function(BenchmarkId::new("bare handler", "WAL file"), |b| {
        let mut request = requests!(bare_handler, &bare, fresh);
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
