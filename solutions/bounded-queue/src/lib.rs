//! Reference solution of the bounded-queue kata: the blocking, bounded,
//! closable queue between the producers and the consumers of a job system.
//!
//! A [`BoundedQueue`] holds at most `capacity` items. A producer that finds
//! it full waits (or, with [`BoundedQueue::try_push`], gets its item back at
//! once): that is the backpressure that keeps a burst of work from growing
//! memory without bound. A consumer that finds it empty waits. Closing it
//! turns producers away, wakes everyone, and lets consumers drain what was
//! already queued.
//!
//! ```
//! use bounded_queue_solution::{BoundedQueue, PopError, PushError};
//!
//! let queue = BoundedQueue::new(2);
//! queue.push("resize photo.jpg").unwrap();
//! queue.push("send welcome email").unwrap();
//! assert_eq!(queue.try_push("report"), Err(PushError::Full("report")));
//! assert_eq!(queue.pop(), Some("resize photo.jpg"));
//! queue.close();
//! assert_eq!(queue.push("late"), Err(PushError::Closed("late")));
//! assert_eq!(queue.pop(), Some("send welcome email"));
//! assert_eq!(queue.pop(), None);
//! assert_eq!(queue.try_pop(), Err(PopError::Closed));
//! ```

mod error;
mod queue;
mod sync;

pub use error::{PopError, PushError};
pub use queue::BoundedQueue;
