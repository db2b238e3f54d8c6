//! The state machine: no clock, no runtime, no locks.

use std::collections::VecDeque;
use std::time::Instant;

use crate::{Config, Outcome, Rejected, State};

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
/// Every change of state starts a new *period* (a generation number). A
/// [`Permit`] remembers the period it was issued in, and a result counts only
/// in that period: a slow call admitted while closed that returns after the
/// breaker opened, or a probe of an earlier half-open period, changes
/// nothing.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: Config,
    phase: Phase,
    period: u64,
}

#[derive(Debug, Clone)]
enum Phase {
    Closed {
        /// The last `config.window` outcomes, oldest first.
        window: VecDeque<Outcome>,
        /// Failures in `window`.
        failures: u32,
        /// Failures since the last success.
        consecutive: u32,
    },
    Open {
        since: Instant,
    },
    HalfOpen {
        /// Probes admitted whose result has not come back.
        in_flight: u32,
        /// Probes that succeeded.
        succeeded: u32,
    },
}

impl Phase {
    fn closed() -> Self {
        Phase::Closed {
            window: VecDeque::new(),
            failures: 0,
            consecutive: 0,
        }
    }

    fn state(&self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

/// The right to make one call, issued by [`Breaker::try_acquire`]. Hand it
/// back exactly once: [`Breaker::record`] with the outcome, or
/// [`Breaker::release`] if the call was abandoned.
#[derive(Debug)]
#[must_use = "hand the permit back with `record` or `release`, or a probe slot stays taken"]
pub struct Permit {
    period: u64,
}

impl Breaker {
    /// A closed breaker with an empty window.
    ///
    /// # Panics
    /// If `half_open_probes` is zero (a half-open breaker could never close),
    /// or the failure-rate trigger is on with a `window` of zero or a
    /// `minimum_calls` larger than `window` (it could never fire).
    pub fn new(config: Config) -> Self {
        assert!(
            config.half_open_probes > 0,
            "half_open_probes must be at least 1: a half-open breaker without probes never closes"
        );
        if config.failure_rate_percent > 0 {
            assert!(
                config.window > 0 && config.minimum_calls <= config.window,
                "the failure-rate trigger needs 0 < minimum_calls <= window (got window {}, minimum_calls {})",
                config.window,
                config.minimum_calls
            );
        }
        Breaker {
            config,
            phase: Phase::closed(),
            period: 0,
        }
    }

    /// The state at `now`: an open breaker whose timeout has passed is
    /// half-open from then on.
    pub fn state(&mut self, now: Instant) -> State {
        self.refresh(now);
        self.phase.state()
    }

    /// The state as of the last call, without looking at the clock.
    pub(crate) fn last_state(&self) -> State {
        self.phase.state()
    }

    /// Admits a call at `now`, or rejects it: always while closed, never while
    /// open, and while half-open only as long as fewer than
    /// `half_open_probes` probes are in flight or have succeeded. A rejected
    /// call counts for nothing.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.refresh(now);
        let period = self.period;
        match &mut self.phase {
            Phase::Closed { .. } => Ok(Permit { period }),
            Phase::Open { .. } => Err(Rejected),
            Phase::HalfOpen {
                in_flight,
                succeeded,
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

    /// Records how the call of `permit` ended, at `now`: it may open the
    /// breaker (a failure while closed, a failed probe), or close it (the
    /// last probe succeeding). A permit issued before the breaker last
    /// changed state changes nothing.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if permit.period != self.period {
            return;
        }
        let config = self.config;
        match &mut self.phase {
            Phase::Closed {
                window,
                failures,
                consecutive,
            } => {
                match outcome {
                    Outcome::Success => *consecutive = 0,
                    Outcome::Failure => *consecutive = consecutive.saturating_add(1),
                }
                if config.failure_rate_percent > 0 {
                    if window.len() >= config.window as usize
                        && window.pop_front() == Some(Outcome::Failure)
                    {
                        *failures -= 1;
                    }
                    window.push_back(outcome);
                    if outcome == Outcome::Failure {
                        *failures += 1;
                    }
                }
                let by_count =
                    config.consecutive_failures > 0 && *consecutive >= config.consecutive_failures;
                let calls = window.len() as u64;
                let by_rate = config.failure_rate_percent > 0
                    && calls >= u64::from(config.minimum_calls)
                    && u64::from(*failures) * 100 >= u64::from(config.failure_rate_percent) * calls;
                if by_count || by_rate {
                    self.enter(Phase::Open { since: now });
                }
            }
            // Unreachable through the period check: every change of state
            // starts a new period, and nothing is admitted while open.
            Phase::Open { .. } => {}
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => {
                *in_flight = in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Failure => self.enter(Phase::Open { since: now }),
                    Outcome::Success => {
                        *succeeded += 1;
                        if *succeeded >= config.half_open_probes {
                            self.enter(Phase::closed());
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
        if permit.period != self.period {
            return;
        }
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Moves an open breaker whose timeout has passed to half-open.
    fn refresh(&mut self, now: Instant) {
        if let Phase::Open { since } = self.phase
            && now.saturating_duration_since(since) >= self.config.open_timeout
        {
            self.enter(Phase::HalfOpen {
                in_flight: 0,
                succeeded: 0,
            });
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.period += 1;
    }
}
