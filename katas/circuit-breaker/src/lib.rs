//! # Circuit breaker
//!
//! The breaker a service puts in front of a flaky dependency, so that a
//! dependency that is down fails fast instead of tying up every caller until
//! it times out. Read `README.md` beside this file for the problem, then make
//! the specification pass:
//!
//! ```text
//! cargo xtask kata circuit-breaker
//! ```
//!
//! Two layers, both yours:
//!
//! - [`Breaker`], the state machine alone: no clock, no runtime, no locks.
//!   Time is passed in (`now: Instant`): never read the clock inside it, so
//!   that the spec can place a call exactly on the open timeout.
//! - [`CircuitBreaker`], the async breaker that tasks share: your `Breaker`
//!   behind a lock, tokio's clock (`tokio::time::Instant::now().into_std()`,
//!   which the spec pauses and advances), and a channel of transitions.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls go through; their results are counted.
    Closed,
    /// Calls are rejected without reaching the dependency, until the open
    /// timeout has passed.
    Open,
    /// A limited number of probe calls go through; the rest are rejected.
    /// The probes decide: all succeed and the breaker closes, one fails and
    /// it opens again.
    HalfOpen,
}

/// How a breaker trips and recovers.
///
/// A trigger set to `0` is off. With both triggers off the breaker never
/// opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// Open after this many failures in a row while closed (a success resets
    /// the count). `0`: no consecutive-failure trigger.
    pub consecutive_failures: u32,
    /// Open when at least this percentage (1 to 100) of the calls in the
    /// rolling window failed. `0`: no failure-rate trigger.
    pub failure_rate_percent: u32,
    /// The rolling window: the results of the last `window` calls completed
    /// while closed.
    pub window: u32,
    /// The failure rate is not judged before the window holds at least this
    /// many results (one failure out of one call is not a 100% failure rate
    /// worth opening for).
    pub minimum_calls: u32,
    /// How long the breaker stays open before it lets probes through.
    pub open_timeout: Duration,
    /// How many probe calls the half-open breaker lets through; all of them
    /// must succeed for it to close.
    pub half_open_probes: u32,
}

/// How a call admitted by a [`Breaker`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency answered (with a result, or with an error that does not
    /// count as a failure, such as a `404`).
    Success,
    /// The call failed in a way that says the dependency is unhealthy (a
    /// timeout, a refused connection, a `503`).
    Failure,
}

/// The breaker refused a call: it is open, or half-open with every probe
/// slot taken. The dependency was not called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rejected;

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rejected by the circuit breaker")
    }
}

impl std::error::Error for Rejected {}

/// One change of state, as published to [`CircuitBreaker::subscribe`]rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
}

/// Why [`CircuitBreaker::call`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallError<E> {
    /// The breaker refused the call; the dependency was not called.
    Rejected,
    /// The dependency was called and returned this error.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected => Rejected.fmt(f),
            CallError::Failed(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected => None,
            CallError::Failed(error) => Some(error),
        }
    }
}

/// A circuit breaker's state machine, with time passed in.
///
/// Closed, it admits every call and counts the results: it opens when
/// `consecutive_failures` results in a row are failures, or when the last
/// `window` results hold at least `minimum_calls` results of which at least
/// `failure_rate_percent` percent are failures. Open, it rejects every call
/// until `open_timeout` has passed since it opened; from then on it is
/// half-open. Half-open, it admits up to `half_open_probes` probes: one probe
/// failure opens it again (for a fresh `open_timeout`), and once
/// `half_open_probes` probes have succeeded it closes, with an empty window.
///
/// A result counts only in the state it was admitted in: a slow call admitted
/// while closed that returns after the breaker opened changes nothing.
#[derive(Debug, Clone)]
pub struct Breaker {
    // Your fields here: what must the breaker remember between calls?
}

/// The right to make one call, issued by [`Breaker::try_acquire`]. Hand it
/// back exactly once: [`Breaker::record`] with the outcome, or
/// [`Breaker::release`] if the call was abandoned.
#[derive(Debug)]
#[must_use = "hand the permit back with `record` or `release`, or a probe slot stays taken"]
pub struct Permit {
    // Your fields here: what must the breaker know when this call's result
    // comes back?
}

impl Breaker {
    /// A closed breaker with an empty window.
    ///
    /// # Panics
    /// May panic on a configuration that cannot work: `half_open_probes` of
    /// zero, or a failure-rate trigger with a `window` of zero or a
    /// `minimum_calls` larger than `window`.
    pub fn new(config: Config) -> Self {
        todo!("Breaker::new: a closed breaker")
    }

    /// The state at `now`: an open breaker whose timeout has passed is
    /// half-open from then on.
    pub fn state(&mut self, now: Instant) -> State {
        todo!("Breaker::state: half-open once `open_timeout` has passed since it opened")
    }

    /// Admits a call at `now`, or rejects it: always while closed, never while
    /// open, and while half-open only as long as fewer than
    /// `half_open_probes` probes are in flight or have succeeded. A rejected
    /// call counts for nothing.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        todo!("Breaker::try_acquire: admit, or reject without counting anything")
    }

    /// Records how the call of `permit` ended, at `now`: it may open the
    /// breaker (a failure while closed, a failed probe), or close it (the
    /// last probe succeeding). A permit issued before the breaker last
    /// changed state changes nothing.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        todo!("Breaker::record: count the outcome in the state the call was admitted in")
    }

    /// Hands back the permit of a call that was abandoned (its future was
    /// dropped) before it had a result: a probe's slot is freed, and nothing
    /// is counted.
    pub fn release(&mut self, permit: Permit) {
        todo!("Breaker::release: free the probe slot, count nothing")
    }
}

/// A circuit breaker shared by the tasks that call one dependency
/// (`Arc<CircuitBreaker>`), with tokio's clock.
///
/// Never hold a lock across an `.await`: calls through a closed breaker run
/// concurrently.
#[derive(Debug)]
pub struct CircuitBreaker {
    // Your fields here: your `Breaker` behind a lock, and a sender of
    // transitions.
}

impl CircuitBreaker {
    /// A closed breaker.
    ///
    /// # Panics
    /// May panic on a configuration [`Breaker::new`] rejects.
    pub fn new(config: Config) -> Self {
        todo!("CircuitBreaker::new")
    }

    /// Calls the dependency through the breaker; every error counts as a
    /// failure. See [`call_with`](Self::call_with).
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        todo!("CircuitBreaker::call: `call_with` with every error a failure")
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
        todo!(
            "CircuitBreaker::call_with: acquire, call `f` outside the lock, record (or release on drop)"
        )
    }

    /// The state now, by tokio's clock.
    pub fn state(&self) -> State {
        todo!("CircuitBreaker::state")
    }

    /// Every change of state from now on, in order. The channel keeps at
    /// least the last 16 transitions for a subscriber that has not caught up.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        todo!("CircuitBreaker::subscribe: a receiver of every transition")
    }
}
