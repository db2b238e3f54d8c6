//! The specification of the circuit-breaker kata.
//!
//! Every test name is a requirement; read the failing names first. The state
//! machine (`Breaker`) is driven with instants passed in as `t0 + <offset>`;
//! the async breaker (`CircuitBreaker`) runs on tokio's paused clock, which
//! the spec advances by hand, so a 30-second open timeout is checked to the
//! millisecond and instantly. Nothing here sleeps on the wall clock, and
//! every await on your code is bounded.
//!
//! `cargo test -p circuit-breaker` judges your code;
//! `cargo test -p circuit-breaker --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use circuit_breaker as subject;
#[cfg(feature = "solution")]
use circuit_breaker_solution as subject;

use std::future::{Future, pending};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Breaker, CallError, CircuitBreaker, Config, Outcome, Permit, Rejected, State, Transition,
};
use tokio::sync::{Semaphore, broadcast, oneshot};
use tokio::task::{LocalSet, spawn_local, yield_now};
use tokio::time::advance;

// ───────────────────────────── helpers ─────────────────────────────

const NS: Duration = Duration::from_nanos(1);

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Opens after `consecutive` failures in a row; no failure-rate trigger.
const fn consecutive(consecutive: u32, open_timeout: Duration, probes: u32) -> Config {
    Config {
        consecutive_failures: consecutive,
        failure_rate_percent: 0,
        window: 10,
        minimum_calls: 10,
        open_timeout,
        half_open_probes: probes,
    }
}

/// Opens at `percent`% failures over the last `window` calls (at least
/// `minimum_calls` of them); no consecutive-failure trigger.
const fn rate(percent: u32, window: u32, minimum_calls: u32) -> Config {
    Config {
        consecutive_failures: 0,
        failure_rate_percent: percent,
        window,
        minimum_calls,
        open_timeout: secs(30),
        half_open_probes: 1,
    }
}

/// Admits one call at `now` and records its outcome; panics (with what was
/// expected) if the breaker rejects it.
fn complete(breaker: &mut Breaker, outcome: Outcome, now: Instant, why: &str) {
    match breaker.try_acquire(now) {
        Ok(permit) => breaker.record(permit, outcome, now),
        Err(Rejected) => panic!("the call should have been admitted: {why}"),
    }
}

/// A breaker opened at `t0` by `config.consecutive_failures` failures.
fn opened(config: Config, t0: Instant) -> Breaker {
    let mut breaker = Breaker::new(config);
    for i in 1..=config.consecutive_failures {
        complete(
            &mut breaker,
            Outcome::Failure,
            t0,
            &format!("a closed breaker admits every call (failure {i})"),
        );
    }
    assert_eq!(
        breaker.state(t0),
        State::Open,
        "{} failures in a row should open a breaker configured with consecutive_failures = {}",
        config.consecutive_failures,
        config.consecutive_failures
    );
    breaker
}

/// An HTTP-like status a dependency fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status(u16);

/// Awaits `future` for at most 5 s of tokio time (paused: instant), so that a
/// breaker that never lets a call finish fails the spec instead of hanging it.
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(secs(5), future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} should finish, but was still pending after 5 s"),
    }
}

/// One call through `breaker` that fails with `503`.
async fn fail(breaker: &CircuitBreaker) -> Result<(), CallError<Status>> {
    bounded(
        "a failing call",
        breaker.call(|| async { Err(Status(503)) }),
    )
    .await
}

/// One call through `breaker` that succeeds.
async fn succeed(breaker: &CircuitBreaker) -> Result<(), CallError<Status>> {
    bounded("a succeeding call", breaker.call(|| async { Ok(()) })).await
}

/// Every transition published since the last drain.
fn drain(receiver: &mut broadcast::Receiver<Transition>) -> Vec<Transition> {
    let mut seen = Vec::new();
    loop {
        match receiver.try_recv() {
            Ok(transition) => seen.push(transition),
            Err(broadcast::error::TryRecvError::Empty) => return seen,
            Err(other) => panic!("the transition channel should stay readable: {other:?}"),
        }
    }
}

const fn transition(from: State, to: State) -> Transition {
    Transition { from, to }
}

/// Whether a type is `Send` and `Sync`, asked at run time so that a wrong
/// answer fails one spec instead of the whole file failing to compile. The
/// inherent functions exist only when the bound holds, and then shadow the
/// trait's, which answer `false`.
struct Is<T: ?Sized>(PhantomData<T>);

// Used only when an answer's type is not `Send` or not `Sync`.
#[allow(dead_code)]
trait Otherwise {
    fn send() -> bool {
        false
    }

    fn sync() -> bool {
        false
    }
}

impl<T: ?Sized> Otherwise for Is<T> {}

impl<T: ?Sized + Send> Is<T> {
    fn send() -> bool {
        true
    }
}

impl<T: ?Sized + Sync> Is<T> {
    fn sync() -> bool {
        true
    }
}

/// Whether a value's type is `Send`, for a type that cannot be named (the
/// future of an `async fn`): autoref picks `IsSendValue` when the bound holds.
#[allow(dead_code)] // the reference is a type witness, never read
struct Probe<'a, T>(&'a T);

trait IsSendValue {
    fn is_send(&self) -> bool {
        true
    }
}

impl<T: Send> IsSendValue for &Probe<'_, T> {}

// Used only when an answer's future is not `Send`.
#[allow(dead_code)]
trait AnyValue {
    fn is_send(&self) -> bool {
        false
    }
}

impl<T> AnyValue for Probe<'_, T> {}

