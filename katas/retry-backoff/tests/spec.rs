//! The specification of the retry-backoff kata.
//!
//! Every test name is a requirement; read the failing names first. The spec
//! runs `retry` on tokio's paused clock: every sleep takes no real time, and
//! the instant of every call is recorded with `tokio::time::Instant::now()`,
//! so the delays between calls are checked to the millisecond. Nothing here
//! sleeps on the wall clock, and every run is bounded.
//!
//! `cargo test -p retry-backoff` judges your code;
//! `cargo test -p retry-backoff --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use retry_backoff as subject;
#[cfg(feature = "solution")]
use retry_backoff_solution as subject;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::{Jitter, Retry, RetryPolicy, retry};
use tokio::time::{Instant, sleep};

// ───────────────────────────── helpers ─────────────────────────────

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

const HOUR: Duration = secs(3600);

/// A run longer than this (of paused tokio time) is a run that never ends.
const NEVER: Duration = secs(100_000 * 365 * 24 * 3600);

fn policy(base: Duration, cap: Duration, max_attempts: u32, jitter: Jitter) -> RetryPolicy {
    RetryPolicy {
        base,
        cap,
        max_attempts,
        deadline: None,
        jitter,
        seed: 42,
    }
}

fn with_deadline(policy: RetryPolicy, deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        deadline: Some(deadline),
        ..policy
    }
}

/// The error the scripted dependency fails with: which call it was, and what
/// the predicate should say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failure {
    attempt: u32,
    retry: Retry,
}

/// What the scripted dependency answers to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// Success: the value is the call's number.
    Ok,
    /// Failure, with what the predicate should say about it.
    Fail(Retry),
}

const YES: Reply = Reply::Fail(Retry::Yes);
const NO: Reply = Reply::Fail(Retry::No);

const fn after(delay: Duration) -> Reply {
    Reply::Fail(Retry::After(delay))
}

/// What one run of `retry` did, every instant counted from its start.
#[derive(Debug)]
struct Run {
    /// When each call started.
    calls: Vec<Duration>,
    /// When `retry` returned.
    returned_at: Duration,
    result: Result<u32, Failure>,
}

impl Run {
    /// The time between the start of each call and the start of the next.
    fn gaps(&self) -> Vec<Duration> {
        self.calls.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// Runs `retry` against a dependency that answers `script` (then fails with
/// `Retry::Yes` for ever), each call taking `call_takes`.
async fn run(policy: &RetryPolicy, script: &[Reply], call_takes: Duration) -> Run {
    let start = Instant::now();
    let calls = RefCell::new(Vec::new());
    let retrying = retry(
        policy,
        |failure: &Failure| failure.retry,
        || {
            let calls = &calls;
            async move {
                let attempt = {
                    let mut calls = calls.borrow_mut();
                    calls.push(Instant::now() - start);
                    u32::try_from(calls.len()).expect("fewer than 2^32 calls")
                };
                if !call_takes.is_zero() {
                    sleep(call_takes).await;
                }
                match script.get(attempt as usize - 1).copied().unwrap_or(YES) {
                    Reply::Ok => Ok(attempt),
                    Reply::Fail(retry) => Err(Failure { attempt, retry }),
                }
            }
        },
    );
    let result = tokio::time::timeout(NEVER, retrying)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "retry should return, but was still running after 100,000 years of (paused) time; \
             policy {policy:?}"
            )
        });
    Run {
        calls: calls.into_inner(),
        returned_at: Instant::now() - start,
        result,
    }
}

/// Runs `future` on a fresh current-thread runtime with a paused clock.
fn paused<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread tokio runtime")
        .block_on(future)
}

const fn failure(attempt: u32, retry: Retry) -> Result<u32, Failure> {
    Err(Failure { attempt, retry })
}

fn millis(durations: &[Duration]) -> Vec<u128> {
    durations.iter().map(Duration::as_millis).collect()
}

/// `min(cap, base × 2^k)` in exact integers.
fn capped_backoff(base: Duration, cap: Duration, k: usize) -> Duration {
    let nanos = u32::try_from(k)
        .ok()
        .and_then(|k| 1u128.checked_shl(k))
        .and_then(|factor| base.as_nanos().checked_mul(factor))
        .map_or(cap.as_nanos(), |n| n.min(cap.as_nanos()));
    Duration::from_nanos(u64::try_from(nanos).expect("test caps fit in u64 nanoseconds"))
}

