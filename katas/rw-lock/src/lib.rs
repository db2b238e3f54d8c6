//! # Readers-writer lock
//!
//! A writer-preferring readers-writer lock, built from a mutex and condition
//! variables. Read `README.md` beside this file for the problem, then make
//! the specification pass:
//!
//! ```text
//! cargo xtask kata rw-lock
//! ```
//!
//! Take `Mutex`, `Condvar` and `UnsafeCell` from `crate::sync` (see
//! `src/sync.rs`), never from `std`: the loom models in `tests/loom.rs` can
//! only check the primitives loom provides.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// A writer-preferring readers-writer lock: any number of readers, or one
/// writer, at a time; once a writer waits, new readers wait behind it.
///
/// The value lives in a `crate::sync::UnsafeCell`. For `&RwLock<T>` to be
/// shared between threads you will need an `unsafe impl Sync`: work out which
/// bounds on `T` make it sound, and say why in a `// SAFETY:` comment.
///
/// ```ignore
/// use rw_lock::RwLock;
///
/// let config = RwLock::new(vec![1, 2]);
/// {
///     let a = config.read();
///     let b = config.read(); // many readers at once
///     assert_eq!(*a, *b);
///     assert!(config.try_write().is_none()); // no writer while they read
/// }
/// config.write().push(3);
/// assert_eq!(*config.read(), [1, 2, 3]);
/// ```
pub struct RwLock<T> {
    // Your fields here: the value, and what the lock must know about who
    // holds it and who waits. (`PhantomData` only lets the stub compile:
    // replace it.)
    _value: PhantomData<T>,
}

impl<T> RwLock<T> {
    /// A lock protecting `value`, held by nobody.
    pub fn new(value: T) -> Self {
        todo!(
            "RwLock::new: the value in a crate::sync::UnsafeCell, and the bookkeeping behind a crate::sync::Mutex"
        )
    }

    /// Shared access: blocks while a writer holds the lock *or waits for it*,
    /// then returns a guard that releases on drop.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        todo!(
            "RwLock::read: wait (in a loop) until no writer holds or waits, then count yourself in"
        )
    }

    /// Exclusive access: announces itself as a waiting writer (which stops
    /// new readers), blocks until nobody holds the lock, then returns a guard
    /// that releases on drop.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        todo!(
            "RwLock::write: say that a writer waits, wait (in a loop) until nobody holds the lock, then take it"
        )
    }

    /// Shared access if [`read`](Self::read) would grant it without waiting:
    /// `None` while a writer holds the lock or waits for it. Never blocks.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        todo!("RwLock::try_read: read's test, once, without waiting")
    }

    /// Exclusive access if nobody holds the lock: `None` while any reader or
    /// writer does. Never blocks.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        todo!("RwLock::try_write: write's test, once, without waiting")
    }

    /// The value, through exclusive access to the lock itself: no guard can
    /// exist, so no locking is needed.
    pub fn get_mut(&mut self) -> &mut T {
        todo!("RwLock::get_mut: `&mut self` proves no guard is alive")
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        todo!("RwLock::into_inner")
    }
}

/// Shared access to the value of an [`RwLock`]; releases its share on drop,
/// including while a panic unwinds.
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _lock: PhantomData<&'a RwLock<T>>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        todo!("RwLockReadGuard::deref: a shared borrow of the value, through UnsafeCell::with")
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        todo!(
            "RwLockReadGuard::drop: count yourself out; the last reader out wakes a waiting writer"
        )
    }
}

/// Exclusive access to the value of an [`RwLock`]; releases the lock on drop,
/// including while a panic unwinds.
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    // Your fields here. (`PhantomData` only lets the stub compile: replace it.)
    _lock: PhantomData<&'a RwLock<T>>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        todo!("RwLockWriteGuard::deref: a shared borrow of the value, through UnsafeCell::with")
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        todo!(
            "RwLockWriteGuard::deref_mut: an exclusive borrow of the value, through UnsafeCell::with_mut"
        )
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        todo!(
            "RwLockWriteGuard::drop: release, then wake whoever may enter now: one writer, or every reader"
        )
    }
}
