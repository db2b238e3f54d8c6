//! # Dead-letter queue
//!
//! A batch consumer on tokio: items are batched (flushed at `max_items` or
//! after `linger`), handed to a handler that reports which items of the batch
//! failed, retried with capped exponential backoff (only the failures), and
//! moved to a dead-letter store, with every error they raised, once they have
//! failed `max_attempts` times. `redrive` puts dead letters back once the cause
//! is fixed; `shutdown` drains. Read `README.md` beside this file for the
//! problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata dead-letter-queue
//! ```
//!
//! Time is tokio's (`tokio::time::Instant`, `tokio::time::sleep_until`): the
//! spec pauses the clock and lets it jump, so a 30-second linger or a
//! five-minute backoff is checked exactly and instantly. Never use
//! `std::time::Instant` or `std::thread::sleep` here. The spec's durations are
//! whole milliseconds (tokio's timer resolution).

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

/// The identity of one submitted item, given by [`Consumer::submit`].
///
/// Ids are given in submission order, starting at `MessageId(0)` for each
/// consumer; an item keeps its id through retries, dead-lettering and
/// redrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// How a [`Consumer`] batches and retries.
///
/// The wait before attempt `k + 1` of an item, after its attempt `k` failed,
/// is `min(initial_backoff * 2^(k - 1), max_backoff)` (never overflowing:
/// `max_backoff` caps it for any `k`), counted from the moment the call of
/// attempt `k` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A batch is flushed as soon as it holds this many items. At least 1.
    pub max_items: usize,
    /// A batch is flushed this long after its first item arrived, however
    /// few items it holds. Zero flushes without waiting (items submitted in
    /// the same instant may or may not share a batch); `Duration::MAX` never
    /// flushes by time (a deadline past the clock's range is never reached).
    pub linger: Duration,
    /// An item that has failed this many attempts (since it was submitted or
    /// last redriven) goes to the dead-letter store. At least 1.
    pub max_attempts: u32,
    /// The wait after a failed first attempt, before the second.
    pub initial_backoff: Duration,
    /// No wait between two attempts is longer than this.
    pub max_backoff: Duration,
}

/// One item handed to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<T> {
    /// The item's id.
    pub id: MessageId,
    /// The item as submitted.
    pub payload: T,
    /// Which attempt this is: 1 on the first delivery, 2 on the first retry,
    /// and so on; back to 1 after a redrive.
    pub attempt: u32,
}

/// An item of a batch that the handler failed to process.
///
/// The handler returns one per failed item; every item of the batch it does
/// not name was processed and is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failed item's id (one of the batch's; any other id is ignored).
    pub id: MessageId,
    /// Why it failed, as the dead-letter store will show it.
    pub error: String,
}

impl Failure {
    /// The item `id` failed with `error`.
    pub fn new(id: MessageId, error: impl Into<String>) -> Self {
        Failure {
            id,
            error: error.into(),
        }
    }
}

/// An item that failed `max_attempts` times in a row and was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter<T> {
    /// The item's id.
    pub id: MessageId,
    /// The item as submitted.
    pub payload: T,
    /// Every error the item raised since it was first submitted, oldest
    /// first, across redrives: after one redrive and a second run of
    /// failures, `2 * max_attempts` of them.
    pub errors: Vec<String>,
}

/// The error text of every item of a batch whose handler call panicked.
pub const HANDLER_PANICKED: &str = "handler panicked";

/// A [`Config`] the consumer refuses to start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// `max_items` was 0: no batch could ever hold an item.
    ZeroMaxItems,
    /// `max_attempts` was 0: no item could ever be tried.
    ZeroMaxAttempts,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ZeroMaxItems => "max_items must be at least 1",
            ConfigError::ZeroMaxAttempts => "max_attempts must be at least 1",
        })
    }
}

impl Error for ConfigError {}

/// A submission refused because the consumer is shutting down or shut down;
/// the payload is given back, unprocessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the consumer is shutting down: the item was not accepted")
    }
}

impl<T: fmt::Debug> Error for Closed<T> {}

/// Why [`Consumer::redrive`] redrove nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedriveError {
    /// This id is not in the dead-letter store (never submitted, pending,
    /// acknowledged, or redriven already).
    NotDeadLettered(MessageId),
    /// The consumer is shutting down or shut down.
    Closed,
}

