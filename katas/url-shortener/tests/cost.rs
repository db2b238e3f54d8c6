//! The url-shortener's constraints, checked by counting, never by timing.
//!
//! - **Indexed lookups.** SQLite counts the virtual-machine steps of every
//!   statement it runs (`SQLITE_STMTSTATUS_VM_STEP`); the spec hands the
//!   shortener a connection that reports them, and runs the same call on a
//!   small database and on one with thousands more rows that the call has no
//!   business reading. An indexed lookup takes the same number of steps on
//!   both; a scan takes at least one step a row.
//! - **Cheap commits.** The database file is in WAL mode once a shortener has
//!   opened it, read by a connection of the spec's own.
//! - **Choosing a code and storing it is one atomic step.** A second
//!   connection of the spec holds the write lock; the spec's busy handler on
//!   the shortener's connection tells the spec when the shortener waits for
//!   it, and holds it there while another shortener takes the URL or its
//!   code. Whatever the first one read before it asked for the lock is stale
//!   by then, on every run.
//!
//! `cargo test -p url-shortener` judges your code;
//! `cargo test -p url-shortener --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use url_shortener as subject;
#[cfg(feature = "solution")]
use url_shortener_solution as subject;

use std::cell::Cell;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use rstest::rstest;
use rusqlite::{Connection, TransactionBehavior, ffi};
use subject::{Shortener, Strategy};

// ─────────────────────── counting SQLite's work ───────────────────────

