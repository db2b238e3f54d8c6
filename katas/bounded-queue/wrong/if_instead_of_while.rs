//! Wrong: every wait is guarded by `if` instead of `while`. A thread that
//! wakes up assumes the condition it waited for now holds, without checking
//! again.
//!
//! It does not. Between the notification and the woken thread getting the
//! mutex back, another consumer that never waited can take the item (or
//! another producer the slot). A producer that notifies after unlocking can
//! even wake a consumer for an item that the same consumer already took on
//! its previous pop. And condition variables may wake a thread for no
//! reason at all (a spurious wake-up). Here a robbed consumer finds the
//! queue empty and `pop` returns `None`, which the worker loop
//! `while let Some(job) = queue.pop()` reads as "closed": the worker quits
//! while the producers are still going. A robbed producer pushes into a full
//! queue and overfills it.
//!
//! Why candidates write it: it reads like the condition ("if empty, wait"),
//! it passes every single-threaded test, and a stress test rarely lands a
//! thread in the gap. Loom runs the interleavings where the wake-up arrives
//! after the item it announced is gone.
//!
//! Caught by (loom, `tests/loom.rs`), where a robbed consumer's `None`
//! loses an item:
//! `two_producers_and_one_consumer_lose_and_duplicate_no_item`,
//! `two_consumers_take_different_items_and_neither_waits_for_one_already_taken`,
//! `a_pop_wakes_a_producer_waiting_on_a_full_queue` and
//! `every_push_and_every_pop_wakes_a_waiter_not_only_the_first`. The threaded spec
//! `followup_many_producers_and_consumers_deliver_every_item_exactly_once`
//! usually catches it as well: a robbed `push_timeout` gives up with `Full`
//! long before its timeout.

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
        let mut state = self.lock();
        // BUG: `if`, not `while`: after the wake-up the queue may be full
        // again (another producer took the slot).
        if state.items.len() >= self.capacity && !state.closed {
            state = self.not_full.wait(state).unwrap();
        }
        self.finish_push(state, item)
    }

    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let state = self.lock();
        if !state.closed && state.items.len() >= self.capacity {
            return Err(PushError::Full(item));
        }
        self.finish_push(state, item)
    }

    pub fn push_timeout(&self, item: T, timeout: Duration) -> Result<(), PushError<T>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        // BUG: the same `if`.
        if state.items.len() >= self.capacity && !state.closed {
            let now = Instant::now();
            match deadline {
                None => state = self.not_full.wait(state).unwrap(),
                Some(deadline) if deadline > now => {
                    state = self.not_full.wait_timeout(state, deadline - now).unwrap().0;
                }
                Some(_) => {}
            }
            if state.items.len() >= self.capacity && !state.closed {
                return Err(PushError::Full(item));
            }
        }
        self.finish_push(state, item)
    }

    pub fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        // BUG: `if`, not `while`: after the wake-up the queue may be empty
        // again (another consumer took the item), and `None` then says
        // "closed".
        if state.items.is_empty() && !state.closed {
            state = self.not_empty.wait(state).unwrap();
        }
        self.finish_pop(state).ok()
    }

    pub fn try_pop(&self) -> Result<T, PopError> {
        let state = self.lock();
        self.finish_pop(state)
    }

    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        // BUG: the same `if`.
        if state.items.is_empty() && !state.closed {
            let now = Instant::now();
            match deadline {
                None => state = self.not_empty.wait(state).unwrap(),
                Some(deadline) if deadline > now => {
                    state = self
                        .not_empty
                        .wait_timeout(state, deadline - now)
                        .unwrap()
                        .0;
                }
                Some(_) => {}
            }
        }
        self.finish_pop(state)
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    fn finish_push(
        &self,
        mut state: MutexGuard<'_, State<T>>,
        item: T,
    ) -> Result<(), PushError<T>> {
        if state.closed {
            return Err(PushError::Closed(item));
        }
        state.items.push_back(item);
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    fn finish_pop(&self, mut state: MutexGuard<'_, State<T>>) -> Result<T, PopError> {
        match state.items.pop_front() {
            Some(item) => {
                drop(state);
                self.not_full.notify_one();
                Ok(item)
            }
            None if state.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap()
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedQueue").finish_non_exhaustive()
    }
}
