//! Right: a two-phase writer with a "write intent" owner instead of a count of waiting writers
//! racing for the lock. A writer first queues for ownership of the writer slot (`owner`, one at a
//! time, on `writers_cv`); once it owns it, new readers are already shut out, and it waits on a
//! condition variable of its own (`drain_cv`) until the readers inside have left. So the last
//! reader out wakes exactly the one writer that can enter (the owner), a leaving writer hands the
//! slot to the next queued writer or, if none, wakes every waiting reader, and nobody is notified
//! when nobody waits (waiting readers and queued writers are counted). Three condvars, each with
//! one kind of waiter, and every wait in a `while` loop.

mod sync;

use std::ops::{Deref, DerefMut};

use crate::sync::{Condvar, Mutex, MutexGuard, UnsafeCell};

/// Who holds the lock and who waits for it. Only ever changed under
/// `RwLock::state`.
#[derive(Debug, Default)]
struct State {
    /// Read guards alive.
    readers: usize,
    /// A writer owns the writer slot: it is either inside, or waiting for the
    /// readers inside to drain. No new reader enters while it is set.
    owner: bool,
    /// Writers queued for the writer slot.
    queued_writers: usize,
    /// Readers blocked in `read`.
    waiting_readers: usize,
}

impl State {
    /// Whether a reader may enter now: no writer owns the slot or queues for it.
    fn admits_readers(&self) -> bool {
        !self.owner && self.queued_writers == 0
    }
}

/// A writer-preferring readers-writer lock: any number of readers, or one
/// writer, at a time; once a writer waits, new readers wait behind it.
pub struct RwLock<T> {
    state: Mutex<State>,
    /// Readers waiting for the writers to be done.
    readers_cv: Condvar,
    /// Writers queued for the writer slot.
    writers_cv: Condvar,
    /// The slot's owner, waiting for the readers inside to leave.
    drain_cv: Condvar,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through guards. Read guards, which may
// live on several threads at once, hand out `&T` only while no writer is
// inside, so `T` is shared between threads: it must be `Sync`. A write guard
// hands out `&mut T` only while its writer is inside alone (it owns the
// writer slot and `readers` is 0), on whichever thread took it, so a `T` can be moved in or out
// from any thread: it must be `Send`.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A lock protecting `value`, held by nobody.
    pub fn new(value: T) -> Self {
        RwLock {
            state: Mutex::new(State::default()),
            readers_cv: Condvar::new(),
            writers_cv: Condvar::new(),
            drain_cv: Condvar::new(),
            value: UnsafeCell::new(value),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code of the caller's ever runs under this mutex, so it cannot
        // be poisoned.
        self.state.lock().unwrap()
    }

    /// Shared access: blocks while a writer holds the lock *or waits for it*,
    /// then returns a guard that releases on drop.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let mut state = self.state();
        while !state.admits_readers() {
            state.waiting_readers += 1;
            state = self.readers_cv.wait(state).unwrap();
            state.waiting_readers -= 1;
        }
        state.readers += 1;
        RwLockReadGuard { lock: self }
    }

    /// Exclusive access: announces itself as a waiting writer (which stops
    /// new readers), blocks until nobody holds the lock, then returns a guard
    /// that releases on drop.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let mut state = self.state();
        // Phase 1: own the writer slot (readers are shut out from here on).
        state.queued_writers += 1;
        while state.owner {
            state = self.writers_cv.wait(state).unwrap();
        }
        state.queued_writers -= 1;
        state.owner = true;
        // Phase 2: wait for the readers already inside to leave.
        while state.readers > 0 {
            state = self.drain_cv.wait(state).unwrap();
        }
        RwLockWriteGuard { lock: self }
    }

    /// Shared access if [`read`](Self::read) would grant it without waiting:
    /// `None` while a writer holds the lock or waits for it. Never blocks.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = self.state();
        if !state.admits_readers() {
            return None;
        }
        state.readers += 1;
        Some(RwLockReadGuard { lock: self })
    }

    /// Exclusive access if nobody holds the lock: `None` while any reader or
    /// writer does. Never blocks.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut state = self.state();
        // An owner that is not inside yet waits for readers to drain, so
        // `owner` without readers never lasts: nobody holds the lock only
        // when there is no owner and no reader.
        if state.owner || state.readers > 0 {
            return None;
        }
        state.owner = true;
        Some(RwLockWriteGuard { lock: self })
    }

    /// The value, through exclusive access to the lock itself: no guard can
    /// exist, so no locking is needed.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves that no guard borrows the lock, so this
        // is the only access to the value for as long as the borrow lives.
        self.value.with_mut(|ptr| unsafe { &mut *ptr })
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// Shared access to the value of an [`RwLock`]; releases its share on drop,
/// including while a panic unwinds.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard is counted in `state.readers`, and a writer goes
        // inside only once `readers` is 0, so no writer is inside until this
        // guard is dropped: the value is only read while the borrow lives.
        self.lock.value.with(|ptr| unsafe { &*ptr })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.readers -= 1;
        if state.readers == 0 && state.owner {
            // The owner of the writer slot is draining, and only it waits
            // on `drain_cv`.
            self.lock.drain_cv.notify_one();
        }
    }
}

/// Exclusive access to the value of an [`RwLock`]; releases the lock on drop,
/// including while a panic unwinds.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard's writer owns the writer slot and `readers` is 0,
        // and nobody else reads or writes the value until it is dropped.
        self.lock.value.with(|ptr| unsafe { &*ptr })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard's writer went inside when `readers` was 0 and
        // still owns the writer slot, so no reader or writer gets in until it
        // is dropped: the borrow is exclusive.
        self.lock.value.with_mut(|ptr| unsafe { &mut *ptr })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.owner = false;
        if state.queued_writers > 0 {
            // The slot goes to one queued writer (readers stay shut out).
            self.lock.writers_cv.notify_one();
        } else if state.waiting_readers > 0 {
            // No writer wants in: every waiting reader can enter.
            self.lock.readers_cv.notify_all();
        }
    }
}
