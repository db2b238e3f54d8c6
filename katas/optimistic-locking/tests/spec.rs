//! The specification of the optimistic-locking kata.
//!
//! Every test name is a requirement; read the failing names first. Each test
//! works on a fresh SQLite file in a temporary directory that is removed
//! afterwards. Where concurrency is the point, several connections share the
//! file: other `Store`s, one per thread, and sometimes a plain rusqlite
//! connection playing "another service" that writes to the `records` table
//! directly, with the same optimistic `UPDATE` a correct store uses.
//!
//! `cargo test -p optimistic-locking` judges your code;
//! `cargo test -p optimistic-locking --features solution` judges the
//! reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only (this kata has
// none).
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use optimistic_locking as subject;
#[cfg(feature = "solution")]
use optimistic_locking_solution as subject;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use rusqlite::{Connection, ffi, params};
use subject::{InsertError, RetryError, Store, UpdateError, Versioned};
use tempfile::TempDir;

// ───────────────────────────── helpers ─────────────────────────────

/// How long a thread of a concurrency spec may take before the spec fails
/// (the reference needs well under a second).
const THREAD_DEADLINE: Duration = Duration::from_secs(20);

/// A fresh database file in a temporary directory (removed on drop).
fn temp_db() -> (TempDir, PathBuf) {
    watch_statements_of_new_connections();
    let dir = TempDir::new().expect("create a temporary directory");
    let path = dir.path().join("records.db");
    (dir, path)
}

fn open(path: &Path) -> Store {
    watch_statements_of_new_connections();
    Store::open(path).expect("Store::open on a fresh file should succeed")
}

/// A fresh store holding `id` = `value` at version 1.
fn store_with(id: &str, value: i64) -> (TempDir, PathBuf, Store) {
    let (dir, path) = temp_db();
    let store = open(&path);
    store
        .insert(id, value)
        .expect("insert of a new id should succeed");
    (dir, path, store)
}

/// Another service's connection to the same file, writing to the `records`
/// table directly. It waits for locks as a well-behaved client does.
fn other_service(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open a second connection");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("set a busy timeout");
    conn
}

/// Another service's optimistic write: bumps the version and sets `value`.
fn bump(conn: &Connection, id: &str, value: i64) {
    let changed = conn
        .execute(
            "UPDATE records SET value = ?1, version = version + 1 WHERE id = ?2",
            params![value, id],
        )
        .expect("the other service's write should succeed");
    assert_eq!(
        changed, 1,
        "the other service found no record {id:?} in the `records` table"
    );
}

fn current(store: &Store, id: &str) -> Option<Versioned> {
    store.get(id).expect("get should not fail")
}

/// A hook on the statements the current thread starts: called with each
/// one's SQL text before it runs, until it returns `true`.
type Hook = Box<dyn FnMut(&str) -> bool>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// SQLite calls this when a statement starts running on any connection,
/// before the statement takes a lock.
unsafe extern "C" fn on_statement(
    _event: c_uint,
    _context: *mut c_void,
    _statement: *mut c_void,
    sql: *mut c_void,
) -> c_int {
    let sql = if sql.is_null() {
        ""
    } else {
        // SAFETY: for SQLITE_TRACE_STMT the last argument is the statement's
        // SQL text, a NUL-terminated string valid during the call.
        unsafe { CStr::from_ptr(sql.cast::<c_char>()) }
            .to_str()
            .unwrap_or("")
    };
    // Never unwind into SQLite; take the hook out while it runs, so that the
    // statements it runs itself do not call it again.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let Some(mut hook) = HOOK.with(|h| h.borrow_mut().take()) else {
            return;
        };
        if !hook(sql) {
            HOOK.with(|h| *h.borrow_mut() = Some(hook));
        }
    }));
    0
}

/// The auto-extension: every new connection reports the statements it starts.
unsafe extern "C" fn report_statements(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite calls this with the connection it is opening, which is
    // valid; `on_statement` ignores its context, so a null one is fine.
    unsafe {
        ffi::sqlite3_trace_v2(
            db,
            ffi::SQLITE_TRACE_STMT as c_uint,
            Some(on_statement),
            std::ptr::null_mut(),
        )
    }
}

