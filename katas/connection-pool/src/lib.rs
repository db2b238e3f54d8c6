//! # Connection pool
//!
//! The blocking pool a service keeps in front of its database. Read
//! `README.md` beside this file for the problem, then make the specification
//! pass:
//!
//! ```text
//! cargo xtask kata connection-pool
//! ```
//!
//! The pool is shared between threads: take `Mutex`, `Condvar` and any
//! atomics from `crate::sync` (see `src/sync.rs`), never from `std::sync`, so
//! that the loom models in `tests/loom.rs` can check every interleaving.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

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
    // Your fields here: what must every thread see, and under which lock?
    // (`PhantomData` only lets the stub compile: replace it.)
    _manager: PhantomData<M>,
}

impl<M: Manager> Pool<M> {
    /// A pool of at most `max_size` connections, none of them open yet.
    ///
    /// # Panics
    /// If `max_size` is zero: such a pool could never lend anything.
    pub fn new(manager: M, max_size: usize) -> Self {
        todo!("Pool::new: keep the manager; open nothing yet")
    }

    /// Checks out a connection, waiting as long as it takes for one to be
    /// returned (or a slot to come free) when every connection is lent.
    ///
    /// # Errors
    /// The manager's error, if the pool had room for a new connection but
    /// could not open it.
    pub fn get(&self) -> Result<PooledConnection<'_, M>, M::Error> {
        todo!("Pool::get: an idle connection, else a new one if under max_size, else wait")
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
        todo!("Pool::get_timeout: like get, but wait on the condvar until a deadline")
    }

    /// How many connections are open, and how many of them are idle.
    pub fn state(&self) -> State {
        todo!("Pool::state: read both counts under the lock")
    }
}

/// A connection checked out of a [`Pool`]. Use it through `Deref` and
/// `DerefMut`; dropping it gives the connection back to the pool (or closes
/// it, if it was marked broken), on every path, unwinding included.
pub struct PooledConnection<'a, M: Manager> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _pool: PhantomData<&'a Pool<M>>,
}

impl<M: Manager> PooledConnection<'_, M> {
    /// Marks the connection as unfit to lend again (an I/O error, a protocol
    /// error, a session in an unknown state): when this guard is dropped the
    /// pool closes the connection and frees its slot instead of keeping it.
    pub fn mark_broken(&mut self) {
        todo!("PooledConnection::mark_broken: remember it for drop")
    }
}

impl<M: Manager> Deref for PooledConnection<'_, M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        todo!("PooledConnection::deref: the connection this guard holds")
    }
}

impl<M: Manager> DerefMut for PooledConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        todo!("PooledConnection::deref_mut: the connection this guard holds")
    }
}

impl<M: Manager> Drop for PooledConnection<'_, M> {
    /// Gives the connection back to the pool, or closes it and frees its slot
    /// if it was marked broken; either way a waiting checkout must hear of it.
    fn drop(&mut self) {
        todo!("PooledConnection::drop: give the connection back (or close it) and wake a waiter")
    }
}
