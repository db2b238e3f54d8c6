//! Wrong: returning a connection wakes no one. The guard's `Drop` pushes the
//! connection back on the idle list but never signals the condition
//! variable, so a checkout already waiting for it sleeps on: until its own
//! timeout expires in `get_timeout` (then it finds the connection and takes
//! it, seconds late), for ever in `get`. Under load every request waits out
//! the full timeout while connections sit idle.
//!
//! Why candidates write it: a single-threaded test never has a waiter, and
//! with a timeout the waiter still gets the connection in the end, so it
//! "works", just slowly.
//!
//! Caught by: `a_waiter_gets_a_returned_connection_without_waiting_out_its_timeout`,
//! `get_waits_for_a_connection_to_come_back`, and in loom
//! `waiters_are_woken_as_connections_come_back` and every other model in
//! which a thread waits (deadlock: all threads blocked).

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
        // BUG: no notify: a thread waiting for this connection is never woken.
        self.lock().idle.push(conn);
    }

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
            if self.broken {
                self.pool.discard(conn);
            } else {
                self.pool.give_back(conn);
            }
        }
    }
}
