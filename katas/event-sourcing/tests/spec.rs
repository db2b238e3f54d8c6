//! The specification of the event-sourcing kata: the store, the wire format
//! and its upcasting, the account's rules, snapshots and the projection.
//!
//! Every test name is a requirement; read the failing names first. Each
//! test works on a fresh SQLite file in a temporary directory, through
//! connections the spec opens (WAL, a busy timeout) and hands to your
//! `EventStore::new` and `BalanceProjection::new`. Where the spec writes
//! events itself (last year's schema-1 events, an event nobody can read), it
//! writes them in the wire format of the README through your `append`.
//! Races between two connections and crashes are in `tests/interleavings.rs`,
//! costs in `tests/cost.rs`.
//!
//! `cargo test -p event-sourcing` judges your code;
//! `cargo test -p event-sourcing --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use event_sourcing as subject;
#[cfg(feature = "solution")]
use event_sourcing_solution as subject;

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use rusqlite::Connection;
use subject::{
    Account, AccountEvent, AccountView, Accounts, BalanceProjection, Command, DecodeError, Error,
    EventData, EventStore, RecordedEvent, Rejection, Snapshot, Status,
};
use tempfile::TempDir;

// ───────────────────────────── helpers ─────────────────────────────

/// A database file in a temporary directory (deleted with the `TempDir`).
struct Db {
    _dir: TempDir,
    path: PathBuf,
}

fn db() -> Db {
    let dir = tempfile::tempdir().expect("a temporary directory for the database");
    let path = dir.path().join("ledger.db");
    Db { _dir: dir, path }
}

/// A connection as the spec hands it over: WAL, a busy timeout, and no
/// fsync (the spec never pulls the plug on the machine).
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

fn store(db: &Db) -> EventStore {
    EventStore::new(connection(&db.path))
        .unwrap_or_else(|e| panic!("EventStore::new on a fresh connection failed: {e}"))
}

fn accounts(db: &Db, snapshot_every: u64) -> Accounts {
    Accounts::new(store(db), snapshot_every)
        .unwrap_or_else(|e| panic!("Accounts::new(store, {snapshot_every}) failed: {e}"))
}

fn projection(db: &Db) -> BalanceProjection {
    BalanceProjection::new(connection(&db.path))
        .unwrap_or_else(|e| panic!("BalanceProjection::new on a fresh connection failed: {e}"))
}

/// An event in the wire format, as the spec writes it.
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

fn closed() -> EventData {
    data("AccountClosed", 1, "")
}

fn append(store: &mut EventStore, stream: &str, expected: u64, events: &[EventData]) -> u64 {
    store.append(stream, expected, events).unwrap_or_else(|e| {
        panic!(
            "append({stream:?}, expected_version {expected}, {} events) failed: {e}",
            events.len()
        )
    })
}

/// The whole log, read 1,000 at a time.
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

fn read_stream(store: &EventStore, stream: &str, after: u64) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, after)
        .unwrap_or_else(|e| panic!("read_stream({stream:?}, {after}) failed: {e}"))
}

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

fn payloads(events: &[RecordedEvent]) -> Vec<EventData> {
    events.iter().map(|e| e.data.clone()).collect()
}

fn execute(bank: &mut Accounts, account: &str, command: Command) -> u64 {
    bank.execute(account, &command)
        .unwrap_or_else(|e| panic!("execute({account:?}, {command:?}) failed: {e}"))
}

fn load(bank: &Accounts, account: &str) -> (Account, u64) {
    bank.load(account)
        .unwrap_or_else(|e| panic!("load({account:?}) failed: {e}"))
}

fn replay(bank: &Accounts, account: &str) -> (Account, u64) {
    bank.replay(account)
        .unwrap_or_else(|e| panic!("replay({account:?}) failed: {e}"))
}

fn open_account(owner: &str, balance: u64) -> Account {
    Account {
        status: Status::Open,
        owner: owner.to_owned(),
        balance,
    }
}

fn views(p: &BalanceProjection) -> BTreeMap<String, AccountView> {
    p.views().unwrap_or_else(|e| panic!("views() failed: {e}"))
}

fn catch_up(p: &mut BalanceProjection, batch: usize) -> usize {
    p.catch_up(batch)
        .unwrap_or_else(|e| panic!("catch_up({batch}) failed: {e}"))
}

fn checkpoint(p: &BalanceProjection) -> u64 {
    p.checkpoint()
        .unwrap_or_else(|e| panic!("checkpoint() failed: {e}"))
}

fn view(owner: &str, balance: u64, closed: bool) -> AccountView {
    AccountView {
        owner: owner.to_owned(),
        balance,
        closed,
    }
}

/// The views a projection must show for `log`, computed here by folding
/// each stream's events with the spec's own decoding.
fn expected_views(log: &[RecordedEvent]) -> BTreeMap<String, AccountView> {
    let mut views = BTreeMap::new();
    for event in log {
        let d = &event.data;
        let amount = || -> u64 {
            if d.schema == 1 {
                let (euros, cents) = d.payload.split_once('.').expect("a schema-1 amount");
                euros.parse::<u64>().expect("euros") * 100 + cents.parse::<u64>().expect("cents")
            } else {
                d.payload.parse().expect("cents")
            }
        };
        match d.kind.as_str() {
            "AccountOpened" => {
                views.insert(event.stream.clone(), view(&d.payload, 0, false));
            }
            "MoneyDeposited" => {
                let v = views.get_mut(&event.stream).expect("opened first");
                v.balance += amount();
            }
            "MoneyWithdrawn" => {
                let v = views.get_mut(&event.stream).expect("opened first");
                v.balance -= amount();
            }
            "AccountClosed" => {
                views.get_mut(&event.stream).expect("opened first").closed = true;
            }
            other => panic!("the spec wrote no {other} event"),
        }
    }
    views
}

fn describe<T: std::fmt::Debug>(result: &Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e:?})"),
    }
}

// ───────────────────────────── appending ─────────────────────────────

#[test]
fn appending_to_a_new_stream_at_version_0_numbers_the_events_from_1() {
    let db = db();
    let mut s = store(&db);
    assert_eq!(
        s.version("acct-1")
            .expect("version of a stream without events"),
        0,
        "a stream without events is at version 0"
    );
    let events = [opened("Ada"), deposited(100), deposited(5)];
    assert_eq!(
        append(&mut s, "acct-1", 0, &events),
        3,
        "appending 3 events to a new stream at expected version 0 returns the new version 3"
    );
    let read = read_stream(&s, "acct-1", 0);
    assert_eq!(
        versions(&read),
        [1, 2, 3],
        "the events are versions 1, 2, 3"
    );
    assert_eq!(payloads(&read), events, "the events read back as appended");
    assert!(
        read.iter().all(|e| e.stream == "acct-1"),
        "each event names its stream: {read:?}"
    );
    assert_eq!(s.version("acct-1").expect("version"), 3);
}

#[test]
fn appending_at_the_current_version_continues_the_numbering() {
    let db = db();
    let mut s = store(&db);
    append(&mut s, "acct-1", 0, &[opened("Ada"), deposited(100)]);
    assert_eq!(append(&mut s, "acct-1", 2, &[withdrawn(30)]), 3);
    assert_eq!(
        append(&mut s, "acct-1", 3, &[deposited(7), withdrawn(77)]),
        5,
        "2 events at expected version 3 are versions 4 and 5"
    );
    let read = read_stream(&s, "acct-1", 0);
    assert_eq!(versions(&read), [1, 2, 3, 4, 5]);
    assert_eq!(
        payloads(&read),
        [
            opened("Ada"),
            deposited(100),
            withdrawn(30),
            deposited(7),
            withdrawn(77)
        ]
    );
}

