//! The async breaker that callers share.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::{Breaker, CallError, Config, Outcome, Permit, State, Transition};

/// How many transitions a subscriber that has not caught up can fall behind
/// before it misses some (it then gets `RecvError::Lagged`).
const TRANSITIONS_BUFFERED: usize = 64;

/// A circuit breaker shared by the tasks that call one dependency.
///
/// The [`Breaker`] sits under a `std` mutex that is held only for its few
/// integer operations, never across an `.await`, so calls through a closed
/// breaker run concurrently. Time is tokio's clock, so a paused runtime
/// drives the open timeout.
#[derive(Debug)]
pub struct CircuitBreaker {
    breaker: Mutex<Breaker>,
    transitions: broadcast::Sender<Transition>,
}

impl CircuitBreaker {
    /// A closed breaker.
    ///
    /// # Panics
    /// On a configuration [`Breaker::new`] rejects.
    pub fn new(config: Config) -> Self {
        CircuitBreaker {
            breaker: Mutex::new(Breaker::new(config)),
            transitions: broadcast::channel(TRANSITIONS_BUFFERED).0,
        }
    }

    /// Calls the dependency through the breaker; every error counts as a
    /// failure. See [`call_with`](Self::call_with).
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(|_: &E| true, f).await
    }

    /// Calls the dependency through the breaker: `f` is called only if the
    /// breaker admits the call, and `is_failure` decides whether an error
    /// counts against the dependency (a `503` does, a `404` does not; an error
    /// that does not count is a success for the breaker). A rejected call
    /// returns [`CallError::Rejected`] at once and counts for nothing. If the
    /// returned future is dropped before the call ends, its permit is handed
    /// back without a result.
    pub async fn call_with<C, F, Fut, T, E>(&self, is_failure: C, f: F) -> Result<T, CallError<E>>
    where
        C: FnOnce(&E) -> bool,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let now = now();
        let permit = self
            .update(|breaker| breaker.try_acquire(now))
            .map_err(|_| CallError::Rejected)?;
        let mut guard = InFlight {
            owner: self,
            permit: Some(permit),
        };
        let result = f().await;
        let outcome = match &result {
            Err(error) if is_failure(error) => Outcome::Failure,
            _ => Outcome::Success,
        };
        guard.finish(outcome);
        result.map_err(CallError::Failed)
    }

    /// The state now (by tokio's clock).
    pub fn state(&self) -> State {
        let now = now();
        self.update(|breaker| breaker.state(now))
    }

    /// Every change of state from now on, in order.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }

    /// Runs `op` on the breaker and publishes the change of state it made, if
    /// any (every operation makes at most one).
    fn update<R>(&self, op: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut breaker = self.lock();
        let from = breaker.last_state();
        let result = op(&mut breaker);
        let to = breaker.last_state();
        if from != to {
            // No subscriber is not an error: nobody is watching.
            let _ = self.transitions.send(Transition { from, to });
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Breaker> {
        // The breaker's state is consistent between operations, and none of
        // them panics midway: a poisoned lock is still a good breaker.
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The permit of a call in flight: handed back with the outcome when the call
/// ends, or released if the future is dropped first (a timeout around the
/// call, a `select!` that chose another branch, an aborted task).
struct InFlight<'a> {
    owner: &'a CircuitBreaker,
    permit: Option<Permit>,
}

impl InFlight<'_> {
    fn finish(&mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            let now = now();
            self.owner
                .update(|breaker| breaker.record(permit, outcome, now));
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.owner.update(|breaker| breaker.release(permit));
        }
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}
