//! Wrong: the writer checks that nobody holds the lock under the mutex, then
//! claims it (`writer = true`) under the mutex *again*, after letting go of it
//! in between. Two writers can both see the lock free and both claim it, and a
//! reader can slip in through the gap (no writer counts as waiting any more):
//! a writer inside together with someone else.
//!
//! Why candidates write it: the wait was factored out into a helper that
//! "waits until free" and returns; each step holds the mutex, so it looks
//! thread-safe. A check and the act it justifies must be one critical section.
//!
//! Caught by (loom, `tests/loom.rs`):
//! `a_writer_is_never_inside_together_with_a_reader`,
//! `writers_are_never_inside_together_and_no_update_is_lost`,
//! `writers_waiting_behind_a_reader_all_get_in`,
//! `try_read_and_try_write_never_let_a_writer_in_beside_anyone`, and
//! `a_writer_waiting_behind_a_reader_goes_before_readers_that_arrive_after_it`
//! (a reader that queued behind the writer slips in through the gap first).
//! The stress test
//! `no_update_is_lost_when_writers_and_readers_race` catches it only when the
//! scheduler happens to hit the gap.

mod sync;

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

use crate::sync::{Condvar, Mutex, MutexGuard, UnsafeCell};

#[derive(Default)]
struct State {
    readers: usize,
    writer: bool,
    waiting_writers: usize,
}

pub struct RwLock<T> {
    state: Mutex<State>,
    readers_may_enter: Condvar,
    writer_may_enter: Condvar,
    value: UnsafeCell<T>,
}

// SAFETY: as in the reference (readers share `&T` across threads: `T: Sync`;
// the writer gets `&mut T` on any thread: `T: Send`).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    pub fn new(value: T) -> Self {
        RwLock {
            state: Mutex::new(State::default()),
            readers_may_enter: Condvar::new(),
            writer_may_enter: Condvar::new(),
            value: UnsafeCell::new(value),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let mut state = self.state();
        while state.writer || state.waiting_writers > 0 {
            state = self
                .readers_may_enter
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.readers += 1;
        RwLockReadGuard { lock: self }
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.wait_until_free();
        // BUG: the mutex was released between the check and this claim.
        self.state().writer = true;
        RwLockWriteGuard { lock: self }
    }

    /// Waits, counted as a waiting writer, until nobody holds the lock.
    fn wait_until_free(&self) {
        let mut state = self.state();
        state.waiting_writers += 1;
        while state.writer || state.readers > 0 {
            state = self
                .writer_may_enter
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting_writers -= 1;
    }

    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = self.state();
        if state.writer || state.waiting_writers > 0 {
            return None;
        }
        state.readers += 1;
        Some(RwLockReadGuard { lock: self })
    }

    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut state = self.state();
        if state.writer || state.readers > 0 {
            return None;
        }
        state.writer = true;
        Some(RwLockWriteGuard { lock: self })
    }

    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self`: no guard is alive.
        self.value.with_mut(|value| unsafe { &mut *value })
    }

    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: counted as a reader, so no writer is admitted.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.readers -= 1;
        let wake_writer = state.readers == 0 && state.waiting_writers > 0;
        drop(state);
        if wake_writer {
            self.lock.writer_may_enter.notify_one();
        }
    }
}

pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the only holder while `writer` is set.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the only holder while `writer` is set.
        self.lock.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.lock.state();
        state.writer = false;
        let writers_waiting = state.waiting_writers > 0;
        drop(state);
        if writers_waiting {
            self.lock.writer_may_enter.notify_one();
        } else {
            self.lock.readers_may_enter.notify_all();
        }
    }
}
