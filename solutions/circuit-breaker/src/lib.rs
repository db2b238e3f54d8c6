//! Reference solution of the circuit-breaker kata: the breaker a service puts
//! in front of a flaky dependency, so that a dependency that is down fails
//! fast instead of tying up every caller until it times out.
//!
//! Two layers:
//!
//! - [`Breaker`], the state machine alone: no clock, no runtime, no locks.
//!   Time is passed in (`now: Instant`), so its transitions are a pure
//!   function of the calls made and can be checked to the nanosecond.
//! - [`CircuitBreaker`], the async breaker callers share: a [`Breaker`] under
//!   a short `std` mutex (never held across an `.await`), tokio's clock, a
//!   guard that hands a cancelled call's permit back, and a broadcast channel
//!   of [`Transition`]s for metrics.

mod breaker;
mod shared;

use std::fmt;
use std::time::Duration;

pub use breaker::{Breaker, Permit};
pub use shared::CircuitBreaker;

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
