//! The specification of the bulkhead kata.
//!
//! Every test name is a requirement; read the failing names first. Time is
//! tokio's paused clock: a sleep of ten seconds takes no time at all, the
//! clock jumps to the next timer whenever every task is waiting, and every
//! instant below is exact. Nothing sleeps on the wall clock, and every wait
//! for a call is bounded (an hour of paused time, which is instant), so a
//! call that waits for ever fails its spec instead of hanging it.
//!
//! `cargo test -p bulkhead` judges your code;
//! `cargo test -p bulkhead --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use bulkhead as subject;
#[cfg(feature = "solution")]
use bulkhead_solution as subject;

use std::collections::VecDeque;
use std::future::{Future, pending, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::{Bulkhead, BulkheadError, current_deadline, with_deadline};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use BulkheadError::{Rejected, TimedOut};

// ───────────────────────────── helpers ─────────────────────────────

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// How long (of paused time, so no time at all) a spec waits for a call
/// that should come back: far longer than any timeout in this file.
const PATIENCE: Duration = secs(3600);

/// A fake dependency. It counts the requests running inside it (a request
/// stops counting when it returns *or* its future is dropped), the most that
/// ever ran at once, and how many were ever started.
#[derive(Clone, Default)]
struct Dependency {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
}

/// Counts one request out of `running` when dropped.
struct Leaves(Arc<AtomicUsize>);

impl Drop for Leaves {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Dependency {
    /// One request to the dependency, which answers after `takes`.
    fn request(&self, takes: Duration) -> impl Future<Output = ()> + Send + 'static {
        let dependency = self.clone();
        async move {
            dependency.started.fetch_add(1, SeqCst);
            let now = dependency.running.fetch_add(1, SeqCst) + 1;
            dependency.peak.fetch_max(now, SeqCst);
            let _leaves = Leaves(dependency.running.clone());
            sleep(takes).await;
        }
    }

    fn running(&self) -> usize {
        self.running.load(SeqCst)
    }

    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    fn started(&self) -> usize {
        self.started.load(SeqCst)
    }
}

/// What the caller of one call saw: its result, and how long after the call
/// was made that result came back.
type Outcome = (Result<(), BulkheadError>, Duration);

/// One call through `bulkhead` into `dependency`, made now.
async fn timed_call(
    bulkhead: &Bulkhead,
    timeout: Duration,
    dependency: &Dependency,
    takes: Duration,
) -> Outcome {
    let start = Instant::now();
    let result = bulkhead.call(timeout, || dependency.request(takes)).await;
    (result, start.elapsed())
}

/// A task making one call through `bulkhead` into `dependency`, after
/// `delay`.
fn spawn_call(
    bulkhead: &Arc<Bulkhead>,
    delay: Duration,
    timeout: Duration,
    dependency: &Dependency,
    takes: Duration,
) -> JoinHandle<Outcome> {
    let (bulkhead, dependency) = (Arc::clone(bulkhead), dependency.clone());
    tokio::spawn(async move {
        sleep(delay).await;
        timed_call(&bulkhead, timeout, &dependency, takes).await
    })
}

/// Awaits `fut`, but no longer than `PATIENCE` of paused time.
async fn within<F: Future>(fut: F, what: &str) -> F::Output {
    timeout(PATIENCE, fut).await.unwrap_or_else(|_| {
        panic!(
            "{what} should have come back long before an hour had passed (paused time), \
             but it was still waiting: a permit or a queue slot that was never given back?"
        )
    })
}

/// The output of a spawned task, waited for no longer than `PATIENCE`; a
/// panic in the task (a `todo!()`) is re-raised here with its message.
async fn finish<T>(handle: JoinHandle<T>, what: &str) -> T {
    match within(handle, what).await {
        Ok(output) => output,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("{what}: its task was cancelled: {error}"),
    }
}

/// Waits until `at` (paused time). Only ever called at instants where no
/// call starts, ends or times out, so everything due before `at` has run.
async fn until(at: Instant) {
    sleep_until(at).await;
}

/// Polls `fut` once, in the calling task and without yielding to any other,
/// and returns its output if it finished. How the spec makes two things
/// happen on one instant in the order it chooses.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *fut).poll(cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        })
    })
    .await
}

/// Lets the other tasks run until `ready` holds (at most 1,000 turns).
async fn until_ready(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what}: still not the case after 1,000 turns of the other tasks");
}

fn assert_idle(bulkhead: &Bulkhead, when: &str) {
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (0, 0),
        "{when}, the bulkhead should have no call running and none queued: \
         (in_flight, queued)"
    );
}

// ───────────── Running: results, the concurrency limit, metrics ─────────────

