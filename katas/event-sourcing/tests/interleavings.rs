//! Races and crashes of the event-sourcing kata, forced rather than hoped
//! for.
//!
//! The spec hooks the connection it hands your store or projection before
//! you get it. A trace callback runs after each of your statements: at the
//! chosen one (while your connection holds no write lock, the moments another
//! instance may really act) a second instance, on a connection of its own,
//! appends to the same stream. Or a trace callback counts the statements
//! you start and a progress handler makes the k-th and every later one
//! fail, as if the process had died there; a new projection on a new
//! connection then takes over. Each interleaving and each crash point is
//! tried in turn, so a catch happens on every run.
//!
//! `cargo test -p event-sourcing` judges your code;
//! `cargo test -p event-sourcing --features solution` judges the reference.

#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use event_sourcing as subject;
#[cfg(feature = "solution")]
use event_sourcing_solution as subject;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, ErrorCode};
use subject::{
    Account, AccountView, Accounts, BalanceProjection, Command, Error, EventData, EventStore,
    RecordedEvent, Rejection, Status,
};
use tempfile::TempDir;

// ───────────────────────────── helpers ─────────────────────────────

struct Db {
    _dir: TempDir,
    path: PathBuf,
}

fn db() -> Db {
    let dir = tempfile::tempdir().expect("a temporary directory for the database");
    let path = dir.path().join("ledger.db");
    Db { _dir: dir, path }
}

/// A connection as the spec hands it over: WAL, a busy timeout, no fsync.
fn connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("the spec opens the database file");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("a busy timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("WAL mode");
    assert_eq!(mode, "wal", "the spec's database is in WAL mode");
    conn.execute_batch("PRAGMA synchronous = OFF")
        .expect("synchronous off");
    conn
}

fn store(path: &Path) -> EventStore {
    EventStore::new(connection(path))
        .unwrap_or_else(|e| panic!("EventStore::new on a fresh connection failed: {e}"))
}

fn data(kind: &str, schema: u32, payload: &str) -> EventData {
    EventData {
        kind: kind.to_owned(),
        schema,
        payload: payload.to_owned(),
    }
}

fn opened(owner: &str) -> EventData {
    data("AccountOpened", 1, owner)
}

fn deposited(cents: u64) -> EventData {
    data("MoneyDeposited", 2, &cents.to_string())
}

fn withdrawn(cents: u64) -> EventData {
    data("MoneyWithdrawn", 2, &cents.to_string())
}

fn append(store: &mut EventStore, stream: &str, expected: u64, events: &[EventData]) -> u64 {
    store
        .append(stream, expected, events)
        .unwrap_or_else(|e| panic!("append({stream:?}, {expected}, ..) failed: {e}"))
}

fn log(store: &EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &RecordedEvent| e.position);
        let page = store
            .read_all(after, 1_000)
            .unwrap_or_else(|e| panic!("read_all({after}, 1000) failed: {e}"));
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn describe<T: std::fmt::Debug>(result: &Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e:?})"),
    }
}

/// Whether some connection holds the write lock on the database at `path`:
/// a fresh connection that may not wait tries to take it.
fn write_lock_is_held(path: &Path) -> bool {
    let probe = Connection::open(path).expect("a probe connection");
    probe
        .busy_timeout(Duration::ZERO)
        .expect("a zero busy timeout");
    match probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => false,
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => true,
        Err(e) => panic!("the probe connection failed: {e}"),
    }
}

/// What the other instance answered, once it ran.
type Answer = Arc<Mutex<Option<Result<u64, Error>>>>;

/// A connection whose `at`-th statement that ends outside a write
/// transaction (counting from when `countdown` is set) runs `other`, once.
fn interleaving_connection(
    path: &Path,
    countdown: &Arc<AtomicUsize>,
    answer: &Answer,
    other: impl Fn(&Path) -> Result<u64, Error> + Send + 'static,
) -> Connection {
    let mut conn = connection(path);
    let (countdown, answer, path) = (Arc::clone(countdown), Arc::clone(answer), path.to_owned());
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_PROFILE,
        Some(move |_: TraceEvent<'_>| {
            if countdown.load(Ordering::SeqCst) == 0 || write_lock_is_held(&path) {
                return;
            }
            if countdown.fetch_sub(1, Ordering::SeqCst) != 1 {
                return;
            }
            let result = other(&path);
            *answer.lock().expect("the other instance's answer") = Some(result);
        }),
    )
    .expect("a trace callback");
    conn
}

