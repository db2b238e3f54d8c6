//! Reference solution of the rw-lock kata: a writer-preferring readers-writer
//! lock built from one mutex and two condition variables.
//!
//! The mutex guards a little bookkeeping, never the value itself:
//!
//! - `readers`: read guards alive;
//! - `writer`: whether a write guard is alive;
//! - `waiting_writers`: writers blocked in [`RwLock::write`];
//! - `waiting_readers`: readers blocked in [`RwLock::read`] (only so that a
//!   release can skip the wake-up call when nobody sleeps: notifying a
//!   condition variable costs a system call even with no waiter).
//!
//! A reader may enter when no writer holds the lock *and none is waiting*;
//! a writer may enter when nobody holds it. Counting the waiting writers is
//! what makes the lock writer-preferring: as soon as one writer waits, new
//! readers queue behind it, the readers already inside drain, and the writer
//! gets in, however many readers keep arriving. (A reader-preferring lock
//! admits readers whenever no writer *holds* the lock, and a steady stream
//! of overlapping readers starves writers for ever.)
//!
//! Each condition is waited for in a `while` loop: a wake-up is a hint, not a
//! promise, since another thread may have taken the lock between the
//! notification and the wake-up (or the wake-up may be spurious). Readers and
//! writers wait on separate condition variables so that a release can wake
//! exactly the right ones: one writer (only one can enter), or every reader
//! (all of them can).
//!
//! Guards release in `Drop`, which also runs while a panic unwinds, so a
//! panicking holder never leaves the lock held. Like `parking_lot`'s and
//! tokio's locks (and unlike `std`'s), this one does not poison: after a
//! panic the value is as the panicking code left it.

mod sync;

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

use crate::sync::{Condvar, Mutex, MutexGuard, UnsafeCell};

/// Who holds the lock and who waits for it. Only ever read or changed with
/// `RwLock::state` locked.
#[derive(Debug, Default)]
struct State {
    /// Read guards alive.
    readers: usize,
    /// Whether a write guard is alive.
    writer: bool,
    /// Writers blocked in `write`, waiting for the lock to be free.
    waiting_writers: usize,
    /// Readers blocked in `read`, waiting for the writers to be done.
    waiting_readers: usize,
}

impl State {
    /// A new reader may enter: no writer holds the lock or waits for it.
    fn admits_reader(&self) -> bool {
        !self.writer && self.waiting_writers == 0
    }

    /// A writer may enter: nobody holds the lock.
    fn admits_writer(&self) -> bool {
        !self.writer && self.readers == 0
    }
}

/// A writer-preferring readers-writer lock: any number of readers, or one
/// writer, at a time; once a writer waits, new readers wait behind it.
///
/// ```
/// use rw_lock_solution::RwLock;
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
    state: Mutex<State>,
    /// Readers wait here while a writer holds the lock or waits for it.
    readers_may_enter: Condvar,
    /// Writers wait here while anyone holds the lock.
    writer_may_enter: Condvar,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands `&T` to several threads at once (one per read
// guard), which needs `T: Sync`, and `&mut T` to one thread at a time (the
// write guard), through which a value can be moved in or out of the lock from
// any thread, which needs `T: Send`. `read`, `try_read`, `write` and
// `try_write` (under the `state` mutex) never admit a writer while any reader
// or writer holds the lock, so those borrows never overlap a `&mut T`.
// `Send` needs no impl: the fields are `Send` when `T` is.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A lock protecting `value`, held by nobody.
    pub fn new(value: T) -> Self {
        RwLock {
            state: Mutex::new(State::default()),
            readers_may_enter: Condvar::new(),
            writer_may_enter: Condvar::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Shared access: blocks while a writer holds the lock *or waits for it*,
    /// then returns a guard that releases on drop.
    ///
    /// Taking a second read guard on a thread that already holds one can
    /// deadlock: if a writer started waiting in between, the second read
    /// waits for the writer, which waits for the first read guard.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let mut state = self.state();
        while !state.admits_reader() {
            state.waiting_readers += 1;
            state = self
                .readers_may_enter
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
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
        state.waiting_writers += 1;
        while !state.admits_writer() {
            state = self
                .writer_may_enter
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting_writers -= 1;
        state.writer = true;
        RwLockWriteGuard { lock: self }
    }

    /// Shared access if [`read`](Self::read) would grant it without waiting:
    /// `None` while a writer holds the lock or waits for it. Never blocks.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = self.state();
        if !state.admits_reader() {
            return None;
        }
        state.readers += 1;
        Some(RwLockReadGuard { lock: self })
    }

    /// Exclusive access if nobody holds the lock: `None` while any reader or
    /// writer does. Never blocks.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut state = self.state();
        if !state.admits_writer() {
            return None;
        }
        state.writer = true;
        Some(RwLockWriteGuard { lock: self })
    }

    /// The value, through exclusive access to the lock itself: no guard can
    /// exist, so no locking is needed.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves that no guard (each of which borrows the
        // lock) is alive, so nothing else reads or writes the value while the
        // returned borrow, tied to `self`, lives.
        self.value.with_mut(|value| unsafe { &mut *value })
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The bookkeeping, locked. Every critical section on it is a few integer
    /// updates that cannot panic half-way, so a poisoned mutex (which would
    /// take a panic inside one) still holds a consistent state.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
        // SAFETY: this guard is counted in `state.readers` until it is
        // dropped, and no writer is admitted while that count is non-zero, so
        // nothing writes the value while the returned borrow (tied to the
        // guard) lives. Other readers only take shared borrows.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.readers -= 1;
        let wake_writer = state.readers == 0 && state.waiting_writers > 0;
        drop(state);
        // The last reader out lets one waiting writer in. Readers never wait
        // for readers, so there is nobody else to wake.
        if wake_writer {
            self.lock.writer_may_enter.notify_one();
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
        // SAFETY: this guard is the only holder of the lock while
        // `state.writer` is set (from its creation until its drop): no other
        // guard exists to read or write the value.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, no other guard exists while this one lives;
        // `&mut self` makes the returned borrow the only one through it.
        self.lock.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.writer = false;
        let (writers_waiting, readers_waiting) =
            (state.waiting_writers > 0, state.waiting_readers > 0);
        drop(state);
        if writers_waiting {
            // Writer preference: the lock goes to the next writer (only one
            // can enter); the readers keep waiting behind it.
            self.lock.writer_may_enter.notify_one();
        } else if readers_waiting {
            // Every waiting reader can enter at once: wake them all. Waking
            // one would leave the others asleep with the lock free.
            self.lock.readers_may_enter.notify_all();
        }
    }
}