/// Panics, in the problem's words, unless tasks on any thread can share
/// `breaker` through an `Arc` and spawn its calls: `CircuitBreaker` is `Send`
/// and `Sync`, and the future of `call` is `Send` (no lock guard held across
/// the dependency's `.await`). The concurrency specs check this first, so
/// that such an answer fails them instead of deadlocking their one thread.
fn assert_shareable(breaker: &CircuitBreaker) {
    assert!(
        Is::<CircuitBreaker>::send() && Is::<CircuitBreaker>::sync(),
        "CircuitBreaker should be Send and Sync: tasks share it through an Arc, and \
         tokio::spawn moves them to any worker thread (a RefCell or Rc inside prevents it)"
    );
    let call = breaker.call(|| async { Ok::<(), Status>(()) });
    assert!(
        (&&Probe(&call)).is_send(),
        "the future of CircuitBreaker::call should be Send, so that a task calling through the \
         breaker can be spawned: is a lock guard held across the dependency's .await?"
    );
}

// ──────────────── Closed: consecutive failures ────────────────

#[test]
fn a_new_breaker_is_closed_and_admits_every_call() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(consecutive(3, secs(30), 1));
    assert_eq!(breaker.state(t0), State::Closed, "a new breaker is closed");
    for i in 1..=20 {
        complete(
            &mut breaker,
            Outcome::Success,
            t0 + ms(i),
            &format!("a closed breaker admits every call (call {i})"),
        );
    }
    assert_eq!(
        breaker.state(t0 + ms(20)),
        State::Closed,
        "20 successful calls should leave the breaker closed"
    );
}

#[rstest]
#[case::one_failure(1)]
#[case::three_failures(3)]
#[case::five_failures(5)]
fn opens_after_the_configured_number_of_consecutive_failures(#[case] threshold: u32) {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(consecutive(threshold, secs(30), 1));
    for i in 1..threshold {
        complete(
            &mut breaker,
            Outcome::Failure,
            t0,
            "a closed breaker admits every call",
        );
        assert_eq!(
            breaker.state(t0),
            State::Closed,
            "{i} failure(s) in a row should leave closed a breaker that opens after {threshold}"
        );
    }
    complete(
        &mut breaker,
        Outcome::Failure,
        t0,
        "a closed breaker admits every call",
    );
    assert_eq!(
        breaker.state(t0),
        State::Open,
        "failure {threshold} in a row should open a breaker configured with consecutive_failures = {threshold}"
    );
    assert_eq!(
        breaker.try_acquire(t0).map(drop),
        Err(Rejected),
        "an open breaker should reject the next call"
    );
}

#[test]
fn a_success_resets_the_consecutive_failure_count() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(consecutive(3, secs(30), 1));
    for outcome in [
        Outcome::Failure,
        Outcome::Failure,
        Outcome::Success,
        Outcome::Failure,
        Outcome::Failure,
    ] {
        complete(
            &mut breaker,
            outcome,
            t0,
            "a closed breaker admits every call",
        );
    }
    assert_eq!(
        breaker.state(t0),
        State::Closed,
        "failure, failure, success, failure, failure is never 3 failures in a row: \
         the breaker should stay closed"
    );
    complete(
        &mut breaker,
        Outcome::Failure,
        t0,
        "a closed breaker admits every call",
    );
    assert_eq!(
        breaker.state(t0),
        State::Open,
        "the third failure after the success should open the breaker"
    );
}

// ──────────────── Closed: failure rate over a rolling window ────────────────

const S: Outcome = Outcome::Success;
const F: Outcome = Outcome::Failure;

#[rstest]
#[case::below_the_minimum_number_of_calls(rate(50, 10, 5), &[F, F, F, F], State::Closed)]
#[case::at_the_minimum_number_of_calls(rate(50, 10, 5), &[F, F, F, F, F], State::Open)]
#[case::exactly_at_the_threshold(rate(50, 4, 4), &[S, S, F, F], State::Open)]
#[case::just_below_the_threshold(rate(50, 5, 5), &[S, S, S, F, F], State::Closed)]
#[case::on_the_success_that_reaches_the_minimum(rate(50, 4, 4), &[F, F, F, S], State::Open)]
#[case::only_the_last_window_calls_count(
    rate(50, 4, 4), &[S, S, S, S, S, S, S, S, F, F], State::Open
)]
#[case::an_old_failure_leaves_the_window(rate(50, 4, 4), &[F, S, S, S, S, S, F], State::Closed)]
#[case::every_call_failing_at_one_hundred_percent(rate(100, 3, 3), &[S, F, F, F], State::Open)]
#[case::one_success_in_the_window_at_one_hundred_percent(
    rate(100, 3, 3), &[F, F, S, F, F], State::Closed
)]
fn opens_when_the_failure_rate_over_the_last_window_calls_reaches_the_threshold(
    #[case] config: Config,
    #[case] outcomes: &[Outcome],
    #[case] expected: State,
) {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(config);
    for (i, &outcome) in outcomes.iter().enumerate() {
        let now = t0 + ms(i as u64);
        let state = breaker.state(now);
        assert_eq!(
            state,
            State::Closed,
            "the breaker opened after only {:?} (configured: {}% failures over the last {} calls, \
             at least {}); outcomes: {outcomes:?}",
            &outcomes[..i],
            config.failure_rate_percent,
            config.window,
            config.minimum_calls
        );
        complete(
            &mut breaker,
            outcome,
            now,
            "a closed breaker admits every call",
        );
    }
    let now = t0 + ms(outcomes.len() as u64);
    assert_eq!(
        breaker.state(now),
        expected,
        "after {outcomes:?} a breaker that opens at {}% failures over the last {} calls \
         (judged from {} calls on) should be {expected:?}",
        config.failure_rate_percent,
        config.window,
        config.minimum_calls
    );
}

