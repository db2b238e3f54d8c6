//! The specification of the connection-pool kata.
//!
//! Every test name is a requirement; read the failing names first. The pool
//! is judged through managers written here: `Fake`, which counts every
//! connect, can be told to fail the next one and hands out connections
//! numbered 0, 1, 2, ... in the order they were opened; `Gated`, a fake
//! whose connects wait until the spec lets them finish; and `Sqlite`, which
//! opens real connections to one SQLite file in a temporary directory.
//!
//! Nothing here can hang: every checkout that could block either has its own
//! timeout (`get_timeout`) or runs on a thread whose answer the spec waits
//! for with a deadline, so a lost wake-up fails within a few seconds.
//!
//! `cargo test -p connection-pool` judges your code;
//! `cargo test -p connection-pool --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use connection_pool as subject;
#[cfg(feature = "solution")]
use connection_pool_solution as subject;

use std::collections::BTreeSet;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::{Manager, Pool, PoolError, State};

// ───────────────────────────── helpers ─────────────────────────────

/// How long the spec waits for something that should happen at once (a
/// waiter handed a connection that was just returned). Generous, so that a
/// loaded machine does not fail a correct pool; short next to the 5s that
/// the waiters themselves are willing to wait.
const PATIENCE: Duration = Duration::from_secs(2);

/// What waiting threads pass to `get_timeout`: longer than `PATIENCE`, so a
/// waiter that only gets its connection when its own timeout runs out (no
/// one woke it) is caught.
const WAITER_TIMEOUT: Duration = Duration::from_secs(5);

/// Gives a thread that was just started time to reach its checkout and block
/// in it, before the spec returns a connection (or checks that the thread is
/// still waiting). Never used to wait for a result.
fn let_it_block() {
    thread::sleep(Duration::from_millis(100));
}

/// Runs `work` on a new thread; its answer arrives on the receiver.
fn spawn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx
}

/// The answer of a thread started with `spawn`, waiting at most `patience`.
fn answer<T>(rx: &Receiver<T>, patience: Duration, what: &str) -> T {
    match rx.recv_timeout(patience) {
        Ok(answer) => answer,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still waiting after {patience:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the thread panicked"),
    }
}

/// What is left of the time until `deadline`: the patience for each of
/// several answers that are all due by then.
fn until(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Why a fake connect failed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    /// Which connect attempt this was, counting from 1.
    attempt: usize,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connect attempt {} refused", self.attempt)
    }
}

impl std::error::Error for Refused {}

/// What a fake manager and its connections report to the spec.
#[derive(Debug, Default)]
struct Counters {
    /// Connect attempts, failed ones included.
    connects: AtomicUsize,
    /// Id of the next connection opened.
    next_id: AtomicUsize,
    /// Connections open right now (opened, not yet closed).
    open: AtomicUsize,
    /// The most connections ever open at once.
    peak: AtomicUsize,
    /// The next connect attempt fails.
    fail_next: AtomicBool,
    /// Ids whose validity check fails.
    broken: Mutex<BTreeSet<usize>>,
    /// Ids of the connections closed, in order.
    closed: Mutex<Vec<usize>>,
}

/// A fake manager: connections are numbered in the order they are opened,
/// and everything is counted.
#[derive(Debug, Clone, Default)]
struct Fake(Arc<Counters>);

impl Fake {
    fn connects(&self) -> usize {
        self.0.connects.load(SeqCst)
    }

    fn open(&self) -> usize {
        self.0.open.load(SeqCst)
    }

    fn peak(&self) -> usize {
        self.0.peak.load(SeqCst)
    }

    /// Makes the next connect attempt fail.
    fn fail_next_connect(&self) {
        self.0.fail_next.store(true, SeqCst);
    }

    /// Makes the validity check of connection `id` fail from now on.
    fn break_connection(&self, id: usize) {
        self.0.broken.lock().expect("lock").insert(id);
    }

    fn closed(&self) -> Vec<usize> {
        self.0.closed.lock().expect("lock").clone()
    }
}

/// A fake connection: its id, and a flag that catches two holders at once.
#[derive(Debug)]
struct FakeConn {
    id: usize,
    in_use: AtomicBool,
    counters: Arc<Counters>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, SeqCst);
        self.counters.closed.lock().expect("lock").push(self.id);
    }
}

impl Manager for Fake {
    type Connection = FakeConn;
    type Error = Refused;

    fn connect(&self) -> Result<FakeConn, Refused> {
        let attempt = self.0.connects.fetch_add(1, SeqCst) + 1;
        if self.0.fail_next.swap(false, SeqCst) {
            return Err(Refused { attempt });
        }
        let open = self.0.open.fetch_add(1, SeqCst) + 1;
        self.0.peak.fetch_max(open, SeqCst);
        Ok(FakeConn {
            id: self.0.next_id.fetch_add(1, SeqCst),
            in_use: AtomicBool::new(false),
            counters: Arc::clone(&self.0),
        })
    }

    fn is_valid(&self, conn: &mut FakeConn) -> bool {
        !self.0.broken.lock().expect("lock").contains(&conn.id)
    }
}

/// A fake whose connects, while `Gate::hold_connects` says so, wait until the
/// spec decides how each one ends: a slow database, a network partition.
struct Gated {
    fake: Fake,
    holding: Arc<AtomicBool>,
    /// A held connect says it has started.
    started: Sender<()>,
    /// ... and waits here for its outcome: `true` to open, `false` to fail.
    outcome: Mutex<Receiver<bool>>,
}