#[tokio::test(start_paused = true)]
async fn returns_the_output_of_the_call() {
    let bulkhead = Bulkhead::new(2, 0);
    let output = within(
        bulkhead.call(secs(1), || async { 42 }),
        "a call into an idle bulkhead",
    )
    .await;
    assert_eq!(
        output,
        Ok(42),
        "a call into an idle bulkhead should run and return f's output"
    );
    assert_idle(&bulkhead, "after the call returned");
}

#[rstest]
#[case::one_at_a_time(1, 10)]
#[case::three_of_fifty(3, 50)]
#[case::four_of_a_hundred(4, 100)]
#[tokio::test(start_paused = true)]
async fn never_runs_more_than_max_concurrent_calls_at_once(
    #[case] max_concurrent: usize,
    #[case] callers: usize,
) {
    // The queue holds everyone who cannot run, so every call completes.
    let bulkhead = Arc::new(Bulkhead::new(max_concurrent, callers));
    let dependency = Dependency::default();
    let calls: Vec<_> = (0..callers)
        .map(|_| spawn_call(&bulkhead, Duration::ZERO, secs(3600), &dependency, secs(1)))
        .collect();
    let mut slowest = Duration::ZERO;
    for call in calls {
        let (result, took) = finish(call, "a queued call").await;
        assert_eq!(
            result,
            Ok(()),
            "with room in the queue for all {callers} callers, every call should complete"
        );
        slowest = slowest.max(took);
    }
    assert_eq!(
        dependency.peak(),
        max_concurrent,
        "{callers} callers of one-second requests through a bulkhead of {max_concurrent}: \
         the dependency should see exactly {max_concurrent} requests at once at the most \
         (never more, and the compartment should be used in full)"
    );
    let rounds = callers.div_ceil(max_concurrent);
    assert_eq!(
        slowest,
        secs(u64::try_from(rounds).expect("few rounds")),
        "{callers} one-second calls, {max_concurrent} at a time, should all be done after \
         {rounds} seconds: a queued call should start the moment a permit comes free"
    );
    assert_idle(&bulkhead, "once every call has returned");
}

#[tokio::test(start_paused = true)]
async fn reports_the_calls_running_and_the_calls_queued() {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(2, 3));
    let dependency = Dependency::default();
    assert_idle(&bulkhead, "before any call");
    let calls: Vec<_> = (0..5)
        .map(|_| spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(1)))
        .collect();
    // One-second calls, two at a time: 2 run and 3 wait, then 2 and 1, then 1.
    for (at, expected) in [
        (500, (2, 3)),
        (1500, (2, 1)),
        (2500, (1, 0)),
        (3500, (0, 0)),
    ] {
        until(t0 + ms(at)).await;
        assert_eq!(
            (bulkhead.in_flight(), bulkhead.queued()),
            expected,
            "five one-second calls through a bulkhead of 2 with a queue of 3, at {at}ms: \
             (in_flight, queued)"
        );
        assert_eq!(
            dependency.running(),
            expected.0,
            "at {at}ms, in_flight() should be the number of calls really running"
        );
    }
    for call in calls {
        let (result, _) = finish(call, "a call").await;
        assert_eq!(
            result,
            Ok(()),
            "every call fits in the queue and should complete"
        );
    }
}

// ───────────────────────── Queueing and rejection ─────────────────────────

#[rstest]
#[case::no_queue(1, 0)]
#[case::two_running_three_queued(2, 3)]
#[case::three_running_one_queued(3, 1)]
#[tokio::test(start_paused = true)]
async fn rejects_a_call_beyond_both_limits_at_once_without_running_it(
    #[case] max_concurrent: usize,
    #[case] max_queued: usize,
) {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(max_concurrent, max_queued));
    let dependency = Dependency::default();
    let admitted: Vec<_> = (0..max_concurrent + max_queued)
        .map(|_| spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(10)))
        .collect();
    until(t0 + ms(100)).await;
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (max_concurrent, max_queued),
        "{} ten-second calls into a bulkhead of {max_concurrent} with a queue of {max_queued}: \
         every permit and every queue slot should be taken: (in_flight, queued)",
        max_concurrent + max_queued
    );
    for extra in 1..=3 {
        let (result, took) = within(
            timed_call(&bulkhead, secs(60), &dependency, secs(1)),
            "a call into a full bulkhead",
        )
        .await;
        assert_eq!(
            (result, took),
            (Err(Rejected), Duration::ZERO),
            "extra call {extra} into a full bulkhead ({max_concurrent} running, \
             {max_queued} queued) should be rejected at once, without waiting: (result, waited)"
        );
    }
    assert_eq!(
        dependency.started(),
        max_concurrent,
        "a rejected call should never reach the dependency"
    );
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (max_concurrent, max_queued),
        "rejected calls should take neither a permit nor a queue slot: (in_flight, queued)"
    );
    for call in admitted {
        let (result, _) = finish(call, "a call admitted before the bulkhead was full").await;
        assert_eq!(
            result,
            Ok(()),
            "every call admitted (running or queued) should complete"
        );
    }
    assert_idle(&bulkhead, "once every admitted call has returned");
}

