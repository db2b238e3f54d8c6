//! Wrong: the permit is taken out of the semaphore's hands (`forget`) and
//! given back by hand after the call, but the `?` that turns a timeout into
//! `TimedOut` returns before the line that gives it back. Every call that
//! times out while running leaks one permit for good: after `max_concurrent`
//! slow calls the compartment rejects everything, for ever, although nothing
//! runs.
//!
//! Why candidates write it: the permit is "released by hand" so that the
//! in-flight counter and the permit move together, and the happy path is all
//! that the first test exercises. `?` is an early return that skips cleanup
//! code, which is why cleanup belongs in a `Drop`.
//!
//! (A cancelled call leaks its permit the same way: dropped at the `.await`,
//! it never reaches those lines either.)
//!
//! Caught by: `a_call_running_past_its_timeout_times_out_and_frees_its_permit`,
//! `the_timeout_covers_the_wait_in_the_queue_and_the_run`,
//! `a_call_inside_a_deadline_ends_by_that_deadline`,
//! `cancelling_a_running_call_frees_its_permit`,
//! `followup_agrees_with_a_first_come_first_served_model_on_random_workloads`,
//! and four more.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
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
        let deadline = earliest(now.checked_add(timeout), current_deadline());
        if deadline.is_some_and(|d| d <= now) {
            return Err(BulkheadError::TimedOut);
        }
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
                    return Err(BulkheadError::Rejected);
                }
                let waited = until(deadline, self.permits.acquire()).await;
                self.queued.fetch_sub(1, Ordering::AcqRel);
                waited
                    .ok_or(BulkheadError::TimedOut)?
                    .map_err(|_| BulkheadError::Rejected)?
            }
        };
        // Given back by hand below, together with the in-flight count.
        permit.forget();
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        // BUG: on a timeout, `?` returns here and the two lines below never run.
        let output = until(deadline, under(deadline, f()))
            .await
            .ok_or(BulkheadError::TimedOut)?;
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.permits.add_permits(1);
        Ok(output)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
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
