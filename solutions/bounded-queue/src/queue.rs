use std::collections::VecDeque;
use std::fmt;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::{PopError, PushError};

/// A first-in, first-out queue of at most `capacity` items, shared by any
/// number of producer and consumer threads through `&self`.
///
/// One mutex guards the items and the closed flag; two condition variables
/// say what changed: `not_empty` wakes consumers, `not_full` wakes
/// producers. Every successful push wakes one waiting consumer and every
/// successful pop one waiting producer, and each waiter re-checks its
/// condition in a loop when it wakes, so a wake-up is never lost and a stolen
/// item or a spurious wake-up is never mistaken for a free slot or a new
/// item. Closing wakes every waiter of both kinds.
///
/// The state also counts the threads waiting on each condition variable, so
/// that a push or pop with nobody waiting skips the notification: on Linux
/// `std`'s `notify_one` is a system call even when no thread waits, which
/// would multiply the cost of an uncontended push and pop several times.
pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    /// Signalled when an item arrives, and on close.
    not_empty: Condvar,
    /// Signalled when a slot frees up, and on close.
    not_full: Condvar,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Consumers inside a wait on `not_empty` (woken or not, until they have
    /// the lock back).
    waiting_consumers: usize,
    /// Producers inside a wait on `not_full`.
    waiting_producers: usize,
}

impl<T> BoundedQueue<T> {
    /// An empty, open queue that holds at most `capacity` items.
    ///
    /// # Panics
    /// If `capacity` is zero: a queue that can hold nothing would block every
    /// push for ever (a hand-off channel is a different design).
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        BoundedQueue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                closed: false,
                waiting_consumers: 0,
                waiting_producers: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
        }
    }

    /// The most items the queue holds at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many items are in the queue now.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether the queue holds no item now.
    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Appends `item`, waiting as long as it takes for a free slot.
    ///
    /// # Errors
    /// [`PushError::Closed`] with the item if the queue is closed, or gets
    /// closed while this call waits.
    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_until(item, None)
    }

    /// Appends `item` if there is a free slot now.
    ///
    /// # Errors
    /// [`PushError::Full`] with the item if the queue is full,
    /// [`PushError::Closed`] with the item if it is closed (even if full).
    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        let state = self.lock();
        if state.closed {
            return Err(PushError::Closed(item));
        }
        if state.items.len() >= self.capacity {
            return Err(PushError::Full(item));
        }
        self.append(state, item);
        Ok(())
    }

    /// Appends `item`, waiting at most `timeout` for a free slot.
    ///
    /// # Errors
    /// [`PushError::Full`] with the item if the queue was still full when
    /// `timeout` ran out, [`PushError::Closed`] with the item if it is closed
    /// or gets closed while this call waits.
    pub fn push_timeout(&self, item: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.push_until(item, deadline(timeout))
    }

    /// Removes the oldest item, waiting as long as it takes for one.
    ///
    /// Returns `None` once the queue is closed and every item pushed before
    /// that has been popped, so a consumer can run
    /// `while let Some(job) = queue.pop() { .. }`.
    pub fn pop(&self) -> Option<T> {
        self.pop_until(None).ok()
    }

    /// Removes the oldest item if there is one now.
    ///
    /// # Errors
    /// [`PopError::Empty`] if the queue is empty but open,
    /// [`PopError::Closed`] if it is empty and closed.
    pub fn try_pop(&self) -> Result<T, PopError> {
        let mut state = self.lock();
        match state.items.pop_front() {
            Some(item) => {
                self.freed_a_slot(state);
                Ok(item)
            }
            None if state.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    /// Removes the oldest item, waiting at most `timeout` for one.
    ///
    /// # Errors
    /// [`PopError::Empty`] if the queue was still empty when `timeout` ran
    /// out, [`PopError::Closed`] if it is (or gets) closed and drained.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.pop_until(deadline(timeout))
    }

    /// Closes the queue: every push from now on fails and hands its item
    /// back, every waiting producer and consumer wakes up, and pops go on
    /// returning the items already queued until there are none left, then
    /// report that the queue is closed. Closing twice is the same as once.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        drop(state);
        // Every waiter must see it, not just one: with `notify_one`, the
        // other blocked consumers (or producers) would sleep for ever.
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// `push` and `push_timeout`: waits while the queue is full and open
    /// (until `deadline`, if there is one), then appends or gives the item
    /// back.
    fn push_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        let mut state = self.lock();
        // A loop, not an `if`: another producer may take the slot between
        // the wake-up and this thread getting the lock back.
        while state.items.len() >= self.capacity && !state.closed {
            state.waiting_producers += 1;
            let (woken, timed_out) = wait(&self.not_full, state, deadline);
            state = woken;
            state.waiting_producers -= 1;
            if timed_out {
                return Err(PushError::Full(item));
            }
        }
        if state.closed {
            return Err(PushError::Closed(item));
        }
        self.append(state, item);
        Ok(())
    }

    /// `pop` and `pop_timeout`: waits while the queue is empty and open
    /// (until `deadline`, if there is one), then takes the oldest item.
    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let mut state = self.lock();
        // A loop, not an `if`: another consumer may take the item between
        // the wake-up and this thread getting the lock back.
        while state.items.is_empty() && !state.closed {
            state.waiting_consumers += 1;
            let (woken, timed_out) = wait(&self.not_empty, state, deadline);
            state = woken;
            state.waiting_consumers -= 1;
            if timed_out {
                return Err(PopError::Empty);
            }
        }
        // Closed or not, items pushed before the close are still delivered.
        match state.items.pop_front() {
            Some(item) => {
                self.freed_a_slot(state);
                Ok(item)
            }
            None => Err(PopError::Closed),
        }
    }

    /// Pushes under the lock, then wakes one consumer if any is waiting.
    fn append(&self, mut state: MutexGuard<'_, State<T>>, item: T) {
        state.items.push_back(item);
        // On every push while a consumer waits, not only on a push into an
        // empty queue: several consumers may be waiting, and each item must
        // wake one of them. A consumer that is about to wait holds the lock
        // while it checks for an item, so none can slip past this check.
        let wake = state.waiting_consumers > 0;
        drop(state);
        if wake {
            self.not_empty.notify_one();
        }
    }

    /// After a pop under the lock: wakes one producer if any is waiting.
    fn freed_a_slot(&self, state: MutexGuard<'_, State<T>>) {
        // On every pop while a producer waits (see `append`).
        let wake = state.waiting_producers > 0;
        drop(state);
        if wake {
            self.not_full.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every critical section leaves the state consistent (one push, one
        // pop or one flag), so a lock poisoned by a panicking thread is still
        // safe to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `timeout` from now, or `None` (no deadline: wait as long as it takes) if
/// that instant is too far away to represent, as for `Duration::MAX`.
fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Waits once on `condvar`, for as long as it takes or until `deadline`,
/// and says whether the deadline had already passed (then it does not
/// wait). A wait may end early (a notification, or a spurious wake-up): the
/// caller re-checks its condition either way.
fn wait<'a, T>(
    condvar: &Condvar,
    state: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
    let Some(deadline) = deadline else {
        let state = condvar.wait(state).unwrap_or_else(PoisonError::into_inner);
        return (state, false);
    };
    let now = Instant::now();
    if now >= deadline {
        return (state, true);
    }
    let (state, _) = condvar
        .wait_timeout(state, deadline - now)
        .unwrap_or_else(PoisonError::into_inner);
    (state, false)
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("BoundedQueue")
            .field("capacity", &self.capacity)
            .field("len", &state.items.len())
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}