#[tokio::test(start_paused = true)]
async fn rejects_exactly_the_callers_that_find_no_permit_and_no_queue_slot() {
    let bulkhead = Arc::new(Bulkhead::new(3, 4));
    let dependency = Dependency::default();
    let calls: Vec<_> = (0..20)
        .map(|_| spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(1)))
        .collect();
    let mut outcomes = Vec::new();
    for call in calls {
        outcomes.push(finish(call, "a call").await);
    }
    let completed = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
    let rejected: Vec<_> = outcomes
        .iter()
        .filter(|(r, _)| *r == Err(Rejected))
        .collect();
    assert_eq!(
        (completed, rejected.len()),
        (7, 13),
        "20 simultaneous callers into a bulkhead of 3 with a queue of 4: 3 run, 4 wait and \
         then run, 13 are rejected: (completed, rejected)"
    );
    assert!(
        rejected.iter().all(|(_, took)| took.is_zero()),
        "every rejected call should be rejected at once, without waiting: {rejected:?}"
    );
    assert!(
        dependency.peak() <= 3,
        "never more than 3 calls at once in a bulkhead of 3, saw {}",
        dependency.peak()
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_dependency_exhausts_only_its_own_compartment() {
    let t0 = Instant::now();
    let payments = Arc::new(Bulkhead::new(2, 2));
    let inventory = Arc::new(Bulkhead::new(2, 2));
    let (slow, healthy) = (Dependency::default(), Dependency::default());
    // The payment provider hangs: its calls take a day, its callers wait 30s.
    let stuck: Vec<_> = (0..4)
        .map(|_| spawn_call(&payments, Duration::ZERO, secs(30), &slow, secs(86_400)))
        .collect();
    until(t0 + ms(100)).await;
    let (result, took) = within(
        timed_call(&payments, secs(30), &slow, secs(1)),
        "a payment call",
    )
    .await;
    assert_eq!(
        (result, took),
        (Err(Rejected), Duration::ZERO),
        "with the payments compartment and its queue full, the next payment call should be \
         rejected at once: (result, waited)"
    );
    let lookups: Vec<_> = (0..4)
        .map(|_| spawn_call(&inventory, Duration::ZERO, secs(30), &healthy, ms(100)))
        .collect();
    for lookup in lookups {
        let (result, took) = finish(lookup, "an inventory call").await;
        assert_eq!(
            result,
            Ok(()),
            "a stuck payments compartment should not touch the inventory compartment"
        );
        assert!(
            took <= ms(200),
            "four 100ms inventory calls two at a time should be done within 200ms while \
             payments hang, one took {took:?}"
        );
    }
    for call in stuck {
        let (result, took) = finish(call, "a stuck payment call").await;
        assert_eq!(
            (result, took),
            (Err(TimedOut), secs(30)),
            "a payment call into the hung provider should time out after its 30s: (result, took)"
        );
    }
    assert_idle(&payments, "once the stuck payment calls have timed out");
}

#[tokio::test(start_paused = true)]
async fn queued_calls_are_served_first_come_first_served() {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(1, 3));
    let starts: Arc<Mutex<Vec<(&str, Duration)>>> = Arc::default();
    let calls: Vec<_> = [("first", 0), ("second", 10), ("third", 20), ("fourth", 30)]
        .into_iter()
        .map(|(name, arrives)| {
            let (bulkhead, starts) = (Arc::clone(&bulkhead), Arc::clone(&starts));
            tokio::spawn(async move {
                sleep(ms(arrives)).await;
                bulkhead
                    .call(secs(60), || async move {
                        starts
                            .lock()
                            .expect("no panic while logging")
                            .push((name, t0.elapsed()));
                        sleep(secs(1)).await;
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        let result = finish(call, "a queued call").await;
        assert_eq!(
            result,
            Ok(()),
            "every call fits in the queue and should complete"
        );
    }
    let starts = starts.lock().expect("no panic while logging").clone();
    assert_eq!(
        starts,
        vec![
            ("first", secs(0)),
            ("second", secs(1)),
            ("third", secs(2)),
            ("fourth", secs(3))
        ],
        "four one-second calls arriving 10ms apart into a bulkhead of 1: each should start \
         the moment the one before it ends, in the order they arrived: (call, started at)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_freed_permit_goes_to_the_queued_call_not_to_a_caller_arriving_that_instant() {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(1, 2));
    let starts: Arc<Mutex<Vec<(&str, Duration)>>> = Arc::default();
    let logged = |name: &'static str| {
        let starts = Arc::clone(&starts);
        move || async move {
            starts
                .lock()
                .expect("no panic while logging")
                .push((name, t0.elapsed()));
            sleep(secs(1)).await;
        }
    };
    // A call this task owns holds the only permit.
    let mut holder = Box::pin(bulkhead.call(secs(60), pending::<()>));
    assert!(
        poll_once(&mut holder).await.is_none(),
        "a call into a dependency that never answers should still be running"
    );
    let queued = {
        let (bulkhead, call) = (Arc::clone(&bulkhead), logged("queued"));
        tokio::spawn(async move { bulkhead.call(secs(60), call).await })
    };
    until_ready("a call should queue behind the holder", || {
        bulkhead.queued() == 1
    })
    .await;
    // The permit comes free and, on the same instant, before the queued call
    // has run again, a new caller arrives.
    drop(holder);
    let mut newcomer = Box::pin(bulkhead.call(secs(60), logged("newcomer")));
    let _ = poll_once(&mut newcomer).await;
    let newcomer = within(newcomer, "the newcomer").await;
    let queued = finish(queued, "the queued call").await;
    assert_eq!(
        (queued, newcomer),
        (Ok(()), Ok(())),
        "both calls fit (one running, the other queued) and should complete: (queued, newcomer)"
    );
    assert_eq!(
        starts.lock().expect("no panic while logging").clone(),
        vec![("queued", secs(0)), ("newcomer", secs(1))],
        "a permit freed while a call waits in the queue is that call's: a caller arriving on \
         the same instant must queue behind it, not take the permit first (first come, first \
         served): (call, started at)"
    );
}

// ─────────────── Timeouts: the queue and the run, both released ───────────────

#[tokio::test(start_paused = true)]
async fn a_call_running_past_its_timeout_times_out_and_frees_its_permit() {
    let bulkhead = Arc::new(Bulkhead::new(1, 0));
    let dependency = Dependency::default();
    let (result, took) = within(
        timed_call(&bulkhead, secs(1), &dependency, secs(10)),
        "a call with a one-second timeout",
    )
    .await;
    assert_eq!(
        (result, took),
        (Err(TimedOut), secs(1)),
        "a ten-second request with a one-second timeout should time out after exactly 1s: \
         (result, took)"
    );
    assert_eq!(
        dependency.running(),
        0,
        "the timed-out request's future should have been dropped"
    );
    assert_idle(&bulkhead, "after a call timed out");
    let (result, took) = within(
        timed_call(&bulkhead, secs(5), &dependency, secs(2)),
        "a call after a timeout",
    )
    .await;
    assert_eq!(
        (result, took),
        (Ok(()), secs(2)),
        "after a call timed out in a bulkhead of 1 (no queue), the next call should get its \
         permit and run at once: (result, took)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_timing_out_in_the_queue_frees_its_slot_without_running() {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(1, 1));
    let dependency = Dependency::default();
    let hog = spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(10));
    let impatient = spawn_call(&bulkhead, ms(100), secs(1), &dependency, secs(1));
    let (result, took) = finish(impatient, "a queued call with a one-second timeout").await;
    assert_eq!(
        (result, took),
        (Err(TimedOut), secs(1)),
        "a call queued behind a ten-second call, with a one-second timeout, should time out \
         after exactly 1s in the queue: (result, waited)"
    );
    assert_eq!(
        dependency.started(),
        1,
        "a call that timed out in the queue should never run"
    );
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (1, 0),
        "a call that timed out in the queue should give its slot back: (in_flight, queued)"
    );
    // The queue has room again: the next caller waits for the hog to finish.
    let patient = spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(1));
    until(t0 + ms(1500)).await;
    assert_eq!(
        bulkhead.queued(),
        1,
        "at 1.5s the next caller should have taken the queue slot freed by the timed-out call"
    );
    let (result, took) = finish(patient, "a call queued after a timeout").await;
    assert_eq!(
        (result, took),
        (Ok(()), ms(9900)),
        "a call queued at 1.1s behind a call that ends at 10s should run then and be done \
         at 11s: (result, took)"
    );
    assert_eq!(finish(hog, "the first call").await.0, Ok(()));
    assert_idle(&bulkhead, "at the end");
}

#[rstest]
#[case::fits_in_what_is_left(ms(300), Ok(()), ms(900))]
#[case::runs_past_the_deadline(ms(600), Err(TimedOut), secs(1))]
#[tokio::test(start_paused = true)]
async fn the_timeout_covers_the_wait_in_the_queue_and_the_run(
    #[case] takes: Duration,
    #[case] expected: Result<(), BulkheadError>,
    #[case] returns_after: Duration,
) {
    let bulkhead = Arc::new(Bulkhead::new(1, 1));
    let dependency = Dependency::default();
    let first = spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, ms(600));
    let second = spawn_call(&bulkhead, Duration::ZERO, secs(1), &dependency, takes);
    let (result, took) = finish(second, "a queued call").await;
    assert_eq!(
        (result, took),
        (expected, returns_after),
        "a call with a one-second timeout that waits 600ms in the queue, then runs a \
         {takes:?} request: the timeout counts the wait too: (result, took)"
    );
    assert_eq!(
        dependency.started(),
        2,
        "the queued call should have started at 600ms"
    );
    let (result, _) = finish(first, "the first call").await;
    assert_eq!(result, Ok(()), "the first call should complete");
    assert_idle(&bulkhead, "at the end");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_of_duration_max_means_no_deadline() {
    let bulkhead = Bulkhead::new(1, 0);
    let output = within(
        bulkhead.call(Duration::MAX, || async {
            sleep(secs(5)).await;
            current_deadline()
        }),
        "a call with a timeout of Duration::MAX",
    )
    .await;
    assert_eq!(
        output,
        Ok(None),
        "a timeout of Duration::MAX (too large to add to the clock) should neither panic nor \
         time out, and leave the call without a deadline"
    );
}

// ─────────────────── Cancellation releases what it holds ───────────────────

/// How a caller gives up on a call.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    /// The caller's own `tokio::time::timeout` (or `select!`) drops the
    /// call's future.
    DropTheFuture,
    /// The caller's task is aborted.
    AbortTheTask,
}

/// A call by `dependency` through `bulkhead` that its caller gives up on
/// after `after`, the way `how` says; returns once the call is gone.
async fn give_up_on_a_call(
    bulkhead: &Arc<Bulkhead>,
    dependency: &Dependency,
    after: Duration,
    how: GiveUp,
) {
    let call = {
        let (bulkhead, dependency) = (Arc::clone(bulkhead), dependency.clone());
        async move {
            bulkhead
                .call(secs(60), || dependency.request(secs(10)))
                .await
        }
    };
    match how {
        GiveUp::DropTheFuture => {
            let result = timeout(after, call).await;
            assert!(
                result.is_err(),
                "the call should still be waiting or running after {after:?}, got {result:?}"
            );
        }
        GiveUp::AbortTheTask => {
            let task = tokio::spawn(call);
            sleep(after).await;
            task.abort();
            let ended = within(task, "an aborted call").await;
            assert!(
                ended
                    .as_ref()
                    .is_err_and(tokio::task::JoinError::is_cancelled),
                "the call should still be waiting or running when aborted after {after:?}, \
                 got {ended:?}"
            );
        }
    }
}

#[rstest]
#[case::future_dropped(GiveUp::DropTheFuture)]
#[case::task_aborted(GiveUp::AbortTheTask)]
#[tokio::test(start_paused = true)]
async fn cancelling_a_running_call_frees_its_permit(#[case] how: GiveUp) {
    let bulkhead = Arc::new(Bulkhead::new(1, 0));
    let dependency = Dependency::default();
    give_up_on_a_call(&bulkhead, &dependency, ms(100), how).await;
    assert_eq!(
        dependency.running(),
        0,
        "the cancelled request should no longer run"
    );
    assert_idle(
        &bulkhead,
        &format!("after a running call was cancelled ({how:?})"),
    );
    let (result, took) = within(
        timed_call(&bulkhead, secs(5), &dependency, secs(1)),
        "a call after a cancellation",
    )
    .await;
    assert_eq!(
        (result, took),
        (Ok(()), secs(1)),
        "after the only running call was cancelled ({how:?}), the next call into the bulkhead \
         of 1 (no queue) should run at once: (result, took)"
    );
}

#[rstest]
#[case::future_dropped(GiveUp::DropTheFuture)]
#[case::task_aborted(GiveUp::AbortTheTask)]
#[tokio::test(start_paused = true)]
async fn cancelling_a_queued_call_frees_its_queue_slot(#[case] how: GiveUp) {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(1, 1));
    let dependency = Dependency::default();
    let hog = spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(2));
    until(t0 + ms(10)).await;
    give_up_on_a_call(&bulkhead, &dependency, ms(100), how).await;
    assert_eq!(
        dependency.started(),
        1,
        "the cancelled call waited in the queue and never ran"
    );
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (1, 0),
        "after the queued call was cancelled ({how:?}), its queue slot should be free: \
         (in_flight, queued)"
    );
    let (result, took) = within(
        timed_call(&bulkhead, secs(5), &dependency, secs(1)),
        "a call queued after a cancellation",
    )
    .await;
    assert_eq!(
        (result, took),
        (Ok(()), ms(2890)),
        "at 110ms, after the queued call was cancelled ({how:?}), the next call should take \
         the queue slot and run when the first call ends at 2s: (result, took)"
    );
    let (result, _) = finish(hog, "the first call").await;
    assert_eq!(result, Ok(()), "the first call should complete");
    assert_idle(&bulkhead, "at the end");
}

