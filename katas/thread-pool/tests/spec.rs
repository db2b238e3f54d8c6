//! The specification of the thread-pool kata.
//!
//! Every test name is a requirement; read the failing names first.
//!
//! Nothing here can hang: every wait has a deadline. Jobs that must be
//! running at the same time wait at a `Gate` the spec opens, or count
//! themselves in on a `Tally` the spec waits on; drop runs on a helper
//! thread whose answer the spec awaits with a timeout. A pool whose spec
//! failed is leaked rather than dropped, so a broken shutdown cannot hang
//! the failure report either. The only sleeps are short pauses that give a
//! thread a chance to do what it must not (start an extra job, return too
//! early) before the spec checks that it did not.
//!
//! `cargo test -p thread-pool` judges your code;
//! `cargo test -p thread-pool --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use thread_pool as subject;
#[cfg(feature = "solution")]
use thread_pool_solution as subject;

use std::collections::HashSet;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, Once, PoisonError, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use subject::ThreadPool;

// ───────────────────────────── helpers ─────────────────────────────

/// How long the spec waits for something that should happen at once (a job
/// starting, `drop` returning, the pool going idle) before calling it a
/// failure: far longer than any correct pool needs, even on a busy machine.
const PROMPTLY: Duration = Duration::from_secs(3);

/// How long a job waits at a gate before giving up, so that the jobs of a
/// failed spec end on their own.
const PATIENCE: Duration = Duration::from_secs(10);

/// A pause that gives a thread the chance to do what it must not (start one
/// job too many, return too early) before the spec checks that it did not.
/// Never used to wait for a result.
const A_MOMENT: Duration = Duration::from_millis(50);

/// The pool under test, shared with the spec's helper threads as
/// `Arc<UnderTest>`.
///
/// When the last handle goes, the pool is dropped on a helper thread and
/// nobody waits for it: specs that are not about shutdown do not depend on
/// it. If the spec is failing (the thread is panicking), the pool is leaked
/// instead: dropping it would wait for jobs the failed spec never released.
struct UnderTest(Option<ThreadPool>);

impl Deref for UnderTest {
    type Target = ThreadPool;

    fn deref(&self) -> &ThreadPool {
        self.0
            .as_ref()
            .expect("the pool is only taken out to be dropped")
    }
}

impl Drop for UnderTest {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            if thread::panicking() {
                std::mem::forget(pool);
            } else {
                drop(drop_in_background(pool));
            }
        }
    }
}

/// A pool of `workers` threads.
fn pool(workers: usize) -> Arc<UnderTest> {
    Arc::new(UnderTest(Some(ThreadPool::new(workers))))
}

/// What became of dropping the pool: `Err` holds the panic message.
type Dropped = Result<(), String>;

/// Drops `pool` on a helper thread; the answer arrives once `drop` returns.
fn drop_in_background(pool: ThreadPool) -> Receiver<Dropped> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(pool)));
        let _ = tx.send(outcome.map_err(|payload| panic_message(payload.as_ref())));
    });
    rx
}

/// Starts shutting the pool down (drops it) on a helper thread. The spec must
/// hold the only handle.
fn shut_down(pool: Arc<UnderTest>) -> Receiver<Dropped> {
    let mut pool = Arc::try_unwrap(pool)
        .unwrap_or_else(|_| panic!("the spec should hold the only handle to the pool it drops"));
    let pool = pool.0.take().expect("the pool is dropped only once");
    drop_in_background(pool)
}

/// Waits up to `PROMPTLY` for a drop started by `shut_down` to return, and
/// fails the spec (saying `what`) if it hangs or panics.
fn expect_dropped(dropped: &Receiver<Dropped>, what: &str) {
    match dropped.recv_timeout(PROMPTLY) {
        Ok(Ok(())) => {}
        Ok(Err(message)) => {
            panic!("{what}: drop should not panic, but it panicked with: {message}")
        }
        Err(_) => panic!(
            "{what}: drop should return within {PROMPTLY:?}, but it was still blocked \
             (a worker that never wakes up to see the shutdown, or a job that never ran?)"
        ),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-string panic payload)".to_owned())
}

/// Runs the untimed `wait_idle` on a helper thread and reports whether it
/// returned within `timeout`.
fn wait_idle_within(pool: &Arc<UnderTest>, timeout: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    let pool = Arc::clone(pool);
    thread::spawn(move || {
        pool.wait_idle();
        let _ = tx.send(());
    });
    rx.recv_timeout(timeout).is_ok()
}

/// The end of every deliberate panic's message. The spec's panic hook keeps
/// these out of the report, where they would bury the real failure.
const DELIBERATE: &str = "panicked on purpose (the spec's doing)";