thread_local! {
    /// Virtual-machine steps run by the counted connections of this thread.
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// SQLite calls this when a statement of a counted connection finishes:
/// add its steps to this thread's count, and start its count again.
unsafe extern "C" fn on_statement_done(
    _event: c_uint,
    _context: *mut c_void,
    statement: *mut c_void,
    _nanoseconds: *mut c_void,
) -> c_int {
    // SAFETY: for SQLITE_TRACE_PROFILE, SQLite passes the prepared statement
    // that finished, which is valid for the duration of the callback.
    let steps = unsafe {
        ffi::sqlite3_stmt_status(
            statement.cast::<ffi::sqlite3_stmt>(),
            ffi::SQLITE_STMTSTATUS_VM_STEP,
            1,
        )
    };
    let _ = STEPS.try_with(|count| count.set(count.get() + u64::try_from(steps).unwrap_or(0)));
    0
}

/// A shortener on a fresh in-memory database whose connection counts the
/// steps of every statement it runs.
fn counted(strategy: Strategy) -> Shortener {
    let conn = Connection::open_in_memory().expect("an in-memory SQLite database");
    // SAFETY: the handle is the live connection `conn`; the callback is a
    // plain function that lives for ever and ignores its context.
    let rc = unsafe {
        ffi::sqlite3_trace_v2(
            conn.handle(),
            ffi::SQLITE_TRACE_PROFILE as c_uint,
            Some(on_statement_done),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(
        rc,
        ffi::SQLITE_OK,
        "the spec counts the connection's statements"
    );
    Shortener::with_connection(conn, strategy)
        .expect("a shortener on a fresh in-memory database should open")
}

/// How many steps SQLite ran for `work`, and what `work` returned.
fn steps<T>(work: impl FnOnce() -> T) -> (u64, T) {
    STEPS.with(|count| count.set(0));
    let value = work();
    (STEPS.with(Cell::get), value)
}

/// Rows the big database has that the measured call must not read.
const OTHER_ROWS: u64 = 2000;

/// Steps a call may take beyond what it took on the small database: a
/// lookup through an index takes the same number of steps however many rows
/// the table has; a scan takes at least one for each of the other rows.
const SLACK: u64 = 100;

fn shorten(shortener: &mut Shortener, url: &str) -> String {
    match shortener.shorten(url) {
        Ok(code) => code.as_str().to_owned(),
        Err(e) => panic!("shortening {url:?} should succeed, but failed: {e:?}"),
    }
}

#[test]
fn deduplication_and_resolving_do_not_scan_the_table() {
    let mut shortener = counted(Strategy::Hash);
    for i in 0..10 {
        shorten(&mut shortener, &format!("https://example.com/seed/{i}"));
    }
    let small_new = steps(|| shorten(&mut shortener, "https://example.com/small")).0;
    let small_again = steps(|| shorten(&mut shortener, "https://example.com/small")).0;
    let (small_resolve, _) = steps(|| shortener.resolve("0000001"));
    for i in 0..OTHER_ROWS {
        shorten(&mut shortener, &format!("https://example.com/other/{i}"));
    }
    let big_new = steps(|| shorten(&mut shortener, "https://example.com/big")).0;
    let big_again = steps(|| shorten(&mut shortener, "https://example.com/big")).0;
    let (big_resolve, _) = steps(|| shortener.resolve("0000001"));
    for (what, small, big) in [
        ("shortening a new URL", small_new, big_new),
        (
            "shortening a URL that already has its code",
            small_again,
            big_again,
        ),
        ("resolving a code", small_resolve, big_resolve),
    ] {
        assert!(
            big <= small + SLACK,
            "{what} took {small} SQLite steps with 12 URLs stored, and {big} with {} more: \
             it reads the other URLs (a scan of the table) instead of one indexed lookup \
             by code (README, Constraints: deduplication must not scan the table, resolving \
             is one indexed lookup)",
            OTHER_ROWS
        );
    }
}

#[test]
fn counting_clicks_reads_only_the_code_s_clicks_in_the_range() {
    let mut shortener = counted(Strategy::Counter);
    let code = shorten(&mut shortener, "https://example.com/campaign");
    let other = shorten(&mut shortener, "https://example.com/other");
    for at in [1000, 1001, 1030, 1061, 1099] {
        shortener
            .click(&code, at)
            .unwrap_or_else(|e| panic!("a click on {code:?} at {at} should be recorded: {e:?}"));
    }
    let expected = vec![(1000, 3), (1050, 2)];
    let (small, counted) = steps(|| shortener.clicks(&code, 1000, 1100, 50));
    assert_eq!(
        counted.ok(),
        Some(expected.clone()),
        "clicks at 1000, 1001, 1030, 1061, 1099"
    );
    // A year of the same code's clicks before and after the range, and
    // another code's clicks inside it: none of them is the query's business.
    for i in 0..OTHER_ROWS / 2 {
        for (which, at) in [
            (&code, i % 1000),
            (&code, 1100 + i),
            (&other, 1000 + i % 100),
        ] {
            shortener.click(which, at).unwrap_or_else(|e| {
                panic!("a click on {which:?} at {at} should be recorded: {e:?}")
            });
        }
    }
    let (big, counted) = steps(|| shortener.clicks(&code, 1000, 1100, 50));
    assert_eq!(
        counted.ok(),
        Some(expected),
        "clicks outside [1000, 1100) and on another code should not count"
    );
    assert!(
        big <= small + SLACK,
        "counting the 5 clicks of {code:?} in [1000, 1100) took {small} SQLite steps, and {big} \
         once the code had {} clicks outside the range and another code {} inside it: the \
         query reads clicks it does not count (README, Constraints: counting clicks reads \
         only the code's clicks in the range, an index on (code, at))",
        OTHER_ROWS,
        OTHER_ROWS / 2
    );
}

// ─────────────────────────── cheap commits ───────────────────────────

#[test]
fn a_shortener_puts_its_database_file_in_wal_mode() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    let mut shortener = Shortener::open(&path, Strategy::Counter)
        .unwrap_or_else(|e| panic!("a shortener on {} should open: {e}", path.display()));
    shorten(&mut shortener, "https://example.com/");
    let spec = Connection::open(&path).expect("the spec opens the database file");
    let mode: String = spec
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("the spec reads the journal mode");
    assert!(
        mode.eq_ignore_ascii_case("wal"),
        "after a shortener opened the file, its journal mode should be WAL (README, \
         Constraints: cheap commits), but it is {mode:?}: every commit then waits for the \
         disk twice, and four web servers queue for the write lock"
    );
}

// ──────────────── the race between a read and the write lock ────────────────

/// What the busy handler of the waiting shortener reports, and waits for.
struct Gate {
    stopped: AtomicBool,
    waiting: Mutex<Sender<()>>,
    go: Mutex<Receiver<()>>,
}

/// How long anyone waits for the other side of the race.
const PATIENCE: Duration = Duration::from_secs(10);

/// The busy handler of the first shortener. The first time its connection
/// waits for the write lock, it tells the spec and holds the shortener there
/// until the spec says go; afterwards it waits a millisecond a try, for at
/// most `PATIENCE`, as a busy timeout would.
unsafe extern "C" fn wait_at_the_gate(gate: *mut c_void, tries: c_int) -> c_int {
    // SAFETY: the spec passes a `Gate` that outlives the shortener.
    let gate = unsafe { &*gate.cast::<Gate>() };
    if tries == 0 && !gate.stopped.swap(true, Ordering::SeqCst) {
        if let Ok(waiting) = gate.waiting.lock() {
            let _ = waiting.send(());
        }
        if let Ok(go) = gate.go.lock() {
            let _ = go.recv_timeout(PATIENCE);
        }
        return 1;
    }
    thread::sleep(Duration::from_millis(1));
    c_int::from(u128::from(tries.unsigned_abs()) < PATIENCE.as_millis())
}

/// ALICE and BOB have the same first choice (42, `000000g`); every other
/// input hashes with FNV-1a.
fn alice_and_bob_collide(bytes: &[u8]) -> u64 {
    if bytes == b"https://alice.example/" || bytes == b"https://bob.example/" {
        42
    } else {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash: u64, &b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

#[rstest]
#[case::the_same_url("https://alice.example/", "https://alice.example/")]
#[case::a_url_with_the_same_first_choice("https://alice.example/", "https://bob.example/")]
fn followup_a_shortening_that_waits_for_the_write_lock_sees_what_was_stored_meanwhile(
    #[case] first: &'static str,
    #[case] second: &'static str,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("links.db");
    let strategy = Strategy::HashWith(alice_and_bob_collide);
    let (waiting, waited) = mpsc::channel();
    let (go, gone) = mpsc::channel();
    let gate: &'static Gate = Box::leak(Box::new(Gate {
        stopped: AtomicBool::new(false),
        waiting: Mutex::new(waiting),
        go: Mutex::new(gone),
    }));
    let conn = Connection::open(&path).expect("the spec opens the database file");
    // SAFETY: the handle stays valid while the shortener owns the connection,
    // and nothing else uses it yet.
    let handle = unsafe { conn.handle() };
    let mut waiter = Shortener::with_connection(conn, strategy)
        .unwrap_or_else(|e| panic!("a shortener on {} should open: {e}", path.display()));
    // After `with_connection`, which sets its own busy timeout: the spec's
    // handler takes its place on this connection.
    // SAFETY: `handle` is the shortener's live connection, used by no other
    // thread now; `gate` lives for ever.
    let rc = unsafe {
        ffi::sqlite3_busy_handler(
            handle,
            Some(wait_at_the_gate),
            std::ptr::from_ref(gate).cast_mut().cast(),
        )
    };
    assert_eq!(rc, ffi::SQLITE_OK, "the spec installs its busy handler");
    let mut other = Shortener::open(&path, strategy)
        .unwrap_or_else(|e| panic!("a shortener on {} should open: {e}", path.display()));

    // The spec takes the write lock, and the first shortener starts.
    let mut lock = Connection::open(&path).expect("the spec opens the database file");
    lock.busy_timeout(PATIENCE).expect("busy timeout");
    let held = lock
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("the spec takes the write lock");
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let outcome = waiter.shorten(first).map(|code| code.as_str().to_owned());
        let _ = done.send((outcome, waiter));
    });
    let stopped = waited.recv_timeout(PATIENCE);
    assert!(
        stopped.is_ok(),
        "while another connection holds the write lock, shortening {first:?} should wait for \
         it (and it never asked for it within {PATIENCE:?})"
    );
    // It waits for the lock. Meanwhile another web server shortens.
    held.rollback().expect("the spec releases the write lock");
    let second_code = match other.shorten(second) {
        Ok(code) => code.as_str().to_owned(),
        Err(e) => panic!("shortening {second:?} should succeed, but failed: {e:?}"),
    };
    let _ = go.send(());
    let (first_outcome, waiter) = result
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("shortening {first:?} did not finish once the lock was free"));
    let first_code = first_outcome.unwrap_or_else(|e| {
        panic!(
            "shortening {first:?}, which waited for the write lock while another shortener \
             stored {second:?}, should succeed, but failed: {e:?}"
        )
    });
    if first == second {
        assert_eq!(
            first_code, second_code,
            "{first:?} was shortened by one connection while another, which had already \
             started shortening it, waited for the write lock: both should get the same code, \
             but got {first_code:?} and {second_code:?}: looking the URL up and storing it must \
             be one atomic step (README, Constraints)"
        );
    } else {
        assert_ne!(
            first_code, second_code,
            "{first:?} and {second:?} have the same first choice; one connection stored \
             {second:?} while another, already shortening {first:?}, waited for the write \
             lock: they were both given {first_code:?}: checking that a code is free and \
             taking it must be one atomic step (README, Constraints)"
        );
    }
    for (code, url) in [(&first_code, first), (&second_code, second)] {
        match waiter.resolve(code) {
            Ok(resolved) => assert_eq!(
                resolved, url,
                "code {code:?} was issued for {url:?}, so it should resolve to it"
            ),
            Err(e) => {
                panic!("code {code:?} was issued for {url:?}, but resolving it failed: {e:?}")
            }
        }
    }
}
