//! Wrong: a failed connect gives its slot back but wakes no one. A checkout
//! that arrived while the connect was in flight saw the pool full and went
//! to sleep; the slot comes free without a notify, so it sleeps until its
//! own timeout runs out (or for ever, in `get`) although the pool is empty.
//!
//! Why candidates write it: `notify_one` goes where connections come back;
//! a slot coming free without a connection is easy to forget as the same
//! event.
//!
//! Caught by: `followup_a_waiter_is_woken_when_a_connect_fails`, and in loom
//! `a_failed_connect_gives_its_slot_back_to_a_waiter` (deadlock).

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
                            // BUG: the slot is free again, but a waiter is never told.
                            self.lock().live -= 1;
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