/// A job that panics, as a buggy request handler does.
fn panicking_job(i: usize) -> impl FnOnce() + Send + 'static {
    quiet_deliberate_panics();
    move || panic!("job {i} {DELIBERATE}")
}

/// Installs (once) a panic hook that stays silent about the spec's
/// deliberate panics and reports every other panic as before.
fn quiet_deliberate_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let report = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let deliberate = info
                .payload_as_str()
                .is_some_and(|message| message.ends_with(DELIBERATE));
            if !deliberate {
                report(info);
            }
        }));
    });
}

/// A gate that jobs wait at until the spec opens it (or `PATIENCE` runs out).
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    /// Waits until the gate is open; `false` if `PATIENCE` ran out first.
    fn wait(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, _) = self
            .opened
            .wait_timeout_while(open, PATIENCE, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        *open
    }
}

/// A count that threads can wait on, with a deadline.
#[derive(Default)]
struct Tally {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Tally {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.changed.notify_all();
    }

    fn get(&self) -> usize {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the count reaches `target`; `false` if `timeout` ran out.
    fn wait_for(&self, target: usize, timeout: Duration) -> bool {
        let count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, _) = self
            .changed
            .wait_timeout_while(count, timeout, |count| *count < target)
            .unwrap_or_else(PoisonError::into_inner);
        *count >= target
    }
}

/// Submits `jobs` jobs that each count themselves in on `started` and then
/// wait at `gate`, counting themselves out on `finished`.
fn submit_gated(
    pool: &ThreadPool,
    jobs: usize,
    gate: &Arc<Gate>,
    started: &Arc<Tally>,
    finished: &Arc<Tally>,
) {
    for _ in 0..jobs {
        let (gate, started, finished) =
            (Arc::clone(gate), Arc::clone(started), Arc::clone(finished));
        pool.execute(move || {
            started.add();
            gate.wait();
            finished.add();
        });
    }
}

/// Submits `jobs` jobs that each count themselves in and then wait (up to
/// `PATIENCE`) until `jobs` of them are in at the same time. They can only
/// all get in if the pool runs `jobs` jobs at once.
fn submit_jobs_that_wait_for_each_other(pool: &ThreadPool, jobs: usize) -> Arc<Tally> {
    let inside = Arc::new(Tally::default());
    for _ in 0..jobs {
        let inside = Arc::clone(&inside);
        pool.execute(move || {
            inside.add();
            inside.wait_for(jobs, PATIENCE);
        });
    }
    inside
}

/// One counter per job, for "ran exactly once" checks.
fn counters(jobs: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..jobs).map(|_| AtomicUsize::new(0)).collect())
}

/// Fails the spec with the first job whose counter is not 1.
fn assert_each_ran_exactly_once(runs: &[AtomicUsize], context: &str) {
    for (job, runs) in runs.iter().enumerate() {
        let runs = runs.load(SeqCst);
        assert_eq!(
            runs, 1,
            "{context}: job {job} should have run exactly once, but ran {runs} times"
        );
    }
}

// ───────────────────────────── running jobs ─────────────────────────────

#[test]
fn runs_a_job_on_a_worker_thread_not_the_callers() {
    let pool = pool(2);
    let (tx, rx) = mpsc::channel();
    pool.execute(move || {
        let _ = tx.send(thread::current().id());
    });
    let ran_on = rx
        .recv_timeout(PROMPTLY)
        .expect("a submitted job should run within 3s on an idle pool of 2 workers");
    assert_ne!(
        ran_on,
        thread::current().id(),
        "execute should hand the job to a worker thread, not run it on the caller's thread"
    );
}

#[test]
fn execute_returns_without_waiting_for_the_job_to_run() {
    let pool = pool(1);
    let (gate, started, finished) = Default::default();
    let (tx, rx) = mpsc::channel();
    {
        let (pool, gate, started, finished) = (
            Arc::clone(&pool),
            Arc::clone(&gate),
            Arc::clone(&started),
            Arc::clone(&finished),
        );
        thread::spawn(move || {
            // Two jobs for one worker: the second cannot start until the
            // first passes the gate, and the gate opens only after both
            // `execute` calls have returned.
            submit_gated(&pool, 2, &gate, &started, &finished);
            let _ = tx.send(());
        });
    }
    let returned = rx.recv_timeout(PROMPTLY);
    gate.open();
    assert!(
        returned.is_ok(),
        "execute should queue the job and return at once, without waiting for it (or a free \
         worker) to run it: 2 calls on a pool of 1 worker, whose jobs wait at a closed gate, \
         had not returned after 3s"
    );
}