#[rstest]
#[case::behind_by_one(2)]
#[case::far_behind(0)]
#[case::ahead_by_one(4)]
#[case::far_ahead(99)]
#[case::u64_max(u64::MAX)]
fn appending_at_any_other_version_is_a_conflict_with_the_actual_version(#[case] expected: u64) {
    let db = db();
    let mut s = store(&db);
    append(
        &mut s,
        "acct-1",
        0,
        &[opened("Ada"), deposited(100), deposited(5)],
    );
    let before = log(&s);
    let result = s.append("acct-1", expected, &[withdrawn(1)]);
    assert!(
        matches!(&result, Err(Error::Conflict { stream, expected: e, actual: 3 }) if stream == "acct-1" && *e == expected),
        "append at expected version {expected} to a stream at version 3 must be \
         Conflict {{ stream: \"acct-1\", expected: {expected}, actual: 3 }}, got {}",
        describe(&result)
    );
    assert_eq!(log(&s), before, "a conflicting append writes nothing");

    let result = s.append("acct-2", 1, &[opened("Bob")]);
    assert!(
        matches!(&result, Err(Error::Conflict { stream, expected: 1, actual: 0 }) if stream == "acct-2"),
        "append at expected version 1 to a stream without events must be \
         Conflict {{ expected: 1, actual: 0 }}, got {}",
        describe(&result)
    );
    assert_eq!(log(&s), before, "a conflicting append writes nothing");
    assert_eq!(s.version("acct-2").expect("version"), 0);
}

#[test]
fn a_locked_database_is_a_database_error_not_a_conflict() {
    let db = db();
    let mut setup = store(&db);
    append(&mut setup, "acct-1", 0, &[opened("Ada"), deposited(100)]);
    // Your store's connection may not wait for a lock: busy timeout 0.
    let conn = connection(&db.path);
    conn.busy_timeout(Duration::ZERO).expect("busy timeout 0");
    let mut yours = EventStore::new(conn).expect("EventStore::new");
    let holder = connection(&db.path);
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("another connection takes the write lock");
    let r = yours.append("acct-1", 2, &[deposited(1)]);
    holder.execute_batch("ROLLBACK").expect("release the lock");
    assert!(
        matches!(r, Err(Error::Database(_))),
        "an append at the right version while another connection holds the write lock (and \
         yours may not wait) must fail with Error::Database, not a conflict the caller would \
         retry as if the stream had moved; got {}",
        describe(&r)
    );
    assert_eq!(versions(&log(&yours)), [1, 2], "nothing is written");
    assert_eq!(
        append(&mut yours, "acct-1", 2, &[deposited(1)]),
        3,
        "once the lock is free, the append goes in"
    );
}

#[test]
fn a_conflicting_batch_writes_none_of_its_events() {
    let db = db();
    let mut s = store(&db);
    append(&mut s, "acct-1", 0, &[opened("Ada"), deposited(100)]);
    let result = s.append("acct-1", 1, &[deposited(1), deposited(2), deposited(3)]);
    assert!(
        matches!(result, Err(Error::Conflict { actual: 2, .. })),
        "a batch at expected version 1 on a stream at 2 conflicts, got {}",
        describe(&result)
    );
    assert_eq!(
        versions(&log(&s)),
        [1, 2],
        "none of the conflicting batch's 3 events may be written"
    );
    assert_eq!(
        append(
            &mut s,
            "acct-1",
            2,
            &[deposited(1), deposited(2), deposited(3)]
        ),
        5,
        "the same batch at the right version then goes in whole"
    );
}

#[test]
fn streams_are_independent_whatever_their_names_hold() {
    let db = db();
    let mut s = store(&db);
    let names = [
        "acct-1", "ACCT-1", "acct-10", "acct-1 ", " acct-1", "acct_1", "acct%1", "acct/1",
        "acct;1", "a'b\"c", "acct-1\n", "kontø-1",
    ];
    for (i, name) in names.iter().enumerate() {
        let owner = format!("owner {i}");
        assert_eq!(
            append(&mut s, name, 0, &[opened(&owner)]),
            1,
            "stream {name:?} is new: its first event is version 1, whatever other streams hold"
        );
    }
    for (i, name) in names.iter().enumerate() {
        let owner = format!("owner {i}");
        assert_eq!(
            append(&mut s, name, 1, &[deposited(i as u64 + 1)]),
            2,
            "stream {name:?} is at version 1"
        );
        let read = read_stream(&s, name, 0);
        assert_eq!(
            payloads(&read),
            [opened(&owner), deposited(i as u64 + 1)],
            "stream {name:?} holds its own 2 events and nobody else's (streams: {names:?})"
        );
        assert!(read.iter().all(|e| e.stream == *name));
    }
}

// ───────────────────────────── reading ─────────────────────────────

#[test]
fn read_stream_returns_the_events_after_a_version_oldest_first() {
    let db = db();
    let mut s = store(&db);
    append(&mut s, "acct-1", 0, &[opened("Ada"), deposited(1)]);
    append(&mut s, "acct-2", 0, &[opened("Bob")]);
    append(&mut s, "acct-1", 2, &[deposited(2), deposited(3)]);
    append(&mut s, "acct-2", 1, &[deposited(50)]);
    append(&mut s, "acct-1", 4, &[withdrawn(4)]);
    let tail = read_stream(&s, "acct-1", 2);
    assert_eq!(
        versions(&tail),
        [3, 4, 5],
        "read_stream(acct-1, 2) is versions 3, 4, 5"
    );
    assert_eq!(payloads(&tail), [deposited(2), deposited(3), withdrawn(4)]);
    assert_eq!(
        read_stream(&s, "acct-1", 5),
        [],
        "after the current version there is nothing to read"
    );
    let all = log(&s);
    for event in read_stream(&s, "acct-1", 0) {
        assert!(
            all.contains(&event),
            "read_stream and read_all must agree on each event (stream, version, position, \
             data): {event:?} is not in the log {all:?}"
        );
    }
}

#[test]
fn read_all_pages_through_the_log_in_commit_order() {
    let db = db();
    let mut s = store(&db);
    let mut appended = Vec::new();
    let mut versions_of: BTreeMap<&str, u64> = BTreeMap::new();
    let plan: [(&str, Vec<EventData>); 5] = [
        ("a", vec![opened("A"), deposited(1)]),
        ("b", vec![opened("B")]),
        ("a", vec![deposited(2)]),
        ("c", vec![opened("C"), deposited(3), withdrawn(3)]),
        ("b", vec![deposited(4)]),
    ];
    for (stream, events) in &plan {
        let at = versions_of.entry(stream).or_default();
        for (i, e) in events.iter().enumerate() {
            appended.push((stream.to_string(), *at + 1 + i as u64, e.clone()));
        }
        *at = append(&mut s, stream, *at, events);
    }
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .read_all(after, 3)
            .unwrap_or_else(|e| panic!("read_all({after}, 3) failed: {e}"));
        assert!(
            page.len() <= 3,
            "a page of limit 3 holds {} events",
            page.len()
        );
        let Some(last) = page.last() else { break };
        after = last.position;
        pages.extend(page);
        assert!(
            pages.len() <= appended.len(),
            "read_all repeats events: {pages:?}"
        );
    }
    let got: Vec<(String, u64, EventData)> = pages
        .iter()
        .map(|e| (e.stream.clone(), e.version, e.data.clone()))
        .collect();
    assert_eq!(
        got, appended,
        "paging with read_all(last position, 3) returns every event once, in the order they \
         were appended"
    );
    assert!(
        pages.windows(2).all(|w| w[0].position < w[1].position) && pages[0].position >= 1,
        "positions start at 1 or more and strictly increase: {:?}",
        pages.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    assert_eq!(
        s.read_all(u64::MAX, 5).expect("read_all past the end"),
        [],
        "read_all after position u64::MAX returns nothing"
    );
}

