//! Wrong: a worker waits for work under `if` instead of `while`. A wake-up
//! is only a hint: between `notify_one` and this worker getting the lock
//! back, another worker (one that was busy, not asleep) can take the job.
//! The woken worker then finds the queue empty, takes it for the shutdown,
//! and exits: the pool silently shrinks, and jobs that need two workers at
//! once wait forever.
//!
//! Why candidates write it: the textbook shape is "if nothing to do, wait",
//! and in a quick test every wake-up comes with a job. Loom's interleavings
//! include the one where a busy worker steals the job first.
//!
//! Caught by (loom, `tests/loom.rs`): `two_workers_run_two_jobs_at_once`
//! (a deadlock: one worker left, blocked in the first job) and
//! `drop_runs_every_queued_job_and_returns` (both workers gone, a job never
//! runs). The threaded specs (`a_pool_keeps_all_its_workers_after_jobs_panic`
//! often, others now and then) catch it only when the scheduler happens to
//! let a busy worker steal a job.

mod sync;

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, Mutex, MutexGuard, thread};

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    idle: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    pending: usize,
    panicked: usize,
    shutting_down: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work(&self) {
        while let Some(job) = self.next_job() {
            let panicked = panic::catch_unwind(AssertUnwindSafe(job)).is_err();
            let mut state = self.lock();
            state.pending -= 1;
            if panicked {
                state.panicked += 1;
            }
            if state.pending == 0 {
                self.idle.notify_all();
            }
        }
    }

    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        // BUG: `if`, not `while`: the condition is not re-checked after the
        // wake-up. When another worker took the job this one was woken for,
        // the queue is empty again and the worker concludes "no job after a
        // wake-up: it must be the shutdown" and exits for good.
        if state.queue.is_empty() && !state.shutting_down {
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.queue.pop_front()
    }
}

impl ThreadPool {
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "a thread pool needs at least one worker");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                pending: 0,
                panicked: 0,
                shutting_down: false,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
        });
        let workers = (0..workers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.work())
            })
            .collect();
        ThreadPool { shared, workers }
    }

    pub fn execute<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let mut state = self.shared.lock();
        state.queue.push_back(Box::new(job));
        state.pending += 1;
        drop(state);
        self.shared.work.notify_one();
    }

    pub fn wait_idle(&self) {
        let mut state = self.shared.lock();
        while state.pending > 0 {
            state = self
                .shared
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .idle
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    pub fn panicked_jobs(&self) -> usize {
        self.shared.lock().panicked
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.lock().shutting_down = true;
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
