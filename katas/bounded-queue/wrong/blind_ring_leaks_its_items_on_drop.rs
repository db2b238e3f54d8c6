//! Wrong: a ring of `MaybeUninit<T>` slots, allocated once, with no `Drop`
//! of its own: the items still queued when the queue is dropped are never
//! dropped. Every operation while the queue lives is correct.
//!
//! Why candidates write it: `MaybeUninit` is the textbook way to avoid an
//! `Option` per slot, and its one duty, dropping the initialised slots, is
//! invisible in every test that drains the queue before it ends.
//!
//! Symptom: a worker pool shut down with jobs still queued leaks them: the
//! file handles and connections they hold stay open until the process
//! exits.
//!
//! Written blind: from the README and the stub, by the red team.
//!
//! Whole file: the bug lives in a storage of its own (`MaybeUninit` slots),
//! not in the reference's `VecDeque`, which drops its items itself.
//!
//! Caught by: `dropping_the_queue_drops_every_item_still_in_it`.

mod sync;

use std::fmt;
use std::time::Duration;

pub use bounded_queue_solution::{PopError, PushError};

use std::mem::MaybeUninit;
use std::time::Instant;

use crate::sync::{Condvar, Mutex, MutexGuard};

struct Ring<T> {
    slots: Box<[MaybeUninit<T>]>,
    head: usize,
    len: usize,
}

impl<T> Ring<T> {
    fn with_capacity(capacity: usize) -> Self {
        let slots = (0..capacity).map(|_| MaybeUninit::uninit()).collect();
        Ring { slots, head: 0, len: 0 }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn push_back(&mut self, item: T) {
        debug_assert!(self.len < self.slots.len());
        let tail = (self.head + self.len) % self.slots.len();
        self.slots[tail].write(item);
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: slot `head` is initialised while len > 0, and is treated
        // as uninitialised from here on.
        let item = unsafe { self.slots[self.head].assume_init_read() };
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        Some(item)
    }
}

struct Inner<T> {
    items: Ring<T>,
    closed: bool,
}

pub struct BoundedQueue<T> {
    capacity: usize,
    inner: Mutex<Inner<T>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        BoundedQueue {
            capacity,
            inner: Mutex::new(Inner { items: Ring::with_capacity(capacity), closed: false }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        let mut inner = self.lock();
        while !inner.closed && inner.items.len() == self.capacity {
            inner = self.not_full.wait(inner).unwrap();
        }
        if inner.closed {
            return Err(PushError::Closed(item));
        }
        inner.items.push_back(item);
        drop(inner);
        self.not_empty.notify_one();
        Ok(())
    }

    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(PushError::Closed(item));
        }
        if inner.items.len() == self.capacity {
            return Err(PushError::Full(item));
        }
        inner.items.push_back(item);
        drop(inner);
        self.not_empty.notify_one();
        Ok(())
    }

    pub fn push_timeout(&self, item: T, timeout: Duration) -> Result<(), PushError<T>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.lock();
        loop {
            if inner.closed {
                return Err(PushError::Closed(item));
            }
            if inner.items.len() < self.capacity {
                break;
            }
            inner = match deadline {
                None => self.not_full.wait(inner).unwrap(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(PushError::Full(item));
                    }
                    self.not_full.wait_timeout(inner, deadline - now).unwrap().0
                }
            };
        }
        inner.items.push_back(item);
        drop(inner);
        self.not_empty.notify_one();
        Ok(())
    }

    pub fn pop(&self) -> Option<T> {
        let mut inner = self.lock();
        loop {
            if let Some(item) = inner.items.pop_front() {
                drop(inner);
                self.not_full.notify_one();
                return Some(item);
            }
            if inner.closed {
                return None;
            }
            inner = self.not_empty.wait(inner).unwrap();
        }
    }

    pub fn try_pop(&self) -> Result<T, PopError> {
        let mut inner = self.lock();
        match inner.items.pop_front() {
            Some(item) => {
                drop(inner);
                self.not_full.notify_one();
                Ok(item)
            }
            None if inner.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.lock();
        loop {
            if let Some(item) = inner.items.pop_front() {
                drop(inner);
                self.not_full.notify_one();
                return Ok(item);
            }
            if inner.closed {
                return Err(PopError::Closed);
            }
            inner = match deadline {
                None => self.not_empty.wait(inner).unwrap(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(PopError::Empty);
                    }
                    self.not_empty.wait_timeout(inner, deadline - now).unwrap().0
                }
            };
        }
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("BoundedQueue")
            .field("capacity", &self.capacity)
            .field("len", &inner.items.len())
            .field("closed", &inner.closed)
            .finish_non_exhaustive()
    }
}
