//! Wrong: a failed probe is counted like a failure while closed. Half-open
//! shares the closed state's failure bookkeeping, so the breaker reopens only
//! once `consecutive_failures` probes in a row have failed, and with a limit
//! of one probe it is stuck half-open on a dependency that is still down.
//!
//! Why candidates write it: one `on_failure` for every state is less code,
//! and with `consecutive_failures = 1` it even looks right. But a half-open
//! breaker exists to ask one question, "is it back?", and one failed probe is
//! the answer: open again, for a fresh timeout.
//!
//! Caught by: `a_failed_probe_opens_the_breaker_again_for_a_fresh_timeout`,
//! `followup_a_result_from_before_the_breaker_changed_state_changes_nothing`
//! and `breaker_agrees_with_a_model_of_closed_open_and_half_open`.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::broadcast;

pub use circuit_breaker_solution::{CallError, Config, Outcome, Rejected, State, Transition};

#[derive(Debug, Clone)]
pub struct Breaker {
    config: Config,
    phase: Phase,
    period: u64,
}

#[derive(Debug, Clone)]
enum Phase {
    Closed {
        window: Vec<Outcome>,
        consecutive: u32,
    },
    Open {
        since: Instant,
    },
    HalfOpen {
        in_flight: u32,
        succeeded: u32,
        failures_in_a_row: u32,
    },
}

#[derive(Debug)]
pub struct Permit {
    period: u64,
}

impl Breaker {
    pub fn new(config: Config) -> Self {
        Breaker {
            config,
            phase: Phase::Closed {
                window: Vec::new(),
                consecutive: 0,
            },
            period: 0,
        }
    }

    pub fn state(&mut self, now: Instant) -> State {
        self.refresh(now);
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.refresh(now);
        let period = self.period;
        match &mut self.phase {
            Phase::Closed { .. } => Ok(Permit { period }),
            Phase::Open { .. } => Err(Rejected),
            Phase::HalfOpen {
                in_flight,
                succeeded,
                ..
            } => {
                if *in_flight + *succeeded < self.config.half_open_probes {
                    *in_flight += 1;
                    Ok(Permit { period })
                } else {
                    Err(Rejected)
                }
            }
        }
    }

    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if permit.period != self.period {
            return;
        }
        let config = self.config;
        match &mut self.phase {
            Phase::Closed {
                window,
                consecutive,
            } => {
                match outcome {
                    Outcome::Success => *consecutive = 0,
                    Outcome::Failure => *consecutive += 1,
                }
                window.push(outcome);
                if window.len() > config.window as usize {
                    window.remove(0);
                }
                let failures = window.iter().filter(|&&o| o == Outcome::Failure).count() as u64;
                let calls = window.len() as u64;
                let by_count =
                    config.consecutive_failures > 0 && *consecutive >= config.consecutive_failures;
                let by_rate = config.failure_rate_percent > 0
                    && calls >= u64::from(config.minimum_calls)
                    && failures * 100 >= u64::from(config.failure_rate_percent) * calls;
                if by_count || by_rate {
                    self.enter(Phase::Open { since: now });
                }
            }
            Phase::Open { .. } => {}
            Phase::HalfOpen {
                in_flight,
                succeeded,
                failures_in_a_row,
            } => {
                *in_flight = in_flight.saturating_sub(1);
                match outcome {
                    // BUG: one failed probe should reopen the breaker at once.
                    Outcome::Failure => {
                        *failures_in_a_row += 1;
                        if *failures_in_a_row >= config.consecutive_failures.max(1) {
                            self.enter(Phase::Open { since: now });
                        }
                    }
                    Outcome::Success => {
                        *succeeded += 1;
                        if *succeeded >= config.half_open_probes {
                            self.close();
                        }
                    }
                }
            }
        }
    }

    pub fn release(&mut self, permit: Permit) {
        if permit.period != self.period {
            return;
        }
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    fn refresh(&mut self, now: Instant) {
        if let Phase::Open { since } = self.phase
            && now.saturating_duration_since(since) >= self.config.open_timeout
        {
            self.enter(Phase::HalfOpen {
                in_flight: 0,
                succeeded: 0,
                failures_in_a_row: 0,
            });
        }
    }

    fn close(&mut self) {
        self.enter(Phase::Closed {
            window: Vec::new(),
            consecutive: 0,
        });
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.period += 1;
    }
}

#[derive(Debug)]
pub struct CircuitBreaker {
    inner: Mutex<(Breaker, State)>,
    transitions: broadcast::Sender<Transition>,
}

impl CircuitBreaker {
    pub fn new(config: Config) -> Self {
        CircuitBreaker {
            inner: Mutex::new((Breaker::new(config), State::Closed)),
            transitions: broadcast::channel(64).0,
        }
    }

    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(|_: &E| true, f).await
    }

    pub async fn call_with<C, F, Fut, T, E>(&self, is_failure: C, f: F) -> Result<T, CallError<E>>
    where
        C: FnOnce(&E) -> bool,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self
            .update(|breaker, now| breaker.try_acquire(now))
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
        if let Some(permit) = guard.permit.take() {
            self.update(|breaker, now| breaker.record(permit, outcome, now));
        }
        result.map_err(CallError::Failed)
    }

    pub fn state(&self) -> State {
        self.update(|breaker, now| breaker.state(now))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }

    fn update<R>(&self, op: impl FnOnce(&mut Breaker, Instant) -> R) -> R {
        let now = tokio::time::Instant::now().into_std();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (breaker, last) = &mut *inner;
        let result = op(breaker, now);
        let state = breaker.state(now);
        if state != *last {
            let _ = self.transitions.send(Transition {
                from: *last,
                to: state,
            });
            *last = state;
        }
        result
    }
}

struct InFlight<'a> {
    owner: &'a CircuitBreaker,
    permit: Option<Permit>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.owner.update(|breaker, _| breaker.release(permit));
        }
    }
}