/// From now on, every connection the process opens (the store's own
/// included) lets the spec act just before one of its statements runs: that
/// is how the specs below put another service's commit exactly between two
/// statements of the store, on every run.
fn watch_statements_of_new_connections() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `report_statements` has the signature SQLite expects of an
        // extension entry point, and is a plain function that lives for ever.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(report_statements)) };
        assert_eq!(
            rc,
            ffi::SQLITE_OK,
            "register the statement-watching auto-extension"
        );
    });
}

/// Whether `sql` starts with one of the `keywords`, ignoring case.
fn starts_with_any(sql: &str, keywords: &[&str]) -> bool {
    let sql = sql.trim_start().to_ascii_uppercase();
    keywords.iter().any(|k| sql.starts_with(k))
}

/// Runs `action` on this thread just before the first statement that
/// `trigger` picks (given each statement's SQL, in order), and says whether
/// it ran. Cleared at the end of the test by `hook_done`.
fn before_statement(
    mut trigger: impl FnMut(&str) -> bool + 'static,
    action: impl FnOnce() + 'static,
) -> Rc<Cell<bool>> {
    let ran = Rc::new(Cell::new(false));
    let flag = Rc::clone(&ran);
    let mut action = Some(action);
    let hook: Hook = Box::new(move |sql| {
        if !trigger(sql) {
            return false;
        }
        if let Some(action) = action.take() {
            action();
            flag.set(true);
        }
        true
    });
    HOOK.with(|h| *h.borrow_mut() = Some(hook));
    ran
}

/// Removes this thread's hook (whether it ran or not).
fn hook_done() {
    HOOK.with(|h| h.borrow_mut().take());
}

/// Another service's connection that fails at once instead of waiting for
/// a lock: the hooks run it while the store waits between two statements,
/// and a store holding a lock there must not make the spec hang.
fn impatient_other_service(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open a second connection");
    conn.busy_timeout(Duration::ZERO)
        .expect("set a busy timeout");
    conn
}

/// Runs `work` in a thread and waits for it at most `THREAD_DEADLINE`.
fn bounded<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(THREAD_DEADLINE) {
        Ok(result) => result,
        Err(e) => panic!(
            "{what} did not finish within {THREAD_DEADLINE:?} ({e}): a deadlock or a retry loop that never stops?"
        ),
    }
}

// ─────────────────────── insert and get ───────────────────────

#[test]
fn a_new_record_starts_at_version_one() {
    let (_dir, _path, store) = store_with("sku-1", 42);
    assert_eq!(
        current(&store, "sku-1"),
        Some(Versioned {
            value: 42,
            version: 1
        }),
        "after insert(\"sku-1\", 42), get should return the value at version 1"
    );
}

#[test]
fn get_of_an_unknown_id_is_none() {
    let (_dir, _path, store) = store_with("sku-1", 42);
    assert_eq!(
        current(&store, "sku-2"),
        None,
        "get(\"sku-2\") of a record never inserted"
    );
}

#[test]
fn inserting_a_taken_id_is_already_exists_and_changes_nothing() {
    let (_dir, _path, store) = store_with("sku-1", 42);
    store
        .update("sku-1", 1, 43)
        .expect("update at the current version");
    let second = store.insert("sku-1", 7);
    assert!(
        matches!(second, Err(InsertError::AlreadyExists)),
        "a second insert of \"sku-1\" should be AlreadyExists, got {second:?}"
    );
    assert_eq!(
        current(&store, "sku-1"),
        Some(Versioned {
            value: 43,
            version: 2
        }),
        "the refused insert must leave the record's value and version alone"
    );
}

/// Another service inserts the same id and commits just before the store's
/// own INSERT (or BEGIN) runs: the store's insert lost the race, and must say
/// `AlreadyExists`, not fail with the database's UNIQUE error (a check, then
/// an insert, finds the id free and then collides).
#[test]
fn an_insert_that_loses_a_race_for_the_id_is_already_exists() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    let other = impatient_other_service(&path);
    let landed = Rc::new(Cell::new(false));
    let flag = Rc::clone(&landed);
    before_statement(
        |sql| starts_with_any(sql, &["INSERT", "REPLACE", "BEGIN", "SAVEPOINT"]),
        move || {
            flag.set(
                other
                    .execute(
                        "INSERT INTO records (id, value, version) VALUES ('sku', 99, 1)",
                        [],
                    )
                    .is_ok(),
            );
        },
    );
    let result = store.insert("sku", 1);
    hook_done();
    if landed.get() {
        assert!(
            matches!(result, Err(InsertError::AlreadyExists)),
            "another connection inserted \"sku\" just before this insert's write: expected \
             AlreadyExists (let the INSERT itself decide, and map its UNIQUE violation), got \
             {result:?}"
        );
        assert_eq!(
            current(&store, "sku"),
            Some(Versioned {
                value: 99,
                version: 1
            }),
            "the other service's record stays as it was"
        );
    } else {
        assert!(result.is_ok(), "insert of a free id: got {result:?}");
    }
}

