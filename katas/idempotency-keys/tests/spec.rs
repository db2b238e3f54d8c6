//! The specification of the idempotency-keys kata.
//!
//! Every test name is a requirement; read the failing names first. Each test
//! works on a fresh SQLite file in a temporary directory, with a `charges`
//! table that stands for the effect: a request's effect inserts one charge,
//! so counting charges counts how often the effect really applied. Time is
//! passed in as unix seconds: nothing here reads the clock.
//!
//! `cargo test -p idempotency-keys` judges your code;
//! `cargo test -p idempotency-keys --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only; this kata has
// none, and its spec needs the normal build.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use idempotency_keys as subject;
#[cfg(feature = "solution")]
use idempotency_keys_solution as subject;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Once, mpsc};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use rusqlite::{Connection, Transaction, ffi, params};
use subject::{IdemError, Idempotency, Outcome, Response, fingerprint};
use tempfile::TempDir;

// ───────────────────────────── helpers ─────────────────────────────

/// The retention most tests use: one day, in seconds.
const DAY: i64 = 24 * 60 * 60;

/// How long a spec waits for a thread's answer before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh database file with the `charges` table of the effects. The
/// directory (and the file) are deleted when the `TempDir` is dropped.
fn database() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory for the database");
    let path = dir.path().join("payments.db");
    let conn = Connection::open(&path).expect("the spec opens the database file");
    conn.execute_batch(
        "CREATE TABLE charges (
             id     INTEGER PRIMARY KEY,
             key    TEXT    NOT NULL,
             amount INTEGER NOT NULL
         );",
    )
    .expect("the spec creates its charges table");
    (dir, path)
}

fn open(path: &Path, retention: i64) -> Idempotency {
    watch_statements_of_new_connections();
    Idempotency::open(path, retention)
        .unwrap_or_else(|e| panic!("Idempotency::open({path:?}, {retention}) failed: {e}"))
}

thread_local! {
    /// Where this thread reports each SQL statement it starts, while a spec
    /// watches it (see `watch_statements_of_new_connections`).
    static WATCH: RefCell<Option<mpsc::Sender<()>>> = const { RefCell::new(None) };
}