#[tokio::test(start_paused = true)]
async fn followup_a_cancelled_call_hands_its_permit_to_the_next_in_the_queue() {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(1, 1));
    let dependency = Dependency::default();
    let hog = spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(10));
    let next = spawn_call(&bulkhead, ms(10), secs(60), &dependency, secs(1));
    until(t0 + secs(1)).await;
    hog.abort();
    let (result, took) = finish(next, "the queued call").await;
    assert_eq!(
        (result, took),
        (Ok(()), ms(1990)),
        "a call queued at 10ms behind a call aborted at 1s should start at 1s and, taking 1s, \
         be done at 2s: (result, took)"
    );
    assert_idle(&bulkhead, "at the end");
}

// ───────────────────────── Deadlines propagate ─────────────────────────

#[tokio::test(start_paused = true)]
async fn a_call_runs_under_the_earlier_of_its_own_deadline_and_the_current_one() {
    let t0 = Instant::now();
    let outer = Arc::new(Bulkhead::new(4, 0));
    let inner = Arc::new(Bulkhead::new(4, 0));
    assert_eq!(
        current_deadline(),
        None,
        "outside any call there is no current deadline"
    );
    let seen = within(
        outer.call(secs(1), || {
            let inner = Arc::clone(&inner);
            async move {
                let in_outer = current_deadline();
                sleep(ms(300)).await;
                let longer = inner.call(secs(10), || async { current_deadline() }).await;
                let shorter = inner.call(ms(100), || async { current_deadline() }).await;
                let after = current_deadline();
                (in_outer, longer, shorter, after)
            }
        }),
        "nested calls",
    )
    .await;
    assert_eq!(
        seen,
        Ok((
            Some(t0 + secs(1)),
            Ok(Some(t0 + secs(1))),
            Ok(Some(t0 + ms(400))),
            Some(t0 + secs(1))
        )),
        "inside a call made at 0 with a 1s timeout, the current deadline is 1s; a call made \
         inside it at 300ms with a 10s timeout keeps 1s (no more than the time left), one with \
         a 100ms timeout gets 400ms (its own is earlier); back in the outer call it is 1s again: \
         Ok((outer, nested 10s, nested 100ms, outer after))"
    );
    assert_eq!(
        current_deadline(),
        None,
        "after the call, there is no current deadline again"
    );
}