#[test]
fn records_survive_reopening_and_are_seen_by_other_connections() {
    let (_dir, path) = temp_db();
    {
        let store = open(&path);
        store.insert("a", 1).expect("insert");
        store.update("a", 1, 2).expect("update at version 1");
    }
    let reopened = open(&path);
    let other = open(&path);
    let expected = Some(Versioned {
        value: 2,
        version: 2,
    });
    assert_eq!(
        current(&reopened, "a"),
        expected,
        "the record after reopening the file"
    );
    assert_eq!(
        current(&other, "a"),
        expected,
        "the record read through a second store"
    );
}

// ─────────────────────────── update ───────────────────────────

#[test]
fn an_update_at_the_current_version_writes_and_bumps_the_version() {
    let (_dir, _path, store) = store_with("sku-1", 10);
    let v2 = store.update("sku-1", 1, 11);
    assert!(
        matches!(v2, Ok(2)),
        "update(\"sku-1\", expected 1, 11) should return new version 2, got {v2:?}"
    );
    let v3 = store.update("sku-1", 2, 12);
    assert!(
        matches!(v3, Ok(3)),
        "update(\"sku-1\", expected 2, 12) should return new version 3, got {v3:?}"
    );
    assert_eq!(
        current(&store, "sku-1"),
        Some(Versioned {
            value: 12,
            version: 3
        }),
        "after two updates the record holds the last value at version 3"
    );
}

#[test]
fn a_stale_writer_gets_a_conflict_and_never_overwrites() {
    let (_dir, path, alice) = store_with("doc", 100);
    let bob = open(&path);
    // Both read version 1.
    let alice_read = current(&alice, "doc").expect("alice reads the record");
    let bob_read = current(&bob, "doc").expect("bob reads the record");
    assert_eq!(alice_read.version, 1);
    assert_eq!(bob_read.version, 1);
    // Alice writes first.
    let first = alice.update("doc", alice_read.version, alice_read.value + 1);
    assert!(
        matches!(first, Ok(2)),
        "the first writer should win with version 2, got {first:?}"
    );
    // Bob's write is based on a version that is gone.
    let second = bob.update("doc", bob_read.version, bob_read.value + 50);
    assert!(
        matches!(second, Err(UpdateError::Conflict { current_version: 2 })),
        "the second writer read version 1, which alice replaced: expected Conflict {{ current_version: 2 }}, got {second:?}"
    );
    assert_eq!(
        current(&alice, "doc"),
        Some(Versioned {
            value: 101,
            version: 2
        }),
        "the stale writer must not overwrite: the value is still alice's"
    );
}

#[rstest]
#[case::older_version(3, 2)]
#[case::future_version(1, 5)]
#[case::version_zero(1, 0)]
#[case::just_past_i64_max(2, 1 << 63)]
#[case::u64_max(2, u64::MAX)]
fn an_update_at_any_other_version_is_a_conflict_and_writes_nothing(
    #[case] updates: u64,
    #[case] expected_version: u64,
) {
    let (_dir, _path, store) = store_with("k", 0);
    for version in 1..updates {
        store
            .update("k", version, i64::try_from(version).unwrap_or(0))
            .expect("update at the current version");
    }
    let before = current(&store, "k");
    let result = store.update("k", expected_version, 999);
    assert!(
        matches!(result, Err(UpdateError::Conflict { current_version }) if current_version == updates),
        "record at version {updates}, update expecting {expected_version}: expected Conflict {{ current_version: {updates} }}, got {result:?}"
    );
    assert_eq!(
        current(&store, "k"),
        before,
        "a refused update must leave the record unchanged"
    );
}