// ───────────────────────────── appends ─────────────────────────────

/// Your store appends one event at expected version 3 to a stream at
/// version 3; after your `at`-th statement (outside a write transaction)
/// another connection appends two events at version 3 too. Returns both
/// answers and the log.
fn race_two_appends(
    at: usize,
) -> (
    Result<u64, Error>,
    Result<u64, Error>,
    bool,
    Vec<RecordedEvent>,
) {
    let db = db();
    let mut setup = store(&db.path);
    append(
        &mut setup,
        "acct-1",
        0,
        &[opened("Ada"), deposited(100), deposited(5)],
    );

    let countdown = Arc::new(AtomicUsize::new(0));
    let answer: Answer = Arc::default();
    let conn = interleaving_connection(&db.path, &countdown, &answer, |path| {
        EventStore::new(connection(path))
            .and_then(|mut other| other.append("acct-1", 3, &[deposited(1), deposited(1)]))
    });
    let mut yours = EventStore::new(conn).expect("EventStore::new on the spec's connection");
    countdown.store(at, Ordering::SeqCst);
    let result = yours.append("acct-1", 3, &[withdrawn(2)]);
    countdown.store(0, Ordering::SeqCst);
    let taken = answer.lock().expect("the other's answer").take();
    let interleaved = taken.is_some();
    let other = taken.unwrap_or_else(|| {
        EventStore::new(connection(&db.path))
            .and_then(|mut other| other.append("acct-1", 3, &[deposited(1), deposited(1)]))
    });
    (result, other, interleaved, log(&setup))
}

#[test]
fn followup_an_append_interleaved_with_another_connection_is_a_conflict_not_a_fork() {
    for at in 1..=8 {
        let (yours, other, interleaved, log) = race_two_appends(at);
        let moment = if interleaved {
            format!("the other connection appended right after statement {at} of yours")
        } else {
            "the other connection appended after your append".to_owned()
        };
        let conflict = |r: &Result<u64, Error>, actual: u64| matches!(r, Err(Error::Conflict { expected: 3, actual: a, .. }) if *a == actual);
        let winner = match (&yours, &other) {
            (Ok(4), r) if conflict(r, 4) => vec![withdrawn(2)],
            (r, Ok(5)) if conflict(r, 5) => vec![deposited(1), deposited(1)],
            _ => panic!(
                "your append of 1 event and the other connection's of 2, both at expected \
                 version 3 to a stream at version 3 ({moment}): either yours returns Ok(4) and \
                 the other's Conflict {{ expected: 3, actual: 4 }}, or the other's returns Ok(5) \
                 and yours Conflict {{ expected: 3, actual: 5 }} (the version the stream really \
                 has); yours returned {} and the other's {}",
                describe(&yours),
                describe(&other)
            ),
        };
        let versions: Vec<u64> = log.iter().map(|e| e.version).collect();
        let want: Vec<u64> = (1..=3 + winner.len() as u64).collect();
        assert_eq!(
            versions,
            want,
            "{moment}: the stream must hold versions 1 to {}, once each (no fork)",
            want.len()
        );
        let tail: Vec<EventData> = log[3..].iter().map(|e| e.data.clone()).collect();
        assert_eq!(
            tail, winner,
            "{moment}: the versions after 3 are the winner's events"
        );
    }
}

// ───────────────────────────── commands ─────────────────────────────

