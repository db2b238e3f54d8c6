//! Wrong: once the queue is closed, pops report `Closed` at once, even while
//! items queued before the close are still in it. Those jobs are silently
//! lost: a graceful shutdown ("stop accepting work, finish what was
//! accepted") becomes a crash that drops work.
//!
//! Why candidates write it: `push` must check `closed` first, and `pop` gets
//! the same check in the same place by symmetry. The same bug is written as
//! `close` clearing the items.
//!
//! Caught by: `pops_drain_the_items_queued_before_close_then_report_closed`,
//! `closing_twice_is_the_same_as_closing_once`,
//! `close_wakes_every_producer_waiting_on_a_full_queue`,
//! `agrees_with_a_vecdeque_model_under_random_operations`; loom:
//! `consumers_drain_what_was_pushed_before_close`,
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
        self.not_empty.notify_all();
        self.not_full.notify_all();
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
        // BUG: checks `closed` first, as `push` rightly does. But items
        // queued before the close are still there, and are now never
        // delivered.
        if state.closed {
            return Err(PopError::Closed);
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