#[test]
fn an_update_of_an_unknown_id_is_not_found() {
    let (_dir, _path, store) = store_with("k", 0);
    for version in [1, 1 << 63, u64::MAX] {
        let result = store.update("missing", version, 5);
        assert!(
            matches!(result, Err(UpdateError::NotFound)),
            "update(\"missing\", {version}, 5) with no such record should be NotFound (not a conflict, not a success, not a database error), got {result:?}"
        );
    }
    assert_eq!(
        current(&store, "missing"),
        None,
        "an update must not create a record"
    );
}

#[test]
fn followup_a_writer_whose_read_predates_a_concurrent_commit_gets_a_conflict() {
    // Another service has written version 2 but not committed yet. Our
    // writer reads version 1 (the last committed one) and updates with it
    // while that write is in flight. Once the other commits, our write must
    // be refused: a version compared in Rust before the UPDATE is stale by
    // the time the UPDATE runs.
    let (_dir, path, store) = store_with("sku", 10);
    let other = other_service(&path);
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the other service begins a write");
    bump(&other, "sku", 99);

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(store.update("sku", 1, 11));
    });
    // Not waiting for a result: only giving the writer time to read version
    // 1 and reach its write, which must wait for the other service's lock.
    thread::sleep(Duration::from_millis(300));
    other
        .execute_batch("COMMIT")
        .expect("the other service commits");

    let result = rx
        .recv_timeout(THREAD_DEADLINE)
        .expect("update did not return within the deadline after the other writer committed");
    assert!(
        matches!(result, Err(UpdateError::Conflict { current_version: 2 })),
        "update(expected 1) raced a commit of version 2 by another connection: expected Conflict {{ current_version: 2 }} (and, if the error is a database error, did you set a busy timeout?), got {result:?}"
    );
    let after = current(&open(&path), "sku");
    assert_eq!(
        after,
        Some(Versioned {
            value: 99,
            version: 2
        }),
        "the other service's committed write must survive (a lost update otherwise)"
    );
}

/// Another service commits version 2 just before the store's UPDATE (or
/// BEGIN) runs, after whatever the store read first: the update expecting
/// version 1 must be refused, and the conflict must name the version that
/// beat it, 2 (not a version read before the UPDATE).
#[test]
fn a_writer_that_loses_to_a_commit_just_before_its_update_gets_a_conflict_naming_the_new_version() {
    let (_dir, path, store) = store_with("sku", 10);
    let other = impatient_other_service(&path);
    let landed = Rc::new(Cell::new(false));
    let flag = Rc::clone(&landed);
    before_statement(
        |sql| starts_with_any(sql, &["UPDATE", "BEGIN", "SAVEPOINT"]),
        move || {
            flag.set(
                other
                    .execute(
                        "UPDATE records SET value = 99, version = version + 1 WHERE id = 'sku'",
                        [],
                    )
                    .is_ok(),
            );
        },
    );
    let result = store.update("sku", 1, 11);
    hook_done();
    assert!(
        landed.get(),
        "the spec's other service could not commit just before the update's UPDATE (or \
         BEGIN): does the store hold a lock between two updates?"
    );
    assert!(
        matches!(result, Err(UpdateError::Conflict { current_version: 2 })),
        "another connection committed version 2 just before this update (expecting 1) wrote: \
         expected Conflict {{ current_version: 2 }}, the version that won, got {result:?}"
    );
    assert_eq!(
        current(&store, "sku"),
        Some(Versioned {
            value: 99,
            version: 2
        }),
        "the other service's committed write must survive (a lost update otherwise)"
    );
}

#[test]
fn followup_a_write_waits_for_another_connections_write_instead_of_failing_busy() {
    let (_dir, path, store) = store_with("a", 1);
    store.insert("b", 1).expect("insert b");
    let other = other_service(&path);
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the other service begins a write");
    bump(&other, "b", 2);

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(store.update("a", 1, 5));
    });
    // Only giving the writer time to hit the other service's lock.
    thread::sleep(Duration::from_millis(300));
    other
        .execute_batch("COMMIT")
        .expect("the other service commits");

    let result = rx
        .recv_timeout(THREAD_DEADLINE)
        .expect("update did not return within the deadline");
    assert!(
        matches!(result, Ok(2)),
        "an update of \"a\" at its current version while another connection writes \"b\" should wait and succeed with version 2 (set a busy timeout), got {result:?}"
    );
}

