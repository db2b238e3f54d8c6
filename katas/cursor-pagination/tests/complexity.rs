//! The cost of one page, counted: the README's O(log n + limit) per page.
//!
//! SQLite runs every statement as a program of virtual-machine steps, and a
//! query that reads a row executes at least one step for it. This file
//! registers an auto-extension, so every connection the process opens (the
//! pager's own included) calls a progress handler on each step, and counts
//! the steps run on the current thread. A page read through the index costs
//! the same number of steps whatever the size of the table; a page that
//! counts the rows beyond it, or reads every row before the cursor and keeps
//! the last few, costs steps in proportion to the table. So each spec reads
//! the same page of a table of `SMALL` rows and of one ten times larger, and
//! compares the counts: no stopwatch, the same verdict on every run.
//!
//! `cargo test -p cursor-pagination` judges your code;
//! `cargo test -p cursor-pagination --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use cursor_pagination as subject;
#[cfg(feature = "solution")]
use cursor_pagination_solution as subject;

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Once;

use rstest::rstest;
use rusqlite::{Connection, ffi, params};
use subject::{Direction, Page, Pager};
use tempfile::TempDir;

const SECRET: &[u8] = b"the cursor secret of the spec";

/// The rows of the small table; the large one has ten times as many.
const SMALL: i64 = 200;
const LARGE: i64 = 10 * SMALL;
/// Rows per measured page.
const LIMIT: u32 = 10;

thread_local! {
    // `const`: touched from inside SQLite's callback, it must not allocate.
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// Called by SQLite every virtual-machine step of any statement run on this
/// thread (see `count_every_step`).
unsafe extern "C" fn count_step(_: *mut c_void) -> c_int {
    let _ = STEPS.try_with(|steps| steps.set(steps.get() + 1));
    0 // go on
}

/// The auto-extension: every new connection reports each step it runs.
unsafe extern "C" fn count_every_step(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite calls this with the connection it is opening, which is
    // valid; `count_step` ignores its argument, so a null one is fine.
    unsafe { ffi::sqlite3_progress_handler(db, 1, Some(count_step), std::ptr::null_mut()) };
    ffi::SQLITE_OK
}

/// Registers the step counter for every connection opened from now on.
fn count_steps_of_new_connections() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `count_every_step` has the signature SQLite expects of an
        // extension entry point, and is a plain function that lives for ever.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(count_every_step)) };
        assert_eq!(
            rc,
            ffi::SQLITE_OK,
            "register the step-counting auto-extension"
        );
    });
}

/// Runs `f` and returns the SQLite steps it ran on this thread, with its
/// result.
fn steps<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = STEPS.with(Cell::get);
    let out = f();
    (STEPS.with(Cell::get) - before, out)
}

/// A pager on a fresh file of `rows` rows: ids in no relation to
/// `created_at`, and many ties on `created_at`.
struct Table {
    _dir: TempDir,
    pager: Pager,
    rows: i64,
}

impl Table {
    fn new(rows: i64) -> Table {
        count_steps_of_new_connections();
        let dir = TempDir::new().expect("create a temporary directory");
        let path = dir.path().join("items.db");
        let pager = Pager::open(&path, SECRET)
            .expect("Pager::open should create the items table on a new database file");
        let mut conn = Connection::open(&path).expect("the spec opens its own connection");
        conn.execute_batch("PRAGMA synchronous = OFF;")
            .expect("turn off fsync for the spec's connection");
        let tx = conn.transaction().expect("begin the spec's insert");
        {
            let mut insert = tx
                .prepare("INSERT INTO items (id, created_at, body) VALUES (?1, ?2, ?3)")
                .expect("prepare the spec's insert");
            for i in 0..rows {
                // A permutation of the ids, and about four rows per instant.
                let id = (i * 7919) % rows + 1;
                let created_at = i / 4;
                insert
                    .execute(params![id, created_at, format!("row {id}")])
                    .expect("the spec inserts a row");
            }
        }
        tx.commit().expect("commit the spec's insert");
        Table {
            _dir: dir,
            pager,
            rows,
        }
    }

