//! Wrong: the timeout wraps only the run of `f`, not the wait for a permit.
//! A queued call waits as long as it takes, however short its timeout: behind
//! a hung dependency it waits for ever, which is exactly the pile-up a
//! bulkhead exists to prevent, and a caller with a one-second budget gets its
//! answer after a minute.
//!
//! Why candidates write it: `tokio::time::timeout(t, f())` is the obvious
//! line, and the permit was acquired on the line before.
//!
//! Caught by: `a_call_timing_out_in_the_queue_frees_its_slot_without_running`,
//! `the_timeout_covers_the_wait_in_the_queue_and_the_run`,
//! `a_slow_dependency_exhausts_only_its_own_compartment`,
//! `followup_a_nested_call_in_a_full_queue_gives_up_at_the_outer_deadline`,
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
        if current_deadline().is_some_and(|d| d <= now) {
            return Err(BulkheadError::TimedOut);
        }
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Err(BulkheadError::Rejected);
                }
                let _slot = QueueSlot(&self.queued);
                // BUG: no deadline on the wait.
                self.permits
                    .acquire()
                    .await
                    .map_err(|_| BulkheadError::Rejected)?
            }
        };
        let _running = Running::start(self, permit);
        // The timeout starts only now, from the moment the call runs.
        let deadline = earliest(Instant::now().checked_add(timeout), current_deadline());
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