#[rstest]
#[case::twenty_nine_of_a_hundred(29, 100)]
#[case::fifty_three_of_a_hundred(53, 100)]
#[case::fifty_seven_of_a_hundred(57, 100)]
#[case::fifty_eight_of_a_hundred(58, 100)]
#[case::fifty_nine_of_a_hundred(59, 100)]
#[case::twenty_nine_of_fifty(58, 50)]
#[case::seven_of_twenty(35, 20)]
#[case::seven_of_ten(70, 10)]
fn opens_at_exactly_the_threshold_rate_whatever_the_percentage(
    #[case] percent: u32,
    #[case] window: u32,
) {
    let failures = percent * window / 100;
    let t0 = Instant::now();
    let mut breaker = Breaker::new(rate(percent, window, window));
    for i in 0..window {
        assert_eq!(
            breaker.state(t0),
            State::Closed,
            "the window is judged only once it holds {window} calls"
        );
        let outcome = if i < window - failures { S } else { F };
        complete(
            &mut breaker,
            outcome,
            t0,
            "a closed breaker admits every call",
        );
    }
    assert_eq!(
        breaker.state(t0),
        State::Open,
        "{failures} failures in the last {window} calls is exactly {percent}%: a breaker that \
         opens at {percent}% should open (compare failures × 100 ≥ percent × calls in integers; \
         {failures} / {window} × 100 is below {percent} in floating point)"
    );
}

// ──────────────── Open: rejects fast, then the timeout ────────────────

#[rstest]
#[case::one_millisecond_before(secs(30) - ms(1), false)]
#[case::one_nanosecond_before(secs(30) - NS, false)]
#[case::exactly_at_the_timeout(secs(30), true)]
#[case::long_after(secs(3600), true)]
fn an_open_breaker_lets_a_probe_through_exactly_when_the_open_timeout_has_passed(
    #[case] elapsed: Duration,
    #[case] admitted: bool,
) {
    let t0 = Instant::now();
    let mut breaker = opened(consecutive(2, secs(30), 1), t0);
    let expected = if admitted {
        State::HalfOpen
    } else {
        State::Open
    };
    assert_eq!(
        breaker.state(t0 + elapsed),
        expected,
        "a breaker opened at t0 with a 30 s open timeout should be {expected:?} at t0 + {elapsed:?}"
    );
    assert_eq!(
        breaker.try_acquire(t0 + elapsed).is_ok(),
        admitted,
        "a breaker opened at t0 with a 30 s open timeout should {} a call at t0 + {elapsed:?}",
        if admitted {
            "admit (as a probe)"
        } else {
            "reject"
        }
    );
}

#[test]
fn rejected_calls_do_not_count_as_failures_nor_delay_the_probe() {
    let t0 = Instant::now();
    let mut breaker = opened(consecutive(2, secs(30), 1), t0);
    for second in 1..30 {
        assert!(
            breaker.try_acquire(t0 + secs(second)).is_err(),
            "a breaker opened at t0 with a 30 s open timeout should reject a call at t0 + {second} s"
        );
    }
    assert!(
        breaker.try_acquire(t0 + secs(30)).is_ok(),
        "29 calls rejected while open should not restart the open timeout: \
         the probe is due exactly 30 s after the breaker opened"
    );
}

#[test]
fn an_open_timeout_of_duration_max_keeps_the_breaker_open_without_overflow() {
    let t0 = Instant::now();
    let mut breaker = opened(consecutive(1, Duration::MAX, 1), t0);
    for later in [ms(1), secs(3600), secs(10 * 365 * 24 * 3600)] {
        assert_eq!(
            breaker.state(t0 + later),
            State::Open,
            "a breaker opened at t0 with an open timeout of Duration::MAX (\"until an operator \
             resets it\") should still be open at t0 + {later:?}: t0 + Duration::MAX is past any \
             instant, so compute it with checked_add or compare the elapsed time"
        );
        assert!(
            breaker.try_acquire(t0 + later).is_err(),
            "a breaker open for Duration::MAX should reject a call at t0 + {later:?}"
        );
    }
}

// ──────────────── Half-open: limited probes decide ────────────────

#[rstest]
#[case::one_probe(1)]
#[case::two_probes(2)]
#[case::three_probes(3)]
fn half_open_admits_no_more_than_the_probe_limit(#[case] probes: u32) {
    let t0 = Instant::now();
    let now = t0 + secs(30);
    let mut breaker = opened(consecutive(1, secs(30), probes), t0);
    let mut permits: Vec<Permit> = Vec::new();
    for i in 1..=probes {
        match breaker.try_acquire(now) {
            Ok(permit) => permits.push(permit),
            Err(Rejected) => {
                panic!("a half-open breaker with a limit of {probes} probes should admit probe {i}")
            }
        }
    }
    for extra in 1..=5 {
        assert!(
            breaker.try_acquire(now).is_err(),
            "a half-open breaker with a limit of {probes} probes, all in flight, \
             should reject extra call {extra}"
        );
    }
    assert_eq!(
        breaker.state(now),
        State::HalfOpen,
        "rejecting calls while the probes are in flight should leave the breaker half-open"
    );
}

#[test]
fn closes_once_every_probe_has_succeeded_and_starts_counting_afresh() {
    let t0 = Instant::now();
    let now = t0 + secs(30);
    let mut breaker = opened(consecutive(2, secs(30), 3), t0);
    let mut permits: Vec<Permit> = (1..=3)
        .map(|i| {
            breaker.try_acquire(now).unwrap_or_else(|_| {
                panic!("a half-open breaker with a limit of 3 probes should admit probe {i}")
            })
        })
        .collect();
    for done in 1..=2 {
        let permit = permits.pop().expect("three permits");
        breaker.record(permit, Outcome::Success, now);
        assert_eq!(
            breaker.state(now),
            State::HalfOpen,
            "{done} of 3 probes succeeded: the breaker should stay half-open until all 3 have"
        );
        assert!(
            breaker.try_acquire(now).is_err(),
            "{done} of 3 probes succeeded and the rest are in flight: the probe limit of 3 \
             is spent, so another call should be rejected"
        );
    }
    let permit = permits.pop().expect("three permits");
    breaker.record(permit, Outcome::Success, now);
    assert_eq!(
        breaker.state(now),
        State::Closed,
        "all 3 probes succeeded: the breaker should close"
    );
    complete(
        &mut breaker,
        Outcome::Failure,
        now,
        "a breaker that just closed admits every call",
    );
    assert_eq!(
        breaker.state(now),
        State::Closed,
        "a breaker that just closed counts failures from zero: one failure should not \
         reopen a breaker that opens after 2 in a row"
    );
    complete(
        &mut breaker,
        Outcome::Failure,
        now,
        "a closed breaker admits every call",
    );
    assert_eq!(
        breaker.state(now),
        State::Open,
        "the second failure in a row after closing should open the breaker again"
    );
}

