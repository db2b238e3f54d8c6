//! Wrong: "a writer is waiting" is a flag where it must be a count. With two
//! writers waiting behind a reader, the first one in clears the flag; when it
//! leaves, the flag says nobody waits, so it wakes the readers instead of the
//! second writer, and the last reader out does not wake it either: that writer
//! waits for ever (and, while it waits, readers pass it).
//!
//! Why candidates write it: with one writer at a time in the tests a flag is
//! indistinguishable from a count.
//!
//! Caught by: `followup_several_waiting_writers_all_get_in`; loom
//! (`tests/loom.rs`): `writers_waiting_behind_a_reader_all_get_in`, and
//! `a_writer_is_never_inside_together_with_a_reader` and
//! `writers_are_never_inside_together_and_no_update_is_lost` whenever two
//! writers wait at once (each a deadlock).

mod sync;

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

use crate::sync::{Condvar, Mutex, MutexGuard, UnsafeCell};

#[derive(Default)]
struct State {
    readers: usize,
    writer: bool,
    // BUG: a flag where a count of waiting writers is needed.
    writer_waiting: bool,
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
        while state.writer || state.writer_waiting {
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
        state.writer_waiting = true;
        while state.writer || state.readers > 0 {
            state = self
                .writer_may_enter
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // BUG: clears the flag even if another writer still waits.
        state.writer_waiting = false;
        state.writer = true;
        RwLockWriteGuard { lock: self }
    }

    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = self.state();
        if state.writer || state.writer_waiting {
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
        let wake_writer = state.readers == 0 && state.writer_waiting;
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
        let writers_waiting = state.writer_waiting;
        drop(state);
        if writers_waiting {
            self.lock.writer_may_enter.notify_one();
        } else {
            self.lock.readers_may_enter.notify_all();
        }
    }
}
