//! Reference solution of the thread-pool kata: the fixed-size worker pool
//! behind a job server.
//!
//! One mutex guards everything the pool decides on: the queue of jobs, how
//! many jobs are pending (queued or running), how many panicked, and whether
//! shutdown has begun. Two condition variables hang off it: `work`, on which
//! idle workers wait for a job or for shutdown, and `idle`, on which
//! [`ThreadPool::wait_idle`] waits for the pending count to reach zero. Every
//! wait re-checks its condition in a loop, because a wake-up is only a hint:
//! another worker may have taken the job first.
//!
//! A job runs outside the lock and under `catch_unwind`, so a long job does
//! not block the queue and a panicking one neither kills its worker nor
//! leaves the pending count (and every waiter) stuck.

mod sync;

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, Mutex, MutexGuard, thread};

/// A job as the queue holds it.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed number of worker threads running submitted jobs in the order they
/// were submitted.
///
/// Dropping the pool shuts it down gracefully: every job already submitted
/// still runs, then the workers are joined. Since `drop` takes the pool by
/// value and [`execute`](ThreadPool::execute) borrows it, no job can be
/// submitted once shutdown has begun: the compiler rules it out.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<thread::JoinHandle<()>>,
}

/// What the pool's handle and its workers share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued (one worker) and at shutdown (all).
    work: Condvar,
    /// Signalled (to every waiter) when the last pending job finishes.
    idle: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    /// Jobs submitted and not yet finished: queued plus running.
    pending: usize,
    /// Jobs that panicked since the pool was created.
    panicked: usize,
    /// Set once by `drop`: workers exit when they find the queue empty.
    shutting_down: bool,
}

impl Shared {
    /// The state, even if a thread panicked while holding the lock: no code
    /// of the pool panics under it, and the state stays consistent anyway.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker loop: take a job (or learn that shutdown has begun and the
    /// queue is drained), run it outside the lock, record that it finished.
    fn work(&self) {
        while let Some(job) = self.next_job() {
            let panicked = panic::catch_unwind(AssertUnwindSafe(job)).is_err();
            let mut state = self.lock();
            state.pending -= 1;
            if panicked {
                state.panicked += 1;
            }
            if state.pending == 0 {
                // Several threads may be waiting for idle: wake them all.
                self.idle.notify_all();
            }
        }
    }

    /// The next job, waiting for one if the queue is empty; `None` once
    /// shutdown has begun and nothing is left to run.
    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            // Queued jobs first: shutdown drains the queue, it does not drop it.
            if let Some(job) = state.queue.pop_front() {
                return Some(job);
            }
            if state.shutting_down {
                return None;
            }
            // A loop, not an `if`: when this thread wakes up, another worker
            // may already have taken the job it was woken for.
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl ThreadPool {
    /// Starts a pool of `workers` threads.
    ///
    /// # Panics
    /// If `workers` is zero (a pool that could never run a job), or if the
    /// operating system refuses to start a thread.
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

    /// Queues `job` to run on one of the workers and returns at once.
    pub fn execute<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let mut state = self.shared.lock();
        state.queue.push_back(Box::new(job));
        state.pending += 1;
        drop(state);
        // One job, one worker: an idle worker takes it, a busy one will find
        // it in the queue when it loops.
        self.shared.work.notify_one();
    }

    /// Blocks until every job submitted so far (and every job those jobs
    /// submit) has finished, panicked ones included.
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

    /// Like [`wait_idle`](ThreadPool::wait_idle), but gives up after
    /// `timeout`: `true` if the pool became idle, `false` if jobs were still
    /// pending when the time ran out.
    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        // A timeout too long to represent is as good as none.
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.lock();
        while state.pending > 0 {
            match deadline {
                None => {
                    state = self
                        .shared
                        .idle
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(deadline) => {
                    // The time left, not `timeout` again: a wake-up that finds
                    // jobs still pending must not restart the clock.
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
            }
        }
        true
    }

    /// How many jobs have panicked since the pool was created.
    pub fn panicked_jobs(&self) -> usize {
        self.shared.lock().panicked
    }
}

impl Drop for ThreadPool {
    /// Shuts the pool down gracefully: every queued job still runs, then
    /// every worker is joined.
    fn drop(&mut self) {
        self.shared.lock().shutting_down = true;
        // Every worker must see the flag: one woken worker does not wake the
        // others.
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            // Jobs run under `catch_unwind`, so a worker never panics; there is
            // nothing to report if one somehow did.
            let _ = worker.join();
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ThreadPool")
            .field("workers", &self.workers.len())
            .field("queued", &state.queue.len())
            .field("pending", &state.pending)
            .field("panicked", &state.panicked)
            .finish()
    }
}