/// SQLite calls this when a statement starts running on any connection.
unsafe extern "C" fn on_statement(
    _event: c_uint,
    _context: *mut c_void,
    _statement: *mut c_void,
    _sql: *mut c_void,
) -> c_int {
    let _ = WATCH.try_with(|watch| {
        if let Ok(watch) = watch.try_borrow()
            && let Some(started) = watch.as_ref()
        {
            let _ = started.send(());
        }
    });
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

/// From now on, every connection the process opens (the handles' own
/// included) tells a watching thread when it starts a statement, so a spec
/// can hold a lock until another request is really at the database.
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

/// How many charges were committed, read by a connection of the spec's own.
fn charges(path: &Path) -> i64 {
    let conn = Connection::open(path).expect("the spec opens the database file");
    conn.busy_timeout(PATIENCE).expect("busy timeout");
    conn.query_row("SELECT COUNT(*) FROM charges", [], |row| row.get(0))
        .expect("the spec counts the charges")
}

/// Charges committed for one idempotency key.
fn charges_for(path: &Path, key: &str) -> i64 {
    let conn = Connection::open(path).expect("the spec opens the database file");
    conn.busy_timeout(PATIENCE).expect("busy timeout");
    conn.query_row(
        "SELECT COUNT(*) FROM charges WHERE key = ?1",
        params![key],
        |row| row.get(0),
    )
    .expect("the spec counts the charges")
}

/// The effect of a payment: insert one charge, answer `201` with its id.
fn charge(tx: &Transaction<'_>, key: &str, amount: i64) -> rusqlite::Result<Response> {
    tx.execute(
        "INSERT INTO charges (key, amount) VALUES (?1, ?2)",
        params![key, amount],
    )?;
    let id = tx.last_insert_rowid();
    Ok(Response {
        status: 201,
        body: format!("charge {id}: {amount} cents").into_bytes(),
    })
}

/// One request whose effect is a charge of `amount`; the counter counts how
/// often the effect was called.
fn pay(
    idem: &mut Idempotency,
    key: &str,
    body: &[u8],
    now: i64,
    calls: &AtomicUsize,
) -> Result<Outcome, IdemError<rusqlite::Error>> {
    idem.handle(key, body, now, |tx| {
        calls.fetch_add(1, Ordering::SeqCst);
        charge(tx, key, 1000)
    })
}

fn describe(result: &Result<Outcome, IdemError<rusqlite::Error>>) -> String {
    match result {
        Ok(outcome) => format!(
            "Ok(status {}, body {:?}, replayed {})",
            outcome.response.status,
            String::from_utf8_lossy(&outcome.response.body),
            outcome.replayed
        ),
        Err(IdemError::Conflict) => "Err(Conflict)".to_owned(),
        Err(IdemError::Effect(e)) => format!("Err(Effect({e}))"),
        Err(IdemError::Database(e)) => format!("Err(Database({e}))"),
    }
}

fn fresh(result: Result<Outcome, IdemError<rusqlite::Error>>, what: &str) -> Response {
    match result {
        Ok(Outcome {
            response,
            replayed: false,
        }) => response,
        other => panic!(
            "{what}: expected the effect to run (Ok, replayed: false), got {}",
            describe(&other)
        ),
    }
}

fn replayed(result: Result<Outcome, IdemError<rusqlite::Error>>, what: &str) -> Response {
    match result {
        Ok(Outcome {
            response,
            replayed: true,
        }) => response,
        other => panic!(
            "{what}: expected the stored response to be replayed (Ok, replayed: true), got {}",
            describe(&other)
        ),
    }
}

// ─────────────────────────── fingerprint ───────────────────────────

#[rstest]
#[case::empty_body(b"", 0xcbf2_9ce4_8422_2325)]
#[case::one_byte(b"a", 0xaf63_dc4c_8601_ec8c)]
#[case::a_word(b"foobar", 0x8594_4171_f739_67e8)]
#[case::a_json_body(br#"{"amount":1000}"#, 0x6c0d_eb72_ded5_e24c)]
fn fingerprint_is_64_bit_fnv_1a(#[case] body: &[u8], #[case] expected: u64) {
    assert_eq!(
        fingerprint(body),
        expected,
        "the fingerprint of {:?} is its 64-bit FNV-1a hash {expected:#018x}",
        String::from_utf8_lossy(body)
    );
}

// ───────────────────────── replay and conflict ─────────────────────────

#[test]
fn first_request_runs_the_effect_once_and_returns_its_response() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let response = fresh(
        pay(&mut idem, "order-1", b"{\"amount\":1000}", 0, &calls),
        "the first request with key order-1",
    );
    assert_eq!(
        response.status, 201,
        "the effect's response is returned as it is"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the effect runs exactly once"
    );
    assert_eq!(charges(&path), 1, "the effect's charge is committed");
}

#[test]
fn a_retry_with_the_same_key_and_body_replays_the_stored_response_without_running_the_effect() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let body = b"{\"amount\":1000}";
    let first = fresh(
        pay(&mut idem, "order-1", body, 100, &calls),
        "the first request",
    );
    for retry in 1..=3 {
        let again = replayed(
            pay(&mut idem, "order-1", body, 100 + retry, &calls),
            &format!("retry {retry} with the same key and body"),
        );
        assert_eq!(
            again, first,
            "retry {retry} gets exactly the first response back"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "retries never call the effect"
    );
    assert_eq!(
        charges(&path),
        1,
        "one charge however often the client retries"
    );
}

#[test]
fn stored_responses_survive_reopening_the_database() {
    let (_dir, path) = database();
    let calls = AtomicUsize::new(0);
    let body = b"{\"amount\":1000}";
    let first = {
        let mut idem = open(&path, DAY);
        fresh(
            pay(&mut idem, "order-1", body, 0, &calls),
            "the first request",
        )
    };
    // A restarted service (or another node on the same database).
    let mut idem = open(&path, DAY);
    let again = replayed(
        pay(&mut idem, "order-1", body, 5, &calls),
        "a retry after the service restarted",
    );
    assert_eq!(
        again, first,
        "the replay after a restart is the first response"
    );
    assert_eq!(charges(&path), 1, "one charge across the restart");
}