#[rstest]
#[case::time_left_is_shorter(secs(10), Err(TimedOut), ms(400))]
#[case::own_timeout_is_shorter(ms(100), Err(TimedOut), ms(100))]
#[case::finishes_in_time(secs(10), Ok(()), ms(300))]
#[tokio::test(start_paused = true)]
async fn a_call_inside_a_deadline_ends_by_that_deadline(
    #[case] own_timeout: Duration,
    #[case] expected: Result<(), BulkheadError>,
    #[case] returns_after: Duration,
) {
    let t0 = Instant::now();
    let bulkhead = Bulkhead::new(1, 0);
    let dependency = Dependency::default();
    let takes = if expected.is_ok() { ms(300) } else { secs(5) };
    let outcome = within(
        with_deadline(t0 + secs(1), async {
            sleep(ms(600)).await;
            timed_call(&bulkhead, own_timeout, &dependency, takes).await
        }),
        "a call under a deadline",
    )
    .await;
    assert_eq!(
        outcome,
        (expected, returns_after),
        "under a deadline of 1s, a call made at 600ms with a timeout of {own_timeout:?} into \
         a {takes:?} request gets the earlier of its own deadline and the 400ms left: \
         (result, took)"
    );
    assert_eq!(
        dependency.running(),
        0,
        "a timed-out request's future should have been dropped"
    );
    assert_idle(&bulkhead, "after the call");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_scope_never_extends_the_deadline_it_runs_in() {
    let t0 = Instant::now();
    let (earlier, later) = (t0 + secs(1), t0 + secs(5));
    let seen = within(
        async {
            (
                with_deadline(earlier, with_deadline(later, async { current_deadline() })).await,
                with_deadline(later, with_deadline(earlier, async { current_deadline() })).await,
                with_deadline(later, async { current_deadline() }).await,
            )
        },
        "nested deadline scopes",
    )
    .await;
    assert_eq!(
        seen,
        (Some(earlier), Some(earlier), Some(later)),
        "nested scopes of 1s and 5s, either way round, leave the earlier deadline (1s) current; \
         a scope alone sets its own: (1s then 5s, 5s then 1s, 5s alone)"
    );
}

#[tokio::test(start_paused = true)]
async fn followup_a_nested_call_in_a_full_queue_gives_up_at_the_outer_deadline() {
    let t0 = Instant::now();
    let bulkhead = Arc::new(Bulkhead::new(1, 1));
    let dependency = Dependency::default();
    let hog = spawn_call(&bulkhead, Duration::ZERO, secs(60), &dependency, secs(10));
    let outcome = within(
        with_deadline(t0 + secs(1), async {
            sleep(ms(100)).await;
            timed_call(&bulkhead, secs(30), &dependency, secs(1)).await
        }),
        "a queued call under a deadline",
    )
    .await;
    assert_eq!(
        outcome,
        (Err(TimedOut), ms(900)),
        "a call made at 100ms under a deadline of 1s, queued behind a ten-second call, should \
         give up at the deadline (after 900ms in the queue), not after its own 30s: (result, waited)"
    );
    assert_eq!(
        (bulkhead.in_flight(), bulkhead.queued()),
        (1, 0),
        "the call that gave up should have left the queue: (in_flight, queued)"
    );
    let (result, _) = finish(hog, "the first call").await;
    assert_eq!(result, Ok(()), "the first call should complete");
}

#[rstest]
#[case::exactly_at_the_deadline(Duration::ZERO)]
#[case::after_the_deadline(ms(250))]
#[tokio::test(start_paused = true)]
async fn followup_a_call_with_no_time_left_fails_at_once_without_running(#[case] late: Duration) {
    let t0 = Instant::now();
    let bulkhead = Bulkhead::new(1, 1);
    let dependency = Dependency::default();
    let outcome = within(
        with_deadline(t0 + secs(1), async {
            sleep(secs(1) + late).await;
            timed_call(&bulkhead, secs(10), &dependency, secs(1)).await
        }),
        "a call with no time left",
    )
    .await;
    assert_eq!(
        outcome,
        (Err(TimedOut), Duration::ZERO),
        "a call made {late:?} after its deadline (no time left) should fail at once: \
         (result, took)"
    );
    assert_eq!(
        dependency.started(),
        0,
        "a call with no time left should not start the request at all: nobody waits for its answer"
    );
    assert_idle(&bulkhead, "after a call with no time left");
}

#[tokio::test(start_paused = true)]
async fn followup_a_queued_call_that_gets_its_permit_with_no_time_left_never_starts() {
    let bulkhead = Arc::new(Bulkhead::new(1, 1));
    let dependency = Dependency::default();
    let mut holder = Box::pin(bulkhead.call(secs(60), pending::<()>));
    assert!(
        poll_once(&mut holder).await.is_none(),
        "a call into a dependency that never answers should still be running"
    );
    let queued = spawn_call(&bulkhead, Duration::ZERO, secs(1), &dependency, secs(1));
    until_ready("a call should queue behind the holder", || {
        bulkhead.queued() == 1
    })
    .await;
    // The permit comes free, and the clock reaches the queued call's
    // deadline before that call runs again: it gets its permit with no time
    // left.
    drop(holder);
    tokio::time::advance(secs(1)).await;
    assert_eq!(
        finish(queued, "the queued call").await,
        (Err(TimedOut), secs(1)),
        "a queued call whose permit reaches it exactly at its deadline has no time left: it \
         should time out: (result, took)"
    );
    assert_eq!(
        dependency.started(),
        0,
        "a call that got its permit with no time left should not start the request: nobody \
         waits for its answer (check the deadline again once the permit is in hand; \
         `timeout_at` polls its future once before it looks at the clock)"
    );
    assert_idle(&bulkhead, "after the call with no time left");
    assert_eq!(
        timed_call(&bulkhead, secs(10), &dependency, secs(1)).await,
        (Ok(()), secs(1)),
        "the permit it gave back should serve the next call"
    );
}

// ─────────────── Against a model: random workloads, exact outcomes ───────────────

/// One caller of a random workload.
#[derive(Debug, Clone)]
struct Caller {
    arrives: Duration,
    takes: Duration,
    timeout: Duration,
}

/// A bulkhead (max_concurrent, max_queued) and up to 12 callers. Arrivals
/// are whole seconds plus a distinct 10ms step per caller, requests take
/// whole seconds, timeouts are whole seconds plus 500ms: no two events
/// (arrival, end of a request, expiry of a deadline) ever fall on the same
/// instant, so the outcome of every call is exactly determined.
fn workload() -> impl Strategy<Value = (usize, usize, Vec<Caller>)> {
    (
        1usize..=3,
        0usize..=3,
        vec((0u64..=5, 1u64..=4, 0u64..=4), 1..=12),
    )
        .prop_map(|(max_concurrent, max_queued, callers)| {
            let callers = (10u64..)
                .step_by(10)
                .zip(callers)
                .map(|(step, (second, takes, timeout))| Caller {
                    arrives: secs(second) + ms(step),
                    takes: secs(takes),
                    timeout: secs(timeout) + ms(500),
                })
                .collect();
            (max_concurrent, max_queued, callers)
        })
}

/// The obvious bulkhead, as a simulation of events in time order: a list of
/// running calls, a first-come-first-served queue.
fn model(max_concurrent: usize, max_queued: usize, callers: &[Caller]) -> Vec<Outcome> {
    let deadline = |i: usize| callers[i].arrives + callers[i].timeout;
    let mut arrivals: Vec<usize> = (0..callers.len()).collect();
    arrivals.sort_by_key(|&i| callers[i].arrives);
    let mut arrivals = arrivals.into_iter().peekable();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; callers.len()];
    // (caller, when it returns, whether it completes or times out)
    let mut running: Vec<(usize, Duration, bool)> = Vec::new();
    let mut queue: VecDeque<usize> = VecDeque::new();
    let start = |i: usize, now: Duration, running: &mut Vec<(usize, Duration, bool)>| {
        let done = now + callers[i].takes;
        running.push((i, done.min(deadline(i)), done < deadline(i)));
    };
    loop {
        let arrival = arrivals.peek().map(|&i| callers[i].arrives);
        let end = running.iter().map(|&(_, at, _)| at).min();
        let expiry = queue.iter().map(|&i| deadline(i)).min();
        let Some(now) = [arrival, end, expiry].into_iter().flatten().min() else {
            break;
        };
        if end == Some(now) {
            let k = running
                .iter()
                .position(|&(_, at, _)| at == now)
                .expect("an end");
            let (i, _, completes) = running.swap_remove(k);
            let result = if completes { Ok(()) } else { Err(TimedOut) };
            outcomes[i] = Some((result, now - callers[i].arrives));
            if let Some(next) = queue.pop_front() {
                start(next, now, &mut running);
            }
        } else if expiry == Some(now) {
            let k = queue
                .iter()
                .position(|&i| deadline(i) == now)
                .expect("an expiry");
            let i = queue.remove(k).expect("queued");
            outcomes[i] = Some((Err(TimedOut), callers[i].timeout));
        } else if let Some(i) = arrivals.next() {
            if running.len() < max_concurrent {
                start(i, now, &mut running);
            } else if queue.len() < max_queued {
                queue.push_back(i);
            } else {
                outcomes[i] = Some((Err(Rejected), Duration::ZERO));
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every call ends"))
        .collect()
}

/// Runs the workload on a fresh paused-clock runtime.
fn run(
    max_concurrent: usize,
    max_queued: usize,
    callers: &[Caller],
) -> (Vec<Outcome>, usize, (usize, usize)) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let bulkhead = Arc::new(Bulkhead::new(max_concurrent, max_queued));
        let dependency = Dependency::default();
        let calls: Vec<_> = callers
            .iter()
            .map(|c| spawn_call(&bulkhead, c.arrives, c.timeout, &dependency, c.takes))
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(finish(call, "a call of the workload").await);
        }
        (
            outcomes,
            dependency.peak(),
            (bulkhead.in_flight(), bulkhead.queued()),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn followup_agrees_with_a_first_come_first_served_model_on_random_workloads(
        (max_concurrent, max_queued, callers) in workload()
    ) {
        let (outcomes, peak, metrics) = run(max_concurrent, max_queued, &callers);
        let expected = model(max_concurrent, max_queued, &callers);
        for (i, (got, want)) in outcomes.iter().zip(&expected).enumerate() {
            prop_assert_eq!(
                got,
                want,
                "bulkhead of {} with a queue of {}: caller {} ({:?}) should see (result, after), \
                 as the first-come-first-served model does; all callers: {:#?}",
                max_concurrent, max_queued, i, &callers[i], &callers
            );
        }
        prop_assert!(peak <= max_concurrent, "{} calls ran at once in a bulkhead of {}", peak, max_concurrent);
        prop_assert_eq!(metrics, (0, 0), "once every call has returned: (in_flight, queued)");
    }
}
