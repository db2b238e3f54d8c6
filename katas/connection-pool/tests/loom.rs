//! Loom model checks of `Pool`: every interleaving of a few threads (up to
//! the preemption bound) is run, so a slot claimed outside the lock, a
//! missing notify or a wait guarded by `if`, which a stress test hits once
//! in a million runs, fails here every time. A lost wake-up shows as loom's
//! "deadlock": every thread blocked, nobody left to wake them.
//!
//! Built only under the project's own cfg, with the pool's `crate::sync`
//! switched to loom's primitives:
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p connection-pool --test loom \
//!     --profile loom --target-dir target/loom
//! ```
//!
//! Loom has no clock: its `Condvar::wait_timeout` waits like `wait` and never
//! times out. So the one model of `Pool::get_timeout` gives it an hour, which
//! no interleaving runs out: a timed checkout that fails there gave up after
//! a wake-up, not at its deadline. `LOOM_MAX_PREEMPTIONS` overrides the
//! default bound of 3.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use connection_pool as subject;
#[cfg(feature = "solution")]
use connection_pool_solution as subject;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
// The fake's bookkeeping is the spec's instrument, not the code under test:
// plain atomics, invisible to loom, record what happened in the order loom
// scheduled it without multiplying the interleavings to explore. The pool is
// shared through a plain `Arc` too: loom's would also check for leaks, but
// when a model deadlocks its drop panics again during the unwinding and
// aborts the whole test binary instead of failing one model.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use loom::thread;
use subject::{Manager, Pool, PoolError, PooledConnection, State};

/// A timeout that no model comes near: the timed path, with a deadline that
/// only a checkout giving up early can miss. (`Duration::MAX` would take the
/// untimed path.)
const HOUR: Duration = Duration::from_secs(3600);

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

#[derive(Debug, PartialEq)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connect refused")
    }
}

/// What the fake manager saw.
#[derive(Debug, Default)]
struct Counters {
    next_id: AtomicUsize,
    /// Connections open right now.
    open: AtomicUsize,
    /// The most connections ever open at once.
    peak: AtomicUsize,
    /// The next connect fails.
    fail_next: AtomicBool,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Counters>);

#[derive(Debug)]
struct FakeConn {
    id: usize,
    in_use: AtomicBool,
    counters: Arc<Counters>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, SeqCst);
    }
}

impl Manager for Fake {
    type Connection = FakeConn;
    type Error = Refused;

    fn connect(&self) -> Result<FakeConn, Refused> {
        if self.0.fail_next.swap(false, SeqCst) {
            return Err(Refused);
        }
        let open = self.0.open.fetch_add(1, SeqCst) + 1;
        self.0.peak.fetch_max(open, SeqCst);
        Ok(FakeConn {
            id: self.0.next_id.fetch_add(1, SeqCst),
            in_use: AtomicBool::new(false),
            counters: Arc::clone(&self.0),
        })
    }

    fn is_valid(&self, _conn: &mut FakeConn) -> bool {
        true
    }
}

/// Checks out a connection, uses it across a scheduling point, returns it
/// (marked broken first if `broken`), and reports its id.
fn use_one(pool: &Pool<Fake>, broken: bool) -> usize {
    let conn = pool
        .get()
        .expect("the fake's connect only fails when told to");
    hold(conn, broken)
}

/// Uses a checked-out connection across a scheduling point, returns it
/// (marked broken first if `broken`), and reports its id.
fn hold(mut conn: PooledConnection<'_, Fake>, broken: bool) -> usize {
    assert!(
        !conn.in_use.swap(true, SeqCst),
        "connection {} was lent to two holders at once",
        conn.id
    );
    // Another thread may run while this one holds the connection.
    thread::yield_now();
    conn.in_use.store(false, SeqCst);
    if broken {
        conn.mark_broken();
    }
    conn.id
}

fn assert_at_most(fake: &Fake, max_size: usize, what: &str) {
    let peak = fake.0.peak.load(SeqCst);
    assert!(
        peak <= max_size,
        "{what}: a pool of {max_size} had {peak} connections open at once under some \
         interleaving (the slot must be claimed under the same lock that saw it free, and a \
         closed connection's slot freed only after it is closed)"
    );
}

#[test]
fn racing_checkouts_never_share_a_connection_or_exceed_max_size() {
    check(|| {
        let fake = Fake::default();
        let pool = Arc::new(Pool::new(fake.clone(), 1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || use_one(&pool, false))
            })
            .collect();
        for thread in threads {
            thread.join().expect("a holder panicked");
        }
        assert_at_most(&fake, 1, "2 threads each checking out once");
        assert_eq!(
            pool.state(),
            State {
                connections: 1,
                idle: 1
            },
            "2 threads took turns with one connection: it should be open and idle at the end"
        );
    });
}

