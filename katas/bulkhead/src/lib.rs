//! # Bulkhead
//!
//! One watertight compartment per dependency: a limit on the calls that run
//! at once, a bounded queue in front of it, fast rejection beyond both,
//! timeouts and deadlines that propagate to nested calls. Read `README.md`
//! beside this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata bulkhead
//! ```
//!
//! Time is tokio's (`tokio::time::Instant`, `tokio::time::sleep`,
//! `tokio::time::timeout`): the spec pauses the clock and lets it jump, so a
//! ten-second timeout is checked exactly and instantly. Never use
//! `std::time::Instant` or `std::thread::sleep` here.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Why a call through a [`Bulkhead`] did not produce a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkheadError {
    /// Every permit was taken and the queue was full: the call was refused
    /// at once, without waiting and without running.
    Rejected,
    /// The call's deadline passed, while it waited in the queue or while it
    /// ran; what it was doing was dropped.
    TimedOut,
}

impl fmt::Display for BulkheadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BulkheadError::Rejected => "rejected: the bulkhead and its queue are full",
            BulkheadError::TimedOut => "timed out before the call completed",
        })
    }
}

impl Error for BulkheadError {}

/// A compartment that limits the calls into one dependency: at most
/// `max_concurrent` run at once, at most `max_queued` wait for a turn (first
/// come, first served), and any more are rejected at once.
///
/// Shared between tasks with an `Arc` (so it must be `Send + Sync`); every
/// method takes `&self`.
#[derive(Debug)]
pub struct Bulkhead {
    // Your fields here: what limits the running calls, and what counts the
    // waiting ones? (Look at `tokio::sync`.)
}

impl Bulkhead {
    /// A bulkhead that runs at most `max_concurrent` calls at once and lets
    /// at most `max_queued` more wait for a turn.
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        todo!("Bulkhead::new: the permits for running calls and the bound of the queue")
    }

    /// Runs `f()` in the compartment and returns its output.
    ///
    /// - A free permit: `f` runs at once.
    /// - No free permit: the call waits in the queue, first come first
    ///   served; if `max_queued` calls already wait, it fails at once
    ///   (no waiting at all) with [`BulkheadError::Rejected`] and `f` is
    ///   never called.
    /// - Its deadline is `now + timeout`, or the [`current_deadline`] it runs
    ///   under if that is earlier. The deadline covers the wait in the queue
    ///   *and* the run: when it passes, the call fails with
    ///   [`BulkheadError::TimedOut`] and `f`'s future is dropped. A call
    ///   whose deadline has already passed fails at once without calling
    ///   `f`. A timeout too large to add to the clock (`Duration::MAX`) is no
    ///   timeout of its own.
    /// - `f`'s future runs with the call's deadline as its
    ///   [`current_deadline`], so the calls it makes end by then too.
    /// - Cancel-safe: dropping the returned future (or aborting its task),
    ///   while it waits or while it runs, frees its queue slot or its permit
    ///   at once. So do a timeout, a panic in `f`, and a normal return.
    pub async fn call<F, Fut, T>(&self, timeout: Duration, f: F) -> Result<T, BulkheadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        todo!(
            "Bulkhead::call: a permit now, else a place in the queue or Rejected; \
             then run f, all within the deadline; give everything back on every way out"
        )
    }

    /// How many calls hold a permit (are running) now.
    pub fn in_flight(&self) -> usize {
        todo!("Bulkhead::in_flight")
    }

    /// How many calls wait in the queue for a permit now.
    pub fn queued(&self) -> usize {
        todo!("Bulkhead::queued")
    }
}

/// The deadline the current task runs under: that of the innermost
/// [`Bulkhead::call`] or [`with_deadline`] around the calling code, or
/// `None` outside any.
///
/// It belongs to the task (look at `tokio::task_local!`): a task spawned
/// inside a call does not inherit it; pass it on with [`with_deadline`].
pub fn current_deadline() -> Option<Instant> {
    todo!("current_deadline: the deadline of the enclosing call or scope, if any")
}

/// Runs `fut` with `deadline` as its [`current_deadline`], or with the
/// current one if that is earlier (a scope never extends the deadline it
/// runs in), so that every bulkhead call inside it ends by then. It does
/// not time `fut` out by itself.
///
/// This is how a deadline arrives from outside (a request's `grpc-timeout`
/// header, say) or crosses into a spawned task.
pub async fn with_deadline<Fut: Future>(deadline: Instant, fut: Fut) -> Fut::Output {
    todo!("with_deadline: run fut with the earlier of `deadline` and the current one")
}
