//! Wrong: a call whose deadline has already passed still calls `f` and
//! starts the request; only then does `tokio::time::timeout_at` (which polls
//! its future once before it looks at the clock) see the deadline and give
//! up. The dependency does the work, and nobody waits for the answer: under
//! load, an overloaded service keeps working on requests its callers have
//! abandoned, which is how it stays overloaded.
//!
//! Why candidates write it: `timeout_at` seems to cover everything, and it
//! does return `TimedOut`; that it polls first is in its documentation.
//!
//! Caught by: `followup_a_call_with_no_time_left_fails_at_once_without_running`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::{Instant, timeout_at};

pub use bulkhead_solution::{BulkheadError, current_deadline, with_deadline};

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
        // BUG: no check that time is left before starting.
        let deadline = earliest(now.checked_add(timeout), current_deadline());
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

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn until<Fut: Future>(deadline: Option<Instant>, fut: Fut) -> Option<Fut::Output> {
    match deadline {
        Some(deadline) => timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}

async fn under<Fut: Future>(deadline: Option<Instant>, fut: Fut) -> Fut::Output {
    match deadline {
        Some(deadline) => with_deadline(deadline, fut).await,
        None => fut.await,
    }
}
