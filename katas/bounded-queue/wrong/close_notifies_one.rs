//! Wrong: `close` wakes waiters with `notify_one`, so only one blocked
//! consumer (and one blocked producer) learns that the queue is closed.
//! Every other thread blocked in `pop` or `push` waits for ever: nothing will
//! ever be pushed or popped again to wake it. At shutdown the worker pool
//! hangs on `join`.
//!
//! Why candidates write it: push and pop rightly use `notify_one` (one item
//! wakes one consumer), and close gets the same call by habit. With a single
//! waiting worker, the usual demo, it works.
//!
//! Caught by: `close_wakes_every_consumer_waiting_on_an_empty_queue`,
//! `close_wakes_every_producer_waiting_on_a_full_queue`,
//! `followup_close_wakes_waiters_of_the_timeout_variants`, and
//! `followup_many_producers_and_consumers_deliver_every_item_exactly_once`
//! whenever several consumers are waiting when it closes; loom:
//! `close_wakes_every_waiting_consumer`,
//! `close_wakes_every_waiting_producer_and_keeps_the_queued_item`.

mod sync;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

pub use bounded_queue_solution::{PopError, PushError};

pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
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
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
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
        // BUG: wakes one waiting consumer and one waiting producer; every
        // other waiter sleeps on, in a queue that will never change again.
        self.not_empty.notify_one();
        self.not_full.notify_one();
    }

    fn push_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        let mut state = self.lock();
        while state.items.len() >= self.capacity && !state.closed {
            state = match wait(&self.not_full, state, deadline) {
                Some(state) => state,
                None => return Err(PushError::Full(item)),
            };
        }
        if state.closed {
            return Err(PushError::Closed(item));
        }
        state.items.push_back(item);
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let mut state = self.lock();
        while state.items.is_empty() && !state.closed {
            state = match wait(&self.not_empty, state, deadline) {
                Some(state) => state,
                None => return Err(PopError::Empty),
            };
        }
        let item = state.items.pop_front().ok_or(PopError::Closed)?;
        drop(state);
        self.not_full.notify_one();
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