#[test]
fn the_same_key_with_a_different_body_is_a_conflict_and_runs_nothing() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let first = fresh(
        pay(&mut idem, "order-1", b"{\"amount\":1000}", 0, &calls),
        "the first request",
    );
    let result = pay(&mut idem, "order-1", b"{\"amount\":9999}", 1, &calls);
    assert!(
        matches!(result, Err(IdemError::Conflict)),
        "key order-1 reused with another body must be Err(Conflict), not a replay of the old response; got {}",
        describe(&result)
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a conflicting request does not call the effect"
    );
    assert_eq!(charges(&path), 1, "a conflicting request charges nothing");
    let again = replayed(
        pay(&mut idem, "order-1", b"{\"amount\":1000}", 2, &calls),
        "the original body after a conflict",
    );
    assert_eq!(
        again, first,
        "a conflict leaves the stored response as it was"
    );
}

#[test]
fn different_keys_are_independent_even_with_the_same_body() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let body = b"{\"amount\":1000}";
    let a = fresh(pay(&mut idem, "order-a", body, 0, &calls), "key order-a");
    let b = fresh(
        pay(&mut idem, "order-b", body, 0, &calls),
        "key order-b, same body",
    );
    assert_ne!(a, b, "two keys run two effects with two responses");
    assert_eq!(
        replayed(
            pay(&mut idem, "order-a", body, 1, &calls),
            "retry of order-a"
        ),
        a
    );
    assert_eq!(
        replayed(
            pay(&mut idem, "order-b", body, 1, &calls),
            "retry of order-b"
        ),
        b
    );
    assert_eq!(charges(&path), 2, "one charge per key");
}

#[test]
fn keys_that_differ_only_in_case_are_different_keys() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let body = b"{\"amount\":1000}";
    let upper = fresh(pay(&mut idem, "Order-1", body, 0, &calls), "key Order-1");
    let lower = fresh(
        pay(&mut idem, "order-1", body, 1, &calls),
        "key order-1 (another client's key: idempotency keys are opaque, case-sensitive strings)",
    );
    assert_ne!(upper, lower, "two keys run two effects with two responses");
    let other = fresh(
        pay(&mut idem, "ORDER-1", b"{\"amount\":9999}", 2, &calls),
        "key ORDER-1 with another body (not a conflict: another key)",
    );
    assert_ne!(other, upper);
    assert_eq!(
        replayed(
            pay(&mut idem, "Order-1", body, 3, &calls),
            "retry of Order-1"
        ),
        upper,
        "Order-1 replays its own response"
    );
    assert_eq!(charges(&path), 3, "one charge per key, case counts");
}

#[test]
fn a_replayed_response_body_is_the_same_bytes_even_when_it_is_not_utf8() {
    let (_dir, path) = database();
    let body = b"{\"receipt\":\"pdf\"}";
    // A binary body: invalid UTF-8, a NUL, every byte value.
    let binary: Vec<u8> = [0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]
        .into_iter()
        .chain(0..=255)
        .collect();
    let first = {
        let mut idem = open(&path, DAY);
        let answer = binary.clone();
        fresh(
            idem.handle("order-1", body, 0, move |tx| {
                charge(tx, "order-1", 1000)?;
                Ok::<_, rusqlite::Error>(Response {
                    status: 201,
                    body: answer,
                })
            }),
            "the first request, whose response body is binary",
        )
    };
    assert_eq!(
        first.body, binary,
        "the effect's response is returned as it is"
    );
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let again = replayed(
        pay(&mut idem, "order-1", body, 1, &calls),
        "a retry of a request with a binary response",
    );
    assert_eq!(
        again.body, binary,
        "the replay must be the stored response byte for byte (a PDF receipt, gzip), not a \
         lossy UTF-8 text of it"
    );
    assert_eq!(charges(&path), 1);
}

// ────────────────────────────── crashes ──────────────────────────────

