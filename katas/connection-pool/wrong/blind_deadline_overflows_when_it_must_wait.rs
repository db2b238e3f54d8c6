//! Bug: the deadline is computed as `Instant::now() + timeout` at the moment the checkout first has to wait, so a free connection or slot is taken at once whatever the timeout (zero and `Duration::MAX` included), but a checkout that must wait with a huge timeout (`Duration::MAX`, or a "no limit" setting of `u64::MAX` ms) panics with "overflow when adding duration to instant" instead of waiting.
//!
//! Why candidates write it: the README says to look before checking the clock, so the clock moved after the look and the overflow tests that take a free connection pass; the overflow only shows when the pool is exhausted.
//!
//! Symptom: a batch job configured with "no checkout timeout" (`Duration::MAX`) runs fine for weeks, then panics the first time all its connections are busy.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own, not a change to the reference.
//!
//! Caught by: `a_checkout_that_waits_with_duration_max_gets_the_returned_connection`.

mod sync;

use std::error::Error;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

/// Knows how to open and check the connections a [`Pool`] lends: a database
/// driver, a client for a cache, anything that is expensive to open and can
/// go stale. The spec implements it (for SQLite, and for fakes that count);
/// you only call it.
///
/// Both methods may block (a network round trip, a TLS handshake): call them
/// without the pool's lock held.
pub trait Manager {
    /// What the pool lends out.
    type Connection;
    /// Why opening a connection failed.
    type Error;

    /// Opens a new connection.
    fn connect(&self) -> Result<Self::Connection, Self::Error>;

    /// Whether an idle connection is still fit to lend: ask before lending a
    /// connection that has been lent before, and close it instead if the
    /// answer is no (the server restarted, the socket timed out, the last
    /// holder left a transaction open).
    fn is_valid(&self, conn: &mut Self::Connection) -> bool;
}

/// Why a timed checkout handed out no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError<E> {
    /// Every connection stayed lent, and no slot came free, until the
    /// timeout passed.
    Timeout,
    /// The pool had room for another connection, but the manager could not
    /// open it.
    Connect(E),
}

impl<E: fmt::Display> fmt::Display for PoolError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Timeout => f.write_str("timed out waiting for a pooled connection"),
            PoolError::Connect(error) => write!(f, "could not open a pooled connection: {error}"),
        }
    }
}

impl<E: Error + 'static> Error for PoolError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PoolError::Timeout => None,
            PoolError::Connect(error) => Some(error),
        }
    }
}

/// A snapshot of a pool, for metrics and for the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct State {
    /// Connections the pool has open: lent, idle, or being opened right now.
    /// Never more than the pool's `max_size`.
    pub connections: usize,
    /// Open connections waiting in the pool to be lent.
    pub idle: usize,
}

/// A blocking pool of at most `max_size` connections opened by a [`Manager`].
///
/// Connections are opened lazily, only when a checkout finds no idle one;
/// a checkout with every connection lent waits for one to come back. Shared
/// between threads by reference (`&Pool`, `Arc<Pool>`, scoped threads):
/// every method takes `&self`.
pub struct Pool<M: Manager> {
    manager: M,
    max_size: usize,
    inner: Mutex<Inner<M::Connection>>,
    /// Signalled once for every connection returned and every slot freed.
    available: Condvar,
}

struct Inner<C> {
    /// Connections waiting to be lent.
    idle: Vec<C>,
    /// Connections open: lent, idle, or being opened (a claimed slot).
    open: usize,
}

/// What a checkout took under the lock, to finish with the lock released.
enum Claim<C> {
    /// An idle connection, to validate before lending it.
    Idle(C),
    /// A free slot, already counted in `open`, to connect in.
    Slot,
}

impl<M: Manager> Pool<M> {
    /// A pool of at most `max_size` connections, none of them open yet.
    ///
    /// # Panics
    /// If `max_size` is zero: such a pool could never lend anything.
    pub fn new(manager: M, max_size: usize) -> Self {
        assert!(max_size > 0, "a pool's max_size must be at least 1");
        Pool {
            manager,
            max_size,
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                open: 0,
            }),
            available: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M::Connection>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives back a slot whose connection is closed (or was never opened),
    /// and wakes a waiter to use it.
    fn free_slot(&self) {
        self.lock().open -= 1;
        self.available.notify_one();
    }

    /// Puts a connection that is still good back among the idle ones.
    fn give_back(&self, conn: M::Connection) {
        self.lock().idle.push(conn);
        self.available.notify_one();
    }

