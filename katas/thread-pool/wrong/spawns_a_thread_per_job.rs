//! Wrong: no pool at all: `execute` spawns a new thread for every job (and
//! keeps its handle so that `drop` can join it). Every job runs, panics are
//! caught and counted, `wait_idle` and `drop` are right; but the number of
//! threads is unbounded. A burst of 10 000 requests makes 10 000 threads,
//! each with its stack, and the service falls over exactly when it is
//! busiest: the bulkhead the pool was meant to be is gone.
//!
//! Why candidates write it: thread-per-request is the first design most of
//! us met, and every functional test passes.
//!
//! Symptom: during a traffic spike the server's thread count climbs into the
//! thousands and it runs out of memory exactly when it is busiest.
//!
//! Caught by: `never_runs_more_than_n_jobs_at_once` and
//! `runs_every_job_on_one_of_its_n_worker_threads` (and, when the threads
//! happen to finish out of order, by the submission-order specs).
//!
//! Whole file: there is no pool in this design at all (a thread per job,
//! joined at drop): the reference's workers and queue would have to be torn
//! out, not changed.

mod sync;

use std::panic::{self, AssertUnwindSafe};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, Mutex, MutexGuard, thread};

pub struct ThreadPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

struct Shared {
    state: Mutex<State>,
    idle: Condvar,
}

struct State {
    pending: usize,
    panicked: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ThreadPool {
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "a thread pool needs at least one worker");
        ThreadPool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    pending: 0,
                    panicked: 0,
                }),
                idle: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub fn execute<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.lock().pending += 1;
        let shared = Arc::clone(&self.shared);
        // BUG: a new thread per job, however many are already running.
        let handle = thread::spawn(move || {
            let panicked = panic::catch_unwind(AssertUnwindSafe(job)).is_err();
            let mut state = shared.lock();
            state.pending -= 1;
            if panicked {
                state.panicked += 1;
            }
            if state.pending == 0 {
                shared.idle.notify_all();
            }
        });
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
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
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }
}