#[rstest]
#[case::one_worker(1)]
#[case::four_workers(4)]
fn runs_every_one_of_1000_jobs_exactly_once(#[case] workers: usize) {
    const JOBS: usize = 1000;
    let pool = pool(workers);
    let runs = counters(JOBS);
    for job in 0..JOBS {
        let runs = Arc::clone(&runs);
        pool.execute(move || {
            runs[job].fetch_add(1, SeqCst);
        });
    }
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "a pool of {workers} workers should run {JOBS} tiny jobs within 3s \
         (wait_idle_timeout returned false)"
    );
    assert_each_ran_exactly_once(
        &runs,
        &format!("{JOBS} jobs on a pool of {workers} workers"),
    );
}

#[test]
fn runs_every_job_submitted_from_four_threads_at_once_exactly_once() {
    const PRODUCERS: usize = 4;
    const EACH: usize = 250;
    let pool = pool(3);
    let runs = counters(PRODUCERS * EACH);
    let (tx, rx) = mpsc::channel();
    for producer in 0..PRODUCERS {
        let (pool, runs, tx) = (Arc::clone(&pool), Arc::clone(&runs), tx.clone());
        thread::spawn(move || {
            for i in 0..EACH {
                let runs = Arc::clone(&runs);
                pool.execute(move || {
                    runs[producer * EACH + i].fetch_add(1, SeqCst);
                });
            }
            let _ = tx.send(());
        });
    }
    for done in 0..PRODUCERS {
        assert!(
            rx.recv_timeout(PROMPTLY).is_ok(),
            "{PRODUCERS} threads each submitting {EACH} jobs to one shared pool should all be \
             done submitting within 3s; only {done} were"
        );
    }
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "{} jobs submitted from {PRODUCERS} threads should all have run within 3s",
        PRODUCERS * EACH
    );
    assert_each_ran_exactly_once(
        &runs,
        &format!("{PRODUCERS} threads each submitting {EACH} jobs to a pool of 3 workers at once"),
    );
}

#[test]
fn a_pool_of_one_runs_jobs_in_the_order_they_were_submitted() {
    const JOBS: usize = 100;
    let pool = pool(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    for job in 0..JOBS {
        let order = Arc::clone(&order);
        pool.execute(move || {
            order
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(job);
        });
    }
    assert!(
        wait_idle_within(&pool, PROMPTLY),
        "wait_idle should return within 3s once {JOBS} tiny jobs ran on a pool of 1 worker"
    );
    let order = order.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(
        *order,
        (0..JOBS).collect::<Vec<_>>(),
        "a pool of one worker should run its jobs first come, first served (a FIFO queue)"
    );
}

#[test]
fn a_job_submitted_by_a_running_job_queues_behind_the_jobs_submitted_before_it() {
    let pool = pool(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Gate::default());
    let log = |order: &Arc<Mutex<Vec<&'static str>>>, name: &'static str| {
        let order = Arc::clone(order);
        move || {
            order
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name);
        }
    };
    {
        let (gate, weak) = (Arc::clone(&gate), Arc::downgrade(&pool));
        let (first, fanned_out) = (log(&order, "first"), log(&order, "fanned out"));
        pool.execute(move || {
            // By the time the gate opens, the spec has queued "queued".
            gate.wait();
            if let Some(pool) = weak.upgrade() {
                pool.execute(fanned_out);
            }
            first();
        });
    }
    pool.execute(log(&order, "queued"));
    gate.open();
    assert!(
        wait_idle_within(&pool, PROMPTLY),
        "wait_idle should return within 3s once 3 tiny jobs ran on a pool of 1 worker"
    );
    let order = order.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(
        *order,
        ["first", "queued", "fanned out"],
        "jobs run first come, first served, wherever they come from: a job that a running job \
         submits queues behind the job the spec submitted before it (a pool of 1 worker)"
    );
}

/// One step of a random session with the pool.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Submit a job that records its number.
    Run,
    /// Submit a job that panics.
    Panic,
    /// Wait until the pool is idle, then compare with the model.
    WaitIdle,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Run),
        2 => Just(Step::Panic),
        1 => Just(Step::WaitIdle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // A failing case can take seconds (a pool that never goes idle):
        // stop shrinking before the spec's deadline.
        max_shrink_time: 4000,
        ..ProptestConfig::default()
    })]

    /// The model: the jobs submitted, in order, and how many panicked. After
    /// every wait the pool must have run exactly the submitted jobs (in
    /// submission order with one worker) and counted exactly the panics.
    #[test]
    fn agrees_with_a_log_of_submitted_jobs_over_random_sessions(
        workers in 1usize..=3,
        steps in vec(step(), 0..40),
    ) {
        let pool = pool(workers);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut submitted = Vec::new();
        let mut panics = 0;
        for (i, step) in steps.iter().copied().enumerate() {
            match step {
                Step::Run => {
                    let ran = Arc::clone(&ran);
                    pool.execute(move || {
                        ran.lock().unwrap_or_else(PoisonError::into_inner).push(i);
                    });
                    submitted.push(i);
                }
                Step::Panic => {
                    pool.execute(panicking_job(i));
                    panics += 1;
                }
                Step::WaitIdle => {}
            }
            if matches!(step, Step::WaitIdle) || i + 1 == steps.len() {
                prop_assert!(
                    pool.wait_idle_timeout(PROMPTLY),
                    "after step {i} of {steps:?} on a pool of {workers}: wait_idle_timeout should \
                     report the pool idle within 3s"
                );
                let mut ran = ran.lock().unwrap_or_else(PoisonError::into_inner).clone();
                if workers > 1 {
                    ran.sort_unstable();
                }
                prop_assert_eq!(
                    &ran, &submitted,
                    "after step {} of {:?} on a pool of {}: once idle, the pool should have run \
                     every submitted job exactly once ({})",
                    i, steps, workers,
                    if workers == 1 { "in submission order, with one worker" } else { "sorted" }
                );
                prop_assert_eq!(
                    pool.panicked_jobs(), panics,
                    "after step {} of {:?} on a pool of {}: panicked_jobs should count every job \
                     that panicked", i, steps, workers
                );
            }
        }
    }
}

