//! Wrong: `try_write` shares `write`'s prologue and announces itself as a
//! waiting writer (`waiting_writers += 1`) before checking, but returns `None`
//! without taking the announcement back. From then on the lock believes a
//! writer waits that never will: `try_read` fails and `read` blocks for ever,
//! although nobody holds the lock for writing.
//!
//! Why candidates write it: the failure path of a `try_` variant is the one
//! nobody tests; everything works until the first `try_write` that fails.
//!
//! Caught by: `try_read_and_try_write_agree_with_a_model_of_held_guards` (a
//! reader holds, `try_write` fails, then a second `try_read` fails too);
//! loom (`tests/loom.rs`):
//! `try_read_and_try_write_never_let_a_writer_in_beside_anyone` (after a
//! failed `try_write`, the model's last `read` waits for ever: a deadlock).

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
        let mut state = self.state();
        state.waiting_writers += 1;
        while state.writer || state.readers > 0 {
            state = self
                .writer_may_enter
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting_writers -= 1;
        state.writer = true;
        RwLockWriteGuard { lock: self }
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
        state.waiting_writers += 1;
        if state.writer || state.readers > 0 {
            // BUG: returns still counted as a waiting writer.
            return None;
        }
        state.waiting_writers -= 1;
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
