//! Reference solution of the connection-pool kata: the blocking pool a
//! service keeps in front of its database.
//!
//! The whole shared state is two numbers' worth: how many connections are
//! open (lent, idle, or being opened right now) and the list of idle ones,
//! under one mutex, with one condition variable that a returning or failing
//! holder signals. Everything slow (opening a connection, checking one,
//! closing one) happens with the lock released, so one slow connect never
//! stalls the threads that only want an idle connection.

mod pool;
mod sync;

use std::error::Error;
use std::fmt;

pub use pool::{Pool, PooledConnection};

/// Knows how to open and check the connections a [`Pool`] lends: a database
/// driver, a client for a cache, anything that is expensive to open and can
/// go stale.
///
/// The pool calls both methods without its lock held, so they may block (a
/// network round trip, a TLS handshake).
pub trait Manager {
    /// What the pool lends out.
    type Connection;
    /// Why opening a connection failed.
    type Error;

    /// Opens a new connection.
    fn connect(&self) -> Result<Self::Connection, Self::Error>;

    /// Whether an idle connection is still fit to lend: the pool asks before
    /// lending a connection it has lent before, and closes it instead if the
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