#[test]
fn followup_two_instances_withdrawing_at_once_never_lose_an_update() {
    for at in 1..=10 {
        let db = db();
        {
            let mut setup = Accounts::new(store(&db.path), 2).expect("Accounts::new");
            for command in [
                Command::Open {
                    owner: "Ada".into(),
                },
                Command::Deposit { cents: 60 },
                Command::Deposit { cents: 40 },
            ] {
                setup
                    .execute("acct-1", &command)
                    .unwrap_or_else(|e| panic!("execute({command:?}) failed: {e}"));
            }
        }
        // You withdraw 70, the other instance 60: whichever goes second
        // finds too little left (30 or 40), or a conflict.
        let withdraw = Command::Withdraw { cents: 70 };
        let other_withdraw = Command::Withdraw { cents: 60 };
        let countdown = Arc::new(AtomicUsize::new(0));
        let answer: Answer = Arc::default();
        let theirs = other_withdraw.clone();
        let conn = interleaving_connection(&db.path, &countdown, &answer, move |path| {
            Accounts::new(EventStore::new(connection(path))?, 2)?.execute("acct-1", &theirs)
        });
        let mut yours = Accounts::new(EventStore::new(conn).expect("EventStore::new"), 2)
            .expect("Accounts::new");
        countdown.store(at, Ordering::SeqCst);
        let result = yours.execute("acct-1", &withdraw);
        countdown.store(0, Ordering::SeqCst);
        let taken = answer.lock().expect("the other's answer").take();
        let moment = if taken.is_some() {
            format!("the other instance withdrew 60 right after statement {at} of yours")
        } else {
            "the other instance withdrew 60 after you".to_owned()
        };
        let other = taken.unwrap_or_else(|| {
            Accounts::new(store(&db.path), 2).and_then(|mut b| b.execute("acct-1", &other_withdraw))
        });
        let lost = |r: &Result<u64, Error>, left: u64, requested: u64| {
            matches!(
                r,
                Err(Error::Conflict {
                    expected: 3,
                    actual: 4,
                    ..
                })
            ) || matches!(
                r,
                Err(Error::Rejected(Rejection::InsufficientFunds { balance, requested: q }))
                    if *balance == left && *q == requested
            )
        };
        let balance = if matches!(result, Ok(4)) && lost(&other, 30, 60) {
            30
        } else if matches!(other, Ok(4)) && lost(&result, 40, 70) {
            40
        } else {
            panic!(
                "you withdraw 70 and another instance 60 from an account of 100 at version 3 \
                 ({moment}): one must return Ok(4), the other Conflict {{ expected: 3, actual: 4 }} \
                 or InsufficientFunds on what the winner left; yours returned {} and the other's {}",
                describe(&result),
                describe(&other)
            )
        };
        let check = Accounts::new(store(&db.path), 2).expect("Accounts::new");
        let replayed = check.replay("acct-1").expect("replay");
        assert_eq!(
            replayed,
            (
                Account {
                    status: Status::Open,
                    owner: "Ada".into(),
                    balance
                },
                4
            ),
            "{moment}: exactly the winner's withdrawal is in the log"
        );
        assert_eq!(
            check.load("acct-1").expect("load"),
            replayed,
            "{moment}: load (from the snapshot at version 4) equals the replay: the loser must \
             not have saved a snapshot of its own"
        );
    }
}

// ───────────────────────────── crashes ─────────────────────────────

/// Three accounts, schema 1 included: 15 events.
fn history(s: &mut EventStore) {
    append(s, "acct-1", 0, &[opened("Ada"), deposited(1_000)]);
    append(s, "acct-2", 0, &[opened("Bob")]);
    append(s, "acct-1", 2, &[withdrawn(250), deposited(3)]);
    append(
        s,
        "acct-3",
        0,
        &[opened("Cy"), data("MoneyDeposited", 1, "0.29")],
    );
    append(
        s,
        "acct-2",
        1,
        &[deposited(40), withdrawn(40), data("AccountClosed", 1, "")],
    );
    append(
        s,
        "acct-3",
        2,
        &[data("MoneyWithdrawn", 1, "0.07"), deposited(8)],
    );
    append(s, "acct-1", 4, &[deposited(9), withdrawn(2)]);
}

fn expected_views() -> BTreeMap<String, AccountView> {
    let v = |owner: &str, balance, closed| AccountView {
        owner: owner.to_owned(),
        balance,
        closed,
    };
    BTreeMap::from([
        (
            "acct-1".to_owned(),
            v("Ada", 1_000 - 250 + 3 + 9 - 2, false),
        ),
        ("acct-2".to_owned(), v("Bob", 0, true)),
        ("acct-3".to_owned(), v("Cy", 29 - 7 + 8, false)),
    ])
}