// ───────────────────────── bounded concurrency ─────────────────────────

#[rstest]
#[case::one(1)]
#[case::two(2)]
#[case::four(4)]
#[case::eight(8)]
fn a_pool_of_n_workers_runs_n_jobs_at_once(#[case] workers: usize) {
    let pool = pool(workers);
    let inside = submit_jobs_that_wait_for_each_other(&pool, workers);
    assert!(
        inside.wait_for(workers, PROMPTLY),
        "a pool of {workers} workers should run {workers} jobs at once: of {workers} jobs that \
         each wait for all the others to start, only {} had started after 3s",
        inside.get()
    );
}

#[rstest]
#[case::one(1)]
#[case::three(3)]
fn never_runs_more_than_n_jobs_at_once(#[case] workers: usize) {
    let jobs = 3 * workers;
    let pool = pool(workers);
    let (gate, started, finished): (Arc<Gate>, Arc<Tally>, Arc<Tally>) = Default::default();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    for _ in 0..jobs {
        let (gate, started, finished) = (
            Arc::clone(&gate),
            Arc::clone(&started),
            Arc::clone(&finished),
        );
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        pool.execute(move || {
            let now = running.fetch_add(1, SeqCst) + 1;
            most.fetch_max(now, SeqCst);
            started.add();
            gate.wait();
            running.fetch_sub(1, SeqCst);
            finished.add();
        });
    }
    let all_busy = started.wait_for(workers, PROMPTLY);
    // A chance for a pool that runs too many jobs to start one more.
    thread::sleep(A_MOMENT);
    let started_while_busy = started.get();
    gate.open();
    assert!(
        all_busy,
        "a pool of {workers} workers given {jobs} jobs should start {workers} of them within 3s; \
         it started {started_while_busy}"
    );
    assert_eq!(
        started_while_busy, workers,
        "a pool of {workers} workers should not start another job while {workers} are running"
    );
    assert!(
        finished.wait_for(jobs, PROMPTLY),
        "once the gate opened, all {jobs} jobs should have finished within 3s; {} did",
        finished.get()
    );
    let most = most.load(SeqCst);
    assert!(
        most <= workers,
        "a pool of {workers} workers ran {most} jobs at the same time"
    );
}

#[rstest]
#[case::one(1)]
#[case::three(3)]
fn runs_every_job_on_one_of_its_n_worker_threads(#[case] workers: usize) {
    const JOBS: usize = 300;
    let pool = pool(workers);
    let threads = Arc::new(Mutex::new(HashSet::<ThreadId>::new()));
    for _ in 0..JOBS {
        let threads = Arc::clone(&threads);
        pool.execute(move || {
            threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(thread::current().id());
        });
    }
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "{JOBS} tiny jobs on a pool of {workers} workers should have run within 3s"
    );
    let threads = threads.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(
        threads.len() <= workers,
        "a pool of {workers} workers should run every job on one of its {workers} threads \
         (reused, not one thread per job); {JOBS} jobs ran on {} distinct threads",
        threads.len()
    );
    assert!(
        !threads.contains(&thread::current().id()),
        "no job should run on the thread that submitted it"
    );
}

// ───────────────────────────── wait_idle ─────────────────────────────

#[test]
fn wait_idle_returns_at_once_when_nothing_was_submitted() {
    let pool = pool(2);
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "wait_idle_timeout on a new pool with no jobs should report it idle"
    );
    assert!(
        wait_idle_within(&pool, PROMPTLY),
        "wait_idle on a new pool with no jobs should return at once"
    );
}

/// What became of a `wait_idle_timeout` call: `Err` holds the panic message.
type Waited = Result<bool, String>;