// ───────────────────────────── bad input ─────────────────────────────

#[test]
fn bad_input_is_a_typed_error_and_writes_nothing() {
    let db = db();
    let mut s = store(&db);
    append(
        &mut s,
        "acct-1",
        0,
        &[opened("Ada"), deposited(100), deposited(5)],
    );
    let before = log(&s);

    let check = |what: &str, ok: bool, got: String| {
        assert!(ok, "{what}: got {got}");
    };
    let r = s.append("", 0, &[opened("Ada")]);
    check(
        "append to stream \"\" is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    let r = s.append("acct-1", 3, &[]);
    check(
        "append of no events is NoEvents",
        matches!(r, Err(Error::NoEvents)),
        describe(&r),
    );
    let r = s.append("acct-9", 0, &[]);
    check(
        "append of no events to a new stream is NoEvents",
        matches!(r, Err(Error::NoEvents)),
        describe(&r),
    );
    let r = s.version("");
    check(
        "version(\"\") is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    let r = s.read_stream("", 0);
    check(
        "read_stream(\"\", 0) is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    let r = s.read_stream("acct-9", 0);
    check(
        "read_stream of a stream without events is UnknownStream(\"acct-9\")",
        matches!(&r, Err(Error::UnknownStream(name)) if name == "acct-9"),
        describe(&r),
    );
    for after in [4, u64::MAX] {
        let r = s.read_stream("acct-1", after);
        check(
            &format!(
                "read_stream(acct-1, {after}) on a stream at version 3 is \
                 VersionOutOfRange {{ version: {after}, current: 3 }}"
            ),
            matches!(&r, Err(Error::VersionOutOfRange { stream, version, current: 3 }) if stream == "acct-1" && *version == after),
            describe(&r),
        );
    }
    let r = s.read_all(0, 0);
    check(
        "read_all with limit 0 is ZeroArgument(\"limit\")",
        matches!(r, Err(Error::ZeroArgument("limit"))),
        describe(&r),
    );
    let snap = |version| Snapshot {
        version,
        state: open_account("Ada", 100).to_snapshot(),
    };
    let r = s.save_snapshot("", &snap(1));
    check(
        "save_snapshot to stream \"\" is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    let r = s.save_snapshot("acct-9", &snap(1));
    check(
        "save_snapshot of a stream without events is UnknownStream",
        matches!(&r, Err(Error::UnknownStream(name)) if name == "acct-9"),
        describe(&r),
    );
    for version in [0, 4, u64::MAX] {
        let r = s.save_snapshot("acct-1", &snap(version));
        check(
            &format!(
                "a snapshot at version {version} of a stream at version 3 is \
                 VersionOutOfRange {{ version: {version}, current: 3 }}"
            ),
            matches!(&r, Err(Error::VersionOutOfRange { version: v, current: 3, .. }) if *v == version),
            describe(&r),
        );
    }
    let r = s.load_snapshot("");
    check(
        "load_snapshot(\"\") is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    assert_eq!(
        s.load_snapshot("acct-1").expect("load_snapshot"),
        None,
        "no refused snapshot may be stored"
    );
    assert_eq!(
        s.load_snapshot("acct-9").expect("load_snapshot"),
        None,
        "no refused snapshot may be stored"
    );
    assert_eq!(log(&s), before, "no refused call may write an event");
    assert_eq!(s.version("acct-9").expect("version"), 0);

    let r = Accounts::new(store(&db), 0).map(|_| ());
    check(
        "Accounts::new(store, 0) is ZeroArgument(\"snapshot_every\")",
        matches!(r, Err(Error::ZeroArgument("snapshot_every"))),
        describe(&r),
    );
    let mut bank = accounts(&db, 10);
    let r = bank.execute(
        "",
        &Command::Open {
            owner: "Eve".into(),
        },
    );
    check(
        "execute on account \"\" is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    let r = bank.load("");
    check(
        "load(\"\") is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
    for r in [bank.load("acct-9"), bank.replay("acct-9")] {
        check(
            "load and replay of an account without events are UnknownStream",
            matches!(&r, Err(Error::UnknownStream(name)) if name == "acct-9"),
            describe(&r),
        );
    }
    assert_eq!(log(&s), before, "no refused call may write an event");

    let mut p = projection(&db);
    assert_eq!(catch_up(&mut p, 10), 3);
    let r = p.catch_up(0);
    check(
        "catch_up(0) is ZeroArgument(\"batch\")",
        matches!(r, Err(Error::ZeroArgument("batch"))),
        describe(&r),
    );
    let r = p.rebuild(0);
    check(
        "rebuild(0) is ZeroArgument(\"batch\")",
        matches!(r, Err(Error::ZeroArgument("batch"))),
        describe(&r),
    );
    assert_eq!(
        (views(&p), checkpoint(&p)),
        (
            BTreeMap::from([("acct-1".to_owned(), view("Ada", 105, false))]),
            before[2].position
        ),
        "a refused catch_up or rebuild leaves the views and the checkpoint as they were"
    );
    let r = p.view("");
    check(
        "view(\"\") is EmptyStreamName",
        matches!(r, Err(Error::EmptyStreamName)),
        describe(&r),
    );
}

// ───────────────────────────── the wire format ─────────────────────────────

#[rstest]
#[case::opened(AccountEvent::Opened { owner: "Ada Lovelace".into() }, "AccountOpened", 1, "Ada Lovelace")]
#[case::opened_with_separators(AccountEvent::Opened { owner: "a;b=c\n\"d\"".into() }, "AccountOpened", 1, "a;b=c\n\"d\"")]
#[case::deposited(AccountEvent::Deposited { cents: 1250 }, "MoneyDeposited", 2, "1250")]
#[case::deposited_u64_max(AccountEvent::Deposited { cents: u64::MAX }, "MoneyDeposited", 2, "18446744073709551615")]
#[case::withdrawn(AccountEvent::Withdrawn { cents: 7 }, "MoneyWithdrawn", 2, "7")]
#[case::closed(AccountEvent::Closed, "AccountClosed", 1, "")]
fn encode_writes_the_current_schema(
    #[case] event: AccountEvent,
    #[case] kind: &str,
    #[case] schema: u32,
    #[case] payload: &str,
) {
    assert_eq!(
        event.encode(),
        data(kind, schema, payload),
        "{event:?} in the wire format of the README"
    );
}

fn any_event() -> impl Strategy<Value = AccountEvent> {
    prop_oneof![
        any::<String>().prop_map(|owner| AccountEvent::Opened { owner }),
        "[a-z;:=,|\\\\\"\n {}0-9.-]{0,12}".prop_map(|owner| AccountEvent::Opened { owner }),
        any::<u64>().prop_map(|cents| AccountEvent::Deposited { cents }),
        any::<u64>().prop_map(|cents| AccountEvent::Withdrawn { cents }),
        Just(AccountEvent::Deposited { cents: u64::MAX }),
        Just(AccountEvent::Withdrawn { cents: 0 }),
        Just(AccountEvent::Closed),
    ]
}

proptest! {
    #[test]
    fn decode_reads_back_what_encode_writes(event in any_event()) {
        let encoded = event.encode();
        prop_assert_eq!(
            AccountEvent::decode(&encoded),
            Ok(event.clone()),
            "decode(encode(e)) must be e; encode wrote {:?}", encoded
        );
    }
}

#[rstest]
#[case("12.50", 1250)]
#[case("0.07", 7)]
#[case("0.29", 29)]
#[case("1.15", 115)]
#[case("4.35", 435)]
#[case("0.57", 57)]
#[case("10.00", 1000)]
#[case("0.00", 0)]
#[case("1000000.01", 100_000_001)]
#[case("92233720368547758.07", 9_223_372_036_854_775_807)]
#[case("92233720368547758.08", 9_223_372_036_854_775_808)]
#[case("184467440737095516.15", u64::MAX)]
fn decode_upcasts_schema_1_euros_to_the_exact_cents(#[case] euros: &str, #[case] cents: u64) {
    assert_eq!(
        AccountEvent::decode(&data("MoneyDeposited", 1, euros)),
        Ok(AccountEvent::Deposited { cents }),
        "a schema-1 deposit of {euros:?} euros is exactly {cents} cents"
    );
    assert_eq!(
        AccountEvent::decode(&data("MoneyWithdrawn", 1, euros)),
        Ok(AccountEvent::Withdrawn { cents }),
        "a schema-1 withdrawal of {euros:?} euros is exactly {cents} cents"
    );
}

proptest! {
    #[test]
    fn decode_upcasts_every_schema_1_amount_exactly(cents in any::<u64>()) {
        let euros = format!("{}.{:02}", cents / 100, cents % 100);
        prop_assert_eq!(
            AccountEvent::decode(&data("MoneyDeposited", 1, &euros)),
            Ok(AccountEvent::Deposited { cents }),
            "a schema-1 deposit of {:?} euros is exactly {} cents", euros, cents
        );
    }
}

/// Decodes without letting a panic through: a panic is a failure with a
/// message of its own.
fn decode_quietly(d: &EventData) -> Result<AccountEvent, DecodeError> {
    panic::catch_unwind(AssertUnwindSafe(|| AccountEvent::decode(d))).unwrap_or_else(|_| {
        panic!("decode({d:?}) panicked: a stored payload must never crash its reader")
    })
}

#[rstest]
#[case("MoneyDeposited", 2, "")]
#[case("MoneyDeposited", 2, "abc")]
#[case("MoneyDeposited", 2, "-5")]
#[case("MoneyDeposited", 2, " 5")]
#[case("MoneyDeposited", 2, "12.50")]
#[case("MoneyDeposited", 2, "18446744073709551616")]
#[case("MoneyWithdrawn", 2, "99999999999999999999999")]
#[case("MoneyDeposited", 1, "")]
#[case("MoneyDeposited", 1, "12")]
#[case("MoneyDeposited", 1, "12.5")]
#[case("MoneyDeposited", 1, "12.505")]
#[case("MoneyDeposited", 1, "12.")]
#[case("MoneyDeposited", 1, ".50")]
#[case("MoneyDeposited", 1, "-1.00")]
#[case("MoneyDeposited", 1, "1,00")]
#[case("MoneyDeposited", 1, "x.50")]
#[case("MoneyDeposited", 1, "1.x0")]
#[case("MoneyDeposited", 1, "1.-5")]
#[case("MoneyWithdrawn", 1, "1.2.3")]
#[case("MoneyDeposited", 1, "184467440737095516.16")]
#[case("MoneyDeposited", 1, "184467440737095517.00")]
#[case("MoneyWithdrawn", 1, "99999999999999999999.99")]
#[case("MoneyDeposited", 2, "+5")]
#[case("MoneyDeposited", 1, "+1.00")]
#[case("MoneyDeposited", 1, "12.+5")]
#[case("AccountClosed", 1, "oops")]
fn decode_rejects_malformed_payloads_without_panicking(
    #[case] kind: &str,
    #[case] schema: u32,
    #[case] payload: &str,
) {
    let d = data(kind, schema, payload);
    assert_eq!(
        decode_quietly(&d),
        Err(DecodeError::BadPayload {
            kind: kind.to_owned(),
            schema,
            payload: payload.to_owned()
        }),
        "{payload:?} is not a schema-{schema} {kind} payload (or its amount does not fit in a \
         u64 of cents)"
    );
}

#[rstest]
#[case::unknown_kind("FeeApplied", 1, "5", DecodeError::UnknownKind("FeeApplied".into()))]
#[case::kind_in_another_case("moneydeposited", 2, "5", DecodeError::UnknownKind("moneydeposited".into()))]
#[case::future_schema("MoneyDeposited", 3, "5", DecodeError::UnknownSchema { kind: "MoneyDeposited".into(), schema: 3 })]
#[case::schema_0("MoneyWithdrawn", 0, "5", DecodeError::UnknownSchema { kind: "MoneyWithdrawn".into(), schema: 0 })]
#[case::schema_u32_max("MoneyWithdrawn", u32::MAX, "5", DecodeError::UnknownSchema { kind: "MoneyWithdrawn".into(), schema: u32::MAX })]
#[case::opened_schema_2("AccountOpened", 2, "Ada", DecodeError::UnknownSchema { kind: "AccountOpened".into(), schema: 2 })]
#[case::closed_schema_2("AccountClosed", 2, "", DecodeError::UnknownSchema { kind: "AccountClosed".into(), schema: 2 })]
fn decode_rejects_unknown_kinds_and_schemas(
    #[case] kind: &str,
    #[case] schema: u32,
    #[case] payload: &str,
    #[case] want: DecodeError,
) {
    assert_eq!(
        decode_quietly(&data(kind, schema, payload)),
        Err(want),
        "kind {kind:?}, schema {schema}"
    );
}

// ───────────────────────────── the account's rules ─────────────────────────────

fn new_account() -> Account {
    Account::default()
}

fn closed_account() -> Account {
    Account {
        status: Status::Closed,
        owner: "Ada".into(),
        balance: 0,
    }
}

fn open_cmd(owner: &str) -> Command {
    Command::Open {
        owner: owner.into(),
    }
}

fn dep(cents: u64) -> Command {
    Command::Deposit { cents }
}

fn wd(cents: u64) -> Command {
    Command::Withdraw { cents }
}

#[rstest]
#[case::open_a_new_account(new_account(), open_cmd("Ada"), Ok(vec![AccountEvent::Opened { owner: "Ada".into() }]))]
#[case::open_with_an_empty_owner(new_account(), open_cmd(""), Err(Rejection::EmptyOwner))]
#[case::open_an_open_account(
    open_account("Ada", 100),
    open_cmd("Bob"),
    Err(Rejection::AlreadyOpened)
)]
#[case::status_before_the_owner(
    open_account("Ada", 100),
    open_cmd(""),
    Err(Rejection::AlreadyOpened)
)]
#[case::reopen_a_closed_account(closed_account(), open_cmd("Ada"), Err(Rejection::AlreadyOpened))]
#[case::deposit_on_a_new_account(new_account(), dep(10), Err(Rejection::NotOpen))]
#[case::status_before_the_amount(new_account(), dep(0), Err(Rejection::NotOpen))]
#[case::withdraw_from_a_new_account(new_account(), wd(10), Err(Rejection::NotOpen))]
#[case::close_a_new_account(new_account(), Command::Close, Err(Rejection::NotOpen))]
#[case::deposit_on_a_closed_account(closed_account(), dep(10), Err(Rejection::Closed))]
#[case::withdraw_zero_from_a_closed_account(closed_account(), wd(0), Err(Rejection::Closed))]
#[case::close_a_closed_account(closed_account(), Command::Close, Err(Rejection::Closed))]
#[case::deposit_zero(open_account("Ada", 100), dep(0), Err(Rejection::ZeroAmount))]
#[case::withdraw_zero(open_account("Ada", 0), wd(0), Err(Rejection::ZeroAmount))]
#[case::deposit(open_account("Ada", 100), dep(50), Ok(vec![AccountEvent::Deposited { cents: 50 }]))]
#[case::deposit_up_to_u64_max(open_account("Ada", u64::MAX - 5), dep(5), Ok(vec![AccountEvent::Deposited { cents: 5 }]))]
#[case::deposit_past_u64_max(open_account("Ada", u64::MAX - 5), dep(6), Err(Rejection::BalanceOverflow { balance: u64::MAX - 5, deposit: 6 }))]
#[case::deposit_u64_max_on_one_cent(open_account("Ada", 1), dep(u64::MAX), Err(Rejection::BalanceOverflow { balance: 1, deposit: u64::MAX }))]
#[case::withdraw_the_whole_balance(open_account("Ada", 100), wd(100), Ok(vec![AccountEvent::Withdrawn { cents: 100 }]))]
#[case::withdraw_one_cent_too_much(open_account("Ada", 100), wd(101), Err(Rejection::InsufficientFunds { balance: 100, requested: 101 }))]
#[case::withdraw_u64_max(open_account("Ada", 100), wd(u64::MAX), Err(Rejection::InsufficientFunds { balance: 100, requested: u64::MAX }))]
#[case::close_with_money_left(open_account("Ada", 1), Command::Close, Err(Rejection::BalanceNotZero { balance: 1 }))]
#[case::close_an_empty_account(open_account("Ada", 0), Command::Close, Ok(vec![AccountEvent::Closed]))]
fn decide_applies_the_account_rules_in_order(
    #[case] state: Account,
    #[case] command: Command,
    #[case] want: Result<Vec<AccountEvent>, Rejection>,
) {
    let before = state.clone();
    let got = panic::catch_unwind(AssertUnwindSafe(|| state.decide(&command)))
        .unwrap_or_else(|_| panic!("decide({command:?}) on {before:?} panicked"));
    assert_eq!(got, want, "decide({command:?}) on {before:?}");
    assert_eq!(state, before, "decide changes nothing");
}

#[test]
fn apply_folds_events_into_the_state() {
    let mut a = Account::default();
    let steps = [
        (
            AccountEvent::Opened {
                owner: "Ada".into(),
            },
            open_account("Ada", 0),
        ),
        (
            AccountEvent::Deposited { cents: 100 },
            open_account("Ada", 100),
        ),
        (
            AccountEvent::Withdrawn { cents: 30 },
            open_account("Ada", 70),
        ),
        (
            AccountEvent::Deposited { cents: 5 },
            open_account("Ada", 75),
        ),
        (
            AccountEvent::Withdrawn { cents: 75 },
            open_account("Ada", 0),
        ),
        (
            AccountEvent::Closed,
            Account {
                status: Status::Closed,
                owner: "Ada".into(),
                balance: 0,
            },
        ),
    ];
    for (event, want) in steps {
        a.apply(&event);
        assert_eq!(a, want, "after applying {event:?}");
    }
    // A log written by someone else may hold anything: apply never panics.
    for event in [
        AccountEvent::Withdrawn { cents: 1 },
        AccountEvent::Deposited { cents: u64::MAX },
        AccountEvent::Deposited { cents: u64::MAX },
    ] {
        let mut b = a.clone();
        panic::catch_unwind(AssertUnwindSafe(|| b.apply(&event)))
            .unwrap_or_else(|_| panic!("apply({event:?}) on {a:?} panicked: apply never fails"));
        a = b;
    }
}

fn any_account() -> impl Strategy<Value = Account> {
    let owner = prop_oneof![
        any::<String>(),
        "[a-z;:=,|\\\\\"\n {}0-9.-]{0,12}",
        Just(String::new()),
    ];
    let status = prop_oneof![Just(Status::New), Just(Status::Open), Just(Status::Closed)];
    let balance = prop_oneof![any::<u64>(), Just(0), Just(u64::MAX)];
    (status, owner, balance).prop_map(|(status, owner, balance)| Account {
        status,
        owner,
        balance,
    })
}

proptest! {
    #[test]
    fn a_snapshot_gives_back_the_state_whatever_the_owner_is_called(account in any_account()) {
        let state = account.to_snapshot();
        prop_assert_eq!(
            Account::from_snapshot(&state),
            Ok(account.clone()),
            "from_snapshot(to_snapshot(a)) must be a; to_snapshot wrote {:?}", state
        );
    }
}

#[test]
fn a_snapshot_string_that_is_not_one_is_a_bad_snapshot() {
    let got = panic::catch_unwind(|| Account::from_snapshot(""))
        .unwrap_or_else(|_| panic!("from_snapshot(\"\") panicked"));
    assert!(
        matches!(got, Err(DecodeError::BadSnapshot(_))),
        "from_snapshot(\"\") is BadSnapshot, got {got:?}"
    );
}

// ───────────────────────────── commands and loads ─────────────────────────────

#[test]
fn execute_appends_one_event_per_accepted_command() {
    let db = db();
    let mut bank = accounts(&db, 1_000);
    assert_eq!(execute(&mut bank, "acct-7", open_cmd("Ada")), 1);
    assert_eq!(execute(&mut bank, "acct-7", dep(10_000)), 2);
    assert_eq!(execute(&mut bank, "acct-8", open_cmd("Bob")), 1);
    assert_eq!(execute(&mut bank, "acct-7", wd(2_500)), 3);
    assert_eq!(
        payloads(&read_stream(bank.store(), "acct-7", 0)),
        [opened("Ada"), deposited(10_000), withdrawn(2_500)],
        "execute appends each accepted command's event in the current wire format"
    );
    assert_eq!(load(&bank, "acct-7"), (open_account("Ada", 7_500), 3));
    assert_eq!(execute(&mut bank, "acct-7", wd(7_500)), 4);
    assert_eq!(execute(&mut bank, "acct-7", Command::Close), 5);
    assert_eq!(
        load(&bank, "acct-7"),
        (
            Account {
                status: Status::Closed,
                owner: "Ada".into(),
                balance: 0
            },
            5
        )
    );
    assert_eq!(load(&bank, "acct-8"), (open_account("Bob", 0), 1));
}

#[test]
fn a_rejected_command_appends_nothing() {
    let db = db();
    let mut bank = accounts(&db, 1);
    let r = bank.execute("acct-7", &dep(100));
    assert!(
        matches!(r, Err(Error::Rejected(Rejection::NotOpen))),
        "a deposit on an account never opened is Rejected(NotOpen), got {}",
        describe(&r)
    );
    assert_eq!(bank.store().version("acct-7").expect("version"), 0);
    execute(&mut bank, "acct-7", open_cmd("Ada"));
    execute(&mut bank, "acct-7", dep(100));
    let before = log(bank.store());
    let snapshot = bank.store().load_snapshot("acct-7").expect("load_snapshot");
    for (command, rejection) in [
        (
            wd(101),
            Rejection::InsufficientFunds {
                balance: 100,
                requested: 101,
            },
        ),
        (open_cmd("Bob"), Rejection::AlreadyOpened),
        (Command::Close, Rejection::BalanceNotZero { balance: 100 }),
        (
            dep(u64::MAX),
            Rejection::BalanceOverflow {
                balance: 100,
                deposit: u64::MAX,
            },
        ),
    ] {
        let r = bank.execute("acct-7", &command);
        assert!(
            matches!(&r, Err(Error::Rejected(got)) if *got == rejection),
            "execute({command:?}) on an account with 100 cents is Rejected({rejection:?}), got {}",
            describe(&r)
        );
    }
    assert_eq!(
        log(bank.store()),
        before,
        "a rejected command appends nothing"
    );
    assert_eq!(
        bank.store().load_snapshot("acct-7").expect("load_snapshot"),
        snapshot,
        "a rejected command saves no snapshot"
    );
}

#[test]
fn load_folds_every_event_of_the_account() {
    let db = db();
    let mut s = store(&db);
    append(&mut s, "acct-1", 0, &[opened("Ada"), deposited(500)]);
    append(&mut s, "acct-2", 0, &[opened("Bob"), deposited(9)]);
    append(&mut s, "acct-1", 2, &[withdrawn(120), deposited(20)]);
    let bank = Accounts::new(s, 1_000).expect("Accounts::new");
    assert_eq!(load(&bank, "acct-1"), (open_account("Ada", 400), 4));
    assert_eq!(replay(&bank, "acct-1"), (open_account("Ada", 400), 4));
    assert_eq!(load(&bank, "acct-2"), (open_account("Bob", 9), 2));
}

#[test]
fn load_reads_schema_1_events_like_schema_2_ones() {
    let db = db();
    let mut s = store(&db);
    append(
        &mut s,
        "acct-1",
        0,
        &[
            opened("Ada"),
            data("MoneyDeposited", 1, "12.50"),
            data("MoneyWithdrawn", 1, "0.29"),
            deposited(100),
            data("MoneyDeposited", 1, "4.35"),
        ],
    );
    let mut bank = Accounts::new(s, 1_000).expect("Accounts::new");
    let want = (open_account("Ada", 1250 - 29 + 100 + 435), 5);
    assert_eq!(
        load(&bank, "acct-1"),
        want,
        "12.50 € in, 0.29 € out (schema 1), 100 cents in (schema 2), 4.35 € in (schema 1)"
    );
    assert_eq!(replay(&bank, "acct-1"), want);
    assert_eq!(
        execute(&mut bank, "acct-1", wd(1756)),
        6,
        "the whole upcast balance can be withdrawn"
    );
    assert_eq!(execute(&mut bank, "acct-1", Command::Close), 7);
}

#[test]
fn load_reports_an_event_or_snapshot_it_cannot_decode() {
    let db = db();
    let mut s = store(&db);
    append(
        &mut s,
        "acct-1",
        0,
        &[opened("Ada"), data("FeeApplied", 1, "3"), deposited(5)],
    );
    append(&mut s, "acct-2", 0, &[opened("Bob"), deposited(5)]);
    s.save_snapshot(
        "acct-2",
        &Snapshot {
            version: 2,
            state: String::new(),
        },
    )
    .expect("save_snapshot of an empty state");
    let mut bank = Accounts::new(s, 1_000).expect("Accounts::new");
    for (what, r) in [
        ("load", bank.load("acct-1")),
        ("replay", bank.replay("acct-1")),
    ] {
        assert!(
            matches!(
                &r,
                Err(Error::Decode { stream, version: 2, error: DecodeError::UnknownKind(kind) })
                    if stream == "acct-1" && kind == "FeeApplied"
            ),
            "{what}(acct-1), whose version 2 is a FeeApplied event, must be \
             Decode {{ stream: \"acct-1\", version: 2, error: UnknownKind(\"FeeApplied\") }}, got {}",
            describe(&r)
        );
    }
    let r = bank.load("acct-2");
    assert!(
        matches!(
            &r,
            Err(Error::Decode { stream, version: 2, error: DecodeError::BadSnapshot(_) })
                if stream == "acct-2"
        ),
        "load(acct-2), whose snapshot at version 2 holds the state \"\", must be \
         Decode {{ stream: \"acct-2\", version: 2, error: BadSnapshot(..) }}, got {}",
        describe(&r)
    );
    let before = log(bank.store());
    let r = bank.execute("acct-1", &dep(1));
    assert!(
        matches!(&r, Err(Error::Decode { version: 2, .. })),
        "execute on acct-1 must report the event it cannot decode, got {}",
        describe(&r)
    );
    assert_eq!(
        log(bank.store()),
        before,
        "a command on an unreadable stream appends nothing"
    );
}

#[test]
fn a_snapshot_is_saved_whenever_the_version_reaches_a_multiple_of_n() {
    for every in [1, 3] {
        let db = db();
        let mut bank = accounts(&db, every);
        let mut model = Account::default();
        let mut last_snapshot = None;
        let commands = [
            open_cmd("Ada"),
            dep(100),
            dep(20),
            wd(5),
            dep(1),
            wd(16),
            dep(7),
        ];
        for (i, command) in commands.into_iter().enumerate() {
            let version = i as u64 + 1;
            for event in model
                .decide(&command)
                .expect("the spec's commands are accepted")
            {
                model.apply(&event);
            }
            assert_eq!(execute(&mut bank, "acct-1", command), version);
            if version.is_multiple_of(every) {
                last_snapshot = Some((version, model.clone()));
            }
            let got = bank
                .store()
                .load_snapshot("acct-1")
                .expect("load_snapshot")
                .map(|s| {
                    let state = Account::from_snapshot(&s.state)
                        .unwrap_or_else(|e| panic!("from_snapshot({:?}) failed: {e:?}", s.state));
                    (s.version, state)
                });
            assert_eq!(
                got, last_snapshot,
                "with snapshot_every {every}, after version {version} the newest snapshot is \
                 the state at the last multiple of {every}"
            );
        }
    }
}

#[test]
fn load_starts_from_the_newest_snapshot_and_applies_only_the_events_after_it() {
    let db = db();
    let mut bank = accounts(&db, 1_000);
    execute(&mut bank, "acct-1", open_cmd("Ada"));
    for _ in 0..5 {
        execute(&mut bank, "acct-1", dep(100));
    }
    // The log says 500 cents at version 6. A snapshot at version 4 that
    // says 1,000,300 (where the log says 300) shows what load starts from.
    let marked = open_account("Marked", 1_000_300);
    bank.store_mut()
        .save_snapshot(
            "acct-1",
            &Snapshot {
                version: 4,
                state: marked.to_snapshot(),
            },
        )
        .expect("save_snapshot at version 4");
    assert_eq!(
        load(&bank, "acct-1"),
        (open_account("Marked", 1_000_500), 6),
        "load must start from the snapshot at version 4 (1,000,300 cents) and apply versions 5 \
         and 6 (100 cents each), nothing before them and nothing twice"
    );
    assert_eq!(
        replay(&bank, "acct-1"),
        (open_account("Ada", 500), 6),
        "replay ignores snapshots"
    );
    bank.store_mut()
        .save_snapshot(
            "acct-1",
            &Snapshot {
                version: 6,
                state: marked.to_snapshot(),
            },
        )
        .expect("save_snapshot at version 6");
    assert_eq!(
        load(&bank, "acct-1"),
        (marked.clone(), 6),
        "a snapshot at the current version is the whole state"
    );
    execute(&mut bank, "acct-1", wd(300));
    assert_eq!(
        load(&bank, "acct-1"),
        (open_account("Marked", 1_000_000), 7),
        "execute decides on the loaded state"
    );
}

#[test]
fn save_snapshot_keeps_the_newest_snapshot() {
    let db = db();
    let mut s = store(&db);
    append(
        &mut s,
        "acct-1",
        0,
        &[
            opened("Ada"),
            deposited(1),
            deposited(2),
            deposited(3),
            deposited(4),
        ],
    );
    let snap = |version: u64, balance: u64| Snapshot {
        version,
        state: open_account("Ada", balance).to_snapshot(),
    };
    s.save_snapshot("acct-1", &snap(4, 6))
        .expect("a snapshot at 4");
    s.save_snapshot("acct-1", &snap(2, 1))
        .expect("an older snapshot is Ok, and ignored");
    assert_eq!(
        s.load_snapshot("acct-1").expect("load_snapshot"),
        Some(snap(4, 6)),
        "after snapshots at 4 then 2, the newest (4) is kept"
    );
    s.save_snapshot("acct-1", &snap(5, 10))
        .expect("a snapshot at 5");
    assert_eq!(
        s.load_snapshot("acct-1").expect("load_snapshot"),
        Some(snap(5, 10))
    );
    assert_eq!(s.load_snapshot("acct-2").expect("load_snapshot"), None);
}

#[test]
fn snapshots_are_kept_per_stream_whatever_the_name() {
    let db = db();
    let mut bank = accounts(&db, 2);
    let names = ["acct-1", "ACCT-1", "acct-1 ", "acct_1", "acct%1"];
    for (i, name) in names.iter().enumerate() {
        execute(&mut bank, name, open_cmd(&format!("owner {i}")));
        for _ in 0..=i {
            execute(&mut bank, name, dep(10 * (i as u64 + 1)));
        }
    }
    for (i, name) in names.iter().enumerate() {
        let want = (
            open_account(&format!("owner {i}"), 10 * (i as u64 + 1) * (i as u64 + 1)),
            i as u64 + 2,
        );
        assert_eq!(replay(&bank, name), want, "replay of {name:?}");
        assert_eq!(
            load(&bank, name),
            want,
            "load of {name:?} must start from its own snapshot, not that of another stream \
             whose name differs in case, spaces or wildcards (streams: {names:?})"
        );
    }
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Op {
    /// A command on account `0..3`.
    Execute(usize, Command),
    /// Last year's code writes a schema-1 deposit or withdrawal of this many
    /// cents, straight to the store.
    Legacy(usize, bool, u64),
}

const ACCOUNTS: [&str; 3] = ["acct-1", "ACCT-1", "acct;1"];

fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        1 => "[A-Za-z;\n ]{0,6}".prop_map(|owner| Command::Open { owner }),
        4 => (0u64..300).prop_map(|cents| Command::Deposit { cents }),
        3 => (0u64..300).prop_map(|cents| Command::Withdraw { cents }),
        1 => Just(Command::Close),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..ACCOUNTS.len(), any_command()).prop_map(|(a, c)| Op::Execute(a, c)),
        1 => (0..ACCOUNTS.len(), any::<bool>(), 1u64..300).prop_map(|(a, d, c)| Op::Legacy(a, d, c)),
    ]
}

