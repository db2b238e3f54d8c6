//! Reference solution of the spin-lock kata: a mutual-exclusion lock that
//! waits by spinning on an atomic flag, for critical sections a few
//! instructions long.
//!
//! Three things make it a lock rather than a flag:
//!
//! - **Taking it is one atomic read-modify-write** (`compare_exchange`), so
//!   two threads cannot both see "free" and both take it.
//! - **The orderings publish the data**: taking the lock is an `Acquire`,
//!   giving it back a `Release`. Everything the previous holder wrote under
//!   the lock happens-before everything the next holder does under it.
//! - **The guard gives it back**: the lock is released in the guard's `Drop`,
//!   which also runs while a panic unwinds, so a holder that panics does not
//!   leave every other thread spinning for ever.

mod sync;

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::sync::{AtomicBool, Ordering, UnsafeCell, spin_loop};

/// A mutual-exclusion lock that busy-waits: [`lock`](SpinLock::lock) spins
/// until the lock is free, [`try_lock`](SpinLock::try_lock) never waits.
///
/// There is no poisoning: a holder that panics releases the lock, and the
/// next holder sees the value as the panicking one left it.
pub struct SpinLock<T> {
    /// `true` while a guard exists.
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands the value to one thread at a time, and each holder's
// accesses happen-before the next holder's (Release on unlock, Acquire on
// lock). Sharing the lock therefore only ever *moves* access to the value
// from one thread to another, which `T: Send` permits. `T: Sync` is not
// needed: no two threads ever reach the value at the same time. That is the
// point of a lock, and why `SpinLock<Cell<u32>>` is `Sync`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

// SAFETY: the lock owns its value; sending the lock sends the value, which
// `T: Send` permits. (The auto impl would say the same; it is spelled out
// beside `Sync` so that both bounds are read together.)
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock around `value`.
    pub fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning until it is free, and returns the guard that
    /// gives access to the value and releases the lock when dropped.
    ///
    /// Taking a lock this thread already holds spins for ever: the lock is
    /// not re-entrant.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        loop {
            // Acquire on success pairs with the Release in `SpinLockGuard::drop`:
            // the previous holder's writes are visible from here on. A failed
            // attempt publishes nothing and reads nothing protected, so it
            // can be Relaxed. The weak form may fail spuriously, which the
            // loop absorbs, and is cheaper on LL/SC machines (ARM).
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SpinLockGuard { lock: self };
            }
            // Test-and-test-and-set: wait with plain loads, which keep the
            // cache line shared between the waiters, instead of a
            // read-modify-write per iteration, which makes every waiter steal
            // the line from the holder. The hint tells the CPU (and loom)
            // that this thread is waiting for another one.
            while self.locked.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
    }

    /// Takes the lock if it is free right now, without waiting: `None` if
    /// another guard exists. It never fails while the lock is free.
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        // The strong form: a spurious failure would report a free lock as
        // taken. Acquire on success, as in `lock`.
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinLockGuard { lock: self })
    }

    /// The value, through an exclusive borrow of the lock: no locking is
    /// needed, since no guard can exist while `self` is borrowed mutably.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves that no guard (which borrows `self`) and
        // no other reference to the value exists, and the returned reference
        // borrows `self` mutably for as long as it lives.
        self.value.with_mut(|ptr| unsafe { &mut *ptr })
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLock<T> {
    /// Shows the value if the lock is free, `<locked>` if it is held: it
    /// never waits, so formatting a lock held by this very thread (in a log
    /// line, a panic message) cannot deadlock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SpinLock");
        match self.try_lock() {
            Some(guard) => debug.field("data", &&*guard),
            None => debug.field("data", &format_args!("<locked>")),
        };
        debug.finish_non_exhaustive()
    }
}

/// Exclusive access to the value of a [`SpinLock`]; the lock is released
/// when the guard is dropped, including while a panic unwinds.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

// SAFETY: `&SpinLockGuard` gives out `&T` (through `Deref`) to every thread
// it is shared with, so sharing the guard shares the value: that needs
// `T: Sync`. Without this impl the guard would be `Sync` whenever
// `&SpinLock<T>` is, that is whenever `T: Send`, and a guard of a `Cell`
// shared between two threads would let both mutate it at once (the bug std's
// `MutexGuard` had until Rust 1.19). An explicit impl replaces the auto one.
unsafe impl<T: Sync> Sync for SpinLockGuard<'_, T> {}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a guard exists only while its thread holds the lock, so no
        // other guard, and no `&mut T` from one, exists. Every access of the
        // previous holder happens-before this one (its Release, our
        // Acquire). The reference borrows the guard, so it ends before the
        // guard releases the lock.
        self.lock.value.with(|ptr| unsafe { &*ptr })
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, this guard is the only way to the value
        // while it lives, and `&mut self` makes the returned reference the
        // only one derived from the guard.
        self.lock.value.with_mut(|ptr| unsafe { &mut *ptr })
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // Release pairs with the Acquire of the next `lock`/`try_lock`:
        // every write made through this guard is visible to the next holder.
        // Drop runs during unwinding too, so a panicking holder releases.
        self.lock.locked.store(false, Ordering::Release);
    }
}

impl<T: fmt::Debug> fmt::Debug for SpinLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