/// Calls `wait_idle_timeout(timeout)` on a helper thread; its answer (or its
/// panic) arrives on the receiver once it returns.
fn wait_idle_timeout_in_background(pool: &Arc<UnderTest>, timeout: Duration) -> Receiver<Waited> {
    let (tx, rx) = mpsc::channel();
    let pool = Arc::clone(pool);
    thread::spawn(move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| pool.wait_idle_timeout(timeout)));
        let _ = tx.send(outcome.map_err(|payload| panic_message(payload.as_ref())));
    });
    rx
}

/// The answer of a `wait_idle_timeout(timeout)` call that should return at
/// once; fails the spec (saying `what`) if it panics or is still waiting
/// after `PROMPTLY`.
fn answer_of(waited: &Receiver<Waited>, timeout: Duration, what: &str) -> bool {
    match waited.recv_timeout(PROMPTLY) {
        Ok(Ok(idle)) => idle,
        Ok(Err(message)) => panic!(
            "{what}: wait_idle_timeout({timeout:?}) should answer, but it panicked with: {message}"
        ),
        Err(_) => panic!(
            "{what}: wait_idle_timeout({timeout:?}) should answer at once, but it was still \
             waiting after {PROMPTLY:?}"
        ),
    }
}

#[rstest]
#[case::zero(Duration::ZERO)]
#[case::one_nanosecond(Duration::from_nanos(1))]
#[case::duration_max(Duration::MAX)]
fn wait_idle_timeout_reports_an_idle_pool_idle_whatever_the_timeout(#[case] timeout: Duration) {
    let pool = pool(2);
    let waited = wait_idle_timeout_in_background(&pool, timeout);
    assert!(
        answer_of(&waited, timeout, "a new pool with no jobs"),
        "wait_idle_timeout({timeout:?}) on a new pool with no jobs should report it idle: no job \
         is pending, however little time it has (and however much)"
    );
    for _ in 0..3 {
        pool.execute(|| {});
    }
    assert!(
        wait_idle_within(&pool, PROMPTLY),
        "wait_idle should return within 3s once 3 tiny jobs ran on a pool of 2 workers"
    );
    let waited = wait_idle_timeout_in_background(&pool, timeout);
    assert!(
        answer_of(&waited, timeout, "a pool whose 3 jobs have all finished"),
        "wait_idle_timeout({timeout:?}) on a pool whose jobs have all finished should report it \
         idle"
    );
}

#[rstest]
#[case::zero(Duration::ZERO)]
#[case::one_nanosecond(Duration::from_nanos(1))]
fn wait_idle_timeout_with_no_time_to_wait_reports_a_busy_pool_busy(#[case] timeout: Duration) {
    let pool = pool(1);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 1, &gate, &started, &finished);
    let running = started.wait_for(1, PROMPTLY);
    let waited = wait_idle_timeout_in_background(&pool, timeout);
    let answer = waited.recv_timeout(PROMPTLY);
    gate.open();
    assert!(running, "a pool of 1 worker should start a job within 3s");
    match answer {
        Ok(Ok(idle)) => assert!(
            !idle,
            "wait_idle_timeout({timeout:?}) should report false while a job is still running \
             (waiting at a closed gate)"
        ),
        Ok(Err(message)) => panic!(
            "wait_idle_timeout({timeout:?}) on a pool with a running job should report false \
             (the time ran out with a job pending), but it panicked with: {message}"
        ),
        Err(_) => panic!(
            "wait_idle_timeout({timeout:?}) on a pool with a running job should give up at once, \
             but it was still waiting after {PROMPTLY:?}"
        ),
    }
}

#[test]
fn wait_idle_timeout_of_duration_max_waits_as_long_as_it_takes() {
    let pool = pool(1);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 1, &gate, &started, &finished);
    let running = started.wait_for(1, PROMPTLY);
    let waited = wait_idle_timeout_in_background(&pool, Duration::MAX);
    // A chance for the wait to give up (or panic) too early.
    thread::sleep(A_MOMENT);
    let early = waited.try_recv();
    gate.open();
    assert!(running, "a pool of 1 worker should start a job within 3s");
    match early {
        Err(TryRecvError::Empty) => {}
        Ok(Ok(idle)) => panic!(
            "wait_idle_timeout(Duration::MAX) should wait while a job runs (a timeout too long \
             to reach is no timeout), but it returned {idle} while the job waited at a closed gate"
        ),
        Ok(Err(message)) => panic!(
            "wait_idle_timeout(Duration::MAX) should wait while a job runs, but it panicked with: \
             {message}"
        ),
        Err(TryRecvError::Disconnected) => {
            panic!("the thread calling wait_idle_timeout(Duration::MAX) ended without an answer")
        }
    }
    assert!(
        answer_of(
            &waited,
            Duration::MAX,
            "a pool whose running job was let go"
        ),
        "wait_idle_timeout(Duration::MAX) should report the pool idle once its job finished"
    );
}