#[test]
fn an_effect_that_fails_after_writing_commits_nothing_and_a_retry_runs_it_once() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let body = b"{\"amount\":1000}";
    let result = idem.handle("order-1", body, 0, |tx| {
        charge(tx, "order-1", 1000)?;
        Err::<Response, _>(rusqlite::Error::InvalidQuery)
    });
    assert!(
        matches!(result, Err(IdemError::Effect(_))),
        "an effect that returns Err is reported as Err(Effect(..)); got {}",
        describe(&result)
    );
    assert_eq!(
        charges(&path),
        0,
        "the failed effect's charge must be rolled back"
    );
    let calls = AtomicUsize::new(0);
    fresh(
        pay(&mut idem, "order-1", body, 1, &calls),
        "a retry after the effect failed (no response was stored)",
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the retry runs the effect once"
    );
    assert_eq!(
        charges(&path),
        1,
        "exactly one charge after the failure and the retry"
    );
}

#[test]
fn an_effect_that_panics_after_writing_commits_nothing_and_a_retry_runs_it_once() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let body = b"{\"amount\":1000}";
    let crashed = panic::catch_unwind(AssertUnwindSafe(|| {
        idem.handle("order-1", body, 0, |tx| -> rusqlite::Result<Response> {
            charge(tx, "order-1", 1000)?;
            panic!("simulated crash inside the effect, after its charge was written");
        })
    }));
    assert!(
        crashed.is_err(),
        "the effect's panic propagates out of handle"
    );
    assert_eq!(
        charges(&path),
        0,
        "the crashed effect's charge must be rolled back"
    );
    let calls = AtomicUsize::new(0);
    fresh(
        pay(&mut idem, "order-1", body, 1, &calls),
        "a retry after the effect panicked, on the same handle",
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the retry runs the effect once"
    );
    assert_eq!(
        charges(&path),
        1,
        "exactly one charge after the crash and the retry"
    );
}

/// The effect succeeds, and then the service can no longer write (the disk
/// fills up, the process is killed): `PRAGMA query_only` on the handle's
/// connection makes every write after the effect fail. If the effect and its
/// record commit together, neither is there; if the effect was committed on
/// its own first, the charge is there without its record, and the retry
/// after a restart charges again.
#[test]
fn followup_a_crash_between_the_effect_and_its_record_commits_neither() {
    let (_dir, path) = database();
    let body = b"{\"amount\":1000}";
    {
        let mut idem = open(&path, DAY);
        let result = idem.handle("order-1", body, 0, |tx| {
            let response = charge(tx, "order-1", 1000)?;
            tx.execute_batch("PRAGMA query_only = ON")?;
            Ok::<_, rusqlite::Error>(response)
        });
        assert!(
            matches!(result, Err(IdemError::Database(_))),
            "when the record cannot be written after the effect, handle reports Err(Database(..)); got {}",
            describe(&result)
        );
    }
    assert_eq!(
        charges(&path),
        0,
        "the effect committed without its idempotency record: the effect and the record must commit in one transaction"
    );
    // The service restarts and the client retries.
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    fresh(
        pay(&mut idem, "order-1", body, 1, &calls),
        "the retry after the crash",
    );
    assert_eq!(
        charges(&path),
        1,
        "exactly one charge after the crash and the retry"
    );
    replayed(pay(&mut idem, "order-1", body, 2, &calls), "a second retry");
    assert_eq!(charges(&path), 1, "still one charge");
}

// ────────────────────────────── expiry ──────────────────────────────

#[rstest]
#[case::at_once(0)]
#[case::a_second_before_the_end(DAY - 1)]
#[case::exactly_at_the_end_of_the_retention(DAY)]
fn a_record_is_replayed_up_to_and_including_the_retention_period(#[case] age: i64) {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let body = b"{\"amount\":1000}";
    let t0 = 1_700_000_000;
    let first = fresh(
        pay(&mut idem, "order-1", body, t0, &calls),
        "the first request",
    );
    let again = replayed(
        pay(&mut idem, "order-1", body, t0 + age, &calls),
        &format!("a retry {age}s after the first request, with a retention of {DAY}s"),
    );
    assert_eq!(again, first);
    let purged = idem.purge(t0 + age).expect("purge");
    assert_eq!(
        purged, 0,
        "purge({age}s later) must not delete a record that is still within its retention of {DAY}s"
    );
    replayed(
        pay(&mut idem, "order-1", body, t0 + age, &calls),
        &format!("a retry {age}s later, after purge at that time"),
    );
    assert_eq!(charges(&path), 1, "one charge within the retention period");
}