#[test]
fn concurrent_single_updates_report_success_exactly_for_the_writes_that_landed() {
    const THREADS: usize = 4;
    const TRIES: usize = 60;
    let (_dir, path, _first) = store_with("counter", 0);
    let (tx, rx) = mpsc::channel();
    for _ in 0..THREADS {
        let tx = tx.clone();
        let path = path.clone();
        thread::spawn(move || {
            let store = open(&path);
            let mut wins = 0u64;
            for _ in 0..TRIES {
                let Some(read) = current(&store, "counter") else {
                    let _ = tx.send(Err("the record disappeared".to_string()));
                    return;
                };
                match store.update("counter", read.version, read.value + 1) {
                    Ok(_) => wins += 1,
                    Err(UpdateError::Conflict { .. }) => {}
                    Err(e) => {
                        let _ = tx.send(Err(format!(
                            "update failed with {e:?} (set a busy timeout?)"
                        )));
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(wins));
        });
    }
    let deadline = Instant::now() + THREAD_DEADLINE;
    let mut reported = 0u64;
    for _ in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(wins)) => reported += wins,
            Ok(Err(e)) => panic!("a writer thread failed: {e}"),
            Err(e) => panic!("the writer threads did not finish within {THREAD_DEADLINE:?}: {e}"),
        }
    }
    let after = current(&open(&path), "counter").expect("the counter exists");
    assert_eq!(
        after,
        Versioned {
            value: i64::try_from(reported).unwrap_or(-1),
            version: reported + 1
        },
        "{THREADS} threads × {TRIES} read-then-update(+1): the {reported} reported successes must be exactly the increments that landed"
    );
}

// ─────────────────────── update_with_retry ───────────────────────

#[test]
fn update_with_retry_applies_f_once_when_nobody_interferes() {
    let (_dir, _path, store) = store_with("k", 20);
    let mut seen = Vec::new();
    let result = store.update_with_retry("k", 3, |v| {
        seen.push(v);
        v * 2
    });
    assert!(
        matches!(
            result,
            Ok(Versioned {
                value: 40,
                version: 2
            })
        ),
        "update_with_retry(\"k\", 3, double) on 20@v1 should return 40@v2, got {result:?}"
    );
    assert_eq!(seen, vec![20], "f should run once, on the stored value");
    assert_eq!(
        current(&store, "k"),
        Some(Versioned {
            value: 40,
            version: 2
        })
    );
}

#[test]
fn update_with_retry_rereads_the_record_after_a_conflict() {
    let (_dir, path, store) = store_with("k", 0);
    let other = other_service(&path);
    let mut seen = Vec::new();
    let result = store.update_with_retry("k", 5, |v| {
        if seen.is_empty() {
            // Another service writes 100 after our first read.
            bump(&other, "k", 100);
        }
        seen.push(v);
        v + 1
    });
    assert_eq!(
        seen,
        vec![0, 100],
        "f must see the value read at the start of each attempt: 0, then (after a conflict) the other service's 100"
    );
    assert!(
        matches!(
            result,
            Ok(Versioned {
                value: 101,
                version: 3
            })
        ),
        "the second attempt writes 100 + 1 at version 3, got {result:?}"
    );
    assert_eq!(
        current(&store, "k"),
        Some(Versioned {
            value: 101,
            version: 3
        })
    );
}