#[test]
fn a_failed_probe_opens_the_breaker_again_for_a_fresh_timeout() {
    let t0 = Instant::now();
    let mut breaker = opened(consecutive(3, secs(30), 2), t0);
    let probe_at = t0 + secs(31);
    let first = breaker
        .try_acquire(probe_at)
        .expect("31 s after opening with a 30 s timeout, a probe should be admitted");
    let second = breaker
        .try_acquire(probe_at)
        .expect("a limit of 2 probes should admit a second one");
    let failed_at = probe_at + secs(1);
    breaker.record(first, Outcome::Failure, failed_at);
    assert_eq!(
        breaker.state(failed_at),
        State::Open,
        "one failed probe should open the breaker again at once, whatever consecutive_failures is"
    );
    breaker.record(second, Outcome::Success, failed_at);
    assert_eq!(
        breaker.state(failed_at),
        State::Open,
        "a probe that succeeds after another probe failed should not close the reopened breaker"
    );
    assert!(
        breaker.try_acquire(failed_at + secs(30) - ms(1)).is_err(),
        "the breaker reopened at t0 + 32 s should reject a call 1 ms before its fresh 30 s timeout"
    );
    assert!(
        breaker.try_acquire(failed_at + secs(30)).is_ok(),
        "the breaker reopened at t0 + 32 s should admit a probe exactly 30 s later"
    );
}

#[test]
fn a_call_rejected_while_half_open_does_not_count_against_the_probes() {
    let t0 = Instant::now();
    let now = t0 + secs(30);
    let mut breaker = opened(consecutive(1, secs(30), 1), t0);
    let probe = breaker
        .try_acquire(now)
        .expect("a probe is due exactly at the open timeout");
    for extra in 1..=3 {
        assert!(
            breaker.try_acquire(now).is_err(),
            "with its one probe in flight the half-open breaker should reject call {extra}"
        );
    }
    breaker.record(probe, Outcome::Success, now);
    assert_eq!(
        breaker.state(now),
        State::Closed,
        "the probe succeeded, so the breaker should close: the calls rejected meanwhile \
         never reached the dependency and are not failed probes"
    );
}

// ──────────────── The state machine against a model ────────────────

/// What one step of random traffic does.
#[derive(Debug, Clone)]
enum Step {
    /// A call arrives.
    Call,
    /// The call in flight with this index (modulo how many there are) ends.
    End { pick: usize, how: End },
    /// Time passes.
    Wait(Wait),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Success,
    Failure,
    /// Abandoned before it had a result (its future was dropped).
    Abandoned,
}

#[derive(Debug, Clone, Copy)]
enum Wait {
    Millis(u64),
    /// To 1 ms before an open breaker's timeout.
    JustBeforeTheTimeout,
    /// To exactly an open breaker's timeout.
    ToTheTimeout,
}

/// The obvious breaker: a list of the results in the window, recounted on
/// every call.
#[derive(Debug)]
struct Model {
    config: Config,
    state: ModelState,
    /// Bumped on every change of state: a call's result counts only in the
    /// period it was admitted in.
    period: u32,
}

#[derive(Debug)]
enum ModelState {
    Closed { results: Vec<Outcome> },
    Open { since: Instant },
    HalfOpen { in_flight: u32, succeeded: u32 },
}

