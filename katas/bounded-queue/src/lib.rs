//! # Bounded blocking queue
//!
//! The queue between the producers and the consumers of a job system: at
//! most `capacity` jobs wait in it, producers block (or are turned away)
//! when it is full, consumers block when it is empty, and closing it lets
//! the consumers drain what is left and stop. Read `README.md` beside this
//! file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata bounded-queue
//! ```
//!
//! The queue is shared by many threads through `&self`: take `Mutex`,
//! `Condvar` and anything else shared from `crate::sync` (see `src/sync.rs`),
//! never from `std::sync`, so that the loom models in `tests/loom.rs` can
//! check every interleaving.
//!
//! The error types below are part of the API and are already written; the
//! queue is yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

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
    // Your fields here: what must every producer and consumer see, and how
    // does a thread that waits learn that it is worth checking again?
    // (`PhantomData` only lets the stub compile: replace it.)
    _items: PhantomData<T>,
}

impl<T> BoundedQueue<T> {
    /// An empty, open queue that holds at most `capacity` items.
    ///
    /// # Panics
    /// If `capacity` is zero, with a message that says the capacity must be
    /// at least 1: a queue that can hold nothing would block every push for
    /// ever (a hand-off channel is a different design).
    pub fn new(capacity: usize) -> Self {
        todo!("BoundedQueue::new: an empty, open queue")
    }

    /// The most items the queue holds at once.
    pub fn capacity(&self) -> usize {
        todo!("BoundedQueue::capacity")
    }

    /// How many items are in the queue now.
    pub fn len(&self) -> usize {
        todo!("BoundedQueue::len")
    }

    /// Whether the queue holds no item now.
    pub fn is_empty(&self) -> bool {
        todo!("BoundedQueue::is_empty")
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        todo!("BoundedQueue::is_closed")
    }

    /// Appends `item`, waiting as long as it takes for a free slot.
    ///
    /// # Errors
    /// [`PushError::Closed`] with the item if the queue is closed, or gets
    /// closed while this call waits. Never [`PushError::Full`].
    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        todo!("BoundedQueue::push: wait while full and open, then append and wake a consumer")
    }

    /// Appends `item` if there is a free slot now; never waits.
    ///
    /// # Errors
    /// [`PushError::Full`] with the item if the queue is full,
    /// [`PushError::Closed`] with the item if it is closed (even if full).
    pub fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        todo!("BoundedQueue::try_push: append if there is room and the queue is open")
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
        todo!("BoundedQueue::push_timeout: like push, but give the item back at the deadline")
    }

    /// Removes the oldest item, waiting as long as it takes for one.
    ///
    /// Returns `None` once the queue is closed and every item pushed before
    /// that has been popped, so a consumer can run
    /// `while let Some(job) = queue.pop() { .. }`.
    pub fn pop(&self) -> Option<T> {
        todo!(
            "BoundedQueue::pop: wait while empty and open, then take the oldest and wake a producer"
        )
    }

    /// Removes the oldest item if there is one now; never waits.
    ///
    /// # Errors
    /// [`PopError::Empty`] if the queue is empty but open,
    /// [`PopError::Closed`] if it is empty and closed.
    pub fn try_pop(&self) -> Result<T, PopError> {
        todo!("BoundedQueue::try_pop: take the oldest item if there is one")
    }

    /// Removes the oldest item, waiting at most `timeout` for one. A timeout
    /// too large to add to the current time (`Duration::MAX`) waits as long
    /// as it takes.
    ///
    /// # Errors
    /// [`PopError::Empty`] if the queue was still empty when `timeout` ran
    /// out, [`PopError::Closed`] if it is (or gets) closed and drained.
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        todo!("BoundedQueue::pop_timeout: like pop, but report Empty at the deadline")
    }

    /// Closes the queue: every push from now on fails and hands its item
    /// back, every waiting producer and consumer wakes up, and pops go on
    /// returning the items already queued until there are none left, then
    /// report that the queue is closed. Closing twice is the same as once.
    pub fn close(&self) {
        todo!("BoundedQueue::close: mark it closed, then wake every waiter")
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show what helps when a test fails: capacity, length, closed.
        f.debug_struct("BoundedQueue").finish_non_exhaustive()
    }
}
