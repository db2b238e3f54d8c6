//! # Thread pool
//!
//! The fixed-size worker pool behind a job server. Read `README.md` beside
//! this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata thread-pool
//! ```
//!
//! Take `Mutex`, `Condvar`, `Arc` and `thread` from `crate::sync` (see
//! `src/sync.rs`), never from `std`: the loom models in `tests/loom.rs` can
//! only check the interleavings of primitives and threads loom provides.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

mod sync;

use std::time::Duration;

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
    // Your fields here: what do the workers share with the pool, and what
    // does `drop` need to wait for them?
}

impl ThreadPool {
    /// Starts a pool of `workers` threads.
    ///
    /// # Panics
    /// If `workers` is zero (a pool that could never run a job); the message
    /// says the pool "needs at least one worker".
    pub fn new(workers: usize) -> Self {
        todo!("ThreadPool::new: start the workers, each waiting for jobs")
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
        todo!("ThreadPool::execute: queue the job and wake a worker")
    }

    /// Blocks until every job submitted so far has finished (panicked ones
    /// included), and every job those jobs submitted too. Returns at once if
    /// there is none. Any number of threads may wait at the same time.
    pub fn wait_idle(&self) {
        todo!("ThreadPool::wait_idle: wait until no job is queued or running")
    }

    /// Like [`wait_idle`](ThreadPool::wait_idle), but gives up after
    /// `timeout`: `true` if the pool became idle, `false` if jobs were still
    /// queued or running when the time ran out.
    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        todo!("ThreadPool::wait_idle_timeout: wait_idle, with a deadline")
    }

    /// How many jobs have panicked since the pool was created.
    pub fn panicked_jobs(&self) -> usize {
        todo!("ThreadPool::panicked_jobs")
    }
}

impl Drop for ThreadPool {
    /// Shuts the pool down gracefully: every queued job still runs, then
    /// every worker is joined. Returns once every worker thread has ended.
    fn drop(&mut self) {
        todo!("ThreadPool::drop: tell every worker to finish the queue and stop, then join them")
    }
}
