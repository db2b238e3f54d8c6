//! Pages per second: your code (`cursor_pagination`) and the reference
//! (`cursor_pagination_solution`) side by side in each group.
//!
//! ```text
//! cargo bench -p cursor-pagination --features solution
//! ```
//!
//! A table of 10 000 rows (ten per `created_at`); each iteration reads one
//! page of 50, at the start of the table or 9 000 rows deep. With keyset
//! pagination on an index both cost the same. A pager of yours that still
//! panics (`todo!()`) is skipped with a note, and only the reference is
//! measured.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, params};

const ROWS: i64 = 10_000;
const LIMIT: u32 = 50;
const SECRET: &[u8] = b"bench secret";

/// Fills `items` (already created by a pager) with `ROWS` rows.
fn fill(path: &Path) {
    let mut conn = Connection::open(path).expect("open the bench database");
    let tx = conn.transaction().expect("begin");
    for id in 1..=ROWS {
        tx.execute(
            "INSERT INTO items (id, created_at, body) VALUES (?1, ?2, ?3)",
            params![id, id / 10, format!("item {id}")],
        )
        .expect("insert a row");
    }
    tx.commit().expect("commit");
}

/// A page function of `$krate` on `path`: `deep` starts 9 000 rows in.
macro_rules! pager {
    ($krate:ident, $path:expr, $deep:expr) => {{
        use $krate::{Direction, Pager};
        let pager = Pager::open($path, SECRET).expect("open a pager");
        let mut cursor: Option<String> = None;
        if $deep {
            // Walk to row 9 000 once, then read the same deep page each time.
            for _ in 0..(9_000 / LIMIT) {
                cursor = pager
                    .page(cursor.as_deref(), LIMIT, Direction::Forward)
                    .expect("read a page")
                    .next;
            }
        }
        move || {
            pager
                .page(cursor.as_deref(), LIMIT, Direction::Forward)
                .map(|page| page.items.len())
                .unwrap_or(0)
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

fn pages_per_second(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("create a temporary directory");
    let path = dir.path().join("bench.db");
    drop(cursor_pagination_solution::Pager::open(&path, SECRET).expect("create the schema"));
    fill(&path);
    for (name, deep) in [("first page", false), ("9000 rows deep", true)] {
        let mut group = c.benchmark_group("Pager::page");
        group.throughput(Throughput::Elements(u64::from(LIMIT)));
        if implemented("Pager::page", || {
            let page = pager!(cursor_pagination, &path, deep);
            page();
        }) {
            group.bench_function(BenchmarkId::new("yours", name), |b| {
                let page = pager!(cursor_pagination, &path, deep);
                b.iter(|| black_box(page()));
            });
        }
        group.bench_function(BenchmarkId::new("reference", name), |b| {
            let page = pager!(cursor_pagination_solution, &path, deep);
            b.iter(|| black_box(page()));
        });
        group.finish();
    }
}

criterion_group!(benches, pages_per_second);
criterion_main!(benches);
