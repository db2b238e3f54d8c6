//! Wrong: admission is a second semaphore of `max_concurrent + max_queued`
//! permits (a sound design), but it is taken with `acquire().await` inside
//! the timeout instead of `try_acquire()`. A call into a full bulkhead does
//! not fail fast: it waits for admission, holding its caller's resources,
//! and comes back `TimedOut` (or, worse, succeeds late) instead of
//! `Rejected` at once. Load shedding that waits is no load shedding.
//!
//! Why candidates write it: `acquire().await` is the semaphore call everyone
//! knows, and the timeout seems to bound it anyway.
//!
//! Caught by: `rejects_a_call_beyond_both_limits_at_once_without_running_it`,
//! `rejects_exactly_the_callers_that_find_no_permit_and_no_queue_slot`,
//! `a_slow_dependency_exhausts_only_its_own_compartment`,
//! `followup_agrees_with_a_first_come_first_served_model_on_random_workloads`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::{Instant, timeout_at};

pub use bulkhead_solution::{BulkheadError, current_deadline, with_deadline};

#[derive(Debug)]
pub struct Bulkhead {
    permits: Semaphore,
    /// One permit per call admitted, running or queued.
    admission: Semaphore,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
}

impl Bulkhead {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Bulkhead {
            permits: Semaphore::new(max_concurrent),
            admission: Semaphore::new(max_concurrent + max_queued),
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
        let deadline = earliest(now.checked_add(timeout), current_deadline());
        if deadline.is_some_and(|d| d <= now) {
            return Err(BulkheadError::TimedOut);
        }
        // BUG: waits for admission instead of failing at once when full.
        let _admitted = until(deadline, self.admission.acquire())
            .await
            .ok_or(BulkheadError::TimedOut)?
            .map_err(|_| BulkheadError::Rejected)?;
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                self.queued.fetch_add(1, Ordering::AcqRel);
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