#[test]
fn wait_idle_returns_only_after_every_running_job_has_finished() {
    let pool = pool(2);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 2, &gate, &started, &finished);
    let both_running = started.wait_for(2, PROMPTLY);
    // Both jobs have been taken off the queue and are running: the queue is
    // empty, but the pool is not idle.
    let idle_while_running = pool.wait_idle_timeout(A_MOMENT);
    gate.open();
    assert!(
        both_running,
        "a pool of 2 workers should start 2 jobs within 3s"
    );
    assert!(
        !idle_while_running,
        "wait_idle_timeout should report false while jobs are still running, even though none \
         is queued: 2 jobs were waiting at a closed gate"
    );
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "once the gate opened, wait_idle_timeout should report the pool idle within 3s"
    );
    assert_eq!(
        finished.get(),
        2,
        "wait_idle_timeout returned true before both running jobs had finished"
    );
}

#[test]
fn wait_idle_waits_for_queued_jobs_too() {
    let pool = pool(1);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 1, &gate, &started, &finished);
    let behind = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let behind = Arc::clone(&behind);
        pool.execute(move || {
            behind.fetch_add(1, SeqCst);
        });
    }
    let idle_while_queued = pool.wait_idle_timeout(A_MOMENT);
    gate.open();
    assert!(
        !idle_while_queued,
        "wait_idle_timeout should report false while jobs are queued: 1 job waiting at a gate \
         with 5 queued behind it on a pool of 1 worker"
    );
    assert!(
        wait_idle_within(&pool, PROMPTLY),
        "once the gate opened, wait_idle should return within 3s"
    );
    assert_eq!(
        behind.load(SeqCst),
        5,
        "wait_idle returned before the 5 queued jobs had run"
    );
}

#[test]
fn runs_a_second_batch_after_waiting_for_the_first() {
    let pool = pool(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for batch in 1..=2 {
        for _ in 0..10 {
            let ran = Arc::clone(&ran);
            pool.execute(move || {
                ran.fetch_add(1, SeqCst);
            });
        }
        assert!(
            wait_idle_within(&pool, PROMPTLY),
            "wait_idle should return within 3s once batch {batch} of 10 tiny jobs ran"
        );
        assert_eq!(
            ran.load(SeqCst),
            10 * batch,
            "after batch {batch} of 10 jobs and wait_idle, {} jobs should have run",
            10 * batch
        );
    }
}

// ──────────────────────────────── drop ────────────────────────────────

#[rstest]
#[case::one(1)]
#[case::four(4)]
#[case::eight(8)]
fn dropping_an_idle_pool_wakes_and_joins_every_worker(#[case] workers: usize) {
    let pool = pool(workers);
    // Make sure every worker has started, then let them all go back to
    // waiting for work.
    let inside = submit_jobs_that_wait_for_each_other(&pool, workers);
    assert!(
        inside.wait_for(workers, PROMPTLY) && pool.wait_idle_timeout(PROMPTLY),
        "a pool of {workers} workers should run {workers} jobs at once and go idle within 3s"
    );
    // A chance for the workers to go back to sleep, waiting for work.
    thread::sleep(A_MOMENT);
    let dropped = shut_down(pool);
    expect_dropped(
        &dropped,
        &format!("dropping an idle pool of {workers} sleeping workers"),
    );
}

#[test]
fn drop_waits_for_running_jobs_to_finish() {
    let pool = pool(2);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 2, &gate, &started, &finished);
    let both_running = started.wait_for(2, PROMPTLY);
    let dropped = shut_down(pool);
    // A chance for drop to return too early.
    thread::sleep(A_MOMENT);
    let returned_early = !matches!(dropped.try_recv(), Err(TryRecvError::Empty));
    gate.open();
    assert!(
        both_running,
        "a pool of 2 workers should start 2 jobs within 3s"
    );
    assert!(
        !returned_early,
        "drop should wait for running jobs to finish: it returned while 2 jobs were still \
         waiting at a closed gate"
    );
    expect_dropped(
        &dropped,
        "dropping a pool once its 2 running jobs can finish",
    );
    assert_eq!(
        finished.get(),
        2,
        "drop returned before both running jobs had finished"
    );
}

