//! Wrong: the items live in `UnsafeCell` slots beside a mutex that guards
//! only the indices, and the queue declares `unsafe impl<T> Sync` (and
//! `Send`) with no `T: Send` bound. Every operation is correct, but the type
//! promises more than it keeps: a `BoundedQueue<Rc<u32>>` can be shared
//! between threads in safe code, and two threads then race on the count of
//! the same `Rc`: undefined behaviour.
//!
//! Why candidates write it: a hand-rolled ring needs `unsafe impl Sync`
//! once the slots are `UnsafeCell`s, and the compiler no longer asks what
//! the items must be; `T: Send` is the bound `std::sync::Mutex` would have
//! put there.
//!
//! Symptom: none in tests of `u32` jobs; a use-after-free in production
//! once someone queues an `Rc`-holding job from a thread pool.
//!
//! Written blind: from the README and the stub, by the red team.
//!
//! Whole file: the bug is the `unsafe impl` of a storage of its own
//! (`UnsafeCell` slots and atomic indices), not a line of the reference,
//! which needs no `unsafe` at all.
//!
//! Caught by: `is_sync_only_when_its_items_may_cross_threads`.

mod sync;

use std::fmt;
use std::time::Duration;

pub use bounded_queue_solution::{PopError, PushError};

use std::cell::UnsafeCell;
use std::time::Instant;

use crate::sync::{Condvar, Mutex, MutexGuard};

struct Inner {
    head: usize,
    len: usize,
    closed: bool,
}

// SAFETY: every access to `slots` happens with `inner` locked, so no two
// threads ever touch a slot at once.
unsafe impl<T> Sync for BoundedQueue<T> {}

pub struct BoundedQueue<T> {
    capacity: usize,
    inner: Mutex<Inner>,
    slots: Box<[UnsafeCell<Option<T>>]>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        BoundedQueue {
            capacity,
            inner: Mutex::new(Inner { head: 0, len: 0, closed: false }),
            slots: (0..capacity).map(|_| UnsafeCell::new(None)).collect(),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    fn put(&self, inner: &mut MutexGuard<'_, Inner>, item: T) {
        let tail = (inner.head + inner.len) % self.capacity;
        // SAFETY: the lock is held (we have its guard).
        unsafe { *self.slots[tail].get() = Some(item) };
        inner.len += 1;
    }

    fn take(&self, inner: &mut MutexGuard<'_, Inner>) -> Option<T> {
        if inner.len == 0 {
            return None;
        }
        // SAFETY: the lock is held (we have its guard).
        let item = unsafe { (*self.slots[inner.head].get()).take() };
        inner.head = (inner.head + 1) % self.capacity;
        inner.len -= 1;
        item
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        let mut inner = self.lock();
        while !inner.closed && inner.len == self.capacity {
            inner = self.not_full.wait(inner).unwrap();
        }
        if inner.closed {
            return Err(PushError::Closed(item));
        }
        self.put(&mut inner, item);
        drop(inner);
        self.not_empty.notify_one();
        Ok(())
    }

    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(PushError::Closed(item));
        }
        if inner.len == self.capacity {
            return Err(PushError::Full(item));
        }
        self.put(&mut inner, item);
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
            if inner.len < self.capacity {
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
        self.put(&mut inner, item);
        drop(inner);
        self.not_empty.notify_one();
        Ok(())
    }

    pub fn pop(&self) -> Option<T> {
        let mut inner = self.lock();
        loop {
            if let Some(item) = self.take(&mut inner) {
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
        match self.take(&mut inner) {
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
            if let Some(item) = self.take(&mut inner) {
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
            .field("len", &inner.len)
            .field("closed", &inner.closed)
            .finish_non_exhaustive()
    }
}
