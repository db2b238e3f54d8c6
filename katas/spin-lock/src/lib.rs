//! # Spin lock
//!
//! A mutual-exclusion lock that waits by spinning on an atomic flag. Read
//! `README.md` beside this file for the problem, then make the specification
//! pass:
//!
//! ```text
//! cargo xtask kata spin-lock
//! ```
//!
//! Take the atomics, `UnsafeCell` and `spin_loop` from `crate::sync` (see
//! `src/sync.rs`), never from `std`: the loom models in `tests/loom.rs` can
//! only check what loom provides.
//!
//! This kata is about `unsafe`: reaching the value inside the lock takes it,
//! and so does telling the compiler when the lock may be shared between
//! threads. Write a `// SAFETY:` comment on each `unsafe` block and `unsafe
//! impl` saying why it is sound. (The spec shares locks between threads, so
//! it compiles only while `SpinLock<u64>` is `Sync`: once your fields include
//! an `UnsafeCell`, that takes an `unsafe impl`.)

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

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
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _value: PhantomData<T>,
}

impl<T> SpinLock<T> {
    /// A new, unlocked lock around `value`.
    pub fn new(value: T) -> Self {
        todo!("SpinLock::new: an unlocked lock holding `value`")
    }

    /// Takes the lock, spinning until it is free, and returns the guard that
    /// gives access to the value and releases the lock when dropped.
    ///
    /// Everything the previous holder wrote under the lock is visible to the
    /// new holder. Taking a lock this thread already holds spins for ever:
    /// the lock is not re-entrant.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        todo!(
            "SpinLock::lock: take the lock in one atomic step (which ordering?), spinning with `crate::sync::spin_loop()` while it is held"
        )
    }

    /// Takes the lock if it is free right now, without waiting: `None` if
    /// another guard exists. It never fails while the lock is free.
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        todo!("SpinLock::try_lock: one attempt to take the lock, never a wait")
    }

    /// The value, through an exclusive borrow of the lock: no locking is
    /// needed, since no guard can exist while `self` is borrowed mutably.
    pub fn get_mut(&mut self) -> &mut T {
        todo!("SpinLock::get_mut: `&mut self` already proves exclusive access")
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        todo!("SpinLock::into_inner")
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLock<T> {
    /// `SpinLock { data: <the value's Debug>, .. }` if the lock is free,
    /// `SpinLock { data: <locked>, .. }` if it is held. Never waits for the
    /// lock: formatting a lock this thread holds (in a log line, a panic
    /// message) must not deadlock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!(
            "Debug for SpinLock: show the value if the lock can be taken without waiting, `<locked>` otherwise"
        )
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
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _lock: PhantomData<&'a mut T>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        todo!("SpinLockGuard::deref: the value, read through the lock's cell")
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        todo!("SpinLockGuard::deref_mut: the value, written through the lock's cell")
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        todo!(
            "SpinLockGuard::drop: release the lock (which ordering?); this runs while a panic unwinds too"
        )
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLockGuard<'_, T> {
    /// The value's own `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("Debug for SpinLockGuard: format the value")
    }
}