/// The spec's side of a `Gated` manager.
struct Gate {
    holding: Arc<AtomicBool>,
    started: Receiver<()>,
    outcome: Sender<bool>,
}

impl Gate {
    /// From now on, connects wait for `outcome` (or no longer do).
    fn hold_connects(&self, holding: bool) {
        self.holding.store(holding, SeqCst);
    }
}

impl Gated {
    fn new(fake: Fake) -> (Gated, Gate) {
        let (started_tx, started_rx) = mpsc::channel();
        let (outcome_tx, outcome_rx) = mpsc::channel();
        let holding = Arc::new(AtomicBool::new(false));
        let gated = Gated {
            fake,
            holding: Arc::clone(&holding),
            started: started_tx,
            outcome: Mutex::new(outcome_rx),
        };
        let gate = Gate {
            holding,
            started: started_rx,
            outcome: outcome_tx,
        };
        (gated, gate)
    }
}

impl Manager for Gated {
    type Connection = FakeConn;
    type Error = Refused;

    fn connect(&self) -> Result<FakeConn, Refused> {
        if self.holding.load(SeqCst) {
            let _ = self.started.send(());
            // Bounded, so that a spec that fails never leaves a thread behind.
            let outcome = self
                .outcome
                .lock()
                .expect("lock")
                .recv_timeout(WAITER_TIMEOUT);
            if outcome != Ok(true) {
                let attempt = self.fake.0.connects.fetch_add(1, SeqCst) + 1;
                return Err(Refused { attempt });
            }
        }
        self.fake.connect()
    }

    fn is_valid(&self, conn: &mut FakeConn) -> bool {
        self.fake.is_valid(conn)
    }
}

/// Real connections to one SQLite file.
struct Sqlite {
    path: PathBuf,
    connects: Arc<AtomicUsize>,
}

impl Sqlite {
    fn new(path: &Path) -> Sqlite {
        Sqlite {
            path: path.to_owned(),
            connects: Arc::default(),
        }
    }
}

impl Manager for Sqlite {
    type Connection = rusqlite::Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        self.connects.fetch_add(1, SeqCst);
        let conn = rusqlite::Connection::open(&self.path)?;
        // Writers take turns on one file: wait for the lock, do not fail.
        conn.busy_timeout(Duration::from_secs(5))?;
        // A throwaway database: skip the fsyncs.
        conn.pragma_update(None, "synchronous", "OFF")?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut rusqlite::Connection) -> bool {
        // A connection its last holder left inside a transaction would hand
        // the next holder someone else's half-done work, and keeps the
        // database's write lock for as long as it lives.
        conn.is_autocommit()
            && conn
                .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                .is_ok()
    }
}

fn count_rows(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT COUNT(*) FROM hits", [], |row| row.get(0))
        .expect("counting the rows of `hits`")
}

// ─────────────── Lazy: nothing is opened before it is needed ───────────────

#[test]
fn creating_a_pool_opens_no_connection() {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), 4);
    assert_eq!(
        fake.connects(),
        0,
        "a new pool of 4 should open no connection before the first checkout"
    );
    assert_eq!(
        pool.state(),
        State::default(),
        "a new pool should report 0 connections, 0 idle"
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("lazy.db");
    let pool = Pool::new(Sqlite::new(&path), 4);
    assert!(
        !path.exists(),
        "creating a pool of SQLite connections should not open the database \
         (SQLite creates the file on the first connect)"
    );
    let conn = pool
        .get_timeout(PATIENCE)
        .expect("the first checkout of a new SQLite pool should open a connection");
    assert!(
        conn.is_autocommit() && path.exists(),
        "the first checkout should have opened the database file"
    );
}

#[test]
fn reuses_a_returned_connection_and_opens_another_only_when_none_is_idle() {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), 3);

    let first = pool.get_timeout(PATIENCE).expect("the first checkout");
    assert_eq!(first.id, 0, "the first checkout should open connection 0");
    assert_eq!(
        fake.connects(),
        1,
        "the first checkout opens one connection"
    );
    assert_eq!(
        pool.state(),
        State {
            connections: 1,
            idle: 0
        },
        "one connection open and lent"
    );
    drop(first);
    assert_eq!(
        pool.state(),
        State {
            connections: 1,
            idle: 1
        },
        "a returned connection stays open, idle in the pool"
    );

    let again = pool.get_timeout(PATIENCE).expect("the second checkout");
    assert_eq!(
        (again.id, fake.connects()),
        (0, 1),
        "a checkout with connection 0 idle should lend connection 0 again, \
         not open another (connects so far: {})",
        fake.connects()
    );
    let other = pool
        .get_timeout(PATIENCE)
        .expect("a checkout while 0 is lent");
    assert_eq!(
        (other.id, fake.connects()),
        (1, 2),
        "with its only connection lent and room for 3, the pool should open a second one"
    );
    assert_eq!(
        pool.state(),
        State {
            connections: 2,
            idle: 0
        },
        "two connections open, both lent"
    );
}

// ───────────── Bounded: at most max_size, checkouts wait or time out ─────────────

