//! Wrong: a push wakes a consumer only if the queue was empty before it, and
//! a pop wakes a producer only if the queue was full before it: "nobody can
//! be waiting otherwise". But several can be waiting. Two consumers wait on
//! an empty queue; two items arrive back to back; the first push wakes one
//! consumer, the second push finds the queue not empty and wakes nobody. The
//! second consumer sleeps beside an item, for ever.
//!
//! Why candidates write it: it saves a system call per operation, it is
//! correct with one consumer and one producer, and it is correct with
//! `notify_all` on the transition. With `notify_one` it loses wake-ups.
//!
//! Caught by: `followup_every_waiter_is_woken_when_several_items_or_slots_arrive_at_once`
//! (when the scheduler lets the two pushes land before the first consumer
//! runs, which it nearly always does); loom:
//! `every_push_and_every_pop_wakes_a_waiter_not_only_the_first`.

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
        let was_empty = state.items.is_empty();
        state.items.push_back(item);
        drop(state);
        // BUG: "consumers only wait when the queue is empty, so only a push
        // into an empty queue needs to wake one". Two consumers may be
        // waiting; two quick pushes wake only one of them.
        if was_empty {
            self.not_empty.notify_one();
        }
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
        let was_full = state.items.len() == self.capacity;
        let item = state.items.pop_front().ok_or(PopError::Closed)?;
        drop(state);
        // BUG: likewise, only a pop from a full queue wakes a producer.
        if was_full {
            self.not_full.notify_one();
        }
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