#[test]
fn drop_runs_every_queued_job_before_returning() {
    const QUEUED: usize = 20;
    let pool = pool(2);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 2, &gate, &started, &finished);
    let both_running = started.wait_for(2, PROMPTLY);
    let behind = Arc::new(AtomicUsize::new(0));
    for _ in 0..QUEUED {
        let behind = Arc::clone(&behind);
        pool.execute(move || {
            behind.fetch_add(1, SeqCst);
        });
    }
    let dropped = shut_down(pool);
    // A chance for drop to begin the shutdown while the jobs are still
    // queued, before the gate opens.
    thread::sleep(A_MOMENT);
    gate.open();
    assert!(
        both_running,
        "a pool of 2 workers should start 2 jobs within 3s"
    );
    expect_dropped(
        &dropped,
        &format!("dropping a pool with 2 running jobs and {QUEUED} queued"),
    );
    assert_eq!(
        behind.load(SeqCst),
        QUEUED,
        "drop should run every queued job before returning: {QUEUED} jobs were queued behind 2 \
         running ones when the pool was dropped"
    );
}

#[test]
fn dropping_right_after_submitting_runs_every_job() {
    const JOBS: usize = 200;
    let pool = pool(4);
    let runs = counters(JOBS);
    for job in 0..JOBS {
        let runs = Arc::clone(&runs);
        pool.execute(move || {
            runs[job].fetch_add(1, SeqCst);
        });
    }
    let dropped = shut_down(pool);
    expect_dropped(
        &dropped,
        &format!("dropping a pool of 4 right after submitting {JOBS} jobs"),
    );
    assert_each_ran_exactly_once(
        &runs,
        &format!("a pool of 4 dropped right after {JOBS} jobs were submitted"),
    );
}

// ─────────────────────────────── panics ───────────────────────────────

#[test]
fn a_panicking_job_does_not_stop_the_jobs_behind_it() {
    let pool = pool(1);
    pool.execute(panicking_job(0));
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let ran = Arc::clone(&ran);
        pool.execute(move || {
            ran.fetch_add(1, SeqCst);
        });
    }
    let idle = pool.wait_idle_timeout(PROMPTLY);
    assert_eq!(
        ran.load(SeqCst),
        10,
        "on a pool of 1 worker, the 10 jobs queued behind a panicking job should all run"
    );
    assert!(
        idle,
        "after a job panicked, wait_idle_timeout should still report the pool idle once the \
         jobs behind it ran"
    );
}

#[test]
fn a_pool_keeps_all_its_workers_after_jobs_panic() {
    const WORKERS: usize = 3;
    let pool = pool(WORKERS);
    for i in 0..2 * WORKERS {
        pool.execute(panicking_job(i));
    }
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "{} panicking jobs on a pool of {WORKERS} should be done within 3s: a job that panics has \
         finished too (wait_idle_timeout returned false)",
        2 * WORKERS
    );
    let inside = submit_jobs_that_wait_for_each_other(&pool, WORKERS);
    assert!(
        inside.wait_for(WORKERS, PROMPTLY),
        "after {} jobs panicked, a pool of {WORKERS} workers should still run {WORKERS} jobs at \
         once: of {WORKERS} jobs that each wait for all the others to start, only {} started \
         (a panicking job killed its worker?)",
        2 * WORKERS,
        inside.get()
    );
}

#[test]
fn counts_the_jobs_that_panicked() {
    let pool = pool(2);
    assert_eq!(pool.panicked_jobs(), 0, "a new pool has had no job panic");
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..20 {
        if i % 4 == 0 {
            pool.execute(panicking_job(i));
        } else {
            let ran = Arc::clone(&ran);
            pool.execute(move || {
                ran.fetch_add(1, SeqCst);
            });
        }
    }
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "20 tiny jobs, 5 of which panic, should be done within 3s on a pool of 2 workers: a job \
         that panics has finished too (wait_idle_timeout returned false)"
    );
    assert_eq!(
        pool.panicked_jobs(),
        5,
        "5 of 20 jobs panicked: panicked_jobs should say so"
    );
    assert_eq!(
        ran.load(SeqCst),
        15,
        "the other 15 jobs should all have run"
    );
}

#[test]
fn dropping_a_pool_after_jobs_panicked_neither_panics_nor_hangs() {
    let pool = pool(2);
    for i in 0..4 {
        pool.execute(panicking_job(i));
        pool.execute(|| {});
    }
    assert!(
        pool.wait_idle_timeout(PROMPTLY),
        "8 tiny jobs, 4 of which panic, should be done within 3s on a pool of 2 workers: a job \
         that panics has finished too (wait_idle_timeout returned false)"
    );
    let dropped = shut_down(pool);
    expect_dropped(
        &dropped,
        "dropping a pool of 2 after 4 of its jobs panicked",
    );
}

#[test]
fn refuses_to_create_a_pool_of_zero_workers() {
    match panic::catch_unwind(|| ThreadPool::new(0)) {
        Ok(pool) => {
            // Never dropped: a pool without workers might never finish.
            std::mem::forget(pool);
            panic!("ThreadPool::new(0) should panic: a pool of no workers could never run a job");
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            assert!(
                message.contains("needs at least one worker"),
                "ThreadPool::new(0) should panic saying the pool \"needs at least one worker\"; \
                 it panicked with: {message}"
            );
        }
    }
}