/// Runs one op on the subject and on the model (an `Account` and a version
/// per stream, from the spec's own decisions).
fn run_op(bank: &mut Accounts, model: &mut [(Account, u64)], op: &Op) {
    match op {
        Op::Execute(a, command) => {
            let (state, version) = &mut model[*a];
            let got = bank.execute(ACCOUNTS[*a], command);
            match state.decide(command) {
                Ok(events) => {
                    assert!(
                        matches!(got, Ok(v) if v == *version + 1),
                        "execute({:?}, {command:?}) at version {version} must return {}, got {}",
                        ACCOUNTS[*a],
                        *version + 1,
                        describe(&got)
                    );
                    for event in &events {
                        state.apply(event);
                    }
                    *version += 1;
                }
                Err(rejection) => assert!(
                    matches!(&got, Err(Error::Rejected(r)) if *r == rejection),
                    "execute({:?}, {command:?}) on {state:?} must be Rejected({rejection:?}), got {}",
                    ACCOUNTS[*a],
                    describe(&got)
                ),
            }
        }
        &Op::Legacy(a, deposit, cents) => {
            let (state, version) = &mut model[a];
            if state.status != Status::Open || (!deposit && cents > state.balance) {
                return;
            }
            let (kind, event) = if deposit {
                ("MoneyDeposited", AccountEvent::Deposited { cents })
            } else {
                ("MoneyWithdrawn", AccountEvent::Withdrawn { cents })
            };
            let euros = format!("{}.{:02}", cents / 100, cents % 100);
            append(
                bank.store_mut(),
                ACCOUNTS[a],
                *version,
                &[data(kind, 1, &euros)],
            );
            state.apply(&event);
            *version += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn followup_loading_from_snapshot_and_tail_equals_a_full_replay(
        every in 1u64..=5,
        ops in proptest::collection::vec(any_op(), 1..40),
    ) {
        let db = db();
        let mut bank = accounts(&db, every);
        let mut model = vec![(Account::default(), 0u64); ACCOUNTS.len()];
        for op in &ops {
            run_op(&mut bank, &mut model, op);
            for (a, (state, version)) in model.iter().enumerate() {
                if *version == 0 {
                    continue;
                }
                let loaded = load(&bank, ACCOUNTS[a]);
                let replayed = replay(&bank, ACCOUNTS[a]);
                prop_assert_eq!(
                    &replayed, &(state.clone(), *version),
                    "replay of {:?} after {:?} (snapshot_every {})", ACCOUNTS[a], op, every
                );
                prop_assert_eq!(
                    &loaded, &replayed,
                    "load (snapshot + tail) must equal a full replay of {:?} after {:?} \
                     (snapshot_every {})", ACCOUNTS[a], op, every
                );
            }
        }
    }
}

// ───────────────────────────── the projection ─────────────────────────────

/// Three accounts' history, schema 1 included, appended in an interleaved
/// order.
fn history(s: &mut EventStore) {
    append(s, "acct-1", 0, &[opened("Ada"), deposited(1_000)]);
    append(s, "acct-2", 0, &[opened("Bob;\"Builder\"")]);
    append(s, "acct-1", 2, &[withdrawn(250)]);
    append(
        s,
        "acct-3",
        0,
        &[opened("Cy"), data("MoneyDeposited", 1, "0.29")],
    );
    append(s, "acct-2", 1, &[deposited(40), withdrawn(40), closed()]);
    append(s, "acct-3", 2, &[data("MoneyWithdrawn", 1, "0.07")]);
}

#[test]
fn catch_up_processes_every_event_after_the_checkpoint() {
    let db = db();
    let mut s = store(&db);
    history(&mut s);
    let mut p = projection(&db);
    assert_eq!(checkpoint(&p), 0, "a new projection's checkpoint is 0");
    assert_eq!(views(&p), BTreeMap::new(), "a new projection shows nothing");
    let all = log(&s);
    assert_eq!(
        catch_up(&mut p, 3),
        all.len(),
        "catch_up(3) processes all {} events, 3 at a time, to the end of the log",
        all.len()
    );
    assert_eq!(
        checkpoint(&p),
        all.last().expect("events").position,
        "the checkpoint is the last event's position"
    );
    let want = BTreeMap::from([
        ("acct-1".to_owned(), view("Ada", 750, false)),
        ("acct-2".to_owned(), view("Bob;\"Builder\"", 0, true)),
        ("acct-3".to_owned(), view("Cy", 22, false)),
    ]);
    assert_eq!(views(&p), want);
    assert_eq!(
        p.view("acct-1").expect("view"),
        Some(view("Ada", 750, false))
    );
    assert_eq!(
        p.view("acct-9").expect("view"),
        None,
        "acct-9 was never opened"
    );
    assert_eq!(
        catch_up(&mut p, 3),
        0,
        "at the end of the log there is nothing to do"
    );

    append(&mut s, "acct-1", 3, &[deposited(1)]);
    append(&mut s, "acct-4", 0, &[opened("Dee")]);
    assert_eq!(
        catch_up(&mut p, 100),
        2,
        "only the 2 new events are processed"
    );
    assert_eq!(views(&p), expected_views(&log(&s)));
}

#[test]
fn a_projection_can_start_before_the_store_exists() {
    let db = db();
    let mut p = projection(&db);
    assert_eq!(
        catch_up(&mut p, 10),
        0,
        "a projection on a database no store has touched yet has nothing to do"
    );
    assert_eq!((checkpoint(&p), views(&p)), (0, BTreeMap::new()));
    let mut s = store(&db);
    history(&mut s);
    assert_eq!(catch_up(&mut p, 10), log(&s).len());
    assert_eq!(views(&p), expected_views(&log(&s)));
}

#[test]
fn a_new_projection_resumes_from_the_stored_checkpoint() {
    let db = db();
    let mut s = store(&db);
    history(&mut s);
    let first = log(&s).len();
    let mut p = projection(&db);
    assert_eq!(catch_up(&mut p, 4), first);
    let at = checkpoint(&p);
    drop(p);
    append(&mut s, "acct-1", 3, &[deposited(5), withdrawn(1)]);
    let mut p = projection(&db);
    assert_eq!(
        checkpoint(&p),
        at,
        "a projection opened on the same file starts from the stored checkpoint"
    );
    assert_eq!(
        catch_up(&mut p, 4),
        2,
        "a restarted projection processes only what came after its checkpoint"
    );
    assert_eq!(
        views(&p),
        expected_views(&log(&s)),
        "no event may count twice across a restart"
    );
}

#[test]
fn the_projection_reads_schema_1_events_like_schema_2_ones() {
    let db = db();
    let mut s = store(&db);
    append(
        &mut s,
        "acct-1",
        0,
        &[
            opened("Ada"),
            data("MoneyDeposited", 1, "12.50"),
            data("MoneyWithdrawn", 1, "1.15"),
            deposited(4),
        ],
    );
    let mut p = projection(&db);
    catch_up(&mut p, 10);
    assert_eq!(
        p.view("acct-1").expect("view"),
        Some(view("Ada", 1250 - 115 + 4, false)),
        "12.50 € in, 1.15 € out (schema 1), 4 cents in"
    );
}

#[test]
fn the_projection_shows_balances_up_to_u64_max_cents() {
    let db = db();
    let mut s = store(&db);
    let half = i64::MAX as u64;
    append(
        &mut s,
        "acct-1",
        0,
        &[opened("Ada"), deposited(u64::MAX - 1), deposited(1)],
    );
    append(&mut s, "acct-2", 0, &[opened("Bob"), deposited(half)]);
    let mut p = projection(&db);
    catch_up(&mut p, 10);
    assert_eq!(
        p.view("acct-1").expect("view"),
        Some(view("Ada", u64::MAX, false)),
        "a balance of u64::MAX cents is shown exactly"
    );
    append(&mut s, "acct-2", 2, &[deposited(1)]);
    catch_up(&mut p, 10);
    assert_eq!(
        p.view("acct-2").expect("view"),
        Some(view("Bob", half + 1, false)),
        "deposits of i64::MAX cents and 1 cent make exactly 2^63 cents"
    );
    append(&mut s, "acct-2", 3, &[deposited(half), withdrawn(5)]);
    catch_up(&mut p, 10);
    assert_eq!(
        p.view("acct-2").expect("view"),
        Some(view("Bob", u64::MAX - 5, false)),
        "then i64::MAX cents more and 5 out make exactly u64::MAX - 5 cents"
    );
}

#[test]
fn the_projection_stops_at_an_event_it_cannot_decode() {
    for batch in [1, 2, 3, 4, 10] {
        let db = db();
        let mut s = store(&db);
        append(&mut s, "acct-1", 0, &[opened("Ada"), deposited(100)]);
        append(&mut s, "acct-2", 0, &[opened("Bob")]);
        append(
            &mut s,
            "acct-1",
            2,
            &[deposited(5), data("FeeApplied", 1, "3"), deposited(7)],
        );
        append(&mut s, "acct-2", 1, &[deposited(9)]);
        let all = log(&s);
        let good = &all[..4];
        let mut p = projection(&db);
        for attempt in 1..=2 {
            let r = p.catch_up(batch);
            assert!(
                matches!(
                    &r,
                    Err(Error::Decode { stream, version: 4, error: DecodeError::UnknownKind(kind) })
                        if stream == "acct-1" && kind == "FeeApplied"
                ),
                "catch_up({batch}) (attempt {attempt}) must stop at the FeeApplied event, \
                 version 4 of acct-1, with Error::Decode, got {}",
                describe(&r)
            );
            assert_eq!(
                checkpoint(&p),
                good[3].position,
                "after catch_up({batch}) stopped, the checkpoint is the position of the last \
                 event before the one it cannot decode (attempt {attempt})"
            );
            assert_eq!(
                views(&p),
                expected_views(good),
                "after catch_up({batch}) stopped, the views hold exactly the events before \
                 the one it cannot decode (attempt {attempt})"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn followup_a_rebuild_equals_catching_up_incrementally(
        steps in proptest::collection::vec(
            prop_oneof![4 => any_op().prop_map(Some), 1 => Just(None)],
            1..40,
        ),
        batches in proptest::collection::vec(1usize..=4, 1..8),
    ) {
        let db = db();
        let mut bank = accounts(&db, 3);
        let mut model = vec![(Account::default(), 0u64); ACCOUNTS.len()];
        let mut p = projection(&db);
        let mut processed = 0;
        for (i, step) in steps.iter().enumerate() {
            match step {
                Some(op) => run_op(&mut bank, &mut model, op),
                None => processed += catch_up(&mut p, batches[i % batches.len()]),
            }
        }
        processed += catch_up(&mut p, batches[0]);
        let all = log(bank.store());
        prop_assert_eq!(processed, all.len(), "catching up step by step processes each event once");
        let incremental = views(&p);
        let want: BTreeMap<String, AccountView> = model
            .iter()
            .enumerate()
            .filter(|(_, (state, _))| state.status != Status::New)
            .map(|(a, (state, _))| {
                (ACCOUNTS[a].to_owned(), view(&state.owner, state.balance, state.status == Status::Closed))
            })
            .collect();
        prop_assert_eq!(&incremental, &want, "the views after catching up step by step");
        let rebuilt = p.rebuild(batches[batches.len() - 1])
            .unwrap_or_else(|e| panic!("rebuild failed: {e}"));
        prop_assert_eq!(rebuilt, all.len(), "a rebuild processes the whole log");
        prop_assert_eq!(&views(&p), &incremental, "a rebuild gives the same views as catching up step by step");
        prop_assert_eq!(checkpoint(&p), all.last().map_or(0, |e| e.position));
    }
}