#[test]
fn a_key_expires_one_second_after_the_retention_period_and_can_be_used_again() {
    let (_dir, path) = database();
    let mut idem = open(&path, DAY);
    let calls = AtomicUsize::new(0);
    let t0 = 1_700_000_000;
    let first = fresh(
        pay(&mut idem, "order-1", b"{\"amount\":1000}", t0, &calls),
        "the first request",
    );
    // No purge: an expired record is ignored when the key comes back.
    let second = fresh(
        pay(
            &mut idem,
            "order-1",
            b"{\"amount\":2500}",
            t0 + DAY + 1,
            &calls,
        ),
        "key order-1 with a new body one second after its retention ended (no conflict: the old record expired)",
    );
    assert_ne!(second, first, "the new request gets its own response");
    let again = replayed(
        pay(
            &mut idem,
            "order-1",
            b"{\"amount\":2500}",
            t0 + DAY + 2,
            &calls,
        ),
        "a retry of the new request",
    );
    assert_eq!(again, second, "the key now replays the new response");
    let third = fresh(
        pay(
            &mut idem,
            "order-1",
            b"{\"amount\":2500}",
            t0 + 2 * DAY + 2,
            &calls,
        ),
        "the same body once the new record expired too",
    );
    assert_ne!(third, second);
    assert_eq!(charges(&path), 3, "one charge per retention period");
}

#[rstest]
#[case::a_retention_of_i64_max(i64::MAX, 1_700_000_000)]
#[case::a_record_stored_near_the_end_of_time(DAY, i64::MAX - 10)]
fn a_retention_that_reaches_past_i64_max_keeps_the_record_without_overflowing(
    #[case] retention: i64,
    #[case] t0: i64,
) {
    let (_dir, path) = database();
    let mut idem = open(&path, retention);
    let calls = AtomicUsize::new(0);
    let body = b"{\"amount\":1000}";
    let first = fresh(
        pay(&mut idem, "order-1", body, t0, &calls),
        &format!("the first request at t={t0}, retention {retention}s"),
    );
    for now in [t0 + 1, i64::MAX] {
        let again = replayed(
            pay(&mut idem, "order-1", body, now, &calls),
            &format!(
                "a retry at t={now} of a record stored at t={t0} with a retention of \
                 {retention}s: t + retention is past i64::MAX, so the record never expires \
                 (compute the cut-off without overflow)"
            ),
        );
        assert_eq!(again, first);
        assert_eq!(
            idem.purge(now).expect("purge"),
            0,
            "purge(t={now}) must not delete a record stored at t={t0} with a retention of \
             {retention}s"
        );
    }
    assert_eq!(charges(&path), 1, "one charge: the record never expired");
}

#[test]
fn purge_deletes_exactly_the_records_expired_at_that_time() {
    let (_dir, path) = database();
    let retention = 100;
    let mut idem = open(&path, retention);
    let calls = AtomicUsize::new(0);
    for (key, at) in [("a", 0), ("b", 10), ("c", 20)] {
        fresh(
            pay(&mut idem, key, b"{}", at, &calls),
            &format!("key {key} at t={at}"),
        );
    }
    assert_eq!(
        idem.purge(100).expect("purge"),
        0,
        "at t=100 no record is older than the retention of 100s"
    );
    assert_eq!(
        idem.purge(110).expect("purge"),
        1,
        "at t=110 only a (stored at 0, 110s ago) has expired; b is exactly 100s old and kept"
    );
    assert_eq!(
        idem.purge(110).expect("purge"),
        0,
        "a second purge at the same time finds nothing left to delete"
    );
    replayed(
        pay(&mut idem, "b", b"{}", 110, &calls),
        "key b, exactly at the end of its retention",
    );
    assert_eq!(
        idem.purge(121).expect("purge"),
        2,
        "at t=121 b and c have both expired"
    );
    fresh(
        pay(&mut idem, "c", b"{}", 121, &calls),
        "key c after it was purged",
    );
    assert_eq!(charges(&path), 4);
}

// ─────────────────────────── concurrency ───────────────────────────

/// How long request A keeps its transaction open once request B has started
/// talking to the database: B must wait at least this long for the lock
/// ("a busy timeout of several seconds") instead of failing.
const HOLD: Duration = Duration::from_secs(1);