// ────────────────────── follow-ups (harder edges) ──────────────────────

/// Submits a chain of `left` jobs: each submits the next, then counts
/// itself on `finished`.
fn submit_chain(pool: &Weak<UnderTest>, left: usize, finished: Arc<AtomicUsize>) {
    let Some(pool) = pool.upgrade() else {
        return;
    };
    let next = Arc::downgrade(&pool);
    pool.execute(move || {
        if left > 1 {
            submit_chain(&next, left - 1, Arc::clone(&finished));
        }
        finished.fetch_add(1, SeqCst);
    });
}

#[test]
fn followup_wait_idle_also_waits_for_jobs_that_running_jobs_submit() {
    let pool = pool(2);
    let gate = Arc::new(Gate::default());
    let finished = Arc::new(AtomicUsize::new(0));
    {
        let (gate, finished, weak) = (
            Arc::clone(&gate),
            Arc::clone(&finished),
            Arc::downgrade(&pool),
        );
        pool.execute(move || {
            gate.wait();
            // A job that fans out: it submits a chain of 3 more jobs.
            submit_chain(&weak, 3, Arc::clone(&finished));
            finished.fetch_add(1, SeqCst);
        });
    }
    {
        let gate = Arc::clone(&gate);
        thread::spawn(move || {
            // A chance for wait_idle below to start waiting before the first
            // job submits the others.
            thread::sleep(A_MOMENT);
            gate.open();
        });
    }
    let idle = wait_idle_within(&pool, PROMPTLY);
    let finished_when_idle = finished.load(SeqCst);
    gate.open();
    assert!(
        idle,
        "wait_idle should return within 3s once a job and the 3 jobs it submitted have run"
    );
    assert_eq!(
        finished_when_idle, 4,
        "wait_idle should also wait for the jobs that a running job submits: a job submitted a \
         chain of 3 more, and wait_idle returned when {finished_when_idle} of the 4 had finished"
    );
}

#[test]
fn followup_every_thread_waiting_for_idle_wakes_up() {
    const WAITERS: usize = 3;
    let pool = pool(1);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 1, &gate, &started, &finished);
    let (tx, rx) = mpsc::channel();
    for waiter in 0..WAITERS {
        let (pool, tx) = (Arc::clone(&pool), tx.clone());
        thread::spawn(move || {
            pool.wait_idle();
            let _ = tx.send(waiter);
        });
    }
    // A chance for the waiters to return too early; and for all of them to
    // be asleep when the job finishes.
    thread::sleep(A_MOMENT);
    let returned_early = rx.try_recv().is_ok();
    gate.open();
    assert!(
        !returned_early,
        "wait_idle returned while a job was still running (waiting at a closed gate)"
    );
    for woken in 0..WAITERS {
        assert!(
            rx.recv_timeout(PROMPTLY).is_ok(),
            "every one of {WAITERS} threads waiting in wait_idle should return once the pool \
             is idle; after 3s only {woken} had (the others were never woken?)"
        );
    }
}

#[test]
fn followup_wait_idle_timeout_gives_up_on_time_while_other_jobs_keep_finishing() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let pool = pool(2);
    let (gate, started, finished) = Default::default();
    submit_gated(&pool, 1, &gate, &started, &finished);
    let (tx, rx) = mpsc::channel();
    {
        let pool = Arc::clone(&pool);
        thread::spawn(move || {
            let _ = tx.send(pool.wait_idle_timeout(TIMEOUT));
        });
    }
    // While one job holds the pool busy, keep other jobs finishing on the
    // second worker, one at a time: each finish may wake the waiter, which
    // must not start its timeout over.
    let deadline = Instant::now() + PROMPTLY;
    let answer = loop {
        match rx.try_recv() {
            Ok(idle) => break Ok(idle),
            Err(TryRecvError::Disconnected) => break Err("panicked"),
            Err(TryRecvError::Empty) if Instant::now() > deadline => break Err("still waiting"),
            Err(TryRecvError::Empty) => {}
        }
        let (done, ran) = mpsc::channel();
        pool.execute(move || {
            let _ = done.send(());
        });
        if let Err(RecvTimeoutError::Timeout) = ran.recv_timeout(PROMPTLY) {
            break Err("still waiting (and the second worker stopped running jobs)");
        }
    };
    gate.open();
    match answer {
        Ok(idle) => assert!(
            !idle,
            "wait_idle_timeout({TIMEOUT:?}) should report false: a job was still running when \
             it gave up"
        ),
        Err(what) => panic!(
            "wait_idle_timeout({TIMEOUT:?}) should give up after about {TIMEOUT:?} while a job \
             is still running, even as other jobs keep finishing (a wake-up must not restart \
             the timeout); after 3s it was {what}"
        ),
    }
}
