//! The specification of the singleflight kata.
//!
//! Every test name is a requirement; read the failing names first. Time is
//! tokio's paused clock: the fake backend's loads sleep for a second, which
//! takes no time at all, and every instant below is exact. Nothing sleeps on
//! the wall clock, and every wait for a caller is bounded (an hour of paused
//! time, which is instant), so a caller stranded for ever fails its spec
//! instead of hanging it.
//!
//! `cargo test -p singleflight` judges your code;
//! `cargo test -p singleflight --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) has nothing to run here.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use singleflight as subject;
#[cfg(feature = "solution")]
use singleflight_solution as subject;

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use spec_probes::keys::{ConstHash, Counted, count};
// `Neither` answers for a future that is not `Send`: unused when it is.
#[allow(unused_imports)]
use spec_probes::markers::Neither;
use spec_probes::markers::{Probe, Send_};
use subject::SingleFlight;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

// ───────────────────────────── helpers ─────────────────────────────

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// How long (of paused time, so no time at all) a spec waits for a caller
/// that should come back: far longer than any load in this file.
const PATIENCE: Duration = secs(3600);

/// Keys are user ids, values are profiles, errors are messages.
type Flights = SingleFlight<String, String, String>;

/// What one caller saw: its result, and how long after its call it came.
type Outcome = (Result<String, String>, Duration);

/// How a load of the fake backend ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Ok,
    Fails,
    Panics,
}

/// The fake backend: it numbers its loads, so that a value says which load
/// produced it: `"user:1 v3"` is the third load the backend ran.
#[derive(Clone, Default)]
struct Backend {
    loads: Arc<AtomicUsize>,
}

impl Backend {
    /// One load of `key` that takes `takes`, then answers `"<key> v<n>"`
    /// (`n`: the load's number), or fails with `"<key>: backend down (load
    /// <n>)"`, or panics.
    fn load(
        &self,
        key: &str,
        takes: Duration,
        ends: Ends,
    ) -> impl Future<Output = Result<String, String>> + Send + 'static {
        let (loads, key) = (Arc::clone(&self.loads), key.to_owned());
        async move {
            let n = loads.fetch_add(1, SeqCst) + 1;
            sleep(takes).await;
            match ends {
                Ends::Ok => Ok(format!("{key} v{n}")),
                Ends::Fails => Err(format!("{key}: backend down (load {n})")),
                Ends::Panics => panic!("the loader of {key} panicked (a bug in the loader)"),
            }
        }
    }

    /// How many loads the backend has started.
    fn loads(&self) -> usize {
        self.loads.load(SeqCst)
    }
}

/// One call for `key`, made now, whose loader (if it runs) takes `takes`.
async fn timed_get(
    flights: &Flights,
    key: &str,
    backend: &Backend,
    takes: Duration,
    ends: Ends,
) -> Outcome {
    let start = Instant::now();
    let result = flights
        .get(key.to_owned(), || backend.load(key, takes, ends))
        .await;
    (result, start.elapsed())
}

/// A task making one call for `key` after `delay`.
fn spawn_get(
    flights: &Arc<Flights>,
    delay: Duration,
    key: &str,
    backend: &Backend,
    takes: Duration,
    ends: Ends,
) -> JoinHandle<Outcome> {
    let (flights, backend, key) = (Arc::clone(flights), backend.clone(), key.to_owned());
    tokio::spawn(async move {
        sleep(delay).await;
        timed_get(&flights, &key, &backend, takes, ends).await
    })
}