/// A connection that, once armed, makes its `crash_at`-th statement and
/// every later one fail (SQLite interrupts them), as if the process died.
/// Returns the connection and the count of statements started while armed.
fn crashing_connection(
    path: &Path,
    armed: &Arc<AtomicBool>,
    crash_at: usize,
) -> (Connection, Arc<AtomicUsize>) {
    let mut conn = connection(path);
    let started = Arc::new(AtomicUsize::new(0));
    {
        let (armed, started) = (Arc::clone(armed), Arc::clone(&started));
        conn.trace_v2(
            TraceEventCodes::SQLITE_TRACE_STMT,
            Some(move |_: TraceEvent<'_>| {
                if armed.load(Ordering::SeqCst) {
                    started.fetch_add(1, Ordering::SeqCst);
                }
            }),
        )
        .expect("a trace callback");
    }
    {
        let (armed, started) = (Arc::clone(armed), Arc::clone(&started));
        conn.progress_handler(
            1,
            Some(move || {
                armed.load(Ordering::SeqCst) && started.load(Ordering::SeqCst) >= crash_at
            }),
        )
        .expect("a progress handler");
    }
    (conn, started)
}

#[test]
fn followup_a_projection_crashed_at_any_statement_catches_up_to_the_same_views() {
    let want = expected_views();
    let mut crash_at = 1;
    loop {
        let db = db();
        let mut s = store(&db.path);
        // A first part of the log, processed before the crash.
        append(&mut s, "acct-0", 0, &[opened("Zed"), deposited(5)]);
        {
            let mut before =
                BalanceProjection::new(connection(&db.path)).expect("BalanceProjection::new");
            before.catch_up(2).expect("catch_up before the crash");
        }
        history(&mut s);
        let all = log(&s);
        let armed = Arc::new(AtomicBool::new(false));
        let (conn, started) = crashing_connection(&db.path, &armed, crash_at);
        let mut crashing = BalanceProjection::new(conn).expect("BalanceProjection::new");
        armed.store(true, Ordering::SeqCst);
        let result = crashing.catch_up(3);
        let statements = started.load(Ordering::SeqCst);
        drop(crashing);
        armed.store(false, Ordering::SeqCst);
        let crashed = statements >= crash_at;
        let moment = if crashed {
            format!("the projection's connection died at its statement {crash_at} of catch_up(3)")
        } else {
            "catch_up(3) ran without a crash".to_owned()
        };
        if !crashed {
            assert!(
                matches!(result, Ok(n) if n == all.len() - 2),
                "{moment}: it must process the {} events after its checkpoint, got {}",
                all.len() - 2,
                describe(&result)
            );
        }

        let mut fresh =
            BalanceProjection::new(connection(&db.path)).expect("BalanceProjection::new");
        let resumed = fresh.catch_up(3);
        assert!(
            resumed.is_ok(),
            "{moment}; a new projection on a new connection must catch up, got {}",
            describe(&resumed)
        );
        let mut views = fresh.views().expect("views");
        let zed = views.remove("acct-0");
        assert_eq!(
            zed.map(|v| v.balance),
            Some(5),
            "{moment}: acct-0, processed before the crash, must keep its 5 cents"
        );
        assert_eq!(
            views, want,
            "{moment}; after a new projection caught up, every event must count exactly once"
        );
        assert_eq!(
            fresh.checkpoint().expect("checkpoint"),
            all.last().expect("events").position,
            "{moment}: after catching up, the checkpoint is the last event's position"
        );
        if !crashed {
            break;
        }
        crash_at += 1;
        assert!(
            crash_at < 2_000,
            "catch_up of 15 events ran more than 2,000 statements"
        );
    }
}

#[test]
fn followup_a_rebuild_crashed_at_any_statement_catches_up_to_the_same_views() {
    let want = expected_views();
    let mut crash_at = 1;
    loop {
        let db = db();
        let mut s = store(&db.path);
        history(&mut s);
        let all = log(&s);
        {
            let mut before =
                BalanceProjection::new(connection(&db.path)).expect("BalanceProjection::new");
            before.catch_up(4).expect("catch_up before the rebuild");
        }
        let armed = Arc::new(AtomicBool::new(false));
        let (conn, started) = crashing_connection(&db.path, &armed, crash_at);
        let mut crashing = BalanceProjection::new(conn).expect("BalanceProjection::new");
        armed.store(true, Ordering::SeqCst);
        let result = crashing.rebuild(4);
        let statements = started.load(Ordering::SeqCst);
        drop(crashing);
        armed.store(false, Ordering::SeqCst);
        let crashed = statements >= crash_at;
        let moment = if crashed {
            format!("the projection's connection died at its statement {crash_at} of rebuild(4)")
        } else {
            "rebuild(4) ran without a crash".to_owned()
        };
        if !crashed {
            assert!(
                matches!(result, Ok(n) if n == all.len()),
                "{moment}: it must process all {} events, got {}",
                all.len(),
                describe(&result)
            );
        }
        let mut fresh =
            BalanceProjection::new(connection(&db.path)).expect("BalanceProjection::new");
        let resumed = fresh.catch_up(4);
        assert!(
            resumed.is_ok(),
            "{moment}; a new projection on a new connection must catch up, got {}",
            describe(&resumed)
        );
        assert_eq!(
            fresh.views().expect("views"),
            want,
            "{moment}; after a new projection caught up, the views must be the whole log's, \
             each event counted once (the views and the checkpoint are forgotten together)"
        );
        if !crashed {
            break;
        }
        crash_at += 1;
        assert!(
            crash_at < 2_000,
            "rebuild of 15 events ran more than 2,000 statements"
        );
    }
}