impl fmt::Display for RedriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedriveError::NotDeadLettered(id) => {
                write!(f, "message {} is not in the dead-letter store", id.0)
            }
            RedriveError::Closed => f.write_str("the consumer is shutting down"),
        }
    }
}

impl Error for RedriveError {}

/// The acknowledgements: the id of every item the handler processed, sent
/// once per item, when the handler call that processed it returns. Dropping
/// the receiver is allowed: the consumer goes on without it.
pub type Acks = UnboundedReceiver<MessageId>;

/// A batch consumer: a background task on the current tokio runtime that
/// batches submitted items, calls the handler, retries failures and keeps the
/// dead letters.
///
/// Shared between producer tasks with an `Arc` (it is `Send + Sync` when `T`
/// is `Send`); every method takes `&self`.
pub struct Consumer<T> {
    // Your fields here: how does an item reach the background task, and where
    // do the dead letters live so that `dead_letters` and `redrive` can see
    // them without waiting? (This placeholder only keeps `T` used; replace it.)
    _todo: std::marker::PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static> Consumer<T> {
    /// Starts a consumer with `config` on the current tokio runtime (call it
    /// from within one: it spawns the background task) and returns it with
    /// its acknowledgements.
    ///
    /// `handler` is called with each batch (at least one item, at most
    /// `max_items`, in the order the items were submitted or redriven; a
    /// retry holds the failures of one earlier call, in that call's order)
    /// and returns the [`Failure`]s among them: every other item of the batch
    /// is acknowledged, exactly once. A call that panics fails every item of
    /// its batch with the error [`HANDLER_PANICKED`], and the consumer goes
    /// on.
    ///
    /// Errors: [`ConfigError`] for a `max_items` or `max_attempts` of 0; then
    /// nothing is started and `handler` is never called.
    pub fn spawn<F, Fut>(config: Config, handler: F) -> Result<(Self, Acks), ConfigError>
    where
        F: Fn(Vec<Delivery<T>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Failure>> + Send + 'static,
    {
        todo!("Consumer::spawn: check the config, then spawn the task that batches, calls, retries")
    }

    /// Accepts an item and returns its id. It joins the open batch (or opens
    /// one, whose `linger` starts now); a batch that reaches `max_items` is
    /// flushed at once.
    ///
    /// Errors: [`Closed`], with the payload, once [`Consumer::shutdown`] has
    /// been called; nothing is accepted then.
    pub fn submit(&self, payload: T) -> Result<MessageId, Closed<T>> {
        todo!("Consumer::submit: an id, then the item to the background task")
    }

    /// The dead-letter store: every item given up on and not redriven since,
    /// in the order they were given up on (the items of one call in that
    /// call's order).
    pub fn dead_letters(&self) -> Vec<DeadLetter<T>> {
        todo!("Consumer::dead_letters: a snapshot of the store")
    }

    /// Puts the dead letters `ids` back to be processed, as if just
    /// submitted (same id, same payload, attempts counted from 1 again, their
    /// errors kept), in the order given; returns how many were redriven. An
    /// id given twice is redriven once.
    ///
    /// Errors: [`RedriveError::NotDeadLettered`] naming the first id not in
    /// the store, or [`RedriveError::Closed`] once shutdown was called (that
    /// one first); then nothing is redriven, not even the ids that were in
    /// the store. An empty `ids` redrives nothing and returns `Ok(0)`.
    pub fn redrive(&self, ids: &[MessageId]) -> Result<usize, RedriveError> {
        todo!(
            "Consumer::redrive: check every id, then take them out of the store and resubmit them"
        )
    }

    /// Redrives the whole dead-letter store, in its order; returns how many.
    ///
    /// Errors: [`RedriveError::Closed`] once shutdown was called.
    pub fn redrive_all(&self) -> Result<usize, RedriveError> {
        todo!("Consumer::redrive_all")
    }

    /// Stops accepting items and drains: the open batch is flushed at once
    /// (without waiting for `linger`), calls in flight are awaited, retries
    /// go on with their backoff, and this returns once every item accepted
    /// before it has been acknowledged or dead-lettered. Calling it again (or
    /// from several tasks) waits for the same drain.
    pub async fn shutdown(&self) {
        todo!("Consumer::shutdown: refuse new items, flush, wait for every item's fate")
    }
}