#[rstest]
#[case::one_attempt(1)]
#[case::three_attempts(3)]
#[case::seven_attempts(7)]
fn update_with_retry_stops_after_exactly_max_attempts_with_a_conflict(#[case] max_attempts: u32) {
    // Another service writes after every read, for a few more times than the
    // bound: a loop that ignores the bound ends (and is caught) instead of
    // spinning for ever.
    let interferences = max_attempts + 3;
    let (_dir, path, store) = store_with("hot", 0);
    let (calls, result) = bounded("update_with_retry", move || {
        let other = other_service(&path);
        let mut calls = 0u32;
        let result = store.update_with_retry("hot", max_attempts, |v| {
            calls += 1;
            if calls <= interferences {
                bump(&other, "hot", i64::from(calls) * 1000);
            }
            v + 1
        });
        let after = current(&store, "hot");
        (calls, (result, after))
    });
    let (result, after) = result;
    assert!(
        matches!(result, Err(RetryError::Conflict { attempts }) if attempts == max_attempts),
        "every attempt loses to another writer: update_with_retry(max_attempts = {max_attempts}) should end in Conflict {{ attempts: {max_attempts} }}, got {result:?} after {calls} calls of f"
    );
    assert_eq!(
        calls, max_attempts,
        "f runs once per attempt: {max_attempts} attempts, no more, no fewer"
    );
    assert_eq!(
        after,
        Some(Versioned {
            value: i64::from(max_attempts) * 1000,
            version: u64::from(max_attempts) + 1
        }),
        "the record holds the other service's last write: no losing attempt may overwrite it"
    );
}

#[test]
fn update_with_retry_of_an_unknown_id_is_not_found_without_calling_f() {
    let (_dir, _path, store) = store_with("k", 0);
    let mut calls = 0;
    let result = store.update_with_retry("missing", 3, |v| {
        calls += 1;
        v + 1
    });
    assert!(
        matches!(result, Err(RetryError::NotFound)),
        "update_with_retry(\"missing\") should be NotFound, got {result:?}"
    );
    assert_eq!(calls, 0, "f must not run when there is no record to read");
}

#[test]
fn update_with_retry_with_zero_attempts_panics() {
    let (_dir, _path, store) = store_with("k", 0);
    let mut calls = 0;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        store.update_with_retry("k", 0, |v| {
            calls += 1;
            v + 1
        })
    }));
    let message = match &outcome {
        Ok(result) => panic!(
            "update_with_retry(\"k\", max_attempts = 0) is a caller bug and should panic, but it \
             returned {result:?}"
        ),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    };
    assert!(
        !message.contains("not yet implemented"),
        "update_with_retry panicked with the stub's todo!(): {message}"
    );
    assert_eq!(calls, 0, "with zero attempts f must not run");
    assert_eq!(
        current(&store, "k"),
        Some(Versioned {
            value: 0,
            version: 1
        }),
        "a refused call writes nothing"
    );
}

/// Another service commits just after the store's winning UPDATE, before
/// the store's next statement: `update_with_retry` returns the record *as it
/// wrote it*, not a fresh read that already holds the other service's value.
#[test]
fn update_with_retry_returns_the_record_as_it_wrote_it_not_a_later_read() {
    let (_dir, path, store) = store_with("k", 0);
    let other = impatient_other_service(&path);
    let mut updated = false;
    before_statement(
        move |sql| {
            if updated && !starts_with_any(sql, &["COMMIT", "END", "RELEASE"]) {
                return true;
            }
            updated |= starts_with_any(sql, &["UPDATE"]);
            false
        },
        move || {
            // Fails (and is ignored) if the store still holds its write lock.
            let _ = other.execute(
                "UPDATE records SET value = 777, version = version + 1 WHERE id = 'k'",
                [],
            );
        },
    );
    let result = store.update_with_retry("k", 3, |v| v + 1);
    hook_done();
    assert!(
        matches!(
            result,
            Ok(Versioned {
                value: 1,
                version: 2
            })
        ),
        "update_with_retry(+1) on 0@v1 wrote 1@v2, and another service wrote 777@v3 right \
         after: it should return the record as it wrote it, 1@v2, got {result:?}"
    );
}

#[test]
fn followup_concurrent_increments_from_several_connections_lose_no_update() {
    const THREADS: usize = 4;
    const INCREMENTS: i64 = 50;
    let (_dir, path, _first) = store_with("counter", 0);
    let (tx, rx) = mpsc::channel();
    for _ in 0..THREADS {
        let tx = tx.clone();
        let path = path.clone();
        thread::spawn(move || {
            let store = open(&path);
            for i in 0..INCREMENTS {
                if let Err(e) = store.update_with_retry("counter", 10_000, |v| v + 1) {
                    let _ = tx.send(Err(format!("increment {i} failed: {e:?}")));
                    return;
                }
            }
            let _ = tx.send(Ok(()));
        });
    }
    let deadline = Instant::now() + THREAD_DEADLINE;
    for _ in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("a thread's increment failed: {e}"),
            Err(e) => {
                panic!("the incrementing threads did not finish within {THREAD_DEADLINE:?}: {e}")
            }
        }
    }
    let total = INCREMENTS * THREADS as i64;
    assert_eq!(
        current(&open(&path), "counter"),
        Some(Versioned {
            value: total,
            version: total as u64 + 1
        }),
        "{THREADS} threads × {INCREMENTS} update_with_retry(+1), each on its own connection: every increment must land once"
    );
}