#[rstest]
#[case::max_size_one(1)]
#[case::max_size_two(2)]
#[case::max_size_three(3)]
fn times_out_when_every_connection_stays_lent(#[case] max_size: usize) {
    let fake = Fake::default();
    let pool = Arc::new(Pool::new(fake.clone(), max_size));
    let held: Vec<_> = (0..max_size)
        .map(|i| {
            pool.get_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("checkout {i} of a pool of {max_size} should succeed"))
        })
        .collect();

    let timeout = Duration::from_millis(200);
    let waiter = Arc::clone(&pool);
    let rx = spawn(move || {
        let start = Instant::now();
        let result = waiter.get_timeout(timeout).map(|conn| conn.id);
        (result, start.elapsed())
    });
    let (result, waited) = answer(
        &rx,
        timeout + PATIENCE,
        &format!("get_timeout({timeout:?}) on a pool of {max_size} with every connection lent"),
    );
    assert_eq!(
        result,
        Err(PoolError::Timeout),
        "with all {max_size} connections lent for good, get_timeout({timeout:?}) should fail \
         with PoolError::Timeout"
    );
    assert!(
        waited >= timeout,
        "get_timeout({timeout:?}) gave up after only {waited:?}: it should wait the whole \
         timeout for a connection to come back (a wake-up is not a connection)"
    );
    assert_eq!(
        (fake.connects(), fake.peak()),
        (max_size, max_size),
        "a pool of {max_size} should never open more than {max_size} connections"
    );
    drop(held);
}

#[derive(Debug, Clone, Copy)]
enum Free {
    /// Connections 0 and 1 were returned and are idle.
    IdleConnection,
    /// Connection 0 is lent and nothing is idle, but there is room for one more.
    Slot,
}

#[rstest]
fn takes_an_idle_connection_or_a_free_slot_whatever_the_timeout(
    #[values(Free::IdleConnection, Free::Slot)] free: Free,
    #[values(Duration::ZERO, Duration::from_millis(1), Duration::MAX)] timeout: Duration,
) {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), 2);
    let first = pool.get_timeout(PATIENCE).expect("the first checkout");
    let _held = match free {
        Free::IdleConnection => {
            let second = pool.get_timeout(PATIENCE).expect("the second checkout");
            drop((first, second));
            None
        }
        Free::Slot => Some(first),
    };
    let conn = pool.get_timeout(timeout).unwrap_or_else(|error| {
        panic!(
            "get_timeout({timeout:?}) on a pool of 2 with {free:?} free should take it at \
             once, not fail with {error:?} (look for a free connection before looking at the \
             clock, and never overflow `now + timeout`)"
        )
    });
    match free {
        Free::IdleConnection => assert!(
            conn.id < 2 && fake.connects() == 2,
            "get_timeout({timeout:?}) with connections 0 and 1 idle should lend one of them as \
             it is, not open another: it lent connection {} after {} connects",
            conn.id,
            fake.connects()
        ),
        Free::Slot => assert_eq!(
            (conn.id, fake.connects()),
            (1, 2),
            "get_timeout({timeout:?}) with connection 0 lent and room for one more should \
             open connection 1"
        ),
    }
}

#[test]
fn a_zero_timeout_fails_at_once_when_every_connection_is_lent() {
    let pool = Pool::new(Fake::default(), 1);
    let _held = pool.get_timeout(PATIENCE).expect("the first checkout");
    let start = Instant::now();
    let result = pool.get_timeout(Duration::ZERO).map(|conn| conn.id);
    assert_eq!(
        result,
        Err(PoolError::Timeout),
        "get_timeout(0) on a pool of 1 whose connection is lent should fail with Timeout"
    );
    assert!(
        start.elapsed() < PATIENCE,
        "get_timeout(0) should not wait (it took {:?})",
        start.elapsed()
    );
}

#[test]
fn get_waits_for_a_connection_to_come_back() {
    let pool = Arc::new(Pool::new(Fake::default(), 1));
    let held = pool.get_timeout(PATIENCE).expect("the first checkout");
    let waiter = Arc::clone(&pool);
    let rx = spawn(move || waiter.get().map(|conn| conn.id));
    let_it_block();
    assert_eq!(
        rx.try_recv().err(),
        Some(TryRecvError::Empty),
        "get() on a pool of 1 whose connection is lent should wait, not return"
    );
    drop(held);
    let got = answer(
        &rx,
        PATIENCE,
        "get() waiting on a pool of 1 after its connection was returned",
    );
    assert_eq!(
        got,
        Ok(0),
        "get() should return connection 0 once its holder returns it"
    );
}

#[test]
fn a_waiter_gets_a_returned_connection_without_waiting_out_its_timeout() {
    let pool = Arc::new(Pool::new(Fake::default(), 1));
    let held = pool.get_timeout(PATIENCE).expect("the first checkout");
    let waiter = Arc::clone(&pool);
    let rx = spawn(move || waiter.get_timeout(WAITER_TIMEOUT).map(|conn| conn.id));
    let_it_block();
    drop(held);
    let got = answer(
        &rx,
        PATIENCE,
        &format!(
            "a thread in get_timeout({WAITER_TIMEOUT:?}) on a pool of 1, after the connection \
             was returned (returning a connection must wake a waiter)"
        ),
    );
    assert_eq!(
        got,
        Ok(0),
        "the waiter should get connection 0 as soon as it is returned"
    );
}

// ─────────────── Connect failures: surfaced, and the slot given back ───────────────

#[test]
fn a_failed_connect_is_returned_to_the_caller() {
    let fake = Fake::default();
    let pool = Arc::new(Pool::new(fake.clone(), 2));
    fake.fail_next_connect();
    let result = pool.get_timeout(PATIENCE).map(|conn| conn.id);
    assert_eq!(
        result,
        Err(PoolError::Connect(Refused { attempt: 1 })),
        "when the manager fails to connect, get_timeout should return its error as \
         PoolError::Connect"
    );

    fake.fail_next_connect();
    let untimed = Arc::clone(&pool);
    let rx = spawn(move || untimed.get().map(|conn| conn.id));
    let result = answer(
        &rx,
        PATIENCE,
        "get() with a free slot and a failing connect",
    );
    assert_eq!(
        result,
        Err(Refused { attempt: 2 }),
        "when the manager fails to connect, get() should return its error"
    );
}

