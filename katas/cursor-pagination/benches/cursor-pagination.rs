//! Pages per second: your code (`cursor_pagination`), the reference
//! (`cursor_pagination_solution`) and OFFSET pagination (`OFFSET LIMIT`)
//! side by side in each group.
//!
//! ```text
//! cargo bench -p cursor-pagination --features solution
//! ```
//!
//! A table of 10 000 rows (ten per `created_at`); each iteration reads one
//! page of 50, at the start of the table or 9 000 rows deep. With keyset
//! pagination on an index both cost the same. A pager of yours that still
//! panics (`todo!()`) is skipped with a note, and only the reference and
//! OFFSET pagination are measured.
//!
//! No crate does this kata's job (it is a query and a cursor format), so the
//! yardstick is the naive model the kata replaces: [`offset_pager`], the same
//! table, index and statement cache, `ORDER BY created_at, id LIMIT ? OFFSET
//! ?` with the offset as the cursor (unsigned: a plain number). It does less
//! work per page (one query, no `EXISTS`, no HMAC), so it sets the floor on
//! the first page; but SQLite must step over every row before the offset,
//! so its cost grows with the page number, which the deep page shows.

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

/// The naive model: OFFSET/LIMIT pagination, forward only, behind the
/// kata's API so the bench's walk runs on it unchanged. The cursor is the
/// offset of the next page, in decimal.
mod offset_pager {
    use std::error::Error;
    use std::path::Path;

    use rusqlite::{Connection, params};

    /// The only way this model walks.
    pub enum Direction {
        Forward,
    }

    /// One row of `items`: the kata's own type.
    pub use cursor_pagination_solution::Item;

    /// One page, and the offsets around it.
    pub struct Page {
        pub items: Vec<Item>,
        pub next: Option<String>,
    }

    pub struct Pager {
        conn: Connection,
    }

    impl Pager {
        /// The reference's connection settings, table and index; no secret.
        pub fn open(path: &Path, _secret: &[u8]) -> rusqlite::Result<Pager> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS items (
                     id         INTEGER PRIMARY KEY,
                     created_at INTEGER NOT NULL,
                     body       TEXT    NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS items_created_at_id ON items (created_at, id);",
            )?;
            Ok(Pager { conn })
        }

        /// At most `limit` rows from the offset in `cursor` (0 without one);
        /// one extra row says whether there is a next page.
        pub fn page(
            &self,
            cursor: Option<&str>,
            limit: u32,
            Direction::Forward: Direction,
        ) -> Result<Page, Box<dyn Error>> {
            let limit = i64::from(limit.max(1));
            let offset: i64 = cursor.map_or(Ok(0), str::parse)?;
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, created_at, body FROM items
                 ORDER BY created_at, id LIMIT ?1 OFFSET ?2",
            )?;
            let mut items = stmt
                .query_map(params![limit + 1, offset], |row| {
                    Ok(Item {
                        id: row.get(0)?,
                        created_at: row.get(1)?,
                        body: row.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let more = items.len() as i64 > limit;
            items.truncate(limit as usize);
            let next = more.then(|| (offset + limit).to_string());
            Ok(Page { items, next })
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
        group.bench_function(BenchmarkId::new("OFFSET LIMIT", name), |b| {
            let page = pager!(offset_pager, &path, deep);
            b.iter(|| black_box(page()));
        });
        group.finish();
    }
}

criterion_group!(benches, pages_per_second);
criterion_main!(benches);
