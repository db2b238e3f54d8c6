//! Wrong: a worker checks the shutdown flag before the queue, so once `drop`
//! raises the flag every worker exits at its next look, and the jobs still
//! queued are thrown away with the queue. `drop` returns promptly and looks
//! graceful; the work the callers were promised is silently lost.
//!
//! Why candidates write it: "stop when told to stop" reads naturally as the
//! first line of the loop, and with jobs that finish quickly nobody notices
//! that shutdown means "finish what you accepted", not "stop now".
//!
//! Caught by: `drop_runs_every_queued_job_before_returning`,
//! `dropping_right_after_submitting_runs_every_job`, and in loom
//! `drop_runs_every_queued_job_and_returns` (with no preemption at all: the
//! caller submits and drops before either worker runs).

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
            // BUG: the flag is checked first: whatever is still queued when
            // shutdown begins never runs.
            if state.shutting_down {
                return None;
            }
            if let Some(job) = state.queue.pop_front() {
                return Some(job);
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
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
