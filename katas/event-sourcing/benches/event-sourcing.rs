//! Appends and loads per second: your code (`event_sourcing`), the
//! reference (`event_sourcing_solution`) and the naive baseline side by side
//! in each group.
//!
//! ```text
//! cargo bench -p event-sourcing --features solution
//! ```
//!
//! The crate that does this job on SQLite, `sqlite-es` (the SQLite
//! repository of `cqrs-es`), goes through sqlx, whose `libsqlite3-sys` 0.30
//! cannot share a build with rusqlite's 0.40 (both link the native
//! `sqlite3`), and is async; so the third contender is the naive design the
//! kata improves on, on a connection set up the same way (WAL, `synchronous
//! = NORMAL`, statements cached):
//!
//! - `bare INSERT` (`append`): one `INSERT` of the event at the version the
//!   caller says, with no version check and no transaction around it. The
//!   gap is what optimistic concurrency costs an append (a write
//!   transaction and a search of the (stream, version) index).
//! - `full replay` (`load`): every event of the stream read and folded, no
//!   snapshot (the reference's own `replay`). The gap is what a snapshot
//!   every 100 events saves on a stream of 10,050.
//!
//! Each benchmark works on a SQLite file in a temporary directory. A part of
//! your code that still panics (`todo!()`) is skipped with a note, and only
//! the reference and the baseline are measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};

/// Events in the loaded stream: 100 snapshots' worth and a tail of 50.
const STREAM: u64 = 10_050;
/// Where its newest snapshot is.
const SNAPSHOT_AT: u64 = 10_000;

fn connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open the bench database");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
        row.get::<_, String>(0)
    })
    .expect("WAL");
    conn.execute_batch("PRAGMA synchronous = NORMAL")
        .expect("synchronous");
    conn
}

/// Whether `f` runs without panicking (a `todo!()` does not), quietly.
fn runs(f: impl FnOnce()) -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ok = panic::catch_unwind(AssertUnwindSafe(f)).is_ok();
    panic::set_hook(hook);
    ok
}

/// An account of `STREAM` events (opened, then deposits of 1 cent) with a
/// snapshot at `SNAPSHOT_AT`, beside 10 other accounts of 100 events.
macro_rules! ledger {
    ($krate:ident, $path:expr) => {{
        use $krate::{Account, AccountEvent, Accounts, EventStore, Snapshot, Status};
        let mut store = EventStore::new(connection($path)).expect("EventStore::new");
        let deposit = AccountEvent::Deposited { cents: 1 }.encode();
        let mut version = 0;
        while version < STREAM {
            let mut batch = vec![deposit.clone(); 100.min((STREAM - version) as usize)];
            if version == 0 {
                batch[0] = AccountEvent::Opened {
                    owner: "Ada".into(),
                }
                .encode();
            }
            version = store.append("acct-1", version, &batch).expect("append");
        }
        for other in 0..10 {
            let mut batch = vec![deposit.clone(); 100];
            batch[0] = AccountEvent::Opened {
                owner: "Bob".into(),
            }
            .encode();
            store
                .append(&format!("acct-{}", other + 2), 0, &batch)
                .expect("append");
        }
        let state = Account {
            status: Status::Open,
            owner: "Ada".into(),
            balance: SNAPSHOT_AT - 1,
        };
        store
            .save_snapshot(
                "acct-1",
                &Snapshot {
                    version: SNAPSHOT_AT,
                    state: state.to_snapshot(),
                },
            )
            .expect("save_snapshot");
        Accounts::new(store, 100).expect("Accounts::new")
    }};
}

/// One append of one event per iteration, at the stream's version.
macro_rules! append {
    ($krate:ident, $b:expr) => {{
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut bank = ledger!($krate, &dir.path().join("bench.db"));
        let store = bank.store_mut();
        let event = $krate::AccountEvent::Deposited { cents: 1 }.encode();
        let mut version = store.version("acct-1").expect("version");
        $b.iter(|| {
            version = store
                .append("acct-1", black_box(version), std::slice::from_ref(&event))
                .expect("append");
        });
    }};
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append one event to a stream of 10,050");
    let ready = runs(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = event_sourcing::EventStore::new(connection(&dir.path().join("probe.db")))
            .expect("EventStore::new");
        let event = event_sourcing::AccountEvent::Closed.encode();
        store.append("probe", 0, &[event]).expect("append");
        store.read_all(0, 1).expect("read_all");
    });
    if ready {
        group.bench_function("yours", |b| append!(event_sourcing, b));
    } else {
        println!("your EventStore is still todo!(): benchmarking the reference and the baseline");
    }
    group.bench_function("reference", |b| append!(event_sourcing_solution, b));
    group.bench_function("bare INSERT", |b| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conn = connection(&dir.path().join("bare.db"));
        conn.execute_batch(
            "CREATE TABLE events (
                 position INTEGER PRIMARY KEY,
                 stream TEXT NOT NULL, version INTEGER NOT NULL,
                 kind TEXT NOT NULL, schema INTEGER NOT NULL, payload TEXT NOT NULL);
             CREATE INDEX events_by_stream ON events (stream, version);",
        )
        .expect("schema");
        let mut version: i64 = 0;
        for _ in 0..STREAM {
            version += 1;
            conn.prepare_cached(
                "INSERT INTO events (stream, version, kind, schema, payload) VALUES (?1, ?2, ?3, 2, '1')",
            )
            .expect("prepare")
            .execute(params!["acct-1", version, "MoneyDeposited"])
            .expect("insert");
        }
        b.iter(|| {
            version += 1;
            conn.prepare_cached(
                "INSERT INTO events (stream, version, kind, schema, payload) VALUES (?1, ?2, ?3, 2, '1')",
            )
            .expect("prepare")
            .execute(params!["acct-1", black_box(version), "MoneyDeposited"])
            .expect("insert");
        });
    });
    group.finish();
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load an account of 10,050 events");
    let dir = tempfile::tempdir().expect("temporary directory");
    let ready = runs(|| {
        let bank = ledger!(event_sourcing, &dir.path().join("yours.db"));
        bank.load("acct-1").expect("load");
    });
    if ready {
        let bank = ledger!(event_sourcing, &dir.path().join("yours-bench.db"));
        group.bench_function("yours", |b| {
            b.iter(|| black_box(bank.load(black_box("acct-1")).expect("load")))
        });
    } else {
        println!(
            "your Accounts::load is still todo!(): benchmarking the reference and the baseline"
        );
    }
    let reference = ledger!(event_sourcing_solution, &dir.path().join("reference.db"));
    group.bench_function("reference", |b| {
        b.iter(|| black_box(reference.load(black_box("acct-1")).expect("load")))
    });
    group.bench_function("full replay", |b| {
        b.iter(|| black_box(reference.replay(black_box("acct-1")).expect("replay")))
    });
    group.finish();
}

criterion_group!(benches, append, load);
criterion_main!(benches);