    /// Takes an idle connection or claims a slot, waiting until `deadline`
    /// (`None`: for ever) while every connection is lent.
    fn claim(&self, timeout: Option<Duration>) -> Result<Claim<M::Connection>, PoolError<M::Error>> {
        let mut deadline: Option<Instant> = None;
        let mut inner = self.lock();
        loop {
            if let Some(conn) = inner.idle.pop() {
                return Ok(Claim::Idle(conn));
            }
            if inner.open < self.max_size {
                inner.open += 1;
                return Ok(Claim::Slot);
            }
            inner = match timeout {
                None => self.available.wait(inner).unwrap_or_else(|e| e.into_inner()),
                Some(timeout) => {
                    let now = Instant::now();
                    // Only now that we must wait does the clock matter.
                    let deadline = *deadline.get_or_insert_with(|| now + timeout);
                    if now >= deadline {
                        return Err(PoolError::Timeout);
                    }
                    self.available
                        .wait_timeout(inner, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The checkout loop shared by `get` and `get_timeout`.
    fn checkout(&self, timeout: Option<Duration>) -> Result<PooledConnection<'_, M>, PoolError<M::Error>> {
        loop {
            // Until it is lent, the guard is marked broken: if `is_valid` or
            // `connect` fails or panics, dropping it closes what it holds and
            // frees the slot.
            let claim = self.claim(timeout)?;
            let mut guard = PooledConnection {
                pool: self,
                conn: None,
                broken: true,
            };
            match claim {
                Claim::Idle(conn) => {
                    let conn = guard.conn.insert(conn);
                    if self.manager.is_valid(conn) {
                        guard.broken = false;
                        return Ok(guard);
                    }
                    // Closed, slot freed, and look again.
                    drop(guard);
                }
                Claim::Slot => match self.manager.connect() {
                    Ok(conn) => {
                        guard.conn = Some(conn);
                        guard.broken = false;
                        return Ok(guard);
                    }
                    Err(error) => {
                        drop(guard);
                        return Err(PoolError::Connect(error));
                    }
                },
            }
        }
    }

    /// Checks out a connection, waiting as long as it takes for one to be
    /// returned (or a slot to come free) when every connection is lent.
    ///
    /// # Errors
    /// The manager's error, if the pool had room for a new connection but
    /// could not open it.
    pub fn get(&self) -> Result<PooledConnection<'_, M>, M::Error> {
        self.checkout(None).map_err(|error| match error {
            PoolError::Connect(error) => error,
            PoolError::Timeout => unreachable!("a checkout without a deadline never times out"),
        })
    }

    /// Checks out a connection, waiting at most `timeout` for one when every
    /// connection is lent. An idle connection or a free slot is taken even
    /// with a zero timeout. The timeout bounds the wait for a connection, not
    /// the manager's `connect`.
    ///
    /// # Errors
    /// [`PoolError::Timeout`] if no connection came back and no slot came
    /// free in time; [`PoolError::Connect`] if the pool had room for a new
    /// connection but the manager could not open it.
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> Result<PooledConnection<'_, M>, PoolError<M::Error>> {
        self.checkout(Some(timeout))
    }

    /// How many connections are open, and how many of them are idle.
    pub fn state(&self) -> State {
        let inner = self.lock();
        State {
            connections: inner.open,
            idle: inner.idle.len(),
        }
    }
}

/// A connection checked out of a [`Pool`]. Use it through `Deref` and
/// `DerefMut`; dropping it gives the connection back to the pool (or closes
/// it, if it was marked broken), on every path, unwinding included.
pub struct PooledConnection<'a, M: Manager> {
    pool: &'a Pool<M>,
    /// Always `Some` once lent; `None` only while a checkout connects.
    conn: Option<M::Connection>,
    broken: bool,
}

impl<M: Manager> PooledConnection<'_, M> {
    /// Marks the connection as unfit to lend again (an I/O error, a protocol
    /// error, a session in an unknown state): when this guard is dropped the
    /// pool closes the connection and frees its slot instead of keeping it.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl<M: Manager> Deref for PooledConnection<'_, M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        self.conn.as_ref().expect("a lent guard holds its connection")
    }
}

impl<M: Manager> DerefMut for PooledConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn.as_mut().expect("a lent guard holds its connection")
    }
}

impl<M: Manager> Drop for PooledConnection<'_, M> {
    /// Gives the connection back to the pool, or closes it and frees its slot
    /// if it was marked broken; either way a waiting checkout must hear of it.
    fn drop(&mut self) {
        match self.conn.take() {
            Some(conn) if !self.broken => self.pool.give_back(conn),
            conn => {
                // Close first (outside the lock), then free the slot, so the
                // database never sees more than `max_size` connections.
                drop(conn);
                self.pool.free_slot();
            }
        }
    }
}