#[rstest]
#[case::max_size_one(1)]
#[case::max_size_three(3)]
fn a_failed_connect_gives_its_slot_back(#[case] max_size: usize) {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), max_size);
    for attempt in 1..=5 {
        fake.fail_next_connect();
        assert!(
            matches!(pool.get_timeout(Duration::ZERO), Err(PoolError::Connect(_))),
            "connect attempt {attempt} was told to fail"
        );
        assert_eq!(
            pool.state(),
            State::default(),
            "after {attempt} failed connects, a pool of {max_size} should count no \
             connection: a slot whose connect failed holds nothing"
        );
    }
    let held: Vec<_> = (0..max_size)
        .map(|i| {
            pool.get_timeout(Duration::from_millis(500))
                .unwrap_or_else(|error| {
                    panic!(
                        "after 5 failed connects, checkout {} of a pool of {max_size} should \
                         succeed, not fail with {error:?}: failed connects must not shrink \
                         the pool",
                        i + 1
                    )
                })
        })
        .collect();
    assert_eq!(
        held.iter().map(|conn| conn.id).collect::<Vec<_>>(),
        (0..max_size).collect::<Vec<_>>(),
        "all {max_size} connections should open"
    );
}

#[test]
fn followup_a_waiter_is_woken_when_a_connect_fails() {
    let (gated, gate) = Gated::new(Fake::default());
    let pool = Arc::new(Pool::new(gated, 1));
    gate.hold_connects(true);

    let connecting = Arc::clone(&pool);
    let failed = spawn(move || connecting.get_timeout(WAITER_TIMEOUT).map(|conn| conn.id));
    answer(
        &gate.started,
        PATIENCE,
        "the first checkout of an empty pool should start a connect",
    );
    let waiting = Arc::clone(&pool);
    let waiter = spawn(move || waiting.get_timeout(WAITER_TIMEOUT).map(|conn| conn.id));
    let_it_block();

    // The connect in flight fails; the next one will succeed at once.
    gate.hold_connects(false);
    gate.outcome.send(false).expect("the connect is waiting");
    assert!(
        matches!(
            answer(&failed, PATIENCE, "the checkout whose connect failed"),
            Err(PoolError::Connect(_))
        ),
        "the checkout whose connect failed should get PoolError::Connect"
    );
    let got = answer(
        &waiter,
        PATIENCE,
        "a thread waiting on a pool of 1 whose only slot was being connected, after that \
         connect failed (the freed slot must wake a waiter)",
    );
    assert_eq!(
        got,
        Ok(0),
        "the waiter should open a connection in the slot the failed connect gave back"
    );
}

// ─────────────── Broken connections: closed, never lent again ───────────────

#[test]
fn a_connection_that_fails_its_validity_check_is_closed_and_replaced() {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), 1);
    drop(pool.get_timeout(PATIENCE).expect("the first checkout"));
    fake.break_connection(0);

    let conn = pool
        .get_timeout(PATIENCE)
        .expect("a checkout whose idle connection is broken should open a new one");
    assert_eq!(
        conn.id, 1,
        "idle connection 0 fails its validity check: the pool should not lend it, but \
         open connection 1 in its place"
    );
    assert_eq!(
        fake.closed(),
        [0],
        "the pool should close connection 0 once its validity check failed"
    );
    assert_eq!(
        (pool.state(), fake.open()),
        (
            State {
                connections: 1,
                idle: 0
            },
            1
        ),
        "only connection 1 should be open, and lent"
    );
}

#[test]
fn a_connection_marked_broken_is_closed_and_its_slot_freed() {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), 1);
    let mut conn = pool.get_timeout(PATIENCE).expect("the first checkout");
    conn.mark_broken();
    drop(conn);
    assert_eq!(
        (fake.closed(), pool.state()),
        (vec![0], State::default()),
        "a connection its holder marked broken should be closed when returned, and no \
         longer counted (its validity check would still pass: the holder knows better)"
    );
    let next = pool.get_timeout(PATIENCE).unwrap_or_else(|error| {
        panic!("a pool of 1 whose only connection was closed should open another, not {error:?}")
    });
    assert_eq!(
        next.id, 1,
        "the connection marked broken must not be lent again: a new one should be opened"
    );
}

#[test]
fn a_waiter_is_woken_when_a_broken_connection_is_closed() {
    let pool = Arc::new(Pool::new(Fake::default(), 1));
    let mut held = pool.get_timeout(PATIENCE).expect("the first checkout");
    let waiting = Arc::clone(&pool);
    let rx = spawn(move || waiting.get_timeout(WAITER_TIMEOUT).map(|conn| conn.id));
    let_it_block();
    held.mark_broken();
    drop(held);
    let got = answer(
        &rx,
        PATIENCE,
        "a thread waiting on a pool of 1, after the only connection was marked broken and \
         closed (a freed slot must wake a waiter)",
    );
    assert_eq!(
        got,
        Ok(1),
        "the waiter should open connection 1 in the slot connection 0 left"
    );
}