// ──────────────── Calls, results and the last error ────────────────

#[tokio::test(start_paused = true)]
async fn returns_the_value_as_soon_as_a_call_succeeds() {
    let policy = policy(ms(100), secs(10), 5, Jitter::None);
    let run = run(&policy, &[YES, YES, Reply::Ok, YES], Duration::ZERO).await;
    assert_eq!(
        run.result,
        Ok(3),
        "two failures then a success: retry should return the third call's value"
    );
    assert_eq!(
        millis(&run.calls),
        [0, 100, 300],
        "the calls should start at 0, 100 and 300 ms (base 100 ms, doubling), and stop at the success"
    );
    assert_eq!(
        run.returned_at,
        ms(300),
        "retry should return as soon as the successful call does"
    );
}

#[rstest]
#[case::one_attempt_never_retries(1)]
#[case::two_attempts(2)]
#[case::five_attempts(5)]
fn makes_exactly_max_attempts_calls_and_returns_the_last_error(#[case] max_attempts: u32) {
    let policy = policy(ms(10), secs(1), max_attempts, Jitter::None);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        run.calls.len(),
        max_attempts as usize,
        "a dependency that always fails should be called exactly max_attempts = {max_attempts} times"
    );
    assert_eq!(
        run.result,
        failure(max_attempts, Retry::Yes),
        "retry should return the error of the last call (call {max_attempts}), not an earlier one"
    );
}

#[tokio::test(start_paused = true)]
async fn gives_up_right_after_the_last_attempt_without_sleeping() {
    let policy = policy(ms(100), secs(10), 4, Jitter::None);
    let run = run(&policy, &[], Duration::ZERO).await;
    assert_eq!(millis(&run.calls), [0, 100, 300, 700]);
    assert_eq!(
        run.returned_at,
        ms(700),
        "after the 4th and last allowed call fails at 700 ms, retry should return at once, \
         not sleep another backoff first"
    );
}

#[tokio::test(start_paused = true)]
async fn keeps_only_the_last_error_alive() {
    // Every error holds a clone of `token`: its strong count, less one, is
    // the number of errors still alive.
    let token = std::rc::Rc::new(());
    let mut most_alive = 0;
    let policy = policy(ms(1), ms(1), 200, Jitter::None);
    let result = retry(
        &policy,
        |_: &std::rc::Rc<()>| Retry::Yes,
        || {
            most_alive = most_alive.max(std::rc::Rc::strong_count(&token) - 1);
            let error = std::rc::Rc::clone(&token);
            async move { Err::<(), _>(error) }
        },
    )
    .await;
    assert!(result.is_err(), "a dependency that always fails");
    drop(result);
    assert!(
        most_alive <= 1,
        "retry should keep the last error only (O(1) memory): when a call started, {most_alive} \
         earlier errors were still alive, out of 200 failed calls"
    );
    assert_eq!(
        std::rc::Rc::strong_count(&token),
        1,
        "every error should be dropped or returned once retry has returned"
    );
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_is_returned_after_exactly_one_call() {
    let policy = policy(ms(100), secs(10), 10, Jitter::None);
    let run = run(&policy, &[NO], Duration::ZERO).await;
    assert_eq!(
        run.calls.len(),
        1,
        "an error the predicate calls Retry::No (a 400, a non-idempotent call) must never be retried"
    );
    assert_eq!(run.result, failure(1, Retry::No));
    assert_eq!(
        run.returned_at,
        Duration::ZERO,
        "a non-retryable error should be returned at once, without sleeping"
    );
}

#[tokio::test(start_paused = true)]
async fn stops_at_the_first_non_retryable_error_and_returns_it() {
    let policy = policy(ms(100), secs(10), 10, Jitter::None);
    let run = run(&policy, &[YES, YES, NO, YES], Duration::ZERO).await;
    assert_eq!(
        run.calls.len(),
        3,
        "retryable, retryable, then non-retryable: retry should stop after the third call"
    );
    assert_eq!(
        run.result,
        failure(3, Retry::No),
        "retry should return the non-retryable error of call 3, the last one"
    );
    assert_eq!(run.returned_at, ms(300));
}

// ──────────────── Exponential backoff, capped ────────────────

#[rstest]
#[case::doubling_up_to_the_cap(ms(100), secs(1), &[100, 200, 400, 800, 1000, 1000, 1000])]
#[case::a_cap_between_two_steps(ms(3), ms(20), &[3, 6, 12, 20, 20])]
#[case::the_cap_equal_to_base(ms(50), ms(50), &[50, 50, 50, 50])]
#[case::one_second_base(secs(1), secs(30), &[1000, 2000, 4000, 8000, 16000, 30000, 30000])]
fn without_jitter_each_delay_is_base_times_two_to_the_retry_capped(
    #[case] base: Duration,
    #[case] cap: Duration,
    #[case] expected: &[u128],
) {
    let attempts = u32::try_from(expected.len() + 1).expect("a short table");
    let policy = policy(base, cap, attempts, Jitter::None);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        millis(&run.gaps()),
        expected,
        "without jitter, base {base:?} and cap {cap:?}: retry k (from 0) should wait exactly \
         min(cap, base × 2^k) milliseconds"
    );
}