/// Awaits `fut`, but no longer than `PATIENCE` of paused time.
async fn within<F: Future>(fut: F, what: &str) -> F::Output {
    timeout(PATIENCE, fut).await.unwrap_or_else(|_| {
        panic!(
            "{what} should have come back long before an hour had passed (paused time), \
             but it was still waiting: stranded, waiting for a load that will never finish?"
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

fn value(key: &str, load: usize) -> Result<String, String> {
    Ok(format!("{key} v{load}"))
}

fn failure(key: &str, load: usize) -> Result<String, String> {
    Err(format!("{key}: backend down (load {load})"))
}

// ─────────────────────── Coalescing: one load per key ───────────────────────

#[tokio::test(start_paused = true)]
async fn a_lone_call_runs_its_loader_and_returns_the_value() {
    let flights = Flights::new();
    let backend = Backend::default();
    let outcome = within(
        timed_get(&flights, "user:1", &backend, secs(1), Ends::Ok),
        "a lone call",
    )
    .await;
    assert_eq!(
        outcome,
        (value("user:1", 1), secs(1)),
        "a lone call for user:1 should run its loader (a one-second load) and return its value: \
         (result, took)"
    );
    assert_eq!(backend.loads(), 1, "a lone call should load exactly once");
    assert_eq!(
        flights.in_flight(),
        0,
        "once the load is done, no key is in flight"
    );
}

#[rstest]
#[case::two(2)]
#[case::ten(10)]
#[case::a_hundred(100)]
#[tokio::test(start_paused = true)]
async fn concurrent_callers_of_one_key_share_one_load(#[case] callers: usize) {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let calls: Vec<_> = (0..callers)
        .map(|_| {
            spawn_get(
                &flights,
                Duration::ZERO,
                "user:1",
                &backend,
                secs(1),
                Ends::Ok,
            )
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let outcome = finish(call, "a caller of a shared load").await;
        assert_eq!(
            outcome,
            (value("user:1", 1), secs(1)),
            "{callers} callers ask for user:1 at once: caller {i} should get the value of the \
             one and only load, when it completes: (result, took)"
        );
    }
    assert_eq!(
        backend.loads(),
        1,
        "{callers} concurrent callers of one key should make the backend load once, not once each"
    );
}

#[tokio::test(start_paused = true)]
async fn callers_arriving_during_the_load_wait_for_it() {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let calls: Vec<_> = [0, 100, 500, 999]
        .into_iter()
        .map(|at| {
            let call = spawn_get(&flights, ms(at), "user:1", &backend, secs(1), Ends::Ok);
            (at, call)
        })
        .collect();
    for (at, call) in calls {
        let outcome = finish(call, "a caller").await;
        assert_eq!(
            outcome,
            (value("user:1", 1), ms(1000 - at)),
            "a load of user:1 runs from 0 to 1s: a caller arriving at {at}ms should wait for it \
             and get its value at 1s: (result, waited)"
        );
    }
    assert_eq!(
        backend.loads(),
        1,
        "callers arriving during a load should not load again"
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_reaches_every_waiter() {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let calls: Vec<_> = (0..10)
        .map(|i| {
            spawn_get(
                &flights,
                ms(i * 50),
                "user:1",
                &backend,
                secs(1),
                Ends::Fails,
            )
        })
        .collect();
    for (i, call) in (0..).zip(calls) {
        let outcome = finish(call, "a caller of a failing load").await;
        assert_eq!(
            outcome,
            (failure("user:1", 1), ms(1000 - i * 50)),
            "the load of user:1 fails after 1s: the caller arriving at {}ms should get that \
             error, when it happens: (result, waited)",
            i * 50
        );
    }
    assert_eq!(
        backend.loads(),
        1,
        "a failing load should not be retried by its waiters: that is a stampede on a \
         backend that is already down"
    );
    assert_eq!(
        flights.in_flight(),
        0,
        "once the load has failed, no key is in flight"
    );
}

#[rstest]
#[case::after_a_value(Ends::Ok)]
#[case::after_an_error(Ends::Fails)]
#[tokio::test(start_paused = true)]
async fn the_next_call_after_a_load_completes_loads_again(#[case] first: Ends) {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let (result, _) = within(
        timed_get(&flights, "user:1", &backend, secs(1), first),
        "the first call",
    )
    .await;
    let expected = if first == Ends::Ok {
        value("user:1", 1)
    } else {
        failure("user:1", 1)
    };
    assert_eq!(
        result, expected,
        "the first call should get its own load's result"
    );
    assert_eq!(
        flights.in_flight(),
        0,
        "once the first load is done, no key is in flight"
    );
    sleep(ms(10)).await;
    let second = spawn_get(
        &flights,
        Duration::ZERO,
        "user:1",
        &backend,
        secs(1),
        Ends::Ok,
    );
    let joiner = spawn_get(&flights, ms(500), "user:1", &backend, secs(1), Ends::Ok);
    assert_eq!(
        finish(second, "the second call").await,
        (value("user:1", 2), secs(1)),
        "a call made after the first load of user:1 completed ({first:?}) should load again \
         (nothing is cached, not even an error) and get the new value: (result, took)"
    );
    assert_eq!(
        finish(joiner, "a caller of the second load").await,
        (value("user:1", 2), ms(500)),
        "a caller arriving during the second load should get the second load's value"
    );
    assert_eq!(backend.loads(), 2, "two loads one after the other, no more");
}

#[tokio::test(start_paused = true)]
async fn different_keys_load_independently_and_at_the_same_time() {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let keys = [
        ("user:1", Ends::Ok),
        ("user:2", Ends::Fails),
        ("user:3", Ends::Ok),
    ];
    // Four callers per key, the keys interleaved.
    let calls: Vec<_> = (0..4)
        .flat_map(|_| keys)
        .map(|(key, ends)| {
            (
                key,
                spawn_get(&flights, Duration::ZERO, key, &backend, secs(1), ends),
            )
        })
        .collect();
    sleep(ms(500)).await;
    assert_eq!(
        flights.in_flight(),
        3,
        "halfway through, three keys (user:1, user:2, user:3) should each have one load in flight"
    );
    let mut results = Vec::new();
    for (key, call) in calls {
        let (result, took) = finish(call, "a caller").await;
        assert_eq!(
            took,
            secs(1),
            "the loads of three keys should run at the same time, all done after 1s, not one \
             after the other: a caller of {key} waited {took:?}"
        );
        results.push((key, result));
    }
    assert_eq!(
        backend.loads(),
        3,
        "twelve callers of three keys: one load per key"
    );
    for (key, result) in &results {
        let load = match result {
            Ok(value) => value
                .rsplit_once(" v")
                .map(|(k, n)| (k.to_owned(), n.to_owned())),
            Err(error) => error
                .strip_suffix(')')
                .and_then(|e| e.split_once(": backend down (load "))
                .map(|(k, n)| (k.to_owned(), n.to_owned())),
        };
        let Some((loaded_key, _)) = load else {
            panic!("{key}: unexpected result {result:?}");
        };
        assert_eq!(
            loaded_key, *key,
            "a caller of {key} should get {key}'s result, never another key's: got {result:?}"
        );
        assert_eq!(
            result.is_ok(),
            *key != "user:2",
            "only user:2's load fails; its error reaches user:2's callers only: {key} got {result:?}"
        );
    }
    for (key, _) in keys {
        let distinct: std::collections::HashSet<_> = results
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, r)| r.clone())
            .collect();
        assert_eq!(
            distinct.len(),
            1,
            "all four callers of {key} should get the same result, from one load: {distinct:?}"
        );
    }
    assert_eq!(
        flights.in_flight(),
        0,
        "once every load is done, no key is in flight"
    );
}

/// A key that may move to another thread but not be shared between two
/// (`Send`, not `Sync`): what `get` asks of its keys is `Send`, no more.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SendOnlyKey(u32, PhantomData<Cell<()>>);

#[tokio::test(start_paused = true)]
async fn a_call_can_be_spawned_whenever_its_key_is_send() {
    let flights = SingleFlight::<SendOnlyKey, u32, String>::new();
    let call = flights.get(SendOnlyKey(7, PhantomData), || async { Ok(7) });
    assert!(
        (&&Probe(&call)).is_send(),
        "the future of get should be Send for a key that is Send but not Sync, so that a \
         caller can tokio::spawn it: holding a &K across an .await (in a guard, say) makes \
         it Send only for keys that are also Sync"
    );
    assert_eq!(within(call, "a lone call").await, Ok(7));
}

// ──────────────── Cancellation: nobody is ever stranded ────────────────

/// How a caller gives up on its call.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    /// The caller's own `tokio::time::timeout` (or `select!`) drops the
    /// call's future.
    DropTheFuture,
    /// The caller's task is aborted.
    AbortTheTask,
}

/// A call for `key` that its caller gives up on after `after`, the way
/// `how` says; returns once the call is gone.
async fn give_up_on_a_call(
    flights: &Arc<Flights>,
    key: &str,
    backend: &Backend,
    after: Duration,
    how: GiveUp,
) {
    let call = {
        let (flights, backend, key) = (Arc::clone(flights), backend.clone(), key.to_owned());
        async move { timed_get(&flights, &key, &backend, secs(1), Ends::Ok).await }
    };
    match how {
        GiveUp::DropTheFuture => {
            let outcome = timeout(after, call).await;
            assert!(
                outcome.is_err(),
                "the call should still be waiting after {after:?}, got {outcome:?}"
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
                "the call should still be waiting when aborted after {after:?}, got {ended:?}"
            );
        }
    }
}

#[rstest]
#[case::future_dropped(GiveUp::DropTheFuture)]
#[case::task_aborted(GiveUp::AbortTheTask)]
#[tokio::test(start_paused = true)]
async fn a_waiter_that_gives_up_disturbs_nobody(#[case] how: GiveUp) {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let leader = spawn_get(
        &flights,
        Duration::ZERO,
        "user:1",
        &backend,
        secs(1),
        Ends::Ok,
    );
    let waiter = spawn_get(&flights, ms(10), "user:1", &backend, secs(1), Ends::Ok);
    sleep(ms(100)).await;
    give_up_on_a_call(&flights, "user:1", &backend, ms(400), how).await;
    let newcomer = spawn_get(&flights, ms(100), "user:1", &backend, secs(1), Ends::Ok);
    assert_eq!(
        finish(newcomer, "a caller arriving after a waiter gave up").await,
        (value("user:1", 1), ms(400)),
        "a waiter gave up ({how:?}) at 500ms while the load of user:1 still runs: a caller \
         arriving at 600ms should join that load and get its value at 1s, not start a second \
         load: (result, waited)"
    );
    assert_eq!(
        finish(leader, "the first caller").await,
        (value("user:1", 1), secs(1)),
        "a waiter that gave up ({how:?}) at 500ms should not disturb the load: the first \
         caller gets its value at 1s: (result, took)"
    );
    assert_eq!(
        finish(waiter, "another waiter").await,
        (value("user:1", 1), ms(990)),
        "a waiter that gave up ({how:?}) should not disturb the other waiters: (result, waited)"
    );
    assert_eq!(
        backend.loads(),
        1,
        "one load, whoever gave up waiting for it"
    );
    assert_eq!(
        flights.in_flight(),
        0,
        "once the load is done, no key is in flight"
    );
}

#[rstest]
#[case::future_dropped(GiveUp::DropTheFuture)]
#[case::task_aborted(GiveUp::AbortTheTask)]
#[tokio::test(start_paused = true)]
async fn followup_cancelling_the_leader_does_not_strand_its_waiters(#[case] how: GiveUp) {
    let t0 = Instant::now();
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let waiters: Vec<_> = (0..5)
        .map(|_| spawn_get(&flights, ms(10), "user:1", &backend, secs(1), Ends::Ok))
        .collect();
    // The first caller starts the load at 0 and gives up at 500ms, halfway.
    give_up_on_a_call(&flights, "user:1", &backend, ms(500), how).await;
    let mut results = Vec::new();
    for waiter in waiters {
        let (result, waited) = finish(waiter, "a waiter of a cancelled leader").await;
        assert!(
            result.is_ok(),
            "a waiter of a load whose caller gave up ({how:?}) should still get a value, got \
             {result:?}"
        );
        assert!(
            waited <= ms(1490),
            "waiters should get their value by 1.5s at the latest (the load runs on, or one \
             waiter reloads at once when the first caller gives up at 500ms): one arriving at \
             10ms waited {waited:?}"
        );
        results.push(result);
    }
    assert!(
        results.iter().all(|r| *r == results[0]),
        "every waiter should get the result of the same load: {results:?}"
    );
    assert!(
        backend.loads() <= 2,
        "after the first caller gave up ({how:?}), at most one new load should run (the load \
         runs on, or one waiter takes over while the others wait for it), not one per waiter: \
         {} loads",
        backend.loads()
    );
    assert_eq!(flights.in_flight(), 0, "at the end, no key is in flight");
    assert!(t0.elapsed() <= ms(1500), "all done by 1.5s");
}

#[rstest]
#[case::future_dropped(GiveUp::DropTheFuture)]
#[case::task_aborted(GiveUp::AbortTheTask)]
#[tokio::test(start_paused = true)]
async fn followup_a_call_after_every_caller_gave_up_gets_a_fresh_result(#[case] how: GiveUp) {
    let t0 = Instant::now();
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    give_up_on_a_call(&flights, "user:1", &backend, ms(500), how).await;
    sleep_until(t0 + ms(700)).await;
    let (result, took) = within(
        timed_get(&flights, "user:1", &backend, secs(1), Ends::Ok),
        "a call after the only caller gave up",
    )
    .await;
    assert!(
        result.is_ok() && took <= secs(1),
        "the only caller of user:1 gave up ({how:?}) at 500ms; a call at 700ms should get a \
         value within a second (from the load still running, or from a new one), got \
         {result:?} after {took:?}"
    );
    assert_eq!(
        flights.in_flight(),
        0,
        "once that call is done, no key is in flight"
    );
    let loads = backend.loads();
    let outcome = within(
        timed_get(&flights, "user:1", &backend, secs(1), Ends::Ok),
        "a call once everything is done",
    )
    .await;
    assert_eq!(
        outcome,
        (value("user:1", loads + 1), secs(1)),
        "with nothing in flight, the next call should run a new load: (result, took)"
    );
}

#[tokio::test(start_paused = true)]
async fn followup_a_panicking_loader_strands_nobody() {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let doomed = spawn_get(
        &flights,
        Duration::ZERO,
        "user:1",
        &backend,
        ms(500),
        Ends::Panics,
    );
    let waiters: Vec<_> = (0..3)
        .map(|_| spawn_get(&flights, ms(10), "user:1", &backend, secs(1), Ends::Ok))
        .collect();
    let ended = within(doomed, "the caller whose loader panics").await;
    assert!(
        ended.as_ref().is_err_and(tokio::task::JoinError::is_panic),
        "the loader's panic should reach the caller that ran it, got {ended:?}"
    );
    for waiter in waiters {
        // A waiter may get a value (one of them reloads) or a panic of its
        // own; what it must not do is wait for ever.
        let came_back = within(waiter, "a waiter of a panicking load").await;
        if let Ok((result, _)) = &came_back {
            assert!(
                result.is_ok(),
                "a waiter of a load whose loader panicked got {result:?}"
            );
        }
    }
    assert_eq!(
        flights.in_flight(),
        0,
        "a load that panicked should leave no key in flight"
    );
    let loads = backend.loads();
    let outcome = within(
        timed_get(&flights, "user:1", &backend, secs(1), Ends::Ok),
        "a call after a panic",
    )
    .await;
    assert_eq!(
        outcome,
        (value("user:1", loads + 1), secs(1)),
        "after a loader panicked, the next call for the key should run a new load: (result, took)"
    );
}

/// Where a loader panics.
#[derive(Debug, Clone, Copy)]
enum PanicsIn {
    /// Inside its future, after some time.
    ItsFuture,
    /// In the closure, before it returns a future (a `pool.get().expect(..)`
    /// before the `async` block).
    ItsClosure,
}

#[rstest]
#[case::in_its_future(PanicsIn::ItsFuture)]
#[case::in_its_closure(PanicsIn::ItsClosure)]
#[tokio::test(start_paused = true)]
async fn followup_a_lone_caller_whose_loader_panics_leaves_nothing_behind(#[case] at: PanicsIn) {
    let flights = Arc::new(Flights::new());
    let backend = Backend::default();
    let doomed = {
        let (flights, backend) = (Arc::clone(&flights), backend.clone());
        tokio::spawn(async move {
            flights
                .get("user:1".to_owned(), || match at {
                    PanicsIn::ItsFuture => backend.load("user:1", ms(500), Ends::Panics),
                    PanicsIn::ItsClosure => {
                        panic!("the loader of user:1 panicked before its future (a bug)")
                    }
                })
                .await
        })
    };
    let ended = within(doomed, "the caller whose loader panics").await;
    assert!(
        ended.as_ref().is_err_and(tokio::task::JoinError::is_panic),
        "the loader's panic ({at:?}) should reach the caller that ran it, got {ended:?}"
    );
    assert_eq!(
        flights.in_flight(),
        0,
        "the only caller of user:1 had a loader that panicked ({at:?}): no key should be left \
         in flight (clean up in a guard's Drop, which runs on a panic too)"
    );
    let loads = backend.loads();
    for key in ["user:1", "user:2"] {
        let outcome = within(
            timed_get(&flights, key, &backend, secs(1), Ends::Ok),
            "a call after a panic",
        )
        .await;
        assert!(
            outcome.0.is_ok() && outcome.1 == secs(1),
            "after a loader of user:1 panicked ({at:?}), a call for {key} should run a new load \
             of one second and get its value (a lock poisoned by the panic must not fail every \
             later call), got {outcome:?}"
        );
    }
    assert_eq!(backend.loads(), loads + 2, "one new load per key");
}

/// Keys are user ids whose `Hash` is the same for every id: every key
/// collides.
type Colliding = SingleFlight<ConstHash<String>, String, String>;

#[tokio::test(start_paused = true)]
async fn keys_with_the_same_hash_are_still_different_keys() {
    let flights = Arc::new(Colliding::new());
    let backend = Backend::default();
    let calls: Vec<_> = ["user:1", "user:2", "user:1", "user:2"]
        .into_iter()
        .map(|key| {
            let (flights, backend) = (Arc::clone(&flights), backend.clone());
            let call = tokio::spawn(async move {
                flights
                    .get(ConstHash(key.to_owned()), || {
                        backend.load(key, secs(1), Ends::Ok)
                    })
                    .await
            });
            (key, call)
        })
        .collect();
    sleep(ms(500)).await;
    assert_eq!(
        flights.in_flight(),
        2,
        "user:1 and user:2 hash the same but are different keys: each should have its own load \
         in flight"
    );
    for (key, call) in calls {
        let result = finish(call, "a caller of a colliding key").await;
        let loaded = result
            .as_deref()
            .ok()
            .and_then(|v| v.rsplit_once(" v"))
            .map(|(k, _)| k);
        assert_eq!(
            loaded,
            Some(key),
            "keys whose hashes are equal must not share a flight: a caller of {key} should get \
             {key}'s value, got {result:?} (is the map keyed by the hash instead of the key?)"
        );
    }
    assert_eq!(
        backend.loads(),
        2,
        "two callers each of two colliding keys: one load per key"
    );
}

/// A profile that counts how often it is cloned.
#[derive(Debug)]
struct Profile {
    clones: Arc<AtomicUsize>,
}

impl Clone for Profile {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, SeqCst);
        Profile {
            clones: Arc::clone(&self.clones),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_waiter_costs_one_clone_of_the_result() {
    const CALLERS: usize = 10;
    let flights = Arc::new(SingleFlight::<String, Profile, String>::new());
    let clones = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (flights, clones) = (Arc::clone(&flights), Arc::clone(&clones));
            tokio::spawn(async move {
                flights
                    .get("user:1".to_owned(), move || async move {
                        sleep(secs(1)).await;
                        Ok(Profile { clones })
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        let profile = finish(call, "a caller of a shared load").await;
        assert!(profile.is_ok(), "every caller gets the profile");
    }
    let cloned = clones.load(SeqCst);
    assert!(
        cloned <= CALLERS,
        "{CALLERS} callers shared one load: the result should be cloned about once per caller \
         (a waiter costs one clone of the result), but it was cloned {cloned} times"
    );
}

#[test]
fn joining_or_leading_a_flight_costs_the_same_with_a_thousand_keys_in_flight() {
    // The keys count their `hash` and `eq` calls. A thousand loads are
    // parked in flight on a gate; then one more call, for a new key whose
    // load answers at once, is measured, beside the same call with one key
    // in flight.
    fn one_more_call(in_flight: usize) -> spec_probes::keys::Calls {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        let flights = Arc::new(SingleFlight::<Counted<String>, String, String>::new());
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        runtime.block_on(async {
            for i in 0..in_flight {
                let (flights, gate) = (Arc::clone(&flights), Arc::clone(&gate));
                tokio::spawn(async move {
                    flights
                        .get(Counted(format!("user:{i}")), move || async move {
                            let _open = gate.acquire().await;
                            Ok(String::new())
                        })
                        .await
                });
            }
            for _ in 0..100_000 {
                if flights.in_flight() == in_flight {
                    break;
                }
                tokio::task::yield_now().await;
            }
            assert_eq!(
                flights.in_flight(),
                in_flight,
                "{in_flight} keys should be in flight, each waiting for its load"
            );
        });
        let (calls, result) = count(|| {
            runtime.block_on(flights.get(Counted("user:new".to_owned()), || async {
                Ok("user:new v1".to_owned())
            }))
        });
        assert_eq!(result, Ok("user:new v1".to_owned()));
        calls
    }
    let one = one_more_call(1);
    let thousand = one_more_call(1000);
    assert!(
        thousand.total() <= one.total() + 4,
        "one call should be O(1): one map operation to join or lead, one to end the flight, \
         whatever the number of keys in flight. With 1 key in flight it hashed and compared \
         keys {one:?}; with 1,000, {thousand:?} (a scan of the flights?)"
    );
}

// ─────────────── Against a model: random schedules, exact outcomes ───────────────

/// One caller of a random schedule.
#[derive(Debug, Clone)]
struct Caller {
    key: &'static str,
    arrives: Duration,
    takes: Duration,
    ends: Ends,
}

/// Up to 16 groups of one to three callers of three keys. A group's callers
/// arrive at the same instant with the same loader, so whichever of them
/// leads, their outcome is the same. Arrivals are whole seconds plus a
/// distinct 10ms step per group and loads take whole seconds, so a load
/// always ends on its first group's step: no caller ever arrives on the
/// instant a load ends, and every outcome is exactly determined.
fn schedule() -> impl Strategy<Value = Vec<Caller>> {
    vec(
        (0usize..3, 0u64..=4, 1u64..=3, any::<bool>(), 1usize..=3),
        1..=16,
    )
    .prop_map(|groups| {
        (10u64..)
            .step_by(10)
            .zip(groups)
            .flat_map(|(step, (key, second, takes, fails, size))| {
                let caller = Caller {
                    key: ["user:1", "user:2", "user:3"][key],
                    arrives: secs(second) + ms(step),
                    takes: secs(takes),
                    ends: if fails { Ends::Fails } else { Ends::Ok },
                };
                std::iter::repeat_n(caller, size)
            })
            .collect()
    })
}

/// The obvious singleflight: per key, at most one load in flight; a caller
/// arriving while one runs gets its result when it ends, any other starts a
/// new one (numbered in the order loads start).
fn model(callers: &[Caller]) -> (Vec<Outcome>, usize) {
    let mut order: Vec<usize> = (0..callers.len()).collect();
    // A stable sort: of a group arriving together, the first leads (any
    // of them would do: they have the same loader).
    order.sort_by_key(|&i| callers[i].arrives);
    // Per key: (when the load in flight ends, its result).
    let mut flying: std::collections::HashMap<&str, (Duration, Result<String, String>)> =
        std::collections::HashMap::new();
    let mut loads = 0;
    let mut outcomes = vec![None; callers.len()];
    for i in order {
        let caller = &callers[i];
        let now = caller.arrives;
        let joins = flying
            .get(caller.key)
            .filter(|(ends, _)| *ends > now)
            .cloned();
        let (ends, result) = joins.unwrap_or_else(|| {
            loads += 1;
            let result = match caller.ends {
                Ends::Ok => value(caller.key, loads),
                _ => failure(caller.key, loads),
            };
            let flight = (now + caller.takes, result);
            flying.insert(caller.key, flight.clone());
            flight
        });
        outcomes[i] = Some((result, ends - now));
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.expect("every caller"))
        .collect();
    (outcomes, loads)
}

/// Runs the schedule on a fresh paused-clock runtime.
fn run(callers: &[Caller]) -> (Vec<Outcome>, usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let flights = Arc::new(Flights::new());
        let backend = Backend::default();
        let calls: Vec<_> = callers
            .iter()
            .map(|c| spawn_get(&flights, c.arrives, c.key, &backend, c.takes, c.ends))
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(finish(call, "a caller of the schedule").await);
        }
        (outcomes, backend.loads(), flights.in_flight())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn agrees_with_a_model_of_one_load_per_key_in_flight(callers in schedule()) {
        let (outcomes, loads, in_flight) = run(&callers);
        let (expected, expected_loads) = model(&callers);
        for (i, (got, want)) in outcomes.iter().zip(&expected).enumerate() {
            prop_assert_eq!(
                got,
                want,
                "caller {} ({:?}) should get (result, after) as the model of one load per key \
                 in flight does; all callers: {:#?}",
                i, &callers[i], &callers
            );
        }
        prop_assert_eq!(loads, expected_loads, "loads the backend ran, for callers {:#?}", &callers);
        prop_assert_eq!(in_flight, 0, "once every caller is done, no key is in flight");
    }
}