#[test]
fn followup_a_holder_that_panics_gives_its_connection_back() {
    let fake = Fake::default();
    let pool = Pool::new(fake.clone(), 1);
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        let _conn = pool.get_timeout(PATIENCE).expect("the first checkout");
        // The request handler fails while holding the connection. (Unwinding
        // without the panic hook, to keep the output quiet.)
        panic::resume_unwind(Box::new("the request handler failed"));
    }));
    assert!(unwound.is_err(), "the holder panicked");
    let state = pool.state();
    assert_eq!(
        state.connections, state.idle,
        "once the holder that panicked has unwound, no connection should still count as \
         lent: {state:?} (the guard's Drop runs during unwinding too)"
    );
    let next = pool.get_timeout(Duration::from_millis(500));
    assert!(
        next.is_ok(),
        "a pool of 1 whose holder panicked should still lend a connection, not fail with \
         {:?}",
        next.err()
    );
}

// ─────────────── Shared by many threads ───────────────

#[test]
fn racing_threads_never_share_a_connection_or_open_more_than_max_size() {
    const THREADS: usize = 8;
    const CHECKOUTS: usize = 100;
    const MAX_SIZE: usize = 3;
    let fake = Fake::default();
    let pool = Arc::new(Pool::new(fake.clone(), MAX_SIZE));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let pool = Arc::clone(&pool);
            spawn(move || {
                for _ in 0..CHECKOUTS {
                    let conn = pool
                        .get_timeout(WAITER_TIMEOUT)
                        .map_err(|error| format!("a checkout failed: {error:?}"))?;
                    if conn.in_use.swap(true, SeqCst) {
                        return Err(format!("connection {} was lent to two holders", conn.id));
                    }
                    thread::yield_now();
                    conn.in_use.store(false, SeqCst);
                }
                Ok(())
            })
        })
        .collect();
    let deadline = Instant::now() + WAITER_TIMEOUT + PATIENCE;
    for worker in &workers {
        let result = answer(
            worker,
            until(deadline),
            &format!(
                "{THREADS} threads each checking out {CHECKOUTS} times from a pool of {MAX_SIZE}"
            ),
        );
        assert_eq!(
            result,
            Ok(()),
            "{THREADS} threads sharing a pool of {MAX_SIZE}: every checkout should succeed, \
             and no connection should ever be lent to two holders at once"
        );
    }
    assert!(
        fake.peak() <= MAX_SIZE,
        "{THREADS} racing threads made a pool of {MAX_SIZE} open {} connections at once \
         (claim the slot under the same lock that checked it was free)",
        fake.peak()
    );
    let state = pool.state();
    assert!(
        state.connections <= MAX_SIZE && state.connections == state.idle,
        "after the race every connection should be back and idle: {state:?}"
    );
}

// ─────────────── Model-based: random checkouts, returns and failures ───────────────

#[derive(Debug, Clone)]
enum Op {
    /// `get_timeout(0)`: takes what is free, or fails at once.
    Get,
    /// Returns the i-th held connection (modulo how many are held).
    Return(usize),
    /// Marks the i-th held connection broken, then returns it.
    ReturnBroken(usize),
    /// The next connect attempt fails.
    FailNextConnect,
}

/// The obviously correct pool: which connections are idle and which lent.
#[derive(Debug)]
struct Model {
    max_size: usize,
    idle: BTreeSet<usize>,
    lent: BTreeSet<usize>,
    next_id: usize,
    connects: usize,
    fail_next: bool,
}

fn ops() -> impl Strategy<Value = (usize, Vec<Op>)> {
    let op = prop_oneof![
        5 => Just(Op::Get),
        3 => any::<usize>().prop_map(Op::Return),
        1 => any::<usize>().prop_map(Op::ReturnBroken),
        1 => Just(Op::FailNextConnect),
    ];
    (1usize..=4, vec(op, 1..60))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn agrees_with_a_model_of_idle_and_lent_connections((max_size, ops) in ops()) {
        let fake = Fake::default();
        let pool = Pool::new(fake.clone(), max_size);
        let mut held = Vec::new();
        let mut model = Model {
            max_size,
            idle: BTreeSet::new(),
            lent: BTreeSet::new(),
            next_id: 0,
            connects: 0,
            fail_next: false,
        };
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Get => {
                    let got = pool.get_timeout(Duration::ZERO);
                    let before = format!("{model:?}");
                    match got {
                        Ok(conn) => {
                            let id = conn.id;
                            held.push(conn);
                            if model.idle.is_empty() {
                                prop_assert!(
                                    model.idle.len() + model.lent.len() < model.max_size
                                        && !model.fail_next && id == model.next_id,
                                    "step {}: get_timeout(0) lent connection {}, but the model \
                                     ({}) expected {}",
                                    step, id, before,
                                    if model.lent.len() >= model.max_size {
                                        "Timeout: every connection is lent".to_owned()
                                    } else if model.fail_next {
                                        "the manager's connect error".to_owned()
                                    } else {
                                        format!("a new connection {}", model.next_id)
                                    }
                                );
                                model.connects += 1;
                                model.next_id += 1;
                            } else {
                                prop_assert!(
                                    model.idle.remove(&id),
                                    "step {}: get_timeout(0) lent connection {}, but the model \
                                     ({}) expected one of the idle connections {:?}",
                                    step, id, before, model.idle
                                );
                            }
                            model.lent.insert(id);
                        }
                        Err(error) => {
                            let expected = if !model.idle.is_empty() {
                                None
                            } else if model.lent.len() >= model.max_size {
                                Some(PoolError::Timeout)
                            } else if model.fail_next {
                                Some(PoolError::Connect(Refused { attempt: model.connects + 1 }))
                            } else {
                                None
                            };
                            prop_assert_eq!(
                                Some(&error),
                                expected.as_ref(),
                                "step {}: get_timeout(0) failed, the model ({}) expected {}",
                                step, before,
                                match &expected {
                                    Some(expected) => format!("{expected:?}"),
                                    None => "a connection".to_owned(),
                                }
                            );
                            if matches!(error, PoolError::Connect(_)) {
                                model.connects += 1;
                                model.fail_next = false;
                            }
                        }
                    }
                }
                Op::Return(i) | Op::ReturnBroken(i) if !held.is_empty() => {
                    let mut conn = held.swap_remove(i % held.len());
                    model.lent.remove(&conn.id);
                    if matches!(op, Op::ReturnBroken(_)) {
                        conn.mark_broken();
                    } else {
                        model.idle.insert(conn.id);
                    }
                    drop(conn);
                }
                Op::Return(_) | Op::ReturnBroken(_) => {}
                Op::FailNextConnect => {
                    fake.fail_next_connect();
                    model.fail_next = true;
                }
            }
            let open = model.idle.len() + model.lent.len();
            prop_assert_eq!(
                pool.state(),
                State { connections: open, idle: model.idle.len() },
                "step {} ({:?}): the pool's state should count {} open connections, {} idle: {:?}",
                step, op, open, model.idle.len(), model
            );
            prop_assert_eq!(
                (fake.connects(), fake.open()),
                (model.connects, open),
                "step {} ({:?}): the manager saw (connect attempts, connections open) = {:?}, \
                 the model expected {:?} (open connections only when nothing is idle; close \
                 broken ones)",
                step, op, (fake.connects(), fake.open()), (model.connects, open)
            );
        }
    }
}