#[test]
fn three_threads_share_two_connections_without_exceeding_max_size() {
    check(|| {
        let fake = Fake::default();
        let pool = Arc::new(Pool::new(fake.clone(), 2));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || use_one(&pool, false))
            })
            .collect();
        for thread in threads {
            thread.join().expect("a holder panicked");
        }
        assert_at_most(&fake, 2, "3 threads each checking out once");
        let state = pool.state();
        assert!(
            state.connections <= 2 && state.connections == state.idle,
            "every holder is done: at most 2 connections open, all idle ({state:?})"
        );
    });
}

#[test]
fn waiters_are_woken_as_connections_come_back() {
    check(|| {
        let fake = Fake::default();
        let pool = Arc::new(Pool::new(fake.clone(), 1));
        let held = pool
            .get()
            .expect("the first checkout of an empty pool opens a connection");
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || use_one(&pool, false))
            })
            .collect();
        // Two threads wait (or are about to) for the only connection.
        drop(held);
        for waiter in waiters {
            assert_eq!(
                waiter.join().expect("a waiter panicked"),
                0,
                "each waiter should get connection 0 once it comes back"
            );
        }
        assert_at_most(
            &fake,
            1,
            "a woken waiter that finds the connection taken again must wait again",
        );
    });
}

#[test]
fn a_failed_connect_gives_its_slot_back_to_a_waiter() {
    check(|| {
        let fake = Fake::default();
        fake.0.fail_next.store(true, SeqCst);
        let pool = Arc::new(Pool::new(fake.clone(), 1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || pool.get().map(|conn| conn.id).is_ok())
            })
            .collect();
        let succeeded: Vec<bool> = threads
            .into_iter()
            .map(|thread| thread.join().expect("a checkout panicked"))
            .collect();
        assert_eq!(
            succeeded.iter().filter(|&&ok| ok).count(),
            1,
            "2 threads share a pool of 1 and the first connect fails: the other thread \
             should open a connection in the freed slot; succeeded: {succeeded:?}"
        );
        assert_at_most(&fake, 1, "a connect failed, then another succeeded");
    });
}

#[test]
fn a_broken_connection_is_closed_before_its_slot_is_reused() {
    check(|| {
        let fake = Fake::default();
        let pool = Arc::new(Pool::new(fake.clone(), 1));
        let breaker = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || use_one(&pool, true))
        };
        let other = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || use_one(&pool, false))
        };
        breaker
            .join()
            .expect("the holder that breaks its connection panicked");
        other.join().expect("the other holder panicked");
        assert_at_most(
            &fake,
            1,
            "one holder marks its connection broken while another waits",
        );
        let state = pool.state();
        assert_eq!(
            state.connections, state.idle,
            "every holder is done: no connection should still count as lent ({state:?})"
        );
    });
}

#[test]
fn a_holder_that_panics_gives_its_connection_back() {
    check(|| {
        let fake = Fake::default();
        let pool = Arc::new(Pool::new(fake.clone(), 1));
        let panicking = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    let _conn = pool.get().expect("the fake's connect succeeds");
                    // Unwinding without the panic hook keeps the output quiet.
                    panic::resume_unwind(Box::new("the request handler failed"));
                }))
                .is_err()
            })
        };
        let id = use_one(&pool, false);
        assert!(
            panicking.join().expect("catch_unwind caught the panic"),
            "the holder panicked"
        );
        assert_eq!(id, 0, "the pool of 1 should lend connection 0");
        let state = pool.state();
        assert_eq!(
            state.connections, state.idle,
            "once the holder that panicked has unwound, no connection should still count \
             as lent ({state:?}): the guard's Drop runs during unwinding too"
        );
    });
}

#[test]
fn a_timed_checkout_woken_for_a_connection_a_newcomer_took_keeps_waiting() {
    check(|| {
        // Pool of 1, its connection held. One checkout waits in
        // `get_timeout(1 hour)`. The connection comes back and wakes it, but
        // a newcomer (a thread that never waited) may get the lock first and
        // take it. The woken checkout must go back to waiting until its
        // deadline, not give up with `Timeout` after one wake-up, and not
        // open a second connection either: the newcomer gives it back soon.
        let fake = Fake::default();
        let pool = Arc::new(Pool::new(fake.clone(), 1));
        let held = pool
            .get()
            .expect("the first checkout of an empty pool opens a connection");
        let timed = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || -> Result<usize, PoolError<Refused>> {
                Ok(hold(pool.get_timeout(HOUR)?, false))
            })
        };
        let newcomer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || use_one(&pool, false))
        };
        drop(held);
        let newcomer = newcomer.join().expect("the newcomer panicked");
        let timed = timed.join().expect("the timed checkout panicked");
        assert_eq!(
            timed,
            Ok(0),
            "a checkout in get_timeout(1 hour) on a pool of 1 whose only connection comes back, \
             with a newcomer checking out too: it should get connection 0 under every \
             interleaving (the newcomer got {newcomer}); woken for a connection another thread \
             took first, a timed checkout must keep waiting until its deadline"
        );
        assert_at_most(
            &fake,
            1,
            "a timed checkout woken for a connection a newcomer took must wait again",
        );
        assert_eq!(
            pool.state(),
            State {
                connections: 1,
                idle: 1
            },
            "every holder is done: the one connection should be open and idle"
        );
    });
}
