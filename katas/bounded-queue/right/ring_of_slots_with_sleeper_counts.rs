//! Right: a ring buffer of `capacity` slots (`Box<[Option<T>]>`, a head index
//! and a length, allocated once) instead of a `VecDeque`, and counts of the
//! producers and consumers asleep on each condition variable, kept under the
//! lock, so that a push or pop calls `notify_one` only when someone sleeps
//! (no futex system call on the uncontended path) and `close` wakes only the
//! sides that have sleepers. One deadline-driven wait loop serves the
//! blocking, `try_` and timeout variants alike.

mod sync;

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard};

/// Why a push did not put its item in the queue. Either way the item comes
/// back to the caller, who decides what to do with it (retry later, shed the
/// load, send it elsewhere): a bounded queue never silently drops work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError<T> {
    /// The queue was full: at once for [`try_push`], still full when the
    /// timeout ran out for [`push_timeout`]. The blocking [`push`] never
    /// returns it.
    ///
    /// [`try_push`]: crate::BoundedQueue::try_push
    /// [`push_timeout`]: crate::BoundedQueue::push_timeout
    /// [`push`]: crate::BoundedQueue::push
    Full(T),
    /// The queue was closed: no push will ever succeed again.
    Closed(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(item) | PushError::Closed(item) => item,
        }
    }

    /// Whether the push failed because the queue was closed (and always will be).
    pub fn is_closed(&self) -> bool {
        matches!(self, PushError::Closed(_))
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("the queue is full"),
            PushError::Closed(_) => f.write_str("the queue is closed"),
        }
    }
}

impl<T: fmt::Debug> Error for PushError<T> {}

/// Why a pop returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PopError {
    /// The queue was empty (but still open): at once for [`try_pop`], still
    /// empty when the timeout ran out for [`pop_timeout`].
    ///
    /// [`try_pop`]: crate::BoundedQueue::try_pop
    /// [`pop_timeout`]: crate::BoundedQueue::pop_timeout
    Empty,
    /// The queue was closed and every item pushed before that has been
    /// popped: no item will ever come again.
    Closed,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Empty => f.write_str("the queue is empty"),
            PopError::Closed => f.write_str("the queue is closed and drained"),
        }
    }
}

impl Error for PopError {}

/// A first-in, first-out queue of at most `capacity` items, shared by any
/// number of producer and consumer threads through `&self` (it is `Send` and
/// `Sync` when `T` is `Send`).
pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    /// Consumers wait here for an item (or the close).
    not_empty: Condvar,
    /// Producers wait here for a free slot (or the close).
    not_full: Condvar,
    capacity: usize,
}

struct State<T> {
    /// `len` items live in `slots[head]`, `slots[head + 1]`, .. (wrapping).
    slots: Box<[Option<T>]>,
    head: usize,
    len: usize,
    closed: bool,
    /// Threads asleep on `not_empty` / `not_full` right now (woken or not).
    sleeping_consumers: usize,
    sleeping_producers: usize,
}

impl<T> State<T> {
    fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    fn push_back(&mut self, item: T) {
        let tail = (self.head + self.len) % self.slots.len();
        debug_assert!(self.slots[tail].is_none());
        self.slots[tail] = Some(item);
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        item
    }
}

/// Which side of the queue a thread waits for.
#[derive(Clone, Copy)]
enum Side {
    Consumer,
    Producer,
}

/// How long a call may wait.
#[derive(Clone, Copy)]
enum Patience {
    /// Not at all: the `try_` variants.
    Never,
    /// Until this instant.
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Patience {
    /// A deadline `timeout` from now; one too far to represent waits for ever.
    fn within(timeout: Duration) -> Self {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => Patience::Until(deadline),
            None => Patience::Forever,
        }
    }
}