// ─────────────── Real connections: one SQLite file, many connections ───────────────

#[test]
fn pooled_sqlite_connections_write_to_one_file_from_many_threads() {
    const THREADS: usize = 6;
    const ROWS: usize = 20;
    const MAX_SIZE: usize = 3;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = Sqlite::new(&dir.path().join("hits.db"));
    let connects = Arc::clone(&sqlite.connects);
    let pool = Arc::new(Pool::new(sqlite, MAX_SIZE));
    {
        let writer = pool.get_timeout(PATIENCE).expect("a first connection");
        writer
            .execute_batch("CREATE TABLE hits (worker INTEGER NOT NULL, n INTEGER NOT NULL)")
            .expect("creating the table");
        let reader = pool.get_timeout(PATIENCE).expect("a second connection");
        writer
            .execute("INSERT INTO hits VALUES (-1, -1)", [])
            .expect("one row");
        assert_eq!(
            count_rows(&reader),
            1,
            "a row committed through one pooled connection should be visible through another"
        );
        writer
            .execute("DELETE FROM hits", [])
            .expect("deleting the row");
    }

    let workers: Vec<_> = (0..THREADS)
        .map(|worker| {
            let pool = Arc::clone(&pool);
            spawn(move || -> Result<(), String> {
                for n in 0..ROWS {
                    let conn = pool
                        .get_timeout(WAITER_TIMEOUT)
                        .map_err(|error| format!("checkout failed: {error}"))?;
                    conn.execute(
                        "INSERT INTO hits VALUES (?1, ?2)",
                        (worker as i64, n as i64),
                    )
                    .map_err(|error| format!("insert failed: {error}"))?;
                }
                Ok(())
            })
        })
        .collect();
    let deadline = Instant::now() + WAITER_TIMEOUT + PATIENCE;
    for worker in &workers {
        let result = answer(
            worker,
            until(deadline),
            &format!("{THREADS} threads inserting through a pool of {MAX_SIZE} SQLite connections"),
        );
        assert_eq!(result, Ok(()), "every checkout and insert should succeed");
    }
    let conn = pool
        .get_timeout(PATIENCE)
        .expect("a connection to count with");
    assert_eq!(
        count_rows(&conn),
        (THREADS * ROWS) as i64,
        "{THREADS} threads each inserted {ROWS} rows through the pool"
    );
    assert!(
        connects.load(SeqCst) <= MAX_SIZE,
        "a pool of {MAX_SIZE} opened {} SQLite connections",
        connects.load(SeqCst)
    );
}

#[test]
fn followup_a_sqlite_connection_returned_mid_transaction_is_replaced() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = Sqlite::new(&dir.path().join("tx.db"));
    let connects = Arc::clone(&sqlite.connects);
    let pool = Pool::new(sqlite, 1);
    {
        let conn = pool.get_timeout(PATIENCE).expect("a first connection");
        conn.execute_batch("CREATE TABLE hits (worker INTEGER NOT NULL, n INTEGER NOT NULL)")
            .expect("creating the table");
        // A handler opens a transaction, writes, and returns the connection
        // without committing or rolling back (an early `?` return).
        conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO hits VALUES (1, 1);")
            .expect("a write inside a transaction");
    }
    let conn = pool.get_timeout(PATIENCE).unwrap_or_else(|error| {
        panic!("the checkout after a connection came back mid-transaction failed: {error}")
    });
    assert!(
        conn.is_autocommit(),
        "a connection returned mid-transaction fails the manager's validity check: the pool \
         should close it and lend a new one, not hand the next holder an open transaction"
    );
    assert_eq!(
        connects.load(SeqCst),
        2,
        "the pool should have opened a second connection in place of the invalid one"
    );
    assert_eq!(
        count_rows(&conn),
        0,
        "closing the invalid connection rolls its transaction back: the uncommitted row \
         should be gone"
    );
    conn.execute("INSERT INTO hits VALUES (2, 2)", [])
        .expect("closing the invalid connection released its write lock: a new write succeeds");
}

