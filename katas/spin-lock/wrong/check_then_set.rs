//! Wrong: the lock is taken by waiting until the flag reads `false`, then
//! storing `true`: a check, then a separate act. Two threads can both read
//! `false` before either stores, and both hold the lock.
//!
//! Why candidates write it: it reads like the definition of a lock ("wait
//! until it is free, then take it"), the orderings are right, and a stress
//! test on two cores rarely puts a second thread between the load and the
//! store. Taking the lock must be one atomic read-modify-write
//! (`compare_exchange` or `swap`).
//!
//! Caught by (loom, `tests/loom.rs`): `two_threads_never_hold_the_lock_at_once`,
//! `try_lock_takes_a_free_lock_and_never_shares_it`,
//! `followup_lock_and_try_lock_exclude_each_other`, and, as data races,
//! `no_increment_is_lost_when_two_threads_race_for_the_lock`,
//! `a_value_written_under_the_lock_is_seen_by_the_next_holder`,
//! `writes_to_other_memory_under_the_lock_are_published_with_it`. The threaded
//! spec `no_increment_is_lost_when_threads_race_for_the_lock` catches it
//! only when the scheduler lands in the gap.

mod sync;

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::sync::{AtomicBool, Ordering, UnsafeCell, spin_loop};

pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: one holder at a time reaches the value, so sharing the lock only
// moves access to the value between threads.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: the lock owns its value.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        while self.locked.load(Ordering::Acquire) {
            spin_loop();
        }
        self.locked.store(true, Ordering::Relaxed);
        SpinLockGuard { lock: self }
    }

    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        if self.locked.load(Ordering::Acquire) {
            return None;
        }
        self.locked.store(true, Ordering::Relaxed);
        Some(SpinLockGuard { lock: self })
    }

    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard and every other reference.
        self.value.with_mut(|ptr| unsafe { &mut *ptr })
    }

    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SpinLock");
        match self.try_lock() {
            Some(guard) => debug.field("data", &&*guard),
            None => debug.field("data", &format_args!("<locked>")),
        };
        debug.finish_non_exhaustive()
    }
}

#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

// SAFETY: sharing the guard shares `&T`.
unsafe impl<T: Sync> Sync for SpinLockGuard<'_, T> {}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard's thread holds the lock.
        self.lock.value.with(|ptr| unsafe { &*ptr })
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard's thread holds the lock, and `&mut self` makes
        // this the only reference derived from the guard.
        self.lock.value.with_mut(|ptr| unsafe { &mut *ptr })
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
