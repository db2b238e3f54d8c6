//! Bug: the closed state's window and counters live outside the state enum and are not reset when
//! the last probe closes the breaker: the failures that tripped it are still in the window (and in
//! the failures-in-a-row count), so the first failure after recovery opens it again at once.
//!
//! Why candidates write it: keeping the counters as plain fields of `Breaker` is simpler than
//! carrying them in the enum, and "closing" is just `self.state = Closed`.
//!
//! Symptom: after every recovery the breaker reopens on the very first failed request, so the provider looks down for minutes after it is back.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own
//! (the window and the counters are fields of `Breaker` beside a flat phase enum, where the
//! reference keeps them inside its closed state), not a change to the reference.
//!
//! Caught by: `closes_once_every_probe_has_succeeded_and_starts_counting_afresh`,
//! `breaker_agrees_with_a_model_of_closed_open_and_half_open` and
//! `followup_breaker_agrees_with_the_model_when_calls_end_late_or_are_abandoned`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
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

#[derive(Debug, Clone)]
enum Phase {
    Closed,
    Open {
        since: Instant,
    },
    HalfOpen {
        in_flight: u32,
        succeeded: u32,
    },
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
    config: Config,
    phase: Phase,
    generation: u64,
    window: VecDeque<Outcome>,
    failures: u32,
    in_a_row: u32,
}

/// The right to make one call, issued by [`Breaker::try_acquire`]. Hand it
/// back exactly once: [`Breaker::record`] with the outcome, or
/// [`Breaker::release`] if the call was abandoned.
#[derive(Debug)]
#[must_use = "hand the permit back with `record` or `release`, or a probe slot stays taken"]
pub struct Permit {
    generation: u64,
}

impl Breaker {
    /// A closed breaker with an empty window.
    ///
    /// # Panics
    /// May panic on a configuration that cannot work: `half_open_probes` of
    /// zero, or a failure-rate trigger with a `window` of zero or a
    /// `minimum_calls` larger than `window`.
    pub fn new(config: Config) -> Self {
        assert!(config.half_open_probes > 0, "half_open_probes must be at least 1");
        if config.failure_rate_percent > 0 {
            assert!(config.window > 0, "a failure-rate trigger needs a window");
            assert!(config.minimum_calls <= config.window, "minimum_calls above window");
        }
        Breaker {
            config,
            phase: Phase::Closed,
            generation: 0,
            window: VecDeque::with_capacity(config.window as usize),
            failures: 0,
            in_a_row: 0,
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.generation += 1;
    }

    fn current(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn refresh(&mut self, now: Instant) {
        if let Phase::Open { since } = self.phase {
            if now.saturating_duration_since(since) >= self.config.open_timeout {
                self.enter(Phase::HalfOpen { in_flight: 0, succeeded: 0 });
            }
        }
    }

    /// The state at `now`: an open breaker whose timeout has passed is
    /// half-open from then on.
    pub fn state(&mut self, now: Instant) -> State {
        self.refresh(now);
        self.current()
    }

    /// Admits a call at `now`, or rejects it: always while closed, never while
    /// open, and while half-open only as long as fewer than
    /// `half_open_probes` probes are in flight or have succeeded. A rejected
    /// call counts for nothing.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.refresh(now);
        let probes = self.config.half_open_probes;
        match &mut self.phase {
            Phase::Closed => Ok(Permit { generation: self.generation }),
            Phase::Open { .. } => Err(Rejected),
            Phase::HalfOpen { in_flight, succeeded } => {
                if *in_flight + *succeeded < probes {
                    *in_flight += 1;
                    Ok(Permit { generation: self.generation })
                } else {
                    Err(Rejected)
                }
            }
        }
    }

    /// Records how the call of `permit` ended, at `now`: it may open the
    /// breaker (a failure while closed, a failed probe), or close it (the
    /// last probe succeeding). A permit issued before the breaker last
    /// changed state changes nothing.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if permit.generation != self.generation {
            return;
        }
        let config = self.config;
        match &mut self.phase {
            Phase::Closed => {
                let Breaker { window, failures, in_a_row, .. } = self;
                window.push_back(outcome);
                if outcome == Outcome::Failure {
                    *failures += 1;
                    *in_a_row += 1;
                } else {
                    *in_a_row = 0;
                }
                while window.len() > config.window as usize {
                    if window.pop_front() == Some(Outcome::Failure) {
                        *failures -= 1;
                    }
                }
                let by_row = config.consecutive_failures > 0 && *in_a_row >= config.consecutive_failures;
                let calls = window.len() as u64;
                let by_rate = config.failure_rate_percent > 0
                    && calls >= u64::from(config.minimum_calls)
                    && calls > 0
                    && u64::from(*failures) * 100 >= u64::from(config.failure_rate_percent) * calls;
                if by_row || by_rate {
                    self.enter(Phase::Open { since: now });
                }
            }
            Phase::Open { .. } => {}
            Phase::HalfOpen { in_flight, succeeded } => {
                *in_flight -= 1;
                match outcome {
                    Outcome::Failure => self.enter(Phase::Open { since: now }),
                    Outcome::Success => {
                        *succeeded += 1;
                        if *succeeded >= config.half_open_probes {
                            self.enter(Phase::Closed);
                        }
                    }
                }
            }
        }
    }

    /// Hands back the permit of a call that was abandoned (its future was
    /// dropped) before it had a result: a probe's slot is freed, and nothing
    /// is counted.
    pub fn release(&mut self, permit: Permit) {
        if permit.generation != self.generation {
            return;
        }
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight -= 1;
        }
    }
}

/// A circuit breaker shared by the tasks that call one dependency
/// (`Arc<CircuitBreaker>`), with tokio's clock.
///
/// Never hold a lock across an `.await`: calls through a closed breaker run
/// concurrently.
#[derive(Debug)]
pub struct CircuitBreaker {
    breaker: Mutex<Breaker>,
    transitions: broadcast::Sender<Transition>,
}

struct InFlight<'a> {
    breaker: &'a CircuitBreaker,
    permit: Option<Permit>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.with(|b, _| b.release(permit));
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    ///
    /// # Panics
    /// May panic on a configuration [`Breaker::new`] rejects.
    pub fn new(config: Config) -> Self {
        let (transitions, _) = broadcast::channel(64);
        CircuitBreaker { breaker: Mutex::new(Breaker::new(config)), transitions }
    }

    fn lock(&self) -> MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<R>(&self, op: impl FnOnce(&mut Breaker, Instant) -> R) -> R {
        let now = tokio::time::Instant::now().into_std();
        let mut breaker = self.lock();
        let from = breaker.current();
        let r = op(&mut breaker, now);
        let to = breaker.current();
        if from != to {
            let _ = self.transitions.send(Transition { from, to });
        }
        r
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
        let permit = self.with(|b, now| b.try_acquire(now)).map_err(|_| CallError::Rejected)?;
        let mut in_flight = InFlight { breaker: self, permit: Some(permit) };
        let result = f().await;
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(e) if is_failure(e) => Outcome::Failure,
            Err(_) => Outcome::Success,
        };
        if let Some(permit) = in_flight.permit.take() {
            self.with(|b, now| b.record(permit, outcome, now));
        }
        result.map_err(CallError::Failed)
    }

    /// The state now, by tokio's clock.
    pub fn state(&self) -> State {
        self.with(|b, now| b.state(now))
    }

    /// Every change of state from now on, in order. The channel keeps at
    /// least the last 16 transitions for a subscriber that has not caught up.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }
}
