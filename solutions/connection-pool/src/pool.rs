use std::convert::Infallible;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::{Manager, PoolError, State};

/// A blocking pool of at most `max_size` connections opened by a [`Manager`].
///
/// Connections are opened lazily, one checkout at a time, only when no idle
/// one is there; a checkout with every connection lent waits for one to come
/// back. Share it between threads by reference (`&Pool`, `Arc<Pool>`,
/// scoped threads): every method takes `&self`.
pub struct Pool<M: Manager> {
    manager: M,
    max_size: usize,
    slots: Mutex<Slots<M::Connection>>,
    /// Signalled once for every connection given back and every slot freed:
    /// each of those lets exactly one waiter proceed.
    freed: Condvar,
}

/// The pool's shared state, only ever touched under `Pool::slots`.
struct Slots<C> {
    /// Open connections nobody holds. Used as a stack: the connection
    /// returned last is lent first, so that rarely needed connections stay
    /// idle (and are the ones a server's idle timeout closes).
    idle: Vec<C>,
    /// Open connections, lent or idle, plus connects in flight: a slot is
    /// claimed before connecting (under the lock) and given back if the
    /// connect fails, so the count never exceeds `max_size`.
    live: usize,
}

type SlotsGuard<'a, C> = MutexGuard<'a, Slots<C>>;

/// What a checkout got hold of under the lock.
enum Claim<C> {
    /// An idle connection, still to be checked.
    Idle(C),
    /// A free slot, claimed: the caller must open a connection into it or
    /// give it back.
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
            slots: Mutex::new(Slots {
                idle: Vec::with_capacity(max_size),
                live: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Checks out a connection, waiting as long as it takes for one to be
    /// returned (or a slot to come free) when every connection is lent.
    ///
    /// # Errors
    /// The manager's error, if the pool had room for a new connection but
    /// could not open it.
    pub fn get(&self) -> Result<PooledConnection<'_, M>, M::Error> {
        let untimed = |slots| {
            Ok::<_, Infallible>(
                self.freed
                    .wait(slots)
                    .unwrap_or_else(PoisonError::into_inner),
            )
        };
        match self.checkout(untimed) {
            Ok(checked_out) => checked_out,
            Err(never) => match never {},
        }
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
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // A timeout past the end of time is no timeout.
            return self.get().map_err(PoolError::Connect);
        };
        let timed = |slots| {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(PoolError::Timeout);
            }
            let (slots, _timed_out) = self
                .freed
                .wait_timeout(slots, remaining)
                .unwrap_or_else(PoisonError::into_inner);
            // Whether it timed out or not, the checkout looks again before
            // giving up: a connection may have come back just in time.
            Ok(slots)
        };
        self.checkout(timed)?.map_err(PoolError::Connect)
    }

    /// How many connections are open, and how many of them are idle.
    pub fn state(&self) -> State {
        let slots = self.lock();
        State {
            connections: slots.live,
            idle: slots.idle.len(),
        }
    }

    /// The checkout loop shared by `get` and `get_timeout`: take an idle
    /// connection or claim a free slot under the lock, `wait` while there is
    /// neither, then check or open the connection with the lock released.
    ///
    /// The outer `Err` is `wait` giving up; the inner one a failed connect.
    fn checkout<'a, T>(
        &'a self,
        mut wait: impl FnMut(SlotsGuard<'a, M::Connection>) -> Result<SlotsGuard<'a, M::Connection>, T>,
    ) -> Result<Result<PooledConnection<'a, M>, M::Error>, T> {
        loop {
            let mut slots = self.lock();
            // A loop, not an `if`: a wake-up is a hint that something came
            // free, and another thread may have taken it first.
            let claim = loop {
                if let Some(conn) = slots.idle.pop() {
                    break Claim::Idle(conn);
                }
                if slots.live < self.max_size {
                    slots.live += 1;
                    break Claim::Slot;
                }
                slots = wait(slots)?;
            };
            drop(slots);
            match claim {
                Claim::Idle(conn) => {
                    let mut lent = PooledConnection::new(self, conn);
                    // Discarded if `is_valid` says no, or panics.
                    lent.broken = true;
                    if self.manager.is_valid(&mut *lent) {
                        lent.broken = false;
                        return Ok(Ok(lent));
                    }
                    // Dropping `lent` closes the connection and frees its
                    // slot; look again, for another idle one or that slot.
                }
                Claim::Slot => {
                    let slot = Reservation { pool: self };
                    return Ok(self.manager.connect().map(|conn| slot.fill(conn)));
                }
            }
        }
    }

    /// Puts a connection its holder is done with back on the idle list, and
    /// wakes one waiter for it.
    fn give_back(&self, conn: M::Connection) {
        self.lock().idle.push(conn);
        self.freed.notify_one();
    }

    /// Closes a connection that must not be lent again, then frees its slot.
    fn discard(&self, conn: M::Connection) {
        // Closed first: the slot is given back only once the connection is
        // gone, so the server never sees more than `max_size` of them.
        drop(conn);
        self.release_slot();
    }

    /// Gives back a slot with no connection in it (a failed connect, a
    /// discarded connection), and wakes one waiter, who can now open one.
    fn release_slot(&self) {
        self.lock().live -= 1;
        self.freed.notify_one();
    }

    fn lock(&self) -> SlotsGuard<'_, M::Connection> {
        // No code runs under the lock that can panic halfway through an
        // update (every update is a push, a pop or a counter step), so a
        // poisoned lock still guards consistent state.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A claimed slot that a connection is being opened into. If the connect
/// fails (or panics), dropping it gives the slot back: without that, every
/// failed connect would shrink the pool for good.
struct Reservation<'a, M: Manager> {
    pool: &'a Pool<M>,
}

impl<'a, M: Manager> Reservation<'a, M> {
    /// The connection opened into this slot, lent to the caller.
    fn fill(self, conn: M::Connection) -> PooledConnection<'a, M> {
        let pool = self.pool;
        // The slot is now the connection's: its guard gives it back.
        mem::forget(self);
        PooledConnection::new(pool, conn)
    }
}

impl<M: Manager> Drop for Reservation<'_, M> {
    fn drop(&mut self) {
        self.pool.release_slot();
    }
}

/// A connection checked out of a [`Pool`]. Use it through `Deref` and
/// `DerefMut`; dropping it gives the connection back to the pool (or closes
/// it, if it was marked broken), on every path, unwinding included.
pub struct PooledConnection<'a, M: Manager> {
    pool: &'a Pool<M>,
    /// `Some` until `drop` takes it.
    conn: Option<M::Connection>,
    broken: bool,
}

impl<'a, M: Manager> PooledConnection<'a, M> {
    fn new(pool: &'a Pool<M>, conn: M::Connection) -> Self {
        PooledConnection {
            pool,
            conn: Some(conn),
            broken: false,
        }
    }

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
        self.conn
            .as_ref()
            .expect("a pooled connection is only taken out when its guard is dropped")
    }
}

impl<M: Manager> DerefMut for PooledConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn
            .as_mut()
            .expect("a pooled connection is only taken out when its guard is dropped")
    }
}

impl<M: Manager> Drop for PooledConnection<'_, M> {
    /// Runs on every path out of the holder's scope, a panic included: the
    /// connection goes back (the next checkout's `is_valid` decides whether
    /// a connection whose holder panicked is still fit to lend).
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.broken {
                self.pool.discard(conn);
            } else {
                self.pool.give_back(conn);
            }
        }
    }
}