// ─────────────── Slow work happens outside the lock ───────────────

#[test]
fn followup_a_slow_connect_does_not_block_returning_or_lending_idle_connections() {
    let (gated, gate) = Gated::new(Fake::default());
    let pool = Arc::new(Pool::new(gated, 2));

    // A thread holds connection 0 until told to return it; then checks it
    // out again.
    let (return_it, told) = mpsc::channel::<()>();
    let (got_tx, got) = mpsc::channel::<usize>();
    let holder_pool = Arc::clone(&pool);
    let holder = spawn(move || {
        let conn = holder_pool
            .get_timeout(PATIENCE)
            .map_err(|e| format!("{e}"))?;
        let id = conn.id;
        got_tx.send(id).map_err(|e| format!("{e}"))?;
        told.recv().map_err(|e| format!("{e}"))?;
        drop(conn);
        let again = holder_pool
            .get_timeout(PATIENCE)
            .map_err(|e| format!("{e}"))?;
        Ok::<_, String>((id, again.id))
    });
    answer(&got, PATIENCE, "the first checkout of a pool of 2");

    // Meanwhile another checkout opens connection 1, slowly.
    gate.hold_connects(true);
    let opener_pool = Arc::clone(&pool);
    let opener = spawn(move || opener_pool.get_timeout(WAITER_TIMEOUT).map(|conn| conn.id));
    answer(
        &gate.started,
        PATIENCE,
        "a checkout from a pool of 2 with its one connection lent should start a connect",
    );

    return_it.send(()).expect("the holder is waiting");
    let reused = answer(
        &holder,
        PATIENCE,
        "returning connection 0 and checking it out again while another thread was \
         connecting (the connect must not run under the pool's lock)",
    );
    assert_eq!(
        reused,
        Ok((0, 0)),
        "while connection 1 is being opened, connection 0 should be returned and lent \
         again at once"
    );

    gate.outcome.send(true).expect("the connect is waiting");
    assert_eq!(
        answer(&opener, PATIENCE, "the slow connect, once let through"),
        Ok(1),
        "the slow connect should then open connection 1"
    );
}

// ─────────────── slow checks and closes, panics, long waits ───────────────

/// What a `Stalling` manager shares with its connections and the spec: while
/// told to, a validity check or a close says it has started and waits until
/// the spec releases it (a health check or a teardown stuck on the network).
#[derive(Default)]
struct Stall {
    fake: Fake,
    hold_checks: AtomicBool,
    hold_closes: AtomicBool,
    panic_next_connect: AtomicBool,
    panic_next_check: AtomicBool,
    started: Mutex<Option<Sender<()>>>,
    release: Mutex<Option<Receiver<()>>>,
}

impl Stall {
    /// A stall gate, and the spec's ends of it: "started" and "release".
    fn new() -> (Arc<Stall>, Receiver<()>, Sender<()>) {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let stall = Stall {
            started: Mutex::new(Some(started_tx)),
            release: Mutex::new(Some(release_rx)),
            ..Stall::default()
        };
        (Arc::new(stall), started_rx, release_tx)
    }

    fn wait_for_release(&self) {
        if let Some(started) = self.started.lock().expect("lock").as_ref() {
            let _ = started.send(());
        }
        if let Some(release) = self.release.lock().expect("lock").as_ref() {
            // Bounded, so that a spec that fails never leaves a thread behind.
            let _ = release.recv_timeout(WAITER_TIMEOUT);
        }
    }
}

/// A manager over a `Stall`.
struct Stalling(Arc<Stall>);

/// A fake connection whose close may stall.
struct StallConn {
    id: usize,
    _conn: FakeConn,
    stall: Arc<Stall>,
}

impl Drop for StallConn {
    fn drop(&mut self) {
        if self.stall.hold_closes.load(SeqCst) {
            self.stall.wait_for_release();
        }
    }
}

impl Manager for Stalling {
    type Connection = StallConn;
    type Error = Refused;

    fn connect(&self) -> Result<StallConn, Refused> {
        if self.0.panic_next_connect.swap(false, SeqCst) {
            panic!("the database driver panicked in connect");
        }
        let conn = self.0.fake.connect()?;
        Ok(StallConn {
            id: conn.id,
            _conn: conn,
            stall: Arc::clone(&self.0),
        })
    }

    fn is_valid(&self, conn: &mut StallConn) -> bool {
        if self.0.panic_next_check.swap(false, SeqCst) {
            panic!("the database driver panicked in is_valid");
        }
        if self.0.hold_checks.load(SeqCst) {
            self.0.wait_for_release();
        }
        self.0.fake.is_valid(&mut conn._conn)
    }
}