/// Request A runs its effect and holds it open; request B, with the same key
/// and on another connection, arrives meanwhile. A keeps its transaction
/// open until B has started a statement (B is looking the key up, or waiting
/// for the lock) and then for `HOLD` more, or until B answers. B must neither
/// run the effect nor fail with "database is locked": it waits for A to
/// commit and replays A's response.
#[test]
fn a_concurrent_duplicate_waits_for_the_first_request_and_replays_its_response() {
    let (_dir, path) = database();
    let body: &[u8] = b"{\"amount\":1000}";
    let mut a = open(&path, DAY);
    let mut b = open(&path, DAY);
    let (in_effect_tx, in_effect) = mpsc::channel();
    let (b_started_tx, b_started) = mpsc::channel();
    let (b_answered_tx, b_answered) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel();
    let done_a = done_tx.clone();
    thread::spawn(move || {
        let result = a.handle("order-1", body, 0, |tx| {
            let response = charge(tx, "order-1", 1000)?;
            let _ = in_effect_tx.send(());
            // B's first statement: B is now at the database.
            let _ = b_started.recv_timeout(PATIENCE);
            // Keep the lock while B waits for it (or until B gives up).
            let _ = b_answered.recv_timeout(HOLD);
            Ok::<_, rusqlite::Error>(response)
        });
        let _ = done_a.send(("A", result));
    });
    in_effect
        .recv_timeout(PATIENCE)
        .expect("request A should reach its effect");
    let b_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&b_calls);
    thread::spawn(move || {
        WATCH.with(|watch| *watch.borrow_mut() = Some(b_started_tx));
        let result = pay(&mut b, "order-1", body, 1, &calls);
        WATCH.with(|watch| *watch.borrow_mut() = None);
        let _ = b_answered_tx.send(());
        let _ = done_tx.send(("B", result));
    });
    let mut results = HashMap::new();
    for _ in 0..2 {
        let (who, result) = done.recv_timeout(PATIENCE).expect(
            "both requests answer within 10s (is B waiting for a lock that is never released?)",
        );
        results.insert(who, result);
    }
    let first = fresh(results.remove("A").expect("A answered"), "request A");
    let second = replayed(
        results.remove("B").expect("B answered"),
        &format!(
            "request B, a duplicate that arrived while A's effect was running and waited \
             {HOLD:?} for A's lock (a busy timeout of several seconds outlasts that)"
        ),
    );
    assert_eq!(second, first, "B replays A's response");
    assert_eq!(b_calls.load(Ordering::SeqCst), 0, "B's effect must not run");
    assert_eq!(
        charges(&path),
        1,
        "one charge for two concurrent duplicates"
    );
}

