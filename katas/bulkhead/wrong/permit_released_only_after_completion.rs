//! Wrong: the permit is given back by hand once the call returns, on success
//! and on timeout alike, but not when the caller gives up: a future that is
//! dropped (a caller's own `timeout` or `select!`, a client that hung up, an
//! aborted task) never reaches the line that gives it back. Each cancelled
//! call leaks one permit, and the compartment slowly closes for good.
//!
//! Why candidates write it: "decrement after the await" is how the counter
//! of a thread pool works, where a call always runs to its end. In async
//! Rust any `.await` may be the last line that ever runs: whatever a call
//! holds must be given back by a `Drop` (an RAII guard such as tokio's
//! `SemaphorePermit`), not by code after an `.await`.
//!
//! Caught by: `cancelling_a_running_call_frees_its_permit` (both cases),
//! `followup_a_cancelled_call_hands_its_permit_to_the_next_in_the_queue`.

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
                let _slot = QueueSlot(&self.queued);
                until(deadline, self.permits.acquire())
                    .await
                    .ok_or(BulkheadError::TimedOut)?
                    .map_err(|_| BulkheadError::Rejected)?
            }
        };
        // Given back by hand below, with the in-flight count.
        permit.forget();
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let output = until(deadline, under(deadline, f())).await;
        // BUG: never reached if this future is dropped during the `.await` above.
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.permits.add_permits(1);
        output.ok_or(BulkheadError::TimedOut)
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