impl Model {
    fn state(&mut self, now: Instant) -> State {
        if let ModelState::Open { since } = self.state
            && now >= since + self.config.open_timeout
        {
            self.enter(ModelState::HalfOpen {
                in_flight: 0,
                succeeded: 0,
            });
        }
        match self.state {
            ModelState::Closed { .. } => State::Closed,
            ModelState::Open { .. } => State::Open,
            ModelState::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn enter(&mut self, state: ModelState) {
        self.state = state;
        self.period += 1;
    }

    /// The period of the call admitted, if it is.
    fn call(&mut self, now: Instant) -> Option<u32> {
        self.state(now);
        let limit = self.config.half_open_probes;
        match &mut self.state {
            ModelState::Closed { .. } => Some(self.period),
            ModelState::Open { .. } => None,
            ModelState::HalfOpen {
                in_flight,
                succeeded,
            } => (*in_flight + *succeeded < limit).then(|| {
                *in_flight += 1;
                self.period
            }),
        }
    }

    fn end(&mut self, period: u32, how: End, now: Instant) {
        if period != self.period {
            return;
        }
        let config = self.config;
        match &mut self.state {
            ModelState::Closed { results } => {
                let outcome = match how {
                    End::Success => Outcome::Success,
                    End::Failure => Outcome::Failure,
                    End::Abandoned => return,
                };
                results.push(outcome);
                let in_a_row = results
                    .iter()
                    .rev()
                    .take_while(|&&o| o == Outcome::Failure)
                    .count();
                let window: Vec<Outcome> = results
                    .iter()
                    .rev()
                    .take(config.window as usize)
                    .copied()
                    .collect();
                let failures = window.iter().filter(|&&o| o == Outcome::Failure).count();
                let by_count = config.consecutive_failures > 0
                    && in_a_row >= config.consecutive_failures as usize;
                let by_rate = config.failure_rate_percent > 0
                    && window.len() >= config.minimum_calls as usize
                    && failures * 100 >= config.failure_rate_percent as usize * window.len();
                if by_count || by_rate {
                    self.enter(ModelState::Open { since: now });
                }
            }
            ModelState::Open { .. } => {}
            ModelState::HalfOpen {
                in_flight,
                succeeded,
            } => {
                *in_flight -= 1;
                match how {
                    End::Abandoned => {}
                    End::Failure => self.enter(ModelState::Open { since: now }),
                    End::Success => {
                        *succeeded += 1;
                        if *succeeded == config.half_open_probes {
                            self.enter(ModelState::Closed {
                                results: Vec::new(),
                            });
                        }
                    }
                }
            }
        }
    }
}

fn configs() -> impl Strategy<Value = Config> {
    (
        prop_oneof![1 => Just(0u32), 3 => 1u32..=4],
        prop_oneof![1 => Just(0u32), 1 => Just(50u32), 1 => Just(100u32), 2 => 1u32..=100],
        1u32..=6,
        1u32..=3,
    )
        .prop_flat_map(
            |(consecutive_failures, failure_rate_percent, window, probes)| {
                (1..=window).prop_map(move |minimum_calls| Config {
                    consecutive_failures,
                    failure_rate_percent,
                    window,
                    minimum_calls,
                    open_timeout: ms(100),
                    half_open_probes: probes,
                })
            },
        )
}

fn steps(late_and_abandoned: bool) -> impl Strategy<Value = Vec<Step>> {
    let end = if late_and_abandoned {
        prop_oneof![
            3 => Just(End::Success),
            3 => Just(End::Failure),
            1 => Just(End::Abandoned)
        ]
        .boxed()
    } else {
        prop_oneof![Just(End::Success), Just(End::Failure)].boxed()
    };
    let step = prop_oneof![
        4 => Just(Step::Call),
        5 => (any::<usize>(), end).prop_map(|(pick, how)| Step::End { pick, how }),
        1 => prop_oneof![Just(0u64), Just(1), 1u64..=150].prop_map(|m| Step::Wait(Wait::Millis(m))),
        1 => Just(Step::Wait(Wait::JustBeforeTheTimeout)),
        2 => Just(Step::Wait(Wait::ToTheTimeout)),
    ];
    vec(step, 1..80)
}

/// Drives a `Breaker` and the model with the same steps and compares every
/// decision and the state after every step. Without `late_and_abandoned`, a
/// call ends only in the state it was admitted in and is never abandoned.
fn agrees_with_the_model(
    config: Config,
    steps: &[Step],
    late_and_abandoned: bool,
) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    let mut now = t0;
    let mut breaker = Breaker::new(config);
    let mut model = Model {
        config,
        state: ModelState::Closed {
            results: Vec::new(),
        },
        period: 0,
    };
    let mut in_flight: Vec<(Permit, u32)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Step::Call => {
                let expected = model.call(now);
                match (breaker.try_acquire(now), expected) {
                    (Ok(permit), Some(period)) => in_flight.push((permit, period)),
                    (Err(Rejected), None) => {}
                    (got, _) => prop_assert!(
                        false,
                        "step {}: a call at t0 + {:?} should be {} ({:?} with {} call(s) in flight), \
                         but was {}; config {:?}",
                        i,
                        now - t0,
                        if expected.is_some() {
                            "admitted"
                        } else {
                            "rejected"
                        },
                        model.state,
                        in_flight.len(),
                        if got.is_ok() { "admitted" } else { "rejected" },
                        config
                    ),
                }
            }
            Step::End { pick, how } => {
                if !late_and_abandoned {
                    // Calls admitted before the last change of state never end.
                    in_flight.retain(|&(_, period)| period == model.period);
                }
                if in_flight.is_empty() {
                    continue;
                }
                let (permit, period) = in_flight.swap_remove(pick % in_flight.len());
                match how {
                    End::Success => breaker.record(permit, Outcome::Success, now),
                    End::Failure => breaker.record(permit, Outcome::Failure, now),
                    End::Abandoned => breaker.release(permit),
                }
                model.end(period, how, now);
            }
            Step::Wait(wait) => {
                let timeout_at = match model.state {
                    ModelState::Open { since } => Some(since + config.open_timeout),
                    _ => None,
                };
                now = match (wait, timeout_at) {
                    (Wait::Millis(m), _) => now + ms(m),
                    (Wait::JustBeforeTheTimeout, Some(at)) => (at - ms(1)).max(now),
                    (Wait::ToTheTimeout, Some(at)) => at.max(now),
                    (_, None) => now + ms(1),
                };
            }
        }
        let expected = model.state(now);
        prop_assert_eq!(
            breaker.state(now),
            expected,
            "after step {} ({:?}) at t0 + {:?} the breaker should be {:?}; config {:?}; \
             steps so far: {:?}",
            i,
            step,
            now - t0,
            expected,
            config,
            &steps[..=i]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn breaker_agrees_with_a_model_of_closed_open_and_half_open(
        config in configs(),
        steps in steps(false),
    ) {
        agrees_with_the_model(config, &steps, false)?;
    }

    #[test]
    fn followup_breaker_agrees_with_the_model_when_calls_end_late_or_are_abandoned(
        config in configs(),
        steps in steps(true),
    ) {
        agrees_with_the_model(config, &steps, true)?;
    }
}

#[test]
fn followup_a_result_from_before_the_breaker_changed_state_changes_nothing() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(consecutive(1, secs(30), 1));
    let slow_success = breaker
        .try_acquire(t0)
        .expect("a closed breaker admits every call");
    let slow_failure = breaker
        .try_acquire(t0)
        .expect("a closed breaker admits every call");
    complete(
        &mut breaker,
        Outcome::Failure,
        t0,
        "a closed breaker admits every call",
    );
    let half_open = t0 + secs(30);
    let probe = breaker
        .try_acquire(half_open)
        .expect("a probe is due exactly at the open timeout");
    breaker.record(slow_success, Outcome::Success, half_open);
    assert_eq!(
        breaker.state(half_open),
        State::HalfOpen,
        "a call admitted while the breaker was still closed succeeded during the half-open \
         period: it is not the probe, and should not close the breaker"
    );
    breaker.record(slow_failure, Outcome::Failure, half_open);
    assert_eq!(
        breaker.state(half_open),
        State::HalfOpen,
        "a call admitted while the breaker was still closed failed during the half-open \
         period: it is not the probe, and should not reopen the breaker"
    );
    breaker.record(probe, Outcome::Failure, half_open);
    assert_eq!(
        breaker.state(half_open),
        State::Open,
        "the probe itself failed: the breaker should open again"
    );
    let second_half_open = half_open + secs(30);
    let second_probe = breaker
        .try_acquire(second_half_open)
        .expect("a probe is due 30 s after the breaker reopened");
    assert!(
        breaker.try_acquire(second_half_open).is_err(),
        "the one probe slot is taken"
    );
    breaker.record(second_probe, Outcome::Success, second_half_open);
    assert_eq!(
        breaker.state(second_half_open),
        State::Closed,
        "the second half-open period's probe succeeded: the breaker should close"
    );
}