#[test]
fn followup_concurrent_duplicates_from_several_connections_run_each_effect_exactly_once() {
    const THREADS: usize = 4;
    const KEYS: usize = 25;
    let (_dir, path) = database();
    let barrier = Arc::new(Barrier::new(THREADS));
    let (tx, rx) = mpsc::channel();
    for thread_no in 0..THREADS {
        let mut idem = open(&path, DAY);
        let barrier = Arc::clone(&barrier);
        let tx = tx.clone();
        thread::spawn(move || {
            for k in 0..KEYS {
                let key = format!("order-{k}");
                let body = format!("{{\"amount\":{k}}}");
                // All threads send key k at once.
                barrier.wait();
                let calls = AtomicUsize::new(0);
                let result =
                    pay(&mut idem, &key, body.as_bytes(), 0, &calls).map_err(|e| describe(&Err(e)));
                if tx.send((thread_no, k, result)).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut by_key: HashMap<usize, Vec<(usize, Outcome)>> = HashMap::new();
    for _ in 0..THREADS * KEYS {
        let (thread_no, k, result) = rx
            .recv_timeout(PATIENCE)
            .expect("every request answers within 10s");
        match result {
            Ok(outcome) => by_key.entry(k).or_default().push((thread_no, outcome)),
            Err(e) => panic!(
                "thread {thread_no}, key order-{k}: every concurrent duplicate must succeed (run the effect or replay), got {e}"
            ),
        }
    }
    for (k, outcomes) in &by_key {
        let ran = outcomes.iter().filter(|(_, o)| !o.replayed).count();
        assert_eq!(
            ran, 1,
            "key order-{k}: exactly one of {THREADS} concurrent duplicates runs the effect, {ran} did"
        );
        let first = &outcomes[0].1.response;
        assert!(
            outcomes.iter().all(|(_, o)| &o.response == first),
            "key order-{k}: every duplicate gets the same response"
        );
        assert_eq!(
            charges_for(&path, &format!("order-{k}")),
            1,
            "key order-{k}: exactly one charge"
        );
    }
}

// ───────────────────────────── the model ─────────────────────────────

#[derive(Debug, Clone)]
enum Op {
    Request { key: u8, body: u8, fails: bool },
    Wait(i64),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, 0..2u8, prop::bool::weighted(0.15))
            .prop_map(|(key, body, fails)| Op::Request { key, body, fails }),
        3 => (0..=6i64).prop_map(Op::Wait),
        1 => Just(Op::Purge),
    ]
}

/// What a correct store holds: key → (body, response, stored at).
type Model = HashMap<u8, (u8, Response, i64)>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_a_model_of_keys_and_stored_responses(ops in prop::collection::vec(op(), 1..40)) {
        const RETENTION: i64 = 10;
        let (_dir, path) = database();
        let mut idem = open(&path, RETENTION);
        let mut model = Model::new();
        let mut now = 1_000;
        let mut expected_charges = 0;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Wait(seconds) => now += seconds,
                Op::Purge => {
                    let expired = model.values().filter(|(_, _, at)| now - at > RETENTION).count();
                    model.retain(|_, (_, _, at)| now - *at <= RETENTION);
                    let purged = idem.purge(now).expect("purge");
                    prop_assert!(purged <= expired, "step {step}: purge({now}) deleted {purged} records, but only {expired} had expired");
                }
                Op::Request { key, body, fails } => {
                    let key_text = format!("key-{key}");
                    let body_text = format!("body-{body}");
                    let calls = AtomicUsize::new(0);
                    let result = idem.handle(&key_text, body_text.as_bytes(), now, |tx| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let response = charge(tx, &key_text, i64::from(body))?;
                        if fails {
                            Err(rusqlite::Error::InvalidQuery)
                        } else {
                            Ok(response)
                        }
                    });
                    let what = format!("step {step}: {key_text} with {body_text} at t={now} (retention {RETENTION}s)");
                    let live = model.get(&key).filter(|(_, _, at)| now - at <= RETENTION).cloned();
                    match live {
                        Some((stored_body, response, _)) if stored_body == body => {
                            prop_assert_eq!(calls.load(Ordering::SeqCst), 0, "{}: a replay must not run the effect", what);
                            match result {
                                Ok(outcome) => {
                                    prop_assert!(outcome.replayed, "{}: expected a replay", what);
                                    prop_assert_eq!(outcome.response, response, "{}: the stored response", what);
                                }
                                other => prop_assert!(false, "{}: expected a replay, got {}", what, describe(&other)),
                            }
                        }
                        Some(_) => {
                            prop_assert!(matches!(result, Err(IdemError::Conflict)), "{}: a live key with another body is a conflict, got {}", what, describe(&result));
                            prop_assert_eq!(calls.load(Ordering::SeqCst), 0, "{}: a conflict must not run the effect", what);
                        }
                        None => {
                            prop_assert_eq!(calls.load(Ordering::SeqCst), 1, "{}: a new (or expired) key runs the effect once", what);
                            if fails {
                                prop_assert!(matches!(result, Err(IdemError::Effect(_))), "{}: a failing effect is Err(Effect), got {}", what, describe(&result));
                                // Nothing changes: an expired record may stay until purged.
                            } else {
                                match result {
                                    Ok(outcome) => {
                                        prop_assert!(!outcome.replayed, "{}: the effect ran, so this is not a replay", what);
                                        model.insert(key, (body, outcome.response, now));
                                        expected_charges += 1;
                                    }
                                    other => prop_assert!(false, "{}: expected the effect's response, got {}", what, describe(&other)),
                                }
                            }
                        }
                    }
                    prop_assert_eq!(charges(&path), expected_charges, "{}: committed charges", what);
                }
            }
        }
    }
}