    fn page(&self, cursor: Option<&str>, limit: u32, direction: Direction) -> Page {
        self.pager
            .page(cursor, limit, direction)
            .unwrap_or_else(|e| {
                panic!(
                    "page(cursor {cursor:?}, limit {limit}, {direction:?}) on {} rows should \
                     succeed, got {e:?}",
                    self.rows
                )
            })
    }

    /// A cursor after the first `n` rows (forward `next` of a page of `n`).
    fn cursor_after(&self, n: u32) -> String {
        self.page(None, n, Direction::Forward)
            .next
            .expect("rows follow the page: next is Some")
    }

    /// A cursor before the last `n` rows (backward `prev` of a page of `n`).
    fn cursor_before_the_last(&self, n: u32) -> String {
        self.page(None, n, Direction::Backward)
            .prev
            .expect("rows precede the page: prev is Some")
    }
}

/// The page a spec measures, on either table.
#[derive(Debug, Clone, Copy)]
enum Which {
    /// The oldest rows: no cursor, forward.
    FirstForward,
    /// The newest rows: no cursor, backward.
    FirstBackward,
    /// Forward from a cursor near the start: most of the table lies beyond.
    ForwardNearTheStart,
    /// Backward from a cursor near the end: most of the table lies before.
    BackwardNearTheEnd,
}

/// The steps one page costs on `table` (after one unmeasured read of the
/// same page, so that preparing and caching statements is not counted).
fn cost(table: &Table, which: Which) -> (u64, Page) {
    let (cursor, direction) = match which {
        Which::FirstForward => (None, Direction::Forward),
        Which::FirstBackward => (None, Direction::Backward),
        Which::ForwardNearTheStart => (Some(table.cursor_after(5)), Direction::Forward),
        Which::BackwardNearTheEnd => (Some(table.cursor_before_the_last(5)), Direction::Backward),
    };
    let warm = table.page(cursor.as_deref(), LIMIT, direction);
    let (n, page) = steps(|| table.page(cursor.as_deref(), LIMIT, direction));
    assert_eq!(page, warm, "the same page read twice should be the same");
    (n, page)
}

#[rstest]
#[case::first_page_forward(Which::FirstForward)]
#[case::first_page_backward(Which::FirstBackward)]
#[case::forward_from_a_cursor_near_the_start(Which::ForwardNearTheStart)]
#[case::backward_from_a_cursor_near_the_end(Which::BackwardNearTheEnd)]
fn followup_a_page_costs_the_same_on_a_table_ten_times_larger(#[case] which: Which) {
    let (small, large) = (Table::new(SMALL), Table::new(LARGE));
    let (few, page) = cost(&small, which);
    assert_eq!(
        page.items.len(),
        LIMIT as usize,
        "{which:?} on {SMALL} rows should be a full page of {LIMIT}"
    );
    assert!(
        few > 0,
        "the spec counts SQLite's steps through an auto-extension; reading a page from {SMALL} \
         rows counted none: does the pager read its rows from SQLite?"
    );
    let (many, _) = cost(&large, which);
    // The same work, whatever the table's size: a little slack for a tree
    // one level deeper, none for work per row of the table.
    let bound = few + few / 4 + 16;
    assert!(
        many <= bound,
        "a page of {LIMIT} rows ({which:?}) should cost O(log n + limit): the same on {LARGE} rows \
         as on {SMALL}. It took {few} SQLite steps on {SMALL} rows and {many} on {LARGE} (at most \
         {bound} expected): fetch limit + 1 rows through the (created_at, id) index, and decide \
         next/prev with that extra row or an EXISTS, never with COUNT(*), never by reading every \
         row on one side of the cursor and keeping the last few"
    );
}
