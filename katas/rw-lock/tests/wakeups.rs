//! The README's "Block, do not spin" and "Wake exactly who can proceed",
//! counted. Linux counts, per thread, how many times the thread gave up the
//! processor to wait (`voluntary_ctxt_switches` in
//! `/proc/thread-self/status`): a thread that sleeps on a condition variable
//! until it may enter adds one or two; a thread that wakes up on a timer to
//! look again, or is woken while it still cannot enter, adds one for every
//! such wake-up. The waiting thread reads its own count just before and just
//! after taking the lock, so what other threads (or other specs) do does not
//! enter into it.
//!
//! The spec keeps the thread waiting for a while (a pause, or a reader
//! leaving every few milliseconds); the verdict is the count, never a time.
//!
//! `cargo test -p rw-lock` judges your code;
//! `cargo test -p rw-lock --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]
#![cfg(target_os = "linux")]

#[cfg(not(feature = "solution"))]
use rw_lock as subject;
#[cfg(feature = "solution")]
use rw_lock_solution as subject;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use subject::RwLock;

/// How long the spec waits for a thread to get the lock once it may.
const PATIENCE: Duration = Duration::from_secs(2);

/// How long a thread is kept waiting for the lock: long enough for a thread
/// that polls every few milliseconds to wake up dozens of times.
const KEPT_WAITING: Duration = Duration::from_millis(150);

/// The most times a thread may go to sleep while it waits once: the wait
/// itself, plus a brief wait for the bookkeeping's mutex on the way in or
/// out. A thread that polls, or is woken for nothing, goes far beyond.
const SLEEPS_ALLOWED: u64 = 4;

/// How many times the calling thread has given up the processor to wait.
fn sleeps_so_far() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status")
        .expect("/proc/thread-self/status describes the calling thread");
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("the thread's status has a voluntary_ctxt_switches line")
}

/// Runs `f` on a detached thread; its result arrives on the channel.
fn on_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Receiver<R> {
    let (report, reports) = mpsc::channel();
    thread::spawn(move || {
        let _ = report.send(f());
    });
    reports
}

/// The thread's report, which must arrive within `PATIENCE`.
fn arrives<R>(reports: &Receiver<R>, what: &str) -> R {
    match reports.recv_timeout(PATIENCE) {
        Ok(report) => report,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still blocked after {PATIENCE:?}"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("{what}: the thread panicked instead (see its message above)")
        }
    }
}

/// Polls `try_read` until it fails, which with only readers holding the lock
/// means that a writer has started waiting; `false` if that takes longer than
/// `PATIENCE`.
fn try_read_fails_within_patience<T>(lock: &RwLock<T>) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if lock.try_read().is_none() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn a_waiting_writer_sleeps_until_the_readers_are_gone() {
    let lock = Arc::new(RwLock::new(0));
    let reader = lock.read();
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            let before = sleeps_so_far();
            *lock.write() += 1;
            sleeps_so_far() - before
        })
    };
    assert!(
        try_read_fails_within_patience(&lock),
        "a writer blocked behind a reader should start waiting (try_read should then fail) \
         within {PATIENCE:?}"
    );
    thread::sleep(KEPT_WAITING);
    drop(reader);
    let sleeps = arrives(&writer, "a writer waiting behind a reader that left");
    assert!(
        sleeps <= SLEEPS_ALLOWED,
        "a writer kept waiting {KEPT_WAITING:?} behind a reader went to sleep {sleeps} times \
         (at most {SLEEPS_ALLOWED} expected): a waiting thread should sleep on a Condvar until \
         it is woken, not wake up on a timer (wait_timeout, sleep) to look again"
    );
}

#[test]
fn a_waiting_reader_sleeps_until_the_writer_is_gone() {
    let lock = Arc::new(RwLock::new(0));
    let writer = lock.write();
    let (started, starting) = mpsc::channel();
    let reader = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            let before = sleeps_so_far();
            let _ = started.send(());
            let seen = *lock.read();
            (seen, sleeps_so_far() - before)
        })
    };
    arrives(&starting, "a reader thread starting");
    // The reader reaches its wait within this pause (a thread that polls
    // wakes up again and again meanwhile).
    thread::sleep(KEPT_WAITING);
    drop(writer);
    let (seen, sleeps) = arrives(&reader, "a reader waiting behind a writer that left");
    assert_eq!(seen, 0, "the reader should see the value 0");
    assert!(
        sleeps <= SLEEPS_ALLOWED + 1,
        "a reader kept waiting {KEPT_WAITING:?} behind a writer went to sleep {sleeps} times (at \
         most {} expected, the channel it reports on included): a waiting thread should sleep \
         on a Condvar until it is woken, not wake up on a timer to look again",
        SLEEPS_ALLOWED + 1
    );
}

#[test]
fn a_waiting_writer_is_woken_by_the_last_reader_out_not_by_every_reader() {
    const READERS: usize = 16;
    let lock = Arc::new(RwLock::new(0));
    let readers: Vec<_> = (0..READERS).map(|_| lock.read()).collect();
    let writer = {
        let lock = Arc::clone(&lock);
        on_thread(move || {
            let before = sleeps_so_far();
            *lock.write() += 1;
            sleeps_so_far() - before
        })
    };
    assert!(
        try_read_fails_within_patience(&lock),
        "a writer blocked behind {READERS} read guards should start waiting (try_read should \
         then fail) within {PATIENCE:?}"
    );
    for reader in readers {
        drop(reader);
        // Time for a writer woken for nothing to look, and go back to sleep.
        thread::sleep(Duration::from_millis(5));
    }
    let sleeps = arrives(&writer, "a writer waiting behind readers that all left");
    assert!(
        sleeps <= SLEEPS_ALLOWED,
        "a writer waited while {READERS} read guards were dropped one by one, and went to sleep \
         {sleeps} times (at most {SLEEPS_ALLOWED} expected): only the last reader out lets it \
         in, so only the last one should wake it; waking it as each reader leaves costs a \
         wake-up (and a system call) for nothing"
    );
}
