use std::error::Error;
use std::fmt;

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
