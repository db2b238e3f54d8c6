//! Right: direct hand-off to parked workers instead of one shared condvar that every idle worker
//! sleeps on. Each worker has its own condition variable and a one-job slot; an idle worker parks
//! itself on a stack of parked workers. `execute` hands the job straight to the most recently
//! parked worker (its slot, then `notify_one` on that worker's condvar only: exactly one thread is
//! woken, and it is the one that will run the job), and queues it only when every worker is busy;
//! a worker that finishes a job takes its slot, then the queue, before it parks again. Since a
//! worker parks only when the queue is empty and a job is queued only when nobody is parked, the
//! queue stays FIFO and nothing is stranded. Shutdown notifies every worker's condvar. `pending`
//! (queued + handed off + running) and the panic count change in one critical section, and
//! `wait_idle_timeout` waits against a deadline computed once (`checked_add`: no deadline for
//! `Duration::MAX`).

mod sync;

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, Mutex, MutexGuard, thread};

/// A submitted job, boxed once.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Everything the workers share with the pool, behind one mutex.
struct State {
    /// Jobs submitted while every worker was busy, first come first served.
    /// Empty whenever a worker is parked.
    queue: VecDeque<Job>,
    /// Per worker: a job handed straight to it while it was parked.
    slots: Vec<Option<Job>>,
    /// Parked workers, the most recently parked last (its cache is warmest).
    parked: Vec<usize>,
    /// Per worker: whether it is in `parked` (so a spurious wake-up does not
    /// park it twice).
    is_parked: Vec<bool>,
    /// Jobs submitted and not yet finished: queued, handed off or running.
    pending: usize,
    /// Jobs that panicked so far.
    panicked: usize,
    /// Set by `drop`: finish every job, then exit.
    shutting_down: bool,
}

struct Shared {
    state: Mutex<State>,
    /// One per worker: only that worker ever waits on it.
    wake: Vec<Condvar>,
    /// `wait_idle` sleeps here until `pending` is 0.
    idle: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No job ever runs under this mutex, so it cannot be poisoned.
        self.state.lock().unwrap()
    }
}

/// A fixed number of worker threads running submitted jobs in the order they
/// were submitted.
///
/// Dropping the pool shuts it down gracefully: every job already submitted
/// still runs, then the workers are joined. Since `drop` takes the pool by
/// value and [`execute`](ThreadPool::execute) borrows it, no job can be
/// submitted once shutdown has begun: the compiler rules it out.
///
/// The pool is shared between threads as `Arc<ThreadPool>`: it must be
/// `Send + Sync`.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<thread::JoinHandle<()>>,
}

/// Worker `me`: its handed-off job first, then the queue; park when there is
/// neither; exit once shutting down with nothing left.
fn work(shared: &Shared, me: usize) {
    let mut state = shared.lock();
    loop {
        let job = if let Some(job) = state.slots[me].take() {
            job
        } else if let Some(job) = state.queue.pop_front() {
            job
        } else if state.shutting_down {
            return;
        } else {
            if !state.is_parked[me] {
                state.is_parked[me] = true;
                state.parked.push(me);
            }
            state = shared.wake[me].wait(state).unwrap();
            continue;
        };
        drop(state);
        let panicked = panic::catch_unwind(AssertUnwindSafe(job)).is_err();
        state = shared.lock();
        if panicked {
            state.panicked += 1;
        }
        state.pending -= 1;
        if state.pending == 0 {
            shared.idle.notify_all();
        }
    }
}

impl ThreadPool {
    /// Starts a pool of `workers` threads.
    ///
    /// # Panics
    /// If `workers` is zero (a pool that could never run a job); the message
    /// says the pool "needs at least one worker".
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "a thread pool needs at least one worker");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                slots: (0..workers).map(|_| None).collect(),
                parked: Vec::with_capacity(workers),
                is_parked: vec![false; workers],
                pending: 0,
                panicked: 0,
                shutting_down: false,
            }),
            wake: (0..workers).map(|_| Condvar::new()).collect(),
            idle: Condvar::new(),
        });
        let workers = (0..workers)
            .map(|me| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || work(&shared, me))
            })
            .collect();
        ThreadPool { shared, workers }
    }

    /// Queues `job` to run on one of the workers and returns at once, without
    /// waiting for a worker to be free. The job never runs on the caller's
    /// thread.
    ///
    /// A job that panics neither kills its worker nor stops the jobs behind
    /// it: it is counted by [`panicked_jobs`](ThreadPool::panicked_jobs).
    pub fn execute<F>(&self, job: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let job: Job = Box::new(job);
        let mut state = self.shared.lock();
        state.pending += 1;
        match state.parked.pop() {
            Some(worker) => {
                // Nothing is queued while a worker is parked: hand it over.
                state.is_parked[worker] = false;
                state.slots[worker] = Some(job);
                drop(state);
                self.shared.wake[worker].notify_one();
            }
            // Every worker is busy; the first to finish takes it.
            None => state.queue.push_back(job),
        }
    }

    /// Blocks until every job submitted so far has finished (panicked ones
    /// included), and every job those jobs submitted too. Returns at once if
    /// there is none. Any number of threads may wait at the same time.
    pub fn wait_idle(&self) {
        let mut state = self.shared.lock();
        while state.pending > 0 {
            state = self.shared.idle.wait(state).unwrap();
        }
    }

    /// Like [`wait_idle`](ThreadPool::wait_idle), but gives up after
    /// `timeout`: `true` if the pool became idle, `false` if jobs were still
    /// queued or running when the time ran out.
    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        // `None`: so far in the future that it is never reached.
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.lock();
        while state.pending > 0 {
            match deadline {
                None => state = self.shared.idle.wait(state).unwrap(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    state = self.shared.idle.wait_timeout(state, deadline - now).unwrap().0;
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
    /// every worker is joined. Returns once every worker thread has ended.
    fn drop(&mut self) {
        self.shared.lock().shutting_down = true;
        for wake in &self.shared.wake {
            wake.notify_one();
        }
        for worker in self.workers.drain(..) {
            // Jobs run under `catch_unwind`, so a worker never panics.
            let _ = worker.join();
        }
    }
}