#[test]
fn followup_a_slow_validity_check_does_not_block_returning_or_state() {
    let (stall, started, release) = Stall::new();
    let pool = Pool::new(Stalling(Arc::clone(&stall)), 2);
    let a = pool
        .get_timeout(PATIENCE)
        .expect("a pool of 2 lends a first connection");
    let b = pool
        .get_timeout(PATIENCE)
        .expect("a pool of 2 lends a second connection");
    drop(a);
    stall.hold_checks.store(true, SeqCst);
    thread::scope(|s| {
        let (checked_tx, checked) = mpsc::channel();
        let pool = &pool;
        s.spawn(move || {
            let _ = checked_tx.send(pool.get_timeout(WAITER_TIMEOUT).map(|c| c.id));
        });
        answer(
            &started,
            PATIENCE,
            "a checkout with one idle connection should check it with is_valid",
        );
        let (done_tx, done) = mpsc::channel();
        s.spawn(move || {
            drop(b);
            let _ = done_tx.send(pool.state());
        });
        let state = answer(
            &done,
            PATIENCE,
            "returning a connection and reading state() while another thread's is_valid \
             is slow (is_valid must not run under the pool's lock)",
        );
        assert_eq!(state.connections, 2, "two connections are open");
        let _ = release.send(());
        assert_eq!(
            answer(
                &checked,
                PATIENCE,
                "the slow validity check, once let through"
            ),
            Ok(0),
            "the checked idle connection 0 should then be lent"
        );
    });
}

#[test]
fn followup_closing_a_broken_connection_does_not_block_the_pool() {
    let (stall, started, release) = Stall::new();
    let pool = Pool::new(Stalling(Arc::clone(&stall)), 2);
    let mut a = pool
        .get_timeout(PATIENCE)
        .expect("a pool of 2 lends a first connection");
    let b = pool
        .get_timeout(PATIENCE)
        .expect("a pool of 2 lends a second connection");
    stall.hold_closes.store(true, SeqCst);
    thread::scope(|s| {
        let pool = &pool;
        s.spawn(move || {
            a.mark_broken();
            drop(a);
        });
        answer(
            &started,
            PATIENCE,
            "a connection marked broken should be closed when it is returned",
        );
        let (done_tx, done) = mpsc::channel();
        s.spawn(move || {
            drop(b);
            let again = pool.get_timeout(WAITER_TIMEOUT).map(|c| c.id);
            let _ = done_tx.send((again, pool.state()));
        });
        let (again, _) = answer(
            &done,
            PATIENCE,
            "returning and checking out connection 1 while a broken connection is slowly \
             being closed (a connection's destructor must not run under the pool's lock)",
        );
        assert_eq!(
            again,
            Ok(1),
            "the returned connection 1 should be lent again at once"
        );
        stall.hold_closes.store(false, SeqCst);
        let _ = release.send(());
    });
}

#[test]
fn followup_a_connect_or_validity_check_that_panics_gives_its_slot_back() {
    let (stall, _started, _release) = Stall::new();
    let pool = Pool::new(Stalling(Arc::clone(&stall)), 1);

    stall.panic_next_connect.store(true, SeqCst);
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = pool.get_timeout(Duration::ZERO);
    }));
    assert!(
        panicked.is_err(),
        "the manager's panic in connect should reach the caller"
    );
    assert_eq!(
        pool.state(),
        State {
            connections: 0,
            idle: 0
        },
        "after connect panicked, the pool of 1 should count no connection"
    );
    let conn = pool
        .get_timeout(Duration::ZERO)
        .map(|c| c.id)
        .map_err(|e| format!("{e:?}"));
    assert_eq!(
        conn,
        Ok(0),
        "after connect panicked, the slot should be free for the next checkout"
    );

    stall.panic_next_check.store(true, SeqCst);
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = pool.get_timeout(Duration::ZERO);
    }));
    assert!(
        panicked.is_err(),
        "the manager's panic in is_valid should reach the caller"
    );
    assert_eq!(
        pool.state().connections,
        0,
        "after is_valid panicked, the checked connection should be closed and its slot freed"
    );
    let conn = pool
        .get_timeout(Duration::ZERO)
        .map(|c| c.id)
        .map_err(|e| format!("{e:?}"));
    assert_eq!(
        conn,
        Ok(1),
        "after is_valid panicked, the slot should be free to open a new connection"
    );
}

#[test]
fn a_checkout_that_waits_with_duration_max_gets_the_returned_connection() {
    let pool = Pool::new(Fake::default(), 1);
    let held = pool
        .get_timeout(PATIENCE)
        .expect("a pool of 1 lends one connection");
    thread::scope(|s| {
        let (got_tx, got) = mpsc::channel();
        let pool = &pool;
        s.spawn(move || {
            let _ = got_tx.send(
                pool.get_timeout(Duration::MAX)
                    .map(|c| c.id)
                    .map_err(|e| format!("{e:?}")),
            );
        });
        let_it_block();
        drop(held);
        assert_eq!(
            answer(
                &got,
                PATIENCE,
                "get_timeout(Duration::MAX) on a pool whose one connection is lent, then \
                 returned (it must wait, never overflow now + timeout)"
            ),
            Ok(0),
            "the waiter with timeout Duration::MAX should get the returned connection"
        );
    });
}

#[test]
fn state_counts_a_connection_being_opened() {
    let (gated, gate) = Gated::new(Fake::default());
    let pool = Pool::new(gated, 2);
    gate.hold_connects(true);
    thread::scope(|s| {
        let (got_tx, got) = mpsc::channel();
        let pool = &pool;
        s.spawn(move || {
            let _ = got_tx.send(pool.get_timeout(WAITER_TIMEOUT).map(|c| c.id));
        });
        answer(
            &gate.started,
            PATIENCE,
            "a checkout from an empty pool should connect",
        );
        assert_eq!(
            pool.state(),
            State {
                connections: 1,
                idle: 0
            },
            "while its first connect is in flight, state().connections should count it \
             (open means lent, idle or being opened)"
        );
        gate.outcome.send(true).expect("the connect is waiting");
        assert_eq!(
            answer(&got, PATIENCE, "the connect, once let through"),
            Ok(0)
        );
    });
}