// ─────────────────────── against a model ───────────────────────

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, i64),
    Get(usize),
    /// Update expecting the model's current version plus `offset`.
    Update(usize, i64, i64),
    Retry(usize, i64),
}

const IDS: [&str; 3] = ["a", "b", "c"];

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    prop_oneof![
        (id.clone(), -50i64..50).prop_map(|(i, v)| Op::Insert(i, v)),
        id.clone().prop_map(Op::Get),
        (
            id.clone(),
            prop_oneof![3 => Just(0i64), 1 => -2i64..3],
            -50i64..50
        )
            .prop_map(|(i, o, v)| Op::Update(i, o, v)),
        (id, -5i64..5).prop_map(|(i, d)| Op::Retry(i, d)),
    ]
}

/// What an operation returned, comparable between the store and the model.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Inserted,
    AlreadyExists,
    Got(Option<Versioned>),
    Updated(u64),
    Conflict(u64),
    NotFound,
    Retried(Versioned),
    Other(String),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn agrees_with_a_map_of_versioned_values(ops in vec(op(), 1..25)) {
        let (_dir, path) = temp_db();
        let store = open(&path);
        let mut model: BTreeMap<&str, Versioned> = BTreeMap::new();
        for (step, op) in ops.iter().enumerate() {
            let (got, want) = match *op {
                Op::Insert(i, value) => {
                    let id = IDS[i];
                    let got = match store.insert(id, value) {
                        Ok(()) => Outcome::Inserted,
                        Err(InsertError::AlreadyExists) => Outcome::AlreadyExists,
                        Err(e) => Outcome::Other(format!("{e:?}")),
                    };
                    let want = if model.contains_key(id) {
                        Outcome::AlreadyExists
                    } else {
                        model.insert(id, Versioned { value, version: 1 });
                        Outcome::Inserted
                    };
                    (got, want)
                }
                Op::Get(i) => {
                    let id = IDS[i];
                    (Outcome::Got(current(&store, id)), Outcome::Got(model.get(id).copied()))
                }
                Op::Update(i, offset, value) => {
                    let id = IDS[i];
                    let base = model.get(id).map_or(1, |r| r.version);
                    let expected = u64::try_from(i64::try_from(base).unwrap_or(0) + offset).unwrap_or(0);
                    let got = match store.update(id, expected, value) {
                        Ok(version) => Outcome::Updated(version),
                        Err(UpdateError::Conflict { current_version }) => Outcome::Conflict(current_version),
                        Err(UpdateError::NotFound) => Outcome::NotFound,
                        Err(e) => Outcome::Other(format!("{e:?}")),
                    };
                    let want = match model.get_mut(id) {
                        None => Outcome::NotFound,
                        Some(r) if r.version == expected => {
                            r.version += 1;
                            r.value = value;
                            Outcome::Updated(r.version)
                        }
                        Some(r) => Outcome::Conflict(r.version),
                    };
                    (got, want)
                }
                Op::Retry(i, delta) => {
                    let id = IDS[i];
                    let got = match store.update_with_retry(id, 2, |v| v + delta) {
                        Ok(written) => Outcome::Retried(written),
                        Err(RetryError::NotFound) => Outcome::NotFound,
                        Err(e) => Outcome::Other(format!("{e:?}")),
                    };
                    let want = match model.get_mut(id) {
                        None => Outcome::NotFound,
                        Some(r) => {
                            r.version += 1;
                            r.value += delta;
                            Outcome::Retried(*r)
                        }
                    };
                    (got, want)
                }
            };
            prop_assert_eq!(got, want, "step {} of {:?}: {:?}", step, ops, op);
        }
        for id in IDS {
            prop_assert_eq!(current(&store, id), model.get(id).copied(), "record {:?} at the end of {:?}", id, ops);
        }
    }
}
