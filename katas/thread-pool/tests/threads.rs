//! The README's "`ThreadPool::new(workers)` starts `workers` threads",
//! counted: the threads of this process are the entries of
//! `/proc/self/task` (Linux), and this file holds one spec, so its test
//! binary starts (or ends) no other thread while the spec counts.
//!
//! A pool that starts its workers lazily, one per `execute` (as Java's
//! `ThreadPoolExecutor` does with its core threads), pays for a thread spawn
//! on the request path, and fails there, not at startup, when the host runs
//! out of threads.
//!
//! `cargo test -p thread-pool` judges your code;
//! `cargo test -p thread-pool --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use thread_pool as subject;
#[cfg(feature = "solution")]
use thread_pool_solution as subject;

use subject::ThreadPool;

/// How many threads this process has now.
#[cfg(target_os = "linux")]
fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists the threads of this process")
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn new_starts_every_worker_thread_before_any_job_is_submitted() {
    for workers in [1, 4] {
        let before = threads_of_this_process();
        let pool = ThreadPool::new(workers);
        let started = threads_of_this_process() - before;
        // Never dropped: no thread of this process may end while the spec
        // counts (an exiting thread leaves `/proc/self/task` a moment after
        // `join` returns), and a broken pool might not shut down at all.
        std::mem::forget(pool);
        assert_eq!(
            started, workers,
            "ThreadPool::new({workers}) should start {workers} worker threads before it returns, \
             not one per execute later on (a thread spawn, and its failure, belong to startup, \
             not to the request path); it started {started}"
        );
    }
}
