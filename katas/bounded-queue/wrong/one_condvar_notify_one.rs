//! Wrong: producers and consumers wait on one condition variable, and each
//! push or pop wakes one waiter with `notify_one`. The waiter woken may be of
//! the wrong kind: a push meant for a waiting consumer wakes a producer
//! waiting for a slot, which finds the queue still full and sleeps again.
//! The wake-up is lost: the consumer sleeps beside an item, and once every
//! thread is waiting, the system deadlocks.
//!
//! Why candidates write it: with one condition variable the code is shorter,
//! and every waiter does re-check its condition in a loop, so it looks
//! careful. It is correct with `notify_all` (at the cost of waking everyone
//! on every operation), or with two condition variables and `notify_one`.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `two_consumers_take_different_items_and_neither_waits_for_one_already_taken`,
//! `a_pop_wakes_a_producer_waiting_on_a_full_queue`. The threaded spec
//! `followup_many_producers_and_consumers_deliver_every_item_exactly_once`
//! catches it only when the scheduler happens to hit it.

mod sync;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

pub use bounded_queue_solution::{PopError, PushError};

pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    /// BUG: one condition variable for two conditions ("not empty" for
    /// consumers, "not full" for producers), notified with `notify_one`.
    changed: Condvar,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        BoundedQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            changed: Condvar::new(),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_until(item, None)
    }

    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_until(item, Some(Instant::now()))
    }

    pub fn push_timeout(&self, item: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.push_until(item, Instant::now().checked_add(timeout))
    }

    pub fn pop(&self) -> Option<T> {
        self.pop_until(None).ok()
    }

    pub fn try_pop(&self) -> Result<T, PopError> {
        self.pop_until(Some(Instant::now()))
    }

    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.pop_until(Instant::now().checked_add(timeout))
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    fn push_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        let mut state = self.lock();
        while state.items.len() >= self.capacity && !state.closed {
            state = match wait(&self.changed, state, deadline) {
                Some(state) => state,
                None => return Err(PushError::Full(item)),
            };
        }
        if state.closed {
            return Err(PushError::Closed(item));
        }
        state.items.push_back(item);
        drop(state);
        // BUG: may wake a producer waiting for a slot instead of a consumer
        // waiting for this item; the producer goes back to sleep, and the
        // wake-up is lost.
        self.changed.notify_one();
        Ok(())
    }

    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let mut state = self.lock();
        while state.items.is_empty() && !state.closed {
            state = match wait(&self.changed, state, deadline) {
                Some(state) => state,
                None => return Err(PopError::Empty),
            };
        }
        let item = state.items.pop_front().ok_or(PopError::Closed)?;
        drop(state);
        // BUG: likewise, may wake a consumer instead of a producer.
        self.changed.notify_one();
        Ok(item)
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap()
    }
}

/// Waits once (as long as it takes, or until `deadline`); `None` once the
/// deadline has passed.
fn wait<'a, T>(
    condvar: &Condvar,
    state: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> Option<MutexGuard<'a, T>> {
    match deadline {
        None => Some(condvar.wait(state).unwrap()),
        Some(deadline) => {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            Some(condvar.wait_timeout(state, deadline - now).unwrap().0)
        }
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedQueue").finish_non_exhaustive()
    }
}
