//! Wrong: the worker keeps the queue's guard while it runs the job, so that
//! it can update the counters afterwards in the same critical section. The
//! pool has N threads but runs one job at a time, and `execute` blocks until
//! the running job finishes.
//!
//! Why candidates write it: one lock, one critical section looks tidy, and
//! the guard's scope is easy to misjudge (the Rust Book warns about the
//! same trap in `while let Ok(job) = receiver.lock().unwrap().recv()`).
//!
//! Caught by: `a_pool_of_n_workers_runs_n_jobs_at_once`,
//! `execute_returns_without_waiting_for_the_job_to_run`, and in loom
//! `two_workers_run_two_jobs_at_once` (deadlock).

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
        loop {
            let mut state = self.lock();
            while state.queue.is_empty() && !state.shutting_down {
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let Some(job) = state.queue.pop_front() else {
                return;
            };
            // BUG: `state`, the guard, is still alive: the job runs while
            // this worker holds the pool's lock, so no other worker can take
            // a job, and `execute` blocks, until it finishes.
            let panicked = panic::catch_unwind(AssertUnwindSafe(job)).is_err();
            state.pending -= 1;
            if panicked {
                state.panicked += 1;
            }
            if state.pending == 0 {
                self.idle.notify_all();
            }
        }
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