#[test]
fn followup_a_probe_from_an_earlier_half_open_period_does_not_count_in_the_next() {
    let t0 = Instant::now();
    let mut breaker = opened(consecutive(1, secs(30), 3), t0);
    let first_half_open = t0 + secs(30);
    let mut old = (0..3)
        .map(|i| {
            breaker.try_acquire(first_half_open).unwrap_or_else(|_| {
                panic!("a half-open breaker with a limit of 3 probes should admit probe {i}")
            })
        })
        .collect::<Vec<_>>();
    let failed = old.pop().expect("three probes");
    breaker.record(failed, Outcome::Failure, first_half_open);
    assert_eq!(
        breaker.state(first_half_open),
        State::Open,
        "one failed probe reopens the breaker"
    );
    let second_half_open = first_half_open + secs(30);
    let fresh = (0..3)
        .map(|i| {
            breaker.try_acquire(second_half_open).unwrap_or_else(|_| {
                panic!(
                    "the second half-open period starts with its 3 probe slots free: probe {i} \
                     should be admitted"
                )
            })
        })
        .collect::<Vec<_>>();
    let released = old.pop().expect("two probes left");
    let late_success = old.pop().expect("one probe left");
    breaker.record(late_success, Outcome::Success, second_half_open);
    breaker.release(released);
    assert_eq!(
        breaker.state(second_half_open),
        State::HalfOpen,
        "a probe of the first half-open period that succeeds (or is abandoned) during the second \
         is not one of its probes: the breaker should stay half-open"
    );
    assert!(
        breaker.try_acquire(second_half_open).is_err(),
        "the second half-open period's 3 probes are in flight: results and releases of the \
         first period's probes should not free their slots, so a 4th call is rejected"
    );
    for (done, probe) in fresh.into_iter().enumerate() {
        assert_eq!(
            breaker.state(second_half_open),
            State::HalfOpen,
            "only {done} of the second period's 3 probes have succeeded: the breaker should stay \
             half-open (the first period's late success does not count)"
        );
        breaker.record(probe, Outcome::Success, second_half_open);
    }
    assert_eq!(
        breaker.state(second_half_open),
        State::Closed,
        "the second period's 3 probes succeeded: the breaker should close"
    );
}

#[test]
fn followup_an_abandoned_probe_frees_its_slot_without_counting() {
    let t0 = Instant::now();
    let now = t0 + secs(30);
    let mut breaker = opened(consecutive(1, secs(30), 1), t0);
    let abandoned = breaker
        .try_acquire(now)
        .expect("a probe is due exactly at the open timeout");
    breaker.release(abandoned);
    assert_eq!(
        breaker.state(now),
        State::HalfOpen,
        "an abandoned probe is neither a success nor a failure: the breaker should stay half-open"
    );
    let probe = breaker.try_acquire(now).expect(
        "the abandoned probe's slot should be free again: a half-open breaker whose only probe \
         was abandoned must let another probe through, or it stays half-open for ever",
    );
    breaker.record(probe, Outcome::Success, now);
    assert_eq!(
        breaker.state(now),
        State::Closed,
        "the replacement probe succeeded: the breaker should close"
    );
}

// ──────────────── The async breaker, on tokio's paused clock ────────────────

