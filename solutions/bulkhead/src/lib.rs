//! Reference solution of the bulkhead kata.
//!
//! A [`Bulkhead`] is one watertight compartment in front of one dependency:
//! a [`Semaphore`] of `max_concurrent` permits for the calls that run, and a
//! counter of the calls waiting for one, capped at `max_queued`. Every piece
//! of a call's state is held by a value whose `Drop` gives it back (the
//! semaphore permit, the queue slot, the in-flight count), so a call returns
//! what it holds on every way out: success, its timeout, and cancellation
//! (its future dropped, or its task aborted) alike.
//!
//! Deadlines travel with the task: a call runs its future inside a
//! task-local scope holding its deadline, and a call made inside it takes
//! the earlier of its own `now + timeout` and that deadline.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

tokio::task_local! {
    /// The deadline of the innermost bulkhead call (or `with_deadline`
    /// scope) the current task is running inside.
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
/// Share it between tasks with an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Bulkhead {
    /// One permit per call allowed to run. Tokio's semaphore is fair: a
    /// freed permit goes to the longest waiter, and `try_acquire` never
    /// overtakes a waiter.
    permits: Semaphore,
    /// How many calls may wait for a permit.
    max_queued: usize,
    /// Calls waiting for a permit now; never more than `max_queued`.
    queued: AtomicUsize,
    /// Calls holding a permit now.
    in_flight: AtomicUsize,
}

impl Bulkhead {
    /// A bulkhead that runs at most `max_concurrent` calls at once and lets
    /// at most `max_queued` more wait for a turn.
    ///
    /// # Panics
    /// If `max_concurrent` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Bulkhead {
            permits: Semaphore::new(max_concurrent),
            max_queued,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Runs `f()` in the compartment and returns its output.
    ///
    /// If no permit is free, the call waits in the queue; if the queue is
    /// full too, it fails at once with [`BulkheadError::Rejected`]. Its
    /// deadline is `now + timeout`, or the deadline of the call (or
    /// [`with_deadline`] scope) it runs inside if that is earlier; it covers
    /// the wait in the queue and the run, and when it passes the call fails
    /// with [`BulkheadError::TimedOut`] and `f`'s future is dropped. A call
    /// whose deadline has already passed fails at once without calling `f`.
    /// `f` runs with the call's deadline as its [`current_deadline`], so the
    /// calls it makes end by then too.
    ///
    /// Cancel-safe: dropping the returned future, while it waits or while it
    /// runs, frees its queue slot or its permit.
    pub async fn call<F, Fut, T>(&self, timeout: Duration, f: F) -> Result<T, BulkheadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let now = Instant::now();
        // A timeout too large to add to the clock is no timeout of its own.
        let deadline = earliest(now.checked_add(timeout), current_deadline());
        if deadline.is_some_and(|deadline| deadline <= now) {
            return Err(BulkheadError::TimedOut);
        }
        let permit = match self.try_acquire() {
            Some(permit) => permit,
            None => {
                let slot = QueueSlot::take(self).ok_or(BulkheadError::Rejected)?;
                let permit = until(deadline, self.permits.acquire())
                    .await
                    .ok_or(BulkheadError::TimedOut)?
                    // The semaphore is never closed; if it were, no call
                    // could ever run again.
                    .map_err(|_| BulkheadError::Rejected)?;
                drop(slot);
                // A permit that comes free on the instant of the deadline (or
                // reaches this task only then) leaves no time to run: give it
                // back without starting the request.
                if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
                    return Err(BulkheadError::TimedOut);
                }
                permit
            }
        };
        let _running = Running::start(self, permit);
        let run = f();
        let output = match deadline {
            Some(deadline) => until(Some(deadline), DEADLINE.scope(deadline, run)).await,
            None => Some(run.await),
        };
        output.ok_or(BulkheadError::TimedOut)
    }

    /// How many calls hold a permit (are running) now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// How many calls wait in the queue for a permit now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// A free permit, if there is one now. (The semaphore is never closed,
    /// so the only error is "no permit".)
    fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.try_acquire().ok()
    }
}

/// A place in a bulkhead's queue; given back when dropped (the call got its
/// permit, timed out, or was cancelled).
struct QueueSlot<'a> {
    queued: &'a AtomicUsize,
}

impl<'a> QueueSlot<'a> {
    /// Takes a place in the queue if fewer than `max_queued` calls wait.
    fn take(bulkhead: &'a Bulkhead) -> Option<Self> {
        bulkhead
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < bulkhead.max_queued).then_some(queued + 1)
            })
            .ok()
            .map(|_| QueueSlot {
                queued: &bulkhead.queued,
            })
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running call: its permit, counted in `in_flight` until dropped.
struct Running<'a> {
    in_flight: &'a AtomicUsize,
    _permit: SemaphorePermit<'a>,
}

impl<'a> Running<'a> {
    fn start(bulkhead: &'a Bulkhead, permit: SemaphorePermit<'a>) -> Self {
        bulkhead.in_flight.fetch_add(1, Ordering::AcqRel);
        Running {
            in_flight: &bulkhead.in_flight,
            _permit: permit,
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // The count goes down before the permit is given back (fields drop
        // after this body), so `in_flight` never exceeds `max_concurrent`.
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `fut`'s output, or `None` if `deadline` passes first.
async fn until<Fut: Future>(deadline: Option<Instant>, fut: Fut) -> Option<Fut::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// The earlier of two optional deadlines (`None` is "no deadline").
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The deadline the current task runs under: that of the innermost
/// [`Bulkhead::call`] or [`with_deadline`] around the calling code, or
/// `None` outside any. Task-local: a task spawned inside a call does not
/// inherit it (pass it on with [`with_deadline`]).
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `fut` with `deadline` as its [`current_deadline`] (or the current
/// one, if that is earlier: a scope never extends its caller's deadline),
/// so that every bulkhead call inside it ends by then. It does not time
/// `fut` out itself.
///
/// This is how a deadline arrives from outside (a request's `grpc-timeout`
/// header) or crosses into a spawned task.
pub async fn with_deadline<Fut: Future>(deadline: Instant, fut: Fut) -> Fut::Output {
    let deadline = current_deadline().map_or(deadline, |current| current.min(deadline));
    DEADLINE.scope(deadline, fut).await
}
