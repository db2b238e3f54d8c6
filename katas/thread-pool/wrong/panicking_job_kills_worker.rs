//! Wrong: jobs run without `catch_unwind`, so a panicking job unwinds out of
//! the worker loop and kills its worker thread. The pool shrinks by one per
//! panic; with one worker, every job behind the panicking one is lost. The
//! job's `pending` count is never taken back, so `wait_idle` never returns,
//! and `drop` panics on the dead worker's `join`.
//!
//! Why candidates write it: in Rust the worker loop `job()` looks complete
//! (the Rust Book's pool is written this way); panics feel like a crash of
//! the whole program, not of one request handler.
//!
//! Caught by: `a_panicking_job_does_not_stop_the_jobs_behind_it`,
//! `a_pool_keeps_all_its_workers_after_jobs_panic`,
//! `counts_the_jobs_that_panicked`,
//! `dropping_a_pool_after_jobs_panicked_neither_panics_nor_hangs` and
//! `agrees_with_a_log_of_submitted_jobs_over_random_sessions`.

mod sync;

use std::collections::VecDeque;
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
            // BUG: no `catch_unwind`: a panicking job unwinds out of this
            // loop and ends the worker thread, with `pending` never
            // decremented and the panic never counted.
            job();
            let mut state = self.lock();
            state.pending -= 1;
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
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            worker.join().expect("a worker thread panicked");
        }
    }
}