#[tokio::test(start_paused = true)]
async fn call_returns_the_dependency_value_or_its_error() {
    let breaker = CircuitBreaker::new(consecutive(3, secs(30), 1));
    assert_eq!(
        bounded("a call", breaker.call(|| async { Ok::<_, Status>(42) })).await,
        Ok(42),
        "a closed breaker should return the dependency's value"
    );
    assert_eq!(
        bounded(
            "a call",
            breaker.call(|| async { Err::<u32, _>(Status(503)) })
        )
        .await,
        Err(CallError::Failed(Status(503))),
        "a closed breaker should return the dependency's error as CallError::Failed"
    );
    assert_eq!(
        breaker.state(),
        State::Closed,
        "one failure of 3 leaves it closed"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_rejects_calls_without_calling_the_dependency() {
    let breaker = CircuitBreaker::new(consecutive(3, secs(30), 1));
    for _ in 0..3 {
        assert_eq!(fail(&breaker).await, Err(CallError::Failed(Status(503))));
    }
    assert_eq!(
        breaker.state(),
        State::Open,
        "3 failed calls in a row should open a breaker configured with consecutive_failures = 3"
    );
    let called = AtomicUsize::new(0);
    for i in 1..=5 {
        let result = bounded(
            "a call through an open breaker",
            breaker.call(|| {
                called.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Status>(()) }
            }),
        )
        .await;
        assert_eq!(
            result,
            Err(CallError::Rejected),
            "call {i} through an open breaker should be rejected"
        );
    }
    assert_eq!(
        called.load(Ordering::SeqCst),
        0,
        "an open breaker should never call the dependency"
    );
}

#[tokio::test(start_paused = true)]
async fn the_open_timeout_runs_on_tokio_time_to_the_millisecond() {
    let breaker = CircuitBreaker::new(consecutive(2, secs(30), 1));
    fail(&breaker).await.ok();
    fail(&breaker).await.ok();
    assert_eq!(breaker.state(), State::Open, "2 failures in a row open it");
    advance(secs(30) - ms(1)).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "29.999 s after opening, a breaker with a 30 s open timeout should still be open"
    );
    assert_eq!(
        succeed(&breaker).await,
        Err(CallError::Rejected),
        "29.999 s after opening, a breaker with a 30 s open timeout should reject the call"
    );
    advance(ms(1)).await;
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "exactly 30 s after opening, a breaker with a 30 s open timeout should be half-open"
    );
    assert_eq!(
        succeed(&breaker).await,
        Ok(()),
        "exactly 30 s after opening, the breaker should let a probe through"
    );
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the only probe succeeded: the breaker should close"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_in_half_open_never_exceed_the_probe_limit() {
    // The callers are tasks on this test's thread (a `LocalSet`), so that an
    // answer that is not `Sync` fails `assert_shareable` instead of the file
    // failing to compile.
    LocalSet::new()
        .run_until(callers_of_a_half_open_breaker())
        .await;
}

async fn callers_of_a_half_open_breaker() {
    const CALLERS: usize = 10;
    const PROBES: u32 = 3;
    let breaker = Arc::new(CircuitBreaker::new(consecutive(1, secs(10), PROBES)));
    assert_shareable(&breaker);
    fail(&breaker).await.ok();
    advance(secs(10)).await;

    let gate = Arc::new(Semaphore::new(0));
    let called = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (breaker, gate, called, in_flight, most_in_flight) = (
                Arc::clone(&breaker),
                Arc::clone(&gate),
                Arc::clone(&called),
                Arc::clone(&in_flight),
                Arc::clone(&most_in_flight),
            );
            spawn_local(async move {
                breaker
                    .call(move || {
                        called.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            most_in_flight.fetch_max(now, Ordering::SeqCst);
                            let _permit = gate.acquire().await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, Status>(())
                        }
                    })
                    .await
            })
        })
        .collect();
    // Let every caller reach the breaker: each either calls the dependency
    // (and waits at the gate) or is rejected and finishes.
    for _ in 0..100 {
        let finished = callers.iter().filter(|c| c.is_finished()).count();
        if called.load(Ordering::SeqCst) + finished >= CALLERS {
            break;
        }
        yield_now().await;
    }
    assert_eq!(
        called.load(Ordering::SeqCst),
        PROBES as usize,
        "{CALLERS} concurrent callers reached a half-open breaker with a limit of {PROBES} \
         probes: exactly {PROBES} should have called the dependency"
    );
    assert!(
        most_in_flight.load(Ordering::SeqCst) <= PROBES as usize,
        "at most {PROBES} probes should ever be in flight at once, saw {}",
        most_in_flight.load(Ordering::SeqCst)
    );
    gate.add_permits(CALLERS);
    let mut admitted = 0;
    let mut rejected = 0;
    for caller in callers {
        match bounded("a caller of the half-open breaker", caller).await {
            Ok(Ok(())) => admitted += 1,
            Ok(Err(CallError::Rejected)) => rejected += 1,
            Ok(Err(CallError::Failed(status))) => panic!("no probe fails, got {status:?}"),
            Err(panicked) => panic!("a caller panicked: {panicked}"),
        }
    }
    assert_eq!(
        (admitted, rejected),
        (PROBES as usize, CALLERS - PROBES as usize),
        "of {CALLERS} concurrent callers, {PROBES} should be probes and the rest rejected"
    );
    assert_eq!(
        breaker.state(),
        State::Closed,
        "all {PROBES} probes succeeded, so the breaker should close: the {} callers rejected \
         meanwhile never reached the dependency and must not count as failures",
        CALLERS - PROBES as usize
    );
}