#[tokio::test(start_paused = true)]
async fn honours_retry_after_instead_of_the_backoff() {
    let policy = policy(ms(100), secs(1), 6, Jitter::None);
    let script = [YES, after(secs(5)), YES, after(ms(1)), YES];
    let run = run(&policy, &script, Duration::ZERO).await;
    assert_eq!(
        millis(&run.gaps()),
        [100, 5000, 400, 1, 1000],
        "a Retry::After(d) hint should replace that one backoff delay, exactly d even above the \
         cap (5 s) or below the backoff (1 ms), while the backoff sequence goes on counting \
         (100, -, 400, -, then the 1 s cap)"
    );
    assert_eq!(run.result, failure(6, Retry::Yes));
}

// ──────────────── The deadline ────────────────

#[rstest]
#[case::the_next_delay_would_end_after_it(ms(1000), &[0, 100, 300, 700], 700)]
#[case::a_retry_due_exactly_at_the_deadline_is_made(ms(700), &[0, 100, 300, 700], 700)]
#[case::one_millisecond_short(ms(699), &[0, 100, 300], 300)]
#[case::a_zero_deadline_allows_one_call(Duration::ZERO, &[0], 0)]
fn never_sleeps_past_the_deadline(
    #[case] deadline: Duration,
    #[case] calls: &[u128],
    #[case] returned_at: u64,
) {
    let policy = with_deadline(policy(ms(100), secs(10), 100, Jitter::None), deadline);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        millis(&run.calls),
        calls,
        "delays of 100, 200, 400, 800 ms and a deadline of {deadline:?}: every call should \
         start at or before the deadline, and no later call be made"
    );
    assert_eq!(
        run.returned_at,
        ms(returned_at),
        "once the next delay would end after the deadline ({deadline:?}), retry should give up \
         at once, with the last error, instead of sleeping"
    );
    assert_eq!(
        run.result,
        failure(u32::try_from(calls.len()).expect("short"), Retry::Yes),
        "retry should return the last call's error"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_counts_the_time_the_calls_take() {
    let policy = with_deadline(policy(ms(100), secs(10), 100, Jitter::None), secs(1));
    let run = run(&policy, &[], ms(200)).await;
    assert_eq!(
        millis(&run.calls),
        [0, 300, 700],
        "each call takes 200 ms: calls at 0 and 300 ms (200 + 100), 700 ms (500 + 200); the \
         next would start at 1300 ms (900 + 400), past the 1 s deadline"
    );
    assert_eq!(
        run.returned_at,
        ms(900),
        "the deadline is measured on the clock from the start, calls included, not as the sum \
         of the sleeps: retry should give up when the third call fails, at 900 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_counts_the_first_call_too() {
    let policy = with_deadline(policy(ms(100), secs(10), 100, Jitter::None), secs(1));
    let run = run(&policy, &[], ms(950)).await;
    assert_eq!(
        millis(&run.calls),
        [0],
        "a 1 s deadline and a first call that takes 950 ms before it fails: the 100 ms backoff \
         would end at 1050 ms, past the deadline, so there is no second call (the clock starts \
         when retry is called, not when the first call has failed)"
    );
    assert_eq!(
        (run.returned_at, run.result),
        (ms(950), failure(1, Retry::Yes)),
        "retry should give up with the first call's error as soon as it fails, at 950 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let policy = with_deadline(policy(ms(100), secs(10), 10, Jitter::None), secs(5));
    let run = run(&policy, &[after(secs(10))], Duration::ZERO).await;
    assert_eq!(
        run.calls.len(),
        1,
        "the server asks for 10 s but the deadline is 5 s away: no second call"
    );
    assert_eq!(
        run.returned_at,
        Duration::ZERO,
        "retry should give up at once rather than sleep towards a retry it will not make"
    );
    assert_eq!(run.result, failure(1, Retry::After(secs(10))));
}

// ──────────────── Jitter ────────────────

#[rstest]
#[case::seed_1(1)]
#[case::seed_2(2)]
#[case::seed_3(0xDEAD_BEEF)]
fn full_jitter_delays_lie_between_zero_and_the_capped_backoff(#[case] seed: u64) {
    let (base, cap) = (ms(10), ms(200));
    let policy = RetryPolicy {
        seed,
        ..policy(base, cap, 100, Jitter::Full)
    };
    let run = paused(run(&policy, &[], Duration::ZERO));
    let gaps = run.gaps();
    assert_eq!(gaps.len(), 99, "100 attempts");
    let mut low = 0;
    let mut high = 0;
    for (k, &gap) in gaps.iter().enumerate() {
        let ceiling = capped_backoff(base, cap, k);
        assert!(
            gap <= ceiling,
            "full jitter, base {base:?}, cap {cap:?}, seed {seed}: retry {k} waited {gap:?}, \
             more than min(cap, base × 2^{k}) = {ceiling:?}"
        );
        if gap * 4 <= ceiling {
            low += 1;
        }
        if gap * 4 >= ceiling * 3 {
            high += 1;
        }
    }
    assert!(
        low > 0 && high > 0,
        "full jitter should spread the delays over the whole of [0, min(cap, base × 2^k)]: \
         of 99 delays, {low} lie in the lowest quarter and {high} in the highest (seed {seed}); \
         gaps {:?}",
        millis(&gaps)
    );
}

#[rstest]
#[case::seed_1(1)]
#[case::seed_2(2)]
#[case::seed_3(0xDEAD_BEEF)]
fn decorrelated_jitter_delays_lie_between_base_and_three_times_the_previous_capped(
    #[case] seed: u64,
) {
    let (base, cap) = (ms(10), ms(500));
    let policy = RetryPolicy {
        seed,
        ..policy(base, cap, 100, Jitter::Decorrelated)
    };
    let run = paused(run(&policy, &[], Duration::ZERO));
    let gaps = run.gaps();
    let mut previous = base;
    for (k, &gap) in gaps.iter().enumerate() {
        let ceiling = (previous * 3).min(cap);
        assert!(
            base <= gap && gap <= ceiling,
            "decorrelated jitter, base {base:?}, cap {cap:?}, seed {seed}: retry {k} waited \
             {gap:?}, outside [base, min(cap, 3 × previous delay {previous:?})] = \
             [{base:?}, {ceiling:?}]"
        );
        previous = gap;
    }
    let long = gaps.iter().filter(|&&gap| gap * 2 > cap).count();
    assert!(
        long > 0,
        "decorrelated jitter should back off: each delay may reach 3 × the previous one, so \
         over 99 retries the delays should climb towards the cap ({cap:?}), yet none exceeded \
         half of it (seed {seed}; is the previous delay remembered?): {:?}",
        millis(&gaps)
    );
}

#[rstest]
#[case::decorrelated_with_the_cap_equal_to_base(Jitter::Decorrelated, ms(50), ms(50), 50)]
#[case::decorrelated_with_a_zero_base(Jitter::Decorrelated, Duration::ZERO, secs(1), 0)]
#[case::full_with_a_zero_base(Jitter::Full, Duration::ZERO, secs(1), 0)]
#[case::full_with_a_zero_cap(Jitter::Full, ms(10), Duration::ZERO, 0)]
fn jitter_with_a_single_possible_delay_waits_exactly_that_delay(
    #[case] jitter: Jitter,
    #[case] base: Duration,
    #[case] cap: Duration,
    #[case] delay: u128,
) {
    let policy = policy(base, cap, 5, jitter);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        (millis(&run.gaps()), run.result),
        (vec![delay; 4], failure(5, Retry::Yes)),
        "{jitter:?} jitter, base {base:?}, cap {cap:?}: the jitter range is the single point \
         {delay} ms (the ranges are closed, [low, high] with low = high), so every retry should \
         wait exactly that, without dividing by an empty range"
    );
}

#[rstest]
#[case::full(Jitter::Full)]
#[case::decorrelated(Jitter::Decorrelated)]
fn seeded_jitter_is_reproducible_and_not_constant(#[case] jitter: Jitter) {
    let seeded = |seed| RetryPolicy {
        seed,
        ..policy(ms(10), ms(200), 60, jitter)
    };
    let first = paused(run(&seeded(7), &[], Duration::ZERO)).gaps();
    let again = paused(run(&seeded(7), &[], Duration::ZERO)).gaps();
    assert_eq!(
        millis(&first),
        millis(&again),
        "{jitter:?} jitter with the same seed and the same failures should wait the same delays"
    );
    let other = paused(run(&seeded(8), &[], Duration::ZERO)).gaps();
    assert_ne!(
        millis(&first),
        millis(&other),
        "{jitter:?} jitter with seeds 7 and 8 should not wait the same 59 delays: the seed \
         should seed the generator"
    );
    for seed in [7, 0, u64::MAX] {
        let gaps = paused(run(&seeded(seed), &[], Duration::ZERO)).gaps();
        let distinct: BTreeSet<_> = gaps.iter().skip(10).collect();
        assert!(
            distinct.len() >= 10,
            "{jitter:?} jitter with seed {seed} should draw a new random delay for every retry, \
             also once the cap (200 ms) is reached, and for every seed, 0 and u64::MAX included: \
             delays 11 to 59 took only {} distinct values: {:?}",
            distinct.len(),
            millis(&gaps)
        );
    }
}

// ──────────────── Against a model ────────────────

/// The exact run without jitter, in integer nanoseconds.
fn model(policy: &RetryPolicy, script: &[Reply], call_takes: Duration) -> Run {
    let deadline = policy.deadline.map(|d| d.as_nanos());
    let call_takes = call_takes.as_nanos();
    let mut now = 0u128;
    let mut calls = Vec::new();
    let mut retries = 0usize;
    loop {
        calls.push(now);
        let attempt = u32::try_from(calls.len()).expect("short");
        now += call_takes;
        let result = match script.get(attempt as usize - 1).copied().unwrap_or(YES) {
            Reply::Ok => Some(Ok(attempt)),
            Reply::Fail(Retry::No) => Some(failure(attempt, Retry::No)),
            Reply::Fail(retry) if attempt >= policy.max_attempts.max(1) => {
                Some(failure(attempt, retry))
            }
            Reply::Fail(retry) => {
                let delay = match retry {
                    Retry::After(hint) => hint,
                    _ => capped_backoff(policy.base, policy.cap, retries),
                };
                retries += 1;
                if deadline.is_some_and(|deadline| now + delay.as_nanos() > deadline) {
                    Some(failure(attempt, retry))
                } else {
                    now += delay.as_nanos();
                    None
                }
            }
        };
        if let Some(result) = result {
            let at = |nanos: u128| Duration::from_nanos(u64::try_from(nanos).expect("short"));
            return Run {
                calls: calls.into_iter().map(at).collect(),
                returned_at: at(now),
                result,
            };
        }
    }
}

fn replies() -> impl Strategy<Value = Vec<Reply>> {
    let reply = prop_oneof![
        1 => Just(Reply::Ok),
        1 => Just(NO),
        6 => Just(YES),
        2 => (0u64..=2000).prop_map(|m| after(ms(m))),
    ];
    vec(reply, 0..16)
}

fn policies(jitter: impl Strategy<Value = Jitter>) -> impl Strategy<Value = RetryPolicy> {
    (
        1u64..=300,
        0u64..=3000,
        0u32..=12,
        prop_oneof![1 => Just(None), 3 => (0u64..=10_000).prop_map(Some)],
        jitter,
        any::<u64>(),
    )
        .prop_map(
            |(base, extra, max_attempts, deadline, jitter, seed)| RetryPolicy {
                base: ms(base),
                cap: ms(base + extra),
                max_attempts,
                deadline: deadline.map(ms),
                jitter,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn retry_agrees_with_a_model_without_jitter(
        policy in policies(Just(Jitter::None)),
        script in replies(),
        call_takes in prop_oneof![Just(0u64), 0u64..=300].prop_map(ms),
    ) {
        let run = paused(run(&policy, &script, call_takes));
        let expected = model(&policy, &script, call_takes);
        prop_assert_eq!(
            (millis(&run.calls), run.returned_at, run.result),
            (millis(&expected.calls), expected.returned_at, expected.result),
            "(call start instants in ms, when retry returned, the result) for policy {:?}, \
             each call taking {:?}, replies {:?} (then Retry::Yes for ever)",
            policy, call_takes, script
        );
    }

    #[test]
    fn jittered_retries_keep_every_bound(
        policy in policies(prop_oneof![Just(Jitter::Full), Just(Jitter::Decorrelated)]),
        script in replies(),
        call_takes in prop_oneof![Just(0u64), 0u64..=300].prop_map(ms),
    ) {
        let run = paused(run(&policy, &script, call_takes));
        let n = run.calls.len();
        let context = format!(
            "policy {policy:?}, each call taking {call_takes:?}, replies {script:?} (then \
             Retry::Yes for ever); calls at {:?} ms, returned at {:?}",
            millis(&run.calls), run.returned_at
        );
        prop_assert!(n >= 1, "retry should call at least once; {}", context);
        prop_assert!(
            n <= policy.max_attempts.max(1) as usize,
            "{} calls is more than max_attempts; {}", n, context
        );
        if let Some(deadline) = policy.deadline {
            prop_assert!(
                run.calls.iter().all(|&at| at <= deadline),
                "a call started after the {:?} deadline; {}", deadline, context
            );
        }
        prop_assert_eq!(
            run.returned_at,
            run.calls[n - 1] + call_takes,
            "retry should return as soon as the last call ends, never after a sleep; {}",
            context
        );
        let reply = |i: usize| script.get(i).copied().unwrap_or(YES);
        let expected = match reply(n - 1) {
            Reply::Ok => Ok(n as u32),
            Reply::Fail(retry) => failure(n as u32, retry),
        };
        prop_assert_eq!(run.result, expected, "retry should return the last call's result; {}", context);
        for i in 0..n - 1 {
            prop_assert!(
                matches!(reply(i), Reply::Fail(Retry::Yes | Retry::After(_))),
                "call {} answered {:?} and should have been the last; {}", i + 1, reply(i), context
            );
        }
        let mut previous = Some(policy.base);
        for (k, gap) in run.gaps().into_iter().enumerate() {
            let wait = gap - call_takes;
            match reply(k) {
                Reply::Fail(Retry::After(hint)) => {
                    prop_assert_eq!(wait, hint, "retry {} should wait the Retry-After hint exactly; {}", k, context);
                    previous = None;
                }
                _ if policy.jitter == Jitter::Full => {
                    let ceiling = capped_backoff(policy.base, policy.cap, k);
                    prop_assert!(
                        wait <= ceiling,
                        "full jitter: retry {} waited {:?}, more than min(cap, base × 2^{}) = {:?}; {}",
                        k, wait, k, ceiling, context
                    );
                }
                _ => {
                    let ceiling = previous.map_or(policy.cap, |p| (p * 3).min(policy.cap));
                    prop_assert!(
                        policy.base <= wait && wait <= ceiling,
                        "decorrelated jitter: retry {} waited {:?}, outside [base, min(cap, 3 × \
                         previous)] = [{:?}, {:?}]; {}",
                        k, wait, policy.base, ceiling, context
                    );
                    previous = Some(wait);
                }
            }
        }
    }
}

// ──────────────── Overflow ────────────────

#[rstest]
#[case::no_jitter(Jitter::None)]
#[case::full_jitter(Jitter::Full)]
#[case::decorrelated_jitter(Jitter::Decorrelated)]
fn followup_backoff_never_overflows_even_at_attempt_100(#[case] jitter: Jitter) {
    let (base, cap) = (ms(1), HOUR);
    let policy = policy(base, cap, 100, jitter);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        run.calls.len(),
        100,
        "{jitter:?} jitter, base 1 ms, cap 1 h: a dependency that always fails should be called \
         100 times (base × 2^k passes u64 nanoseconds at k = 64: compute it without overflow)"
    );
    assert_eq!(run.result, failure(100, Retry::Yes));
    let mut previous = base;
    for (k, gap) in run.gaps().into_iter().enumerate() {
        let backoff = capped_backoff(base, cap, k);
        match jitter {
            Jitter::None => assert_eq!(
                gap, backoff,
                "no jitter: retry {k} should wait min(1 h, 1 ms × 2^{k}) = {backoff:?}"
            ),
            Jitter::Full => assert!(
                gap <= backoff,
                "full jitter: retry {k} waited {gap:?}, more than min(1 h, 1 ms × 2^{k}) = {backoff:?}"
            ),
            Jitter::Decorrelated => {
                assert!(
                    base <= gap && gap <= (previous * 3).min(cap),
                    "decorrelated jitter: retry {k} waited {gap:?}, outside [1 ms, min(1 h, 3 × {previous:?})]"
                );
                previous = gap;
            }
        }
    }
}

#[rstest]
#[case::no_jitter(Jitter::None)]
#[case::full_jitter(Jitter::Full)]
#[case::decorrelated_jitter(Jitter::Decorrelated)]
fn followup_a_cap_of_duration_max_never_overflows(#[case] jitter: Jitter) {
    let base = Duration::from_nanos(1);
    let policy = policy(base, Duration::MAX, 70, jitter);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        run.calls.len(),
        70,
        "{jitter:?} jitter, base 1 ns, no cap to speak of (Duration::MAX): 2^k nanoseconds pass \
         u64 at retry 64 and should be computed without overflow (u128, checked or saturating \
         arithmetic); 70 calls expected"
    );
    assert_eq!(run.result, failure(70, Retry::Yes));
    if jitter == Jitter::None {
        // tokio's timer rounds a sleep up to the next millisecond.
        for (k, gap) in run.gaps().into_iter().enumerate().take(50) {
            let backoff = Duration::from_nanos(1 << k);
            assert!(
                backoff <= gap && gap < backoff + ms(1),
                "no jitter, base 1 ns, cap Duration::MAX: retry {k} should wait 2^{k} ns = \
                 {backoff:?} (to tokio's millisecond), not {gap:?}"
            );
        }
    }
}

#[rstest]
#[case::no_jitter(Jitter::None)]
#[case::decorrelated_jitter(Jitter::Decorrelated)]
fn followup_a_base_near_duration_max_never_overflows(#[case] jitter: Jitter) {
    let base = Duration::MAX / 2;
    let policy = with_deadline(policy(base, Duration::MAX, 5, jitter), HOUR);
    let run = paused(run(&policy, &[], Duration::ZERO));
    assert_eq!(
        (millis(&run.calls), run.returned_at, run.result),
        (vec![0], Duration::ZERO, failure(1, Retry::Yes)),
        "{jitter:?} jitter, base Duration::MAX / 2, cap Duration::MAX, deadline 1 h: the first \
         delay is at least base, far past the deadline, so retry should give up after one call, \
         without overflowing on the way (2 × base, 3 × previous and now + delay all pass \
         Duration::MAX: saturate or check them)"
    );
}

#[tokio::test(start_paused = true)]
async fn followup_huge_retry_after_hints_and_deadlines_never_overflow() {
    let hinted = with_deadline(policy(ms(100), secs(10), 10, Jitter::None), HOUR);
    let hinted_run = run(&hinted, &[after(Duration::MAX)], Duration::ZERO).await;
    assert_eq!(
        (
            hinted_run.calls.len(),
            hinted_run.returned_at,
            hinted_run.result
        ),
        (1, Duration::ZERO, failure(1, Retry::After(Duration::MAX))),
        "a Retry-After of Duration::MAX with a 1 h deadline: now + hint is past any instant, so \
         retry should give up at once (checked_add), not panic"
    );
    let unbounded = with_deadline(policy(ms(100), secs(10), 10, Jitter::None), Duration::MAX);
    let unbounded_run = run(&unbounded, &[YES, YES, Reply::Ok], Duration::ZERO).await;
    assert_eq!(
        (millis(&unbounded_run.calls), unbounded_run.result),
        (vec![0, 100, 300], Ok(3)),
        "a deadline of Duration::MAX is as good as none: start + deadline must not overflow"
    );
}
