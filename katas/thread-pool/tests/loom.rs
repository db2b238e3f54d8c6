//! Loom model checks of `ThreadPool`: the pool's workers are loom threads
//! (they come from `crate::sync::thread`), and every interleaving of the
//! caller and two workers (up to the preemption bound) is run. A lost
//! wake-up, a worker that gives up on a wake-up it lost to another worker,
//! or a shutdown that leaves a worker asleep shows up here as a deadlock or
//! a failed assertion every time, where a stress test catches it once in a
//! thousand runs.
//!
//! Built only under the project's own cfg, with the pool's `crate::sync`
//! switched to loom's primitives:
//!
//! ```text
//! RUSTFLAGS="--cfg kata_loom" cargo test -p thread-pool --test loom \
//!     --profile loom --target-dir target/loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 3.
//!
//! When every thread of a model is blocked (a worker asleep that nobody will
//! wake, a `drop` joining it), loom panics with `deadlock; threads = [...]`
//! and then aborts the test process while cleaning up; the CLI reports that
//! as "the spec's process ended without a result". Read it as a deadlock.
#![cfg(kata_loom)]

#[cfg(not(feature = "solution"))]
use thread_pool as subject;
#[cfg(feature = "solution")]
use thread_pool_solution as subject;

use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::sync::{Arc, Condvar, Mutex};
use subject::ThreadPool;

/// Explores every interleaving of `model` up to the preemption bound (3
/// unless `LOOM_MAX_PREEMPTIONS` says otherwise). No time or permutation
/// limit: a model that stops early would pass without checking.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(model);
}

/// Submits `jobs` jobs to `pool`, each counting its runs in its own counter.
///
/// The counters are relaxed on purpose: whatever the pool offers to say "the
/// jobs are done" (`wait_idle` returning, `drop` returning) must itself make
/// the jobs' effects visible, as a mutex or a join does.
fn submit_counted(pool: &ThreadPool, jobs: usize) -> Arc<Vec<AtomicUsize>> {
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..jobs).map(|_| AtomicUsize::new(0)).collect());
    for job in 0..jobs {
        let runs = Arc::clone(&runs);
        pool.execute(move || {
            runs[job].fetch_add(1, Relaxed);
        });
    }
    runs
}

fn runs_of(runs: &[AtomicUsize]) -> Vec<usize> {
    runs.iter().map(|runs| runs.load(Relaxed)).collect()
}

#[test]
fn every_job_has_run_exactly_once_when_wait_idle_returns() {
    check(|| {
        let pool = ThreadPool::new(2);
        let runs = submit_counted(&pool, 3);
        pool.wait_idle();
        assert_eq!(
            runs_of(&runs),
            [1, 1, 1],
            "once wait_idle returns, each of 3 jobs on a pool of 2 workers should have run \
             exactly once (runs per job)"
        );
        drop(pool);
        assert_eq!(
            runs_of(&runs),
            [1, 1, 1],
            "after wait_idle and drop, each job should still have run exactly once"
        );
    });
}

#[test]
fn drop_runs_every_queued_job_and_returns() {
    check(|| {
        let pool = ThreadPool::new(2);
        let runs = submit_counted(&pool, 3);
        // Dropped with jobs queued, running or done, whichever the
        // interleaving gives: drop must run the rest, wake every worker and
        // join them.
        drop(pool);
        assert_eq!(
            runs_of(&runs),
            [1, 1, 1],
            "dropping a pool of 2 workers right after submitting 3 jobs should run each of them \
             exactly once before returning (runs per job)"
        );
    });
}

#[test]
fn dropping_an_idle_pool_wakes_and_joins_both_workers() {
    check(|| {
        let pool = ThreadPool::new(2);
        // Whether the workers are starting, checking the queue or asleep
        // when drop begins, both must see the shutdown and exit (a deadlock
        // here means a worker slept through it).
        drop(pool);
    });
}

#[test]
fn two_workers_run_two_jobs_at_once() {
    check(|| {
        let pool = ThreadPool::new(2);
        // The first job waits until the second has run: it can only finish
        // if the pool runs both at once. A worker lost on the way (or a job
        // run while holding the queue's lock) is a deadlock.
        let flag = Arc::new((Mutex::new(false), Condvar::new()));
        let waiting = Arc::clone(&flag);
        pool.execute(move || {
            let (raised, changed) = &*waiting;
            let mut raised = raised.lock().unwrap();
            while !*raised {
                raised = changed.wait(raised).unwrap();
            }
        });
        let raising = Arc::clone(&flag);
        pool.execute(move || {
            let (raised, changed) = &*raising;
            *raised.lock().unwrap() = true;
            changed.notify_all();
        });
        pool.wait_idle();
        assert!(
            *flag.0.lock().unwrap(),
            "wait_idle returned before the second job ran"
        );
    });
}

/// The end of the model's deliberate panic: the hook below keeps it out of
/// the report, where it would be printed once per interleaving.
const DELIBERATE: &str = "panicked on purpose (the model's doing)";

#[test]
fn a_panic_is_counted_by_the_time_wait_idle_returns() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let deliberate = info
                .payload_as_str()
                .is_some_and(|message| message.ends_with(DELIBERATE));
            if !deliberate {
                report(info);
            }
        }));
    });
    check(|| {
        let pool = ThreadPool::new(1);
        pool.execute(|| panic!("a job {DELIBERATE}"));
        pool.wait_idle();
        // A job that has finished has finished panicking: the count it adds
        // belongs to the same step as "no longer pending", not to a later
        // one that a caller woken by wait_idle can overtake.
        assert_eq!(
            pool.panicked_jobs(),
            1,
            "once wait_idle returns, the job it waited for (which panicked) should be counted by \
             panicked_jobs"
        );
        drop(pool);
    });
}
