//! Races and costs of the outbox kata, forced and counted rather than hoped
//! for or timed.
//!
//! Your `Shop` and `Relay` open their own connections, so this file asks
//! SQLite to hook every connection the test binary opens (an "auto
//! extension"): a trace callback runs after each statement, and a progress
//! handler counts the virtual machine steps SQLite executes. Both do
//! nothing unless the test on the same thread has armed them, so they only
//! ever act inside the one call a test is watching. With them the spec
//! lets another shop act between two statements of your `cancel_order`, at
//! the moments it may really happen (outside a write transaction of yours),
//! and measures how much work one claim of the relay does.
//!
//! `cargo test -p outbox` judges your code;
//! `cargo test -p outbox --features solution` judges the reference.

#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use outbox as subject;
#[cfg(feature = "solution")]
use outbox_solution as subject;

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use rusqlite::auto_extension::{init_auto_extension, register_auto_extension};
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, ErrorCode, ffi};
use subject::{Error, Event, EventKind, Order, OrderId, PublishError, Publisher, Relay, Shop};
use tempfile::TempDir;

const T0: i64 = 1_700_000_000;
const LEASE: i64 = 30;

// ───────────────────────────── the hooks ─────────────────────────────

/// What the armed test wants to happen after a statement ends; returns
/// whether to stay armed.
type Hook = Box<dyn FnMut() -> bool>;

thread_local! {
    /// Taken out while it runs, so that its own statements do not re-enter it.
    static AFTER_STATEMENT: RefCell<Option<Hook>> = const { RefCell::new(None) };
    /// SQLite virtual machine steps executed on this thread while counting.
    static STEPS: Cell<Option<u64>> = const { Cell::new(None) };
}

fn after_statement() {
    let hook = AFTER_STATEMENT.with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()));
    if let Some(mut hook) = hook
        && hook()
    {
        AFTER_STATEMENT.with(|slot| *slot.borrow_mut() = Some(hook));
    }
}

fn count_step() {
    STEPS.with(|steps| {
        if let Some(n) = steps.get() {
            steps.set(Some(n + 1));
        }
    });
}

/// Installed on every connection the process opens.
fn hook_connection(mut conn: Connection) -> rusqlite::Result<()> {
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_PROFILE,
        Some(|_: TraceEvent<'_>| after_statement()),
    )?;
    conn.progress_handler(
        1,
        Some(|| {
            count_step();
            false
        }),
    )
}

unsafe extern "C" fn raw_hook_connection(
    db: *mut ffi::sqlite3,
    err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite calls an auto extension with the connection it has just
    // opened and a place for an error message; `hook_connection` neither
    // opens nor closes a connection, nor touches the list of extensions.
    unsafe { init_auto_extension(db, err, hook_connection) }
}

fn hook_every_connection() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `raw_hook_connection` is a valid auto extension (see
        // above), registered once.
        unsafe { register_auto_extension(raw_hook_connection) }
            .expect("register the auto extension");
    });
}

/// Runs `f` with `hook` armed on this thread: it runs after each statement
/// that ends during `f`, on any connection, until it returns false.
fn with_hook<T>(hook: impl FnMut() -> bool + 'static, f: impl FnOnce() -> T) -> T {
    AFTER_STATEMENT.with(|slot| *slot.borrow_mut() = Some(Box::new(hook)));
    let out = f();
    AFTER_STATEMENT.with(|slot| *slot.borrow_mut() = None);
    out
}

