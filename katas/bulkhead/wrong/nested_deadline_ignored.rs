//! Wrong: every call uses its own timeout and nothing else, so a call made
//! inside another call (or inside a request that has a deadline) may run long
//! after nobody is waiting for its answer: the outer caller has given up at
//! its deadline, and the inner call still holds a permit of its compartment
//! for its own full timeout. Under load that is how retries and nested calls
//! amplify an outage.
//!
//! Why candidates write it: a timeout per call is what the signature shows;
//! the deadline the call runs under is invisible unless you look for it.
//!
//! Caught by: `a_call_runs_under_the_earlier_of_its_own_deadline_and_the_current_one`,
//! `a_call_inside_a_deadline_ends_by_that_deadline` (the time left is
//! shorter), `followup_a_nested_call_in_a_full_queue_gives_up_at_the_outer_deadline`,
//! `followup_a_call_with_no_time_left_fails_at_once_without_running`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::{Instant, timeout_at};

pub use bulkhead_solution::BulkheadError;

tokio::task_local! {
    static DEADLINE: Instant;
}

pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

pub async fn with_deadline<Fut: Future>(deadline: Instant, fut: Fut) -> Fut::Output {
    let deadline = current_deadline().map_or(deadline, |current| current.min(deadline));
    DEADLINE.scope(deadline, fut).await
}

#[derive(Debug)]
pub struct Bulkhead {
    permits: Semaphore,
    max_queued: usize,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
}

impl Bulkhead {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Bulkhead {
            permits: Semaphore::new(max_concurrent),
            max_queued,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub async fn call<F, Fut, T>(&self, timeout: Duration, f: F) -> Result<T, BulkheadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let now = Instant::now();
        // BUG: the current deadline (the time the caller has left) is ignored.
        let deadline = now.checked_add(timeout);
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Err(BulkheadError::Rejected);
                }
                let _slot = QueueSlot(&self.queued);
                until(deadline, self.permits.acquire())
                    .await
                    .ok_or(BulkheadError::TimedOut)?
                    .map_err(|_| BulkheadError::Rejected)?
            }
        };
        let _running = Running::start(self, permit);
        until(deadline, under(deadline, f()))
            .await
            .ok_or(BulkheadError::TimedOut)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

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
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn until<Fut: Future>(deadline: Option<Instant>, fut: Fut) -> Option<Fut::Output> {
    match deadline {
        Some(deadline) => timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Runs `fut` with exactly `deadline` as its current deadline, even a later
/// one than the caller's.
async fn under<Fut: Future>(deadline: Option<Instant>, fut: Fut) -> Fut::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, fut).await,
        None => fut.await,
    }
}
