//! Right: a first-come, first-served pool with direct hand-off, where the
//! obvious answer is one `Condvar` that every waiter sleeps on and races for
//! whatever comes back. Each waiting checkout queues a ticket of its own (a
//! small `Mutex<Grant>` and `Condvar`); a returned connection, or a slot freed
//! by a close or a failed connect, is handed to the oldest ticket still
//! waiting and only that thread is woken, so nobody barges past a waiter and
//! no wake-up can go to the wrong thread. A checkout that times out withdraws
//! its ticket (or takes the grant that beat it to it); withdrawn tickets are
//! skipped and compacted away in amortised O(1). A claimed slot, an idle
//! connection being validated and a connect in progress are all held by a
//! guard marked broken, so an error or a panic in the manager closes the
//! connection and hands its slot on.

mod sync;

use std::error::Error;
use std::fmt;
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
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
}

struct Inner<C> {
    /// Connections waiting to be lent (only while nobody waits in line).
    idle: Vec<C>,
    /// Connections open: lent, idle, being opened, or handed to a waiter.
    open: usize,
    /// Waiting checkouts, oldest first (some may have withdrawn).
    line: VecDeque<Arc<Ticket<C>>>,
    /// How many tickets in `line` have withdrawn.
    withdrawn: usize,
}

/// One waiting checkout. Lock order: the pool's `inner`, then a ticket.
struct Ticket<C> {
    grant: Mutex<Grant<C>>,
    ready: Condvar,
}

/// What a checkout gets: from the pool directly, or handed to its ticket.
enum Grant<C> {
    /// Still waiting (only in a ticket).
    Waiting,
    /// Gave up, or already took its grant (only in a ticket).
    Done,
    /// A connection that has been lent before: validate it.
    Conn(C),
    /// A slot, counted in `open`, to connect in.
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
                line: VecDeque::new(),
                withdrawn: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M::Connection>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a returned connection, or a slot whose connection is closed, to
    /// the oldest waiting checkout; with nobody waiting, the connection goes
    /// idle and the slot is freed.
    fn hand_on(&self, mut grant: Grant<M::Connection>) {
        let mut inner = self.lock();
        while let Some(ticket) = inner.line.pop_front() {
            let mut slot = ticket.grant.lock().unwrap_or_else(|e| e.into_inner());
            if let Grant::Waiting = *slot {
                *slot = std::mem::replace(&mut grant, Grant::Done);
                drop(slot);
                drop(inner);
                ticket.ready.notify_one();
                return;
            }
            drop(slot);
            inner.withdrawn -= 1;
        }
        match grant {
            Grant::Conn(conn) => inner.idle.push(conn),
            Grant::Slot => inner.open -= 1,
            Grant::Waiting | Grant::Done => unreachable!("only connections and slots are handed on"),
        }
    }

    /// Takes an idle connection or a free slot, or waits in line for one until
    /// `deadline` (`None`: for ever).
    fn claim(&self, deadline: Option<Instant>) -> Result<Grant<M::Connection>, PoolError<M::Error>> {
        let mut inner = self.lock();
        if let Some(conn) = inner.idle.pop() {
            return Ok(Grant::Conn(conn));
        }
        if inner.open < self.max_size {
            inner.open += 1;
            return Ok(Grant::Slot);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(PoolError::Timeout);
        }
        let ticket = Arc::new(Ticket {
            grant: Mutex::new(Grant::Waiting),
            ready: Condvar::new(),
        });
        inner.line.push_back(Arc::clone(&ticket));
        drop(inner);

        let mut slot = ticket.grant.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !matches!(*slot, Grant::Waiting) {
                return Ok(std::mem::replace(&mut *slot, Grant::Done));
            }
            slot = match deadline {
                None => ticket.ready.wait(slot).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    ticket
                        .ready
                        .wait_timeout(slot, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(slot);

        // Out of time: withdraw, unless a grant arrived in the meantime.
        let mut inner = self.lock();
        let mut slot = ticket.grant.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *slot, Grant::Done) {
            Grant::Waiting => {
                drop(slot);
                inner.withdrawn += 1;
                if inner.withdrawn * 2 > inner.line.len() {
                    inner.line.retain(|ticket| {
                        let grant = ticket.grant.lock().unwrap_or_else(|e| e.into_inner());
                        matches!(*grant, Grant::Waiting)
                    });
                    inner.withdrawn = 0;
                }
                Err(PoolError::Timeout)
            }
            grant => Ok(grant),
        }
    }

    /// The checkout shared by `get` and `get_timeout`.
    fn checkout(&self, deadline: Option<Instant>) -> Result<PooledConnection<'_, M>, PoolError<M::Error>> {
        loop {
            let grant = self.claim(deadline)?;
            // Until it is lent, the guard is marked broken: if `is_valid` or
            // `connect` fails or panics, dropping it closes what it holds and
            // hands its slot on.
            let mut guard = PooledConnection {
                pool: self,
                conn: None,
                broken: true,
            };
            match grant {
                Grant::Conn(conn) => {
                    let conn = guard.conn.insert(conn);
                    if self.manager.is_valid(conn) {
                        guard.broken = false;
                        return Ok(guard);
                    }
                    // Closed, its slot handed on; look again.
                    drop(guard);
                }
                Grant::Slot => match self.manager.connect() {
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
                Grant::Waiting | Grant::Done => unreachable!("a claim grants a connection or a slot"),
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
        // A timeout too far to represent waits for ever.
        self.checkout(Instant::now().checked_add(timeout))
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
            Some(conn) if !self.broken => self.pool.hand_on(Grant::Conn(conn)),
            conn => {
                // Close first (outside the lock), then free the slot, so the
                // database never sees more than `max_size` connections.
                drop(conn);
                self.pool.hand_on(Grant::Slot);
            }
        }
    }
}