/// The SQLite virtual machine steps `f` executes on this thread.
fn steps<T>(f: impl FnOnce() -> T) -> (u64, T) {
    STEPS.with(|s| s.set(Some(0)));
    let out = f();
    let n = STEPS.with(|s| s.replace(None)).unwrap_or(0);
    (n, out)
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

/// A hook that runs `act` once, right after the `at`-th statement that ends
/// while nobody holds the write lock: the moments at which another
/// connection may really commit between two statements of the call watched.
fn between_statements(
    path: PathBuf,
    at: usize,
    act: impl FnOnce() + 'static,
) -> impl FnMut() -> bool {
    let mut left = at;
    let mut act = Some(act);
    move || {
        if write_lock_is_held(&path) {
            return true;
        }
        left -= 1;
        if left > 0 {
            return true;
        }
        if let Some(act) = act.take() {
            act();
        }
        false
    }
}

// ───────────────────────────── helpers ─────────────────────────────

struct Db {
    _dir: TempDir,
    path: PathBuf,
}

fn db() -> Db {
    hook_every_connection();
    let dir = TempDir::new().expect("create a temporary directory");
    let path = dir.path().join("shop.db");
    Db { _dir: dir, path }
}

fn order(n: usize) -> Order {
    Order {
        customer: format!("customer-{n}"),
        item: format!("item-{}", n % 7),
        quantity: u32::try_from(n % 5 + 1).expect("small quantity"),
    }
}

#[derive(Default)]
struct Broker {
    delivered: Vec<Event>,
}

impl Publisher for Broker {
    fn publish(&mut self, event: &Event) -> Result<(), PublishError> {
        self.delivered.push(event.clone());
        Ok(())
    }
}

fn events_of(path: &Path, id: OrderId) -> Vec<(u32, EventKind)> {
    let mut relay = Relay::new(path, "checker", LEASE).expect("Relay::new");
    let mut broker = Broker::default();
    relay
        .run_once(T0 + 10 * LEASE, &mut broker)
        .expect("the checking relay's run");
    broker
        .delivered
        .iter()
        .filter(|e| e.aggregate_id == id)
        .map(|e| (e.sequence, e.kind))
        .collect()
}

// ─────────────────────────── forced races ───────────────────────────

#[test]
fn two_cancellations_racing_for_one_order_write_one_event() {
    for at in 1..=3 {
        let db = db();
        let id = db_shop(&db.path)
            .place_order(&order(1))
            .expect("place_order");
        let mut first = db_shop(&db.path);
        let other: std::rc::Rc<RefCell<Option<Result<(), Error>>>> = std::rc::Rc::default();
        let (path, slot) = (db.path.clone(), std::rc::Rc::clone(&other));
        let hook = between_statements(db.path.clone(), at, move || {
            *slot.borrow_mut() = Some(db_shop(&path).cancel_order(id));
        });
        let mine = with_hook(hook, || first.cancel_order(id));
        let theirs = other
            .borrow_mut()
            .take()
            .unwrap_or_else(|| db_shop(&db.path).cancel_order(id));
        let moment = format!(
            "a second shop cancelled order {id} right after statement {at} of the first shop's \
             cancel_order that ended outside a write transaction (or after it, if it ran fewer)"
        );
        match (&mine, &theirs) {
            (Ok(()), Err(Error::AlreadyCancelled(_)))
            | (Err(Error::AlreadyCancelled(_)), Ok(())) => {}
            (Ok(()), Ok(())) => panic!(
                "{moment}: both cancellations succeeded. Read the status inside the transaction \
                 that writes (BEGIN IMMEDIATE), or two cancellations both see 'placed'"
            ),
            _ => panic!(
                "{moment}: one cancellation should succeed and the other be \
                 Error::AlreadyCancelled; got {mine:?} and {theirs:?} (a DEFERRED transaction \
                 that reads and then writes fails when another connection wrote in between)"
            ),
        }
        assert_eq!(
            events_of(&db.path, id),
            vec![(1, EventKind::OrderPlaced), (2, EventKind::OrderCancelled)],
            "{moment}: order {id} should have exactly one OrderCancelled event"
        );
    }
}

fn db_shop(path: &Path) -> Shop {
    Shop::open(path).expect("Shop::open")
}

#[test]
fn a_cancellation_waits_for_another_writer_instead_of_failing() {
    for at in 1..=3 {
        let db = db();
        let mut shop = db_shop(&db.path);
        let id = shop.place_order(&order(1)).expect("place_order");
        let path = db.path.clone();
        let hook = between_statements(db.path.clone(), at, move || {
            db_shop(&path)
                .place_order(&order(2))
                .expect("another shop places an order");
        });
        let result = with_hook(hook, || shop.cancel_order(id));
        assert!(
            result.is_ok(),
            "another shop placed an order right after statement {at} of cancel_order({id}) that \
             ended outside a write transaction; the cancellation should still succeed, got \
             {result:?}. A DEFERRED transaction that reads and then writes cannot upgrade once \
             another connection has written since its read, and fails at once with \
             SQLITE_BUSY, whatever the busy timeout: start it with BEGIN IMMEDIATE"
        );
        assert_eq!(
            events_of(&db.path, id),
            vec![(1, EventKind::OrderPlaced), (2, EventKind::OrderCancelled)],
            "order {id} was placed and cancelled once"
        );
    }
}

// ─────────────────────────── the claim's cost ───────────────────────────

/// The SQLite steps of one relay run that publishes one new event, after
/// `published` events were published.
fn steps_to_relay_one_event(published: usize) -> u64 {
    let db = db();
    let mut shop = db_shop(&db.path);
    for n in 0..published {
        shop.place_order(&order(n)).expect("place_order");
    }
    let mut relay = Relay::new(&db.path, "relay-a", LEASE).expect("Relay::new");
    let mut broker = Broker::default();
    relay
        .run_once(T0, &mut broker)
        .expect("publish the backlog");
    assert_eq!(
        broker.delivered.len(),
        published,
        "the backlog is published"
    );
    shop.place_order(&order(published)).expect("place_order");
    let (n, report) = steps(|| relay.run_once(T0 + 1, &mut broker));
    assert_eq!(
        report.expect("run_once").published,
        1,
        "one new event to publish"
    );
    n
}

#[test]
fn a_claim_walks_an_index_of_unpublished_events_not_the_published_ones() {
    let small = steps_to_relay_one_event(200);
    let large = steps_to_relay_one_event(1_600);
    assert!(
        large < 2 * small,
        "publishing one new event took {small} SQLite steps after 200 published events and \
         {large} after 1,600: the claim should find unpublished events through an index (a \
         partial index `ON outbox (id) WHERE published_at IS NULL`, or another), at the same \
         cost however many published rows remain, not walk past the published ones"
    );
}
