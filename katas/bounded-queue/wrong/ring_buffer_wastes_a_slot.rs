//! Wrong: a hand-rolled ring buffer of `capacity` slots that tells "full"
//! from "empty" the textbook way, full when `(tail + 1) % capacity == head`,
//! but without allocating the extra slot that trick needs. It holds only
//! `capacity - 1` items: a producer waits on a queue that is not full, and a
//! queue of capacity 1 can never take an item at all: every `push` blocks
//! for ever.
//!
//! Why candidates write it: the one-slot-wasted ring buffer is the version
//! everyone remembers, and with capacity 100 nobody notices 99.
//!
//! Symptom: a queue configured for 100 jobs makes producers wait at 99,
//! and one configured for a single job blocks every push for ever.
//!
//! Whole file: the bug lives in a hand-rolled ring buffer (slots, head,
//! tail and the "one slot apart" full test), a different storage from the
//! reference's `VecDeque`; as a patch it would replace the queue's storage
//! wholesale, and a `capacity - 1` in the reference would be a bug nobody
//! writes.
//!
//! Caught by: `holds_exactly_capacity_items_then_try_push_hands_the_item_back`,
//! `push_does_not_wait_while_there_is_room`,
//! `each_pop_frees_exactly_one_slot_and_order_survives_wrapping_around`,
//! `agrees_with_a_vecdeque_model_under_random_operations` and most of the
//! blocking specs (none of which hangs: each waits with a timeout).

mod sync;

use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

pub use bounded_queue_solution::{PopError, PushError};

pub struct BoundedQueue<T> {
    state: Mutex<Ring<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

struct Ring<T> {
    slots: Vec<Option<T>>,
    /// The oldest item.
    head: usize,
    /// Where the next item goes.
    tail: usize,
    closed: bool,
}

impl<T> Ring<T> {
    fn len(&self) -> usize {
        (self.tail + self.slots.len() - self.head) % self.slots.len()
    }

    fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    fn is_full(&self) -> bool {
        // BUG: with `capacity` slots this reports full at `capacity - 1`
        // items; the trick needs `capacity + 1` slots.
        (self.tail + 1) % self.slots.len() == self.head
    }

    fn push(&mut self, item: T) {
        self.slots[self.tail] = Some(item);
        self.tail = (self.tail + 1) % self.slots.len();
    }

    fn pop(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        item
    }
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        BoundedQueue {
            state: Mutex::new(Ring {
                slots: (0..capacity).map(|_| None).collect(),
                head: 0,
                tail: 0,
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
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
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
        let mut ring = self.lock();
        while ring.is_full() && !ring.closed {
            ring = match wait(&self.not_full, ring, deadline) {
                Some(ring) => ring,
                None => return Err(PushError::Full(item)),
            };
        }
        if ring.closed {
            return Err(PushError::Closed(item));
        }
        ring.push(item);
        drop(ring);
        self.not_empty.notify_one();
        Ok(())
    }

    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let mut ring = self.lock();
        while ring.is_empty() && !ring.closed {
            ring = match wait(&self.not_empty, ring, deadline) {
                Some(ring) => ring,
                None => return Err(PopError::Empty),
            };
        }
        let item = ring.pop().ok_or(PopError::Closed)?;
        drop(ring);
        self.not_full.notify_one();
        Ok(item)
    }

    fn lock(&self) -> MutexGuard<'_, Ring<T>> {
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