impl<T> BoundedQueue<T> {
    /// An empty, open queue that holds at most `capacity` items.
    ///
    /// # Panics
    /// If `capacity` is zero, with a message that says the capacity must be
    /// at least 1: a queue that can hold nothing would block every push for
    /// ever (a hand-off channel is a different design).
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "the capacity of a BoundedQueue must be at least 1");
        BoundedQueue {
            state: Mutex::new(State {
                slots: (0..capacity).map(|_| None).collect(),
                head: 0,
                len: 0,
                closed: false,
                sleeping_consumers: 0,
                sleeping_producers: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps on `side`'s condition variable as `patience` allows, counted
    /// as a sleeper meanwhile; `None` once the patience has run out.
    fn wait<'a>(
        &self,
        side: Side,
        mut state: MutexGuard<'a, State<T>>,
        patience: Patience,
    ) -> Option<MutexGuard<'a, State<T>>> {
        let timeout = match patience {
            Patience::Never => return None,
            Patience::Forever => None,
            Patience::Until(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                Some(deadline - now)
            }
        };
        let (condvar, sleepers) = match side {
            Side::Consumer => (&self.not_empty, &mut state.sleeping_consumers),
            Side::Producer => (&self.not_full, &mut state.sleeping_producers),
        };
        *sleepers += 1;
        let mut state = match timeout {
            None => condvar.wait(state).unwrap_or_else(|e| e.into_inner()),
            Some(timeout) => {
                condvar
                    .wait_timeout(state, timeout)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        match side {
            Side::Consumer => state.sleeping_consumers -= 1,
            Side::Producer => state.sleeping_producers -= 1,
        }
        Some(state)
    }

    fn push_with(&self, item: T, patience: Patience) -> Result<(), PushError<T>> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed(item));
            }
            if !state.is_full() {
                state.push_back(item);
                let wake = state.sleeping_consumers > 0;
                drop(state);
                if wake {
                    self.not_empty.notify_one();
                }
                return Ok(());
            }
            state = match self.wait(Side::Producer, state, patience) {
                Some(state) => state,
                None => return Err(PushError::Full(item)),
            };
        }
    }

    fn pop_with(&self, patience: Patience) -> Result<T, PopError> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.pop_front() {
                let wake = state.sleeping_producers > 0;
                drop(state);
                if wake {
                    self.not_full.notify_one();
                }
                return Ok(item);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            state = match self.wait(Side::Consumer, state, patience) {
                Some(state) => state,
                None => return Err(PopError::Empty),
            };
        }
    }

    /// The most items the queue holds at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many items are in the queue now.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether the queue holds no item now.
    pub fn is_empty(&self) -> bool {
        self.lock().len == 0
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Appends `item`, waiting as long as it takes for a free slot.
    ///
    /// # Errors
    /// [`PushError::Closed`] with the item if the queue is closed, or gets
    /// closed while this call waits. Never [`PushError::Full`].
    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_with(item, Patience::Forever)
    }

    /// Appends `item` if there is a free slot now; never waits.
    ///
    /// # Errors
    /// [`PushError::Full`] with the item if the queue is full,
    /// [`PushError::Closed`] with the item if it is closed (even if full).
    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_with(item, Patience::Never)
    }

    /// Appends `item`, waiting at most `timeout` for a free slot. A timeout
    /// too large to add to the current time (`Duration::MAX`) waits as long
    /// as it takes.
    ///
    /// # Errors
    /// [`PushError::Full`] with the item if the queue was still full when
    /// `timeout` ran out, [`PushError::Closed`] with the item if it is closed
    /// or gets closed while this call waits.
    pub fn push_timeout(&self, item: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.push_with(item, Patience::within(timeout))
    }

    /// Removes the oldest item, waiting as long as it takes for one.
    ///
    /// Returns `None` once the queue is closed and every item pushed before
    /// that has been popped, so a consumer can run
    /// `while let Some(job) = queue.pop() { .. }`.
    pub fn pop(&self) -> Option<T> {
        self.pop_with(Patience::Forever).ok()
    }

    /// Removes the oldest item if there is one now; never waits.
    ///
    /// # Errors
    /// [`PopError::Empty`] if the queue is empty but open,
    /// [`PopError::Closed`] if it is empty and closed.
    pub fn try_pop(&self) -> Result<T, PopError> {
        self.pop_with(Patience::Never)
    }

    /// Removes the oldest item, waiting at most `timeout` for one. A timeout
    /// too large to add to the current time (`Duration::MAX`) waits as long
    /// as it takes.
    ///
    /// # Errors
    /// [`PopError::Empty`] if the queue was still empty when `timeout` ran
    /// out, [`PopError::Closed`] if it is (or gets) closed and drained.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.pop_with(Patience::within(timeout))
    }

    /// Closes the queue: every push from now on fails and hands its item
    /// back, every waiting producer and consumer wakes up, and pops go on
    /// returning the items already queued until there are none left, then
    /// report that the queue is closed. Closing twice is the same as once.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let (consumers, producers) = (state.sleeping_consumers > 0, state.sleeping_producers > 0);
        drop(state);
        if consumers {
            self.not_empty.notify_all();
        }
        if producers {
            self.not_full.notify_all();
        }
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("BoundedQueue")
            .field("capacity", &self.capacity)
            .field("len", &state.len)
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}
