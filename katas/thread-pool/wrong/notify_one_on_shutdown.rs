//! Wrong: `drop` raises the shutdown flag and wakes one worker with
//! `notify_one`. That worker sees the flag and exits; every other worker
//! asleep on the condvar sleeps on, and `drop` blocks for ever joining them.
//!
//! Why candidates write it: `execute` rightly uses `notify_one` (one job,
//! one worker), and the same call is copied into `drop`. A pool of one
//! worker, or one whose workers are all busy at shutdown, works.
//!
//! Caught by: `dropping_an_idle_pool_wakes_and_joins_every_worker` (four and
//! eight workers: drop does not return within the spec's deadline), and in
//! loom `dropping_an_idle_pool_wakes_and_joins_both_workers` and
//! `drop_runs_every_queued_job_and_returns` (deadlock).

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
        loop {
            if let Some(job) = state.queue.pop_front() {
                return Some(job);
            }
            if state.shutting_down {
                return None;
            }
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
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
        // BUG: wakes one sleeping worker; the others sleep through the
        // shutdown, and `join` waits for them forever.
        self.shared.work.notify_one();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
