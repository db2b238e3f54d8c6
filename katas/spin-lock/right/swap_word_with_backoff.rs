//! Right: a test-and-set lock on an `AtomicU32` state word taken with
//! `swap(LOCKED, Acquire)` (never a compare-exchange, so `try_lock` can never
//! fail spuriously), waiting on Relaxed loads with bounded exponential backoff
//! (1, 2, 4 .. 64 `spin_loop()` hints between two reads of the word), where
//! the obvious answer is an `AtomicBool` with `compare_exchange` and a plain
//! spin. The guard keeps the two halves it needs (the state word and the
//! cell) rather than the whole lock.

mod sync;

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::sync::{AtomicU32, Ordering, UnsafeCell, spin_loop};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Longest pause between two reads of the state word: 2^6 hints.
const MAX_BACKOFF_SHIFT: u32 = 6;

/// A mutual-exclusion lock that busy-waits: [`lock`](SpinLock::lock) spins
/// until the lock is free, [`try_lock`](SpinLock::try_lock) never waits.
///
/// `SpinLock<T>` is `Send` and `Sync` whenever `T: Send` (a lock is what
/// makes a value that is not `Sync`, such as a `Cell`, shareable), and
/// neither when `T` is not `Send`.
///
/// There is no poisoning: a holder that panics releases the lock, and the
/// next holder sees the value as the panicking one left it.
pub struct SpinLock<T> {
    /// `UNLOCKED` or `LOCKED`.
    state: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: moving the lock to another thread moves the value with it, which
// needs `T: Send`; nothing else in the lock is tied to a thread.
unsafe impl<T: Send> Send for SpinLock<T> {}

// SAFETY: through `&SpinLock<T>` a thread reaches the value only while it
// holds the lock, so one thread at a time has it: handing `T` from thread to
// thread that way needs `T: Send`, not `T: Sync` (never shared at once).
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock around `value`.
    pub fn new(value: T) -> Self {
        SpinLock {
            state: AtomicU32::new(UNLOCKED),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning until it is free, and returns the guard that
    /// gives access to the value and releases the lock when dropped.
    ///
    /// Everything the previous holder wrote under the lock is visible to the
    /// new holder. Taking a lock this thread already holds spins for ever:
    /// the lock is not re-entrant.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        let mut shift = 0;
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            // Wait on loads (the cache line stays shared while it is held),
            // backing off a little longer each time the word reads LOCKED, so
            // that a release does not start a stampede of writers.
            loop {
                for _ in 0..(1u32 << shift) {
                    spin_loop();
                }
                shift = (shift + 1).min(MAX_BACKOFF_SHIFT);
                if self.state.load(Ordering::Relaxed) == UNLOCKED {
                    break;
                }
            }
        }
    }

    /// Takes the lock if it is free right now, without waiting: `None` if
    /// another guard exists. It never fails while the lock is free.
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        // One swap: it either finds UNLOCKED (and took the lock) or LOCKED
        // (and changed nothing). A swap cannot fail spuriously.
        if self.state.swap(LOCKED, Ordering::Acquire) == UNLOCKED {
            Some(SpinLockGuard {
                state: &self.state,
                value: &self.value,
            })
        } else {
            None
        }
    }

    /// The value, through an exclusive borrow of the lock: no locking is
    /// needed, since no guard can exist while `self` is borrowed mutably.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` is the only access to the lock, so no guard
        // exists and nobody else reaches the value.
        self.value.with_mut(|ptr| unsafe { &mut *ptr })
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLock<T> {
    /// `SpinLock { data: <the value's Debug>, .. }` if the lock is free,
    /// `SpinLock { data: <locked>, .. }` if it is held. Never waits for the
    /// lock: formatting a lock this thread holds (in a log line, a panic
    /// message) must not deadlock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SpinLock");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Exclusive access to the value of a [`SpinLock`]: dereference it to read
/// or write the value. The lock is released when the guard is dropped,
/// including while a panic unwinds.
///
/// Sharing `&SpinLockGuard` between threads shares `&T`, so the guard is
/// `Sync` only when `T: Sync` (as std's `MutexGuard`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T> {
    state: &'a AtomicU32,
    value: &'a UnsafeCell<T>,
}

// SAFETY: sending the guard sends `&mut T` access to another thread (and the
// release with it), which is sound when `T: Send`. The auto impl would ask
// for `T: Sync`, because of `&UnsafeCell<T>`.
unsafe impl<T: Send> Send for SpinLockGuard<'_, T> {}

// SAFETY: `&SpinLockGuard` gives only `&T` (through `Deref`), so sharing the
// guard between threads shares `&T`: sound exactly when `T: Sync`. (The auto
// impl would not exist: `UnsafeCell<T>` is never `Sync`.)
unsafe impl<T: Sync> Sync for SpinLockGuard<'_, T> {}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists, so this thread holds the lock; the Acquire
        // that took it ordered the previous holder's accesses before ours.
        self.value.with(|ptr| unsafe { &*ptr })
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access
        // through this guard.
        self.value.with_mut(|ptr| unsafe { &mut *ptr })
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // Release: everything written under the lock happens before the next
        // holder's Acquire. Runs while unwinding too: no poisoning.
        self.state.store(UNLOCKED, Ordering::Release);
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLockGuard<'_, T> {
    /// The value's own `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
