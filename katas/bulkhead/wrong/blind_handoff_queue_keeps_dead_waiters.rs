//! Bug: a hand-rolled FIFO of `oneshot` senders, one per queued call; a release pops senders until
//! one is still listened to and hands it the permit. A queued call that times out or is cancelled
//! leaves its dead sender in the `VecDeque` until some release pops it. Behind a hung dependency no
//! release ever comes, so every queued call that gives up leaves an entry behind: memory grows with
//! traffic while `queued()` stays within `max_queued`, and the next release pops all of them
//! (O(dead callers), not O(1)).
//!
//! Why candidates write it: lazy deletion is the standard trick for a queue you cannot remove from
//! in the middle, and every result, instant and count the caller can see is right.
//!
//! Symptom: payments hung for an hour, the compartment rejected and timed out correctly, and the service's memory grew by a few hundred MB; the first call after recovery stalled for seconds.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own (a
//! hand-rolled FIFO of oneshot senders that a release hands its permit to, where the reference
//! waits on a fair semaphore), not a change to the reference.
//!
//! Caught by: `calls_that_time_out_in_the_queue_leave_nothing_behind`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;
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
    max_concurrent: usize,
    /// Running calls (permits out), and the queued calls' wake-up senders, oldest first.
    state: Mutex<(usize, VecDeque<oneshot::Sender<()>>)>,
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

/// A permit: handed to the oldest queued call still waiting, or freed, when dropped.
struct Permit<'a>(&'a Bulkhead);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.hand_off();
    }
}

/// A place in the hand-off queue; if a permit arrives after its call gave up, it is passed on.
struct Waiting<'a> {
    bulkhead: &'a Bulkhead,
    wake: oneshot::Receiver<()>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.wake.close();
        if self.wake.try_recv().is_ok() {
            self.bulkhead.hand_off();
        }
    }
}

impl Bulkhead {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, VecDeque<oneshot::Sender<()>>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hand_off(&self) {
        let mut state = self.lock();
        // Waiters that gave up are skipped here, lazily.
        while let Some(waiter) = state.1.pop_front() {
            if waiter.send(()).is_ok() {
                return;
            }
        }
        state.0 -= 1;
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
            max_concurrent,
            state: Mutex::new((0, VecDeque::new())),
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
        let mut waiting = {
            let mut state = self.lock();
            if state.0 < self.max_concurrent {
                state.0 += 1;
                None
            } else {
                let bound = self.max_queued;
                if self
                    .queued
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| (q < bound).then_some(q + 1))
                    .is_err()
                {
                    return Err(BulkheadError::Rejected);
                }
                let (wake, listen) = oneshot::channel();
                state.1.push_back(wake);
                Some((Counted(&self.queued), Waiting { bulkhead: self, wake: listen }))
            }
        };
        if let Some((_slot, waiting)) = &mut waiting {
            let woken = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, &mut waiting.wake)
                    .await
                    .map_err(|_| BulkheadError::TimedOut)?,
                None => (&mut waiting.wake).await,
            };
            woken.expect("a queued call's sender is only dropped after it gave up");
        }
        drop(waiting);
        let _permit = Permit(self);
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