/// A connection whose `at`-th statement that ends outside a write
/// transaction (counting from when `countdown` is set) lets another
/// connection take the write lock, held until `release` is called; the
/// connection itself may not wait for a lock.
fn lock_stealing_connection(
    path: &Path,
    countdown: &Arc<AtomicUsize>,
    holder: &Arc<Mutex<Option<Connection>>>,
) -> Connection {
    let mut conn = connection(path);
    conn.busy_timeout(Duration::ZERO).expect("busy timeout 0");
    let (countdown, holder, path) = (Arc::clone(countdown), Arc::clone(holder), path.to_owned());
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_PROFILE,
        Some(move |_: TraceEvent<'_>| {
            if countdown.load(Ordering::SeqCst) == 0 || write_lock_is_held(&path) {
                return;
            }
            if countdown.fetch_sub(1, Ordering::SeqCst) != 1 {
                return;
            }
            let other = connection(&path);
            other
                .execute_batch("BEGIN IMMEDIATE")
                .expect("another instance takes the write lock");
            *holder.lock().expect("the lock holder") = Some(other);
        }),
    )
    .expect("a trace callback");
    conn
}

#[test]
fn followup_an_execute_that_fails_has_written_nothing() {
    for at in 1..=12 {
        let db = db();
        {
            let mut setup = Accounts::new(store(&db.path), 1).expect("Accounts::new");
            for command in [
                Command::Open {
                    owner: "Ada".into(),
                },
                Command::Deposit { cents: 100 },
            ] {
                setup
                    .execute("acct-1", &command)
                    .unwrap_or_else(|e| panic!("execute({command:?}) failed: {e}"));
            }
        }
        let countdown = Arc::new(AtomicUsize::new(0));
        let holder: Arc<Mutex<Option<Connection>>> = Arc::default();
        let conn = lock_stealing_connection(&db.path, &countdown, &holder);
        let mut yours = Accounts::new(EventStore::new(conn).expect("EventStore::new"), 1)
            .expect("Accounts::new");
        countdown.store(at, Ordering::SeqCst);
        let result = yours.execute("acct-1", &Command::Deposit { cents: 7 });
        countdown.store(0, Ordering::SeqCst);
        let stolen = holder.lock().expect("the lock holder").take();
        let moment = if stolen.is_some() {
            format!(
                "another instance took the write lock right after statement {at} of your \
                 execute, and your connection may not wait"
            )
        } else {
            "nobody took the write lock".to_owned()
        };
        if let Some(other) = stolen {
            other.execute_batch("ROLLBACK").expect("release the lock");
        }
        let check = Accounts::new(store(&db.path), 1).expect("Accounts::new");
        let (state, version) = check.replay("acct-1").expect("replay");
        match &result {
            Ok(v) => assert_eq!(
                (*v, version, state.balance),
                (3, 3, 107),
                "{moment}: execute returned Ok({v}), so the deposit of 7 must be version 3"
            ),
            Err(e) => assert_eq!(
                (version, state.balance),
                (2, 100),
                "{moment}: execute returned Err({e:?}), so it must have written nothing (a \
                 caller retries a failed deposit: if it was booked, the customer is credited \
                 twice); the log holds {version} events and a balance of {}",
                state.balance
            ),
        }
        assert_eq!(
            check.load("acct-1").expect("load"),
            (state, version),
            "{moment}: load equals the replay"
        );
    }
}
