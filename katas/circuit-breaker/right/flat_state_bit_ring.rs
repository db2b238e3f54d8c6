//! Right: the obvious design keeps the state as an enum whose closed variant owns a
//! `VecDeque<Outcome>`. This one lays the breaker out flat: a `State` tag plus integers, half-open
//! tracked as "slots taken" (in flight + succeeded) and "succeeded", and the rolling window a ring
//! of bits in a `Vec<u64>` (window/8 bytes) with a head index, a length and a running failure
//! count. Closing resets the ring in O(1) (head and length to zero; stale bits are overwritten
//! before they are read). Late and abandoned permits are recognised by a period counter bumped
//! on every change of state.

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
    state: State,
    /// When it last opened (`None` before the first trip).
    opened_at: Option<Instant>,
    /// Bumped on every change of state; a permit of another period is stale.
    period: u64,
    /// Half-open: probes in flight plus probes that succeeded.
    probes_taken: u32,
    /// Half-open: probes that succeeded.
    probes_ok: u32,
    ring: Vec<u64>,
    /// Where the next result goes; once the ring is full, also the oldest.
    head: usize,
    len: usize,
    failures: u64,
    in_a_row: u32,
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
    /// May panic on a configuration that cannot work: `half_open_probes` of
    /// zero, or a failure-rate trigger with a `window` of zero or a
    /// `minimum_calls` larger than `window`.
    pub fn new(config: Config) -> Self {
        assert!(config.half_open_probes > 0, "half_open_probes must be at least 1");
        let size = if config.failure_rate_percent > 0 {
            assert!(config.window > 0, "a failure-rate trigger needs a window");
            assert!(config.minimum_calls <= config.window, "minimum_calls above window");
            config.window as usize
        } else {
            0
        };
        Breaker {
            config,
            state: State::Closed,
            opened_at: None,
            period: 0,
            probes_taken: 0,
            probes_ok: 0,
            ring: vec![0; size.div_ceil(64)],
            head: 0,
            len: 0,
            failures: 0,
            in_a_row: 0,
        }
    }

    fn size(&self) -> usize {
        if self.config.failure_rate_percent > 0 { self.config.window as usize } else { 0 }
    }

    fn bit(&self, slot: usize) -> bool {
        self.ring[slot / 64] >> (slot % 64) & 1 == 1
    }

    fn set_bit(&mut self, slot: usize, failed: bool) {
        let mask = 1u64 << (slot % 64);
        if failed {
            self.ring[slot / 64] |= mask;
        } else {
            self.ring[slot / 64] &= !mask;
        }
    }

    fn go(&mut self, to: State, now: Instant) {
        self.state = to;
        self.period += 1;
        match to {
            State::Open => self.opened_at = Some(now),
            State::HalfOpen => {
                self.probes_taken = 0;
                self.probes_ok = 0;
            }
            State::Closed => {
                // O(1): the stale bits are overwritten before they are read.
                self.head = 0;
                self.len = 0;
                self.failures = 0;
                self.in_a_row = 0;
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        let Some(opened_at) = self.opened_at else { return };
        if self.state == State::Open
            && now.saturating_duration_since(opened_at) >= self.config.open_timeout
        {
            self.go(State::HalfOpen, now);
        }
    }

    fn stored(&self) -> State {
        self.state
    }

    /// The state at `now`: an open breaker whose timeout has passed is
    /// half-open from then on.
    pub fn state(&mut self, now: Instant) -> State {
        self.tick(now);
        self.state
    }

    /// Admits a call at `now`, or rejects it: always while closed, never while
    /// open, and while half-open only as long as fewer than
    /// `half_open_probes` probes are in flight or have succeeded. A rejected
    /// call counts for nothing.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        self.tick(now);
        match self.state {
            State::Closed => {}
            State::Open => return Err(Rejected),
            State::HalfOpen => {
                if self.probes_taken >= self.config.half_open_probes {
                    return Err(Rejected);
                }
                self.probes_taken += 1;
            }
        }
        Ok(Permit { period: self.period })
    }

    fn push(&mut self, failed: bool) {
        let size = self.size();
        if size == 0 {
            return;
        }
        if self.len == size {
            if self.bit(self.head) {
                self.failures -= 1;
            }
        } else {
            self.len += 1;
        }
        self.set_bit(self.head, failed);
        if failed {
            self.failures += 1;
        }
        self.head = if self.head + 1 == size { 0 } else { self.head + 1 };
    }

    /// Records how the call of `permit` ended, at `now`: it may open the
    /// breaker (a failure while closed, a failed probe), or close it (the
    /// last probe succeeding). A permit issued before the breaker last
    /// changed state changes nothing.
    pub fn record(&mut self, permit: Permit, outcome: Outcome, now: Instant) {
        if permit.period != self.period {
            return;
        }
        let failed = outcome == Outcome::Failure;
        match self.state {
            State::Closed => {
                self.push(failed);
                self.in_a_row = if failed { self.in_a_row + 1 } else { 0 };
                let c = self.config;
                let by_row = c.consecutive_failures > 0 && self.in_a_row >= c.consecutive_failures;
                let calls = self.len as u64;
                let by_rate = c.failure_rate_percent > 0
                    && calls > 0
                    && calls >= u64::from(c.minimum_calls)
                    && self.failures * 100 >= u64::from(c.failure_rate_percent) * calls;
                if by_row || by_rate {
                    self.go(State::Open, now);
                }
            }
            State::Open => {}
            State::HalfOpen => {
                if failed {
                    self.go(State::Open, now);
                } else {
                    self.probes_ok += 1;
                    if self.probes_ok >= self.config.half_open_probes {
                        self.go(State::Closed, now);
                    }
                }
            }
        }
    }

    /// Hands back the permit of a call that was abandoned (its future was
    /// dropped) before it had a result: a probe's slot is freed, and nothing
    /// is counted.
    pub fn release(&mut self, permit: Permit) {
        if permit.period == self.period && self.state == State::HalfOpen {
            self.probes_taken -= 1;
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
        let from = breaker.stored();
        let r = op(&mut breaker, now);
        let to = breaker.stored();
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
