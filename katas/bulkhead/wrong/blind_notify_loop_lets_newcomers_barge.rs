//! Bug: the permits are a counter behind a `std::sync::Mutex` and a `Notify`: a release adds one
//! and `notify_one()`s the first waiter, and a waiter loops "try to take one, else wait to be
//! notified". A newcomer's fast path takes the freed permit before the woken waiter runs, and the
//! waiter goes back to the end of the `Notify` queue: the freed permit does not go to the next call
//! in the queue, and queued calls are not served first come, first served.
//!
//! Why candidates write it: it is the condition-variable loop everyone learned, it has no lost
//! wake-up (the `Notified` is enabled before the check), and barging only happens when a release
//! and an arrival land on the same tick, which a paused-clock test with distinct instants avoids.
//!
//! Symptom: under a steady stream of new payment calls, a call that has been queued the longest keeps getting overtaken and times out while later arrivals run.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own (the
//! permits are a counter behind a `Mutex` with a `Notify` loop, where the reference waits on a fair
//! semaphore), not a change to the reference.
//!
//! Caught by: `a_freed_permit_goes_to_the_queued_call_not_to_a_caller_arriving_that_instant`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

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
    free: Mutex<usize>,
    turn: Notify,
    max_queued: usize,
    queued: AtomicUsize,
    running: AtomicUsize,
}

/// Decrements its counter when dropped, however the call ends.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A permit: given back (and the first waiter told) when dropped.
struct Permit<'a>(&'a Bulkhead);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.turn.notify_one();
    }
}

impl Bulkhead {
    fn try_take(&self) -> Option<Permit<'_>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Permit(self))
    }

    async fn take(&self) -> Permit<'_> {
        loop {
            let notified = self.turn.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check: a release in between is not lost.
            notified.as_mut().enable();
            if let Some(permit) = self.try_take() {
                return permit;
            }
            notified.await;
        }
    }
}

fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Bulkhead {
    /// A bulkhead that runs at most `max_concurrent` calls at once and lets
    /// at most `max_queued` more wait for a turn.
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Bulkhead {
            free: Mutex::new(max_concurrent),
            turn: Notify::new(),
            max_queued,
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        }
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
        let start = Instant::now();
        let deadline = earlier(start.checked_add(timeout), current_deadline());
        if deadline.is_some_and(|d| d <= start) {
            return Err(BulkheadError::TimedOut);
        }
        let _permit = match self.try_take() {
            Some(permit) => permit,
            None => {
                let bound = self.max_queued;
                if self
                    .queued
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| (q < bound).then_some(q + 1))
                    .is_err()
                {
                    return Err(BulkheadError::Rejected);
                }
                let _slot = Counted(&self.queued);
                match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline, self.take())
                        .await
                        .map_err(|_| BulkheadError::TimedOut)?,
                    None => self.take().await,
                }
            }
        };
        let _running = Counted::enter(&self.running);
        match deadline {
            Some(deadline) => {
                if deadline <= Instant::now() {
                    return Err(BulkheadError::TimedOut);
                }
                tokio::time::timeout_at(deadline, DEADLINE.scope(deadline, f()))
                    .await
                    .map_err(|_| BulkheadError::TimedOut)
            }
            None => Ok(f().await),
        }
    }

    /// How many calls hold a permit (are running) now.
    pub fn in_flight(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// How many calls wait in the queue for a permit now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

/// The deadline the current task runs under: that of the innermost
/// [`Bulkhead::call`] or [`with_deadline`] around the calling code, or
/// `None` outside any.
///
/// It belongs to the task (look at `tokio::task_local!`): a task spawned
/// inside a call does not inherit it; pass it on with [`with_deadline`].
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `fut` with `deadline` as its [`current_deadline`], or with the
/// current one if that is earlier (a scope never extends the deadline it
/// runs in), so that every bulkhead call inside it ends by then. It does
/// not time `fut` out by itself.
///
/// This is how a deadline arrives from outside (a request's `grpc-timeout`
/// header, say) or crosses into a spawned task.
pub async fn with_deadline<Fut: Future>(deadline: Instant, fut: Fut) -> Fut::Output {
    let deadline = earlier(Some(deadline), current_deadline()).unwrap_or(deadline);
    DEADLINE.scope(deadline, fut).await
}
