//! Wrong: a broken connection's slot is given back before the connection is
//! closed. The guard's `Drop` decrements the count and wakes a waiter under
//! the lock, and the connection is only closed when the guard's fields are
//! dropped, after the lock is released. In that gap the woken thread can
//! open a new connection while the old one is still open: for a moment the
//! database sees `max_size + 1` connections from this pool, which is what
//! makes a server at its `max_connections` refuse one.
//!
//! Why candidates write it: the connection's destructor runs at the end of
//! the scope, invisibly, after the code that frees its slot.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `a_broken_connection_is_closed_before_its_slot_is_reused`.

mod sync;

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

pub use connection_pool_solution::{Manager, PoolError, State};

pub struct Pool<M: Manager> {
    manager: M,
    max_size: usize,
    slots: Mutex<Slots<M::Connection>>,
    freed: Condvar,
}

struct Slots<C> {
    idle: Vec<C>,
    live: usize,
}

impl<M: Manager> Pool<M> {
    pub fn new(manager: M, max_size: usize) -> Self {
        assert!(max_size > 0, "a pool's max_size must be at least 1");
        Pool {
            manager,
            max_size,
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                live: 0,
            }),
            freed: Condvar::new(),
        }
    }

    pub fn get(&self) -> Result<PooledConnection<'_, M>, M::Error> {
        self.checkout(None).map_err(|error| match error {
            PoolError::Connect(error) => error,
            PoolError::Timeout => unreachable!("an untimed checkout never times out"),
        })
    }

    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> Result<PooledConnection<'_, M>, PoolError<M::Error>> {
        self.checkout(Instant::now().checked_add(timeout))
    }

    pub fn state(&self) -> State {
        let slots = self.lock();
        State {
            connections: slots.live,
            idle: slots.idle.len(),
        }
    }

    fn checkout(
        &self,
        deadline: Option<Instant>,
    ) -> Result<PooledConnection<'_, M>, PoolError<M::Error>> {
        loop {
            let mut slots = self.lock();
            let idle = loop {
                if let Some(conn) = slots.idle.pop() {
                    break Some(conn);
                }
                if slots.live < self.max_size {
                    slots.live += 1;
                    break None;
                }
                slots = self.wait(slots, deadline)?;
            };
            drop(slots);
            match idle {
                Some(mut conn) => {
                    if self.manager.is_valid(&mut conn) {
                        return Ok(PooledConnection::new(self, conn));
                    }
                    self.discard(conn);
                }
                None => {
                    return match self.manager.connect() {
                        Ok(conn) => Ok(PooledConnection::new(self, conn)),
                        Err(error) => {
                            self.release_slot();
                            Err(PoolError::Connect(error))
                        }
                    };
                }
            }
        }
    }

    fn wait<'a>(
        &self,
        slots: MutexGuard<'a, Slots<M::Connection>>,
        deadline: Option<Instant>,
    ) -> Result<MutexGuard<'a, Slots<M::Connection>>, PoolError<M::Error>> {
        let Some(deadline) = deadline else {
            return Ok(self
                .freed
                .wait(slots)
                .unwrap_or_else(PoisonError::into_inner));
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(PoolError::Timeout);
        }
        let (slots, _) = self
            .freed
            .wait_timeout(slots, remaining)
            .unwrap_or_else(PoisonError::into_inner);
        Ok(slots)
    }

    fn give_back(&self, conn: M::Connection) {
        self.lock().idle.push(conn);
        self.freed.notify_one();
    }

    #[allow(dead_code)]
    fn discard(&self, conn: M::Connection) {
        drop(conn);
        self.release_slot();
    }

    fn release_slot(&self) {
        self.lock().live -= 1;
        self.freed.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Slots<M::Connection>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct PooledConnection<'a, M: Manager> {
    pool: &'a Pool<M>,
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

    pub fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl<M: Manager> Deref for PooledConnection<'_, M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl<M: Manager> DerefMut for PooledConnection<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl<M: Manager> Drop for PooledConnection<'_, M> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut slots = self.pool.lock();
            if self.broken {
                // BUG: the slot is free before `conn` is closed: it is dropped at
                // the end of this scope, after the lock guard.
                slots.live -= 1;
                drop(slots);
                self.pool.freed.notify_one();
            } else {
                slots.idle.push(conn);
                drop(slots);
                self.pool.freed.notify_one();
            }
        }
    }
}