#[tokio::test(start_paused = true)]
async fn the_classifier_decides_which_errors_count_as_failures() {
    let breaker = CircuitBreaker::new(consecutive(2, secs(30), 1));
    let server_errors_only = |status: &Status| status.0 >= 500;
    for _ in 0..5 {
        let result = bounded(
            "a call answered 404",
            breaker.call_with(server_errors_only, || async { Err::<(), _>(Status(404)) }),
        )
        .await;
        assert_eq!(
            result,
            Err(CallError::Failed(Status(404))),
            "the caller should still get the dependency's 404"
        );
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "5 answers of 404 that the classifier says are not failures should leave the breaker closed"
    );
    for status in [503, 404, 503] {
        bounded(
            "a call",
            breaker.call_with(server_errors_only, || async move {
                Err::<(), _>(Status(status))
            }),
        )
        .await
        .ok();
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "503, 404, 503: the 404 is a success for the breaker, so this is never 2 failures in a row"
    );
    bounded(
        "a call",
        breaker.call_with(server_errors_only, || async { Err::<(), _>(Status(500)) }),
    )
    .await
    .ok();
    assert_eq!(
        breaker.state(),
        State::Open,
        "503 then 500: 2 failures in a row should open the breaker"
    );

    let plain = CircuitBreaker::new(consecutive(2, secs(30), 1));
    for _ in 0..2 {
        bounded("a call", plain.call(|| async { Err::<(), _>(Status(404)) }))
            .await
            .ok();
    }
    assert_eq!(
        plain.state(),
        State::Open,
        "`call` counts every error as a failure: two 404s in a row should open the breaker"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_through_a_closed_breaker_run_concurrently() {
    LocalSet::new()
        .run_until(two_calls_through_a_closed_breaker())
        .await;
}

async fn two_calls_through_a_closed_breaker() {
    let breaker = Arc::new(CircuitBreaker::new(consecutive(3, secs(30), 1)));
    assert_shareable(&breaker);
    let (go, wait_for_go) = oneshot::channel::<()>();
    let started = Arc::new(AtomicUsize::new(0));
    let first = {
        let (breaker, started) = (Arc::clone(&breaker), Arc::clone(&started));
        spawn_local(async move {
            breaker
                .call(|| async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    wait_for_go.await.map_err(|_| Status(500))
                })
                .await
        })
    };
    for _ in 0..100 {
        if started.load(Ordering::SeqCst) == 1 {
            break;
        }
        yield_now().await;
    }
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "the first call should have reached the dependency"
    );
    let second = bounded(
        "a second call while the first is still in flight (is a lock held across the \
         dependency's .await?)",
        breaker.call(|| async move {
            go.send(()).map_err(|()| Status(500))?;
            Ok::<_, Status>(())
        }),
    )
    .await;
    assert_eq!(
        second,
        Ok(()),
        "the second call should reach the dependency while the first is in flight"
    );
    let first = bounded("the first call", first).await;
    assert!(
        matches!(first, Ok(Ok(()))),
        "the first call should finish once the second released it, got {first:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_every_change_of_state_in_order() {
    let breaker = CircuitBreaker::new(consecutive(1, secs(10), 1));
    let mut transitions = breaker.subscribe();
    succeed(&breaker).await.ok();
    assert_eq!(
        drain(&mut transitions),
        [],
        "a success through a closed breaker changes nothing"
    );
    fail(&breaker).await.ok();
    assert_eq!(
        drain(&mut transitions),
        [transition(State::Closed, State::Open)],
        "the failure that trips the breaker should publish Closed -> Open"
    );
    succeed(&breaker).await.ok();
    assert_eq!(
        drain(&mut transitions),
        [],
        "a rejected call changes nothing"
    );
    advance(secs(10)).await;
    fail(&breaker).await.ok();
    assert_eq!(
        drain(&mut transitions),
        [
            transition(State::Open, State::HalfOpen),
            transition(State::HalfOpen, State::Open)
        ],
        "a probe at the timeout that fails should publish Open -> HalfOpen, then HalfOpen -> Open"
    );
    advance(secs(10)).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(
        drain(&mut transitions),
        [transition(State::Open, State::HalfOpen)],
        "reading the state after the timeout should publish Open -> HalfOpen"
    );
    succeed(&breaker).await.ok();
    assert_eq!(
        drain(&mut transitions),
        [transition(State::HalfOpen, State::Closed)],
        "the probe that succeeds should publish HalfOpen -> Closed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_falls_behind_still_sees_the_last_16_transitions() {
    let breaker = CircuitBreaker::new(consecutive(1, secs(10), 1));
    let mut transitions = breaker.subscribe();
    let mut expected = Vec::new();
    for _ in 0..5 {
        fail(&breaker).await.ok();
        advance(secs(10)).await;
        succeed(&breaker).await.ok();
        expected.extend([
            transition(State::Closed, State::Open),
            transition(State::Open, State::HalfOpen),
            transition(State::HalfOpen, State::Closed),
        ]);
    }
    fail(&breaker).await.ok();
    expected.push(transition(State::Closed, State::Open));
    let mut seen = Vec::new();
    loop {
        match transitions.try_recv() {
            Ok(transition) => seen.push(transition),
            Err(broadcast::error::TryRecvError::Empty) => break,
            Err(other) => panic!(
                "a subscriber that has not read while the breaker made 16 transitions should \
                 still get all 16 (the channel keeps at least the last 16), but after {} it got \
                 {other:?}",
                seen.len()
            ),
        }
    }
    assert_eq!(
        seen, expected,
        "five trips and recoveries and a sixth trip, read only at the end: the subscriber \
         should see all 16 transitions, in order"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_timeout_of_duration_max_keeps_the_async_breaker_open() {
    let breaker = CircuitBreaker::new(consecutive(1, Duration::MAX, 1));
    fail(&breaker).await.ok();
    advance(secs(3600)).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "an hour after it opened, a breaker with an open timeout of Duration::MAX should still \
         be open (and not overflow computing when it turns half-open)"
    );
    assert_eq!(
        succeed(&breaker).await,
        Err(CallError::Rejected),
        "a breaker open for Duration::MAX should reject the call"
    );
}

#[tokio::test(start_paused = true)]
async fn followup_a_cancelled_probe_frees_its_slot() {
    let breaker = CircuitBreaker::new(consecutive(1, secs(10), 1));
    fail(&breaker).await.ok();
    advance(secs(10)).await;
    let hung = tokio::time::timeout(secs(1), breaker.call(pending::<Result<(), Status>>)).await;
    assert!(
        hung.is_err(),
        "a probe to a dependency that never answers should still be pending when its caller's \
         1 s timeout drops it"
    );
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a cancelled probe is neither a success nor a failure: the breaker should stay half-open"
    );
    assert_eq!(
        succeed(&breaker).await,
        Ok(()),
        "the cancelled probe's slot should be free: the next call should be let through as a \
         probe, or the breaker stays half-open for ever"
    );
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the replacement probe succeeded: the breaker should close"
    );
}
