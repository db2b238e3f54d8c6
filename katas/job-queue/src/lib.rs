//! # Job queue
//!
//! The durable job queue of a backend: jobs with a priority and a not-before
//! time, claimed by workers under a lease, acknowledged or failed, retried
//! with exponential backoff, and dead-lettered after too many attempts.
//! Read `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata job-queue
//! ```
//!
//! Everything is stored through the [`rusqlite::Connection`] a [`Queue`]
//! owns; the schema is yours. Several queues, each with its own connection
//! (one per worker thread or process), may share one database file (the spec
//! runs them on several threads): no job may ever be claimed twice while its
//! lease holds.
//!
//! Time is passed in (`now: i64`, unix seconds): never read the clock here.
//!
//! The types [`Config`], [`Job`], [`JobState`], [`JobInfo`], [`Stats`] and
//! [`QueueError`] are written for you; the `todo!()`s are yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::path::Path;

use rusqlite::Connection;

/// The id of a job, issued by [`Queue::enqueue`]: distinct within a database.
pub type JobId = i64;

/// The retry policy of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How many times a job may be claimed and failed: the `fail` of attempt
    /// `max_attempts` moves the job to [`JobState::Dead`]. At least 1.
    pub max_attempts: u32,
    /// The wait before the first retry, in seconds; the n-th retry waits
    /// `backoff_base_secs * 2^(n-1)`.
    pub backoff_base_secs: i64,
}

impl Default for Config {
    /// 5 attempts, retries after 10 s, 20 s, 40 s, 80 s.
    fn default() -> Self {
        Config {
            max_attempts: 5,
            backoff_base_secs: 10,
        }
    }
}

/// A job handed to a worker by [`Queue::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// What to do, as given to `enqueue`.
    pub payload: String,
    /// Its priority, as given to `enqueue` (higher runs first).
    pub priority: i64,
    /// Which attempt this claim is: 1 for the first claim, 2 for the next
    /// (after a `fail` or an expired lease), and so on.
    pub attempt: u32,
    /// The lease holds while `now < lease_until` (`lease_until` = claim time
    /// + lease).
    pub lease_until: i64,
}

/// Where a job is, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting to be claimed (now or, if `not_before` is later, then).
    Queued,
    /// Claimed by a worker (whose lease may since have expired).
    Running,
    /// Acknowledged: finished.
    Done,
    /// Failed `max_attempts` times: in the dead-letter state for good.
    Dead,
}

/// Everything the queue knows about one job, from [`Queue::job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// Its payload.
    pub payload: String,
    /// Its priority.
    pub priority: i64,
    /// Its state, as stored.
    pub state: JobState,
    /// How many times it has been claimed.
    pub attempts: u32,
    /// The earliest time it may be claimed (for a `Queued` job: the enqueue
    /// time's `not_before`, or the retry time after a failure).
    pub not_before: i64,
    /// The error of the most recent `fail`, if any.
    pub last_error: Option<String>,
}

/// The queue's health at one instant, from [`Queue::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Claimable now: queued with `not_before <= now`, or running with an
    /// expired lease (`lease_until <= now`).
    pub ready: u64,
    /// Queued with `not_before > now` (delayed or waiting for a retry).
    pub scheduled: u64,
    /// Running with a live lease (`lease_until > now`).
    pub running: u64,
    /// Acknowledged.
    pub done: u64,
    /// In the dead-letter state.
    pub dead: u64,
    /// Accepted `ack`s at times `t` with `now - 60 < t <= now`.
    pub acked_last_minute: u64,
    /// Accepted `fail`s (retried or dead-lettered) at times `t` with
    /// `now - 60 < t <= now`.
    pub failed_last_minute: u64,
}

impl Stats {
    /// The share of the last minute's outcomes that were failures:
    /// `failed / (acked + failed)`, or `None` when there were none.
    #[must_use]
    pub fn failure_rate(&self) -> Option<f64> {
        let total = self.acked_last_minute + self.failed_last_minute;
        // Counts of jobs stay far below 2^52: the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        (total > 0).then(|| self.failed_last_minute as f64 / total as f64)
    }
}

/// Why a queue operation failed.
#[derive(Debug)]
pub enum QueueError {
    /// No job has this id.
    UnknownJob(JobId),
    /// The worker does not hold a live lease on the job: the lease expired,
    /// another worker claimed it since, it was never claimed by this worker,
    /// or it is already acknowledged or failed. The worker must drop its
    /// result: the job is someone else's now.
    LeaseLost {
        /// The job.
        job: JobId,
        /// The worker that asked.
        worker: String,
    },
    /// The database failed.
    Db(rusqlite::Error),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::UnknownJob(id) => write!(f, "no job has id {id}"),
            QueueError::LeaseLost { job, worker } => {
                write!(f, "worker {worker:?} holds no live lease on job {job}")
            }
            QueueError::Db(err) => write!(f, "database error: {err}"),
        }
    }
}

impl Error for QueueError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            QueueError::Db(err) => Some(err),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(err: rusqlite::Error) -> Self {
        QueueError::Db(err)
    }
}

/// A job queue: one connection to the database that holds the jobs.
///
/// Several queues (one per worker thread or process) may share one file.
#[derive(Debug)]
pub struct Queue {
    // Your fields here: the connection, the config, and what else?
}

impl Queue {
    /// Opens (creating if needed) the queue in the database file at `path`
    /// with [`Config::default`].
    ///
    /// # Errors
    /// [`QueueError::Db`] if the file cannot be opened or set up.
    pub fn open(path: impl AsRef<Path>) -> Result<Queue, QueueError> {
        todo!("Queue::open: open_with the default config")
    }

    /// Opens (creating if needed) the queue in the database file at `path`.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the file cannot be opened or set up.
    pub fn open_with(path: impl AsRef<Path>, config: Config) -> Result<Queue, QueueError> {
        todo!("Queue::open_with: a connection to the file, then with_connection")
    }

    /// A queue on an open connection (for example an in-memory database);
    /// creates the schema if it is not there. Set the connection up for
    /// several writers here: a busy timeout (wait for another connection's
    /// write lock instead of failing), WAL and `synchronous = NORMAL`.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the schema cannot be created.
    pub fn with_connection(conn: Connection, config: Config) -> Result<Queue, QueueError> {
        todo!("Queue::with_connection: busy timeout, WAL, then CREATE TABLE IF NOT EXISTS")
    }

    /// Adds a job that may be claimed from `not_before` (unix seconds) on,
    /// and returns its id (ids are distinct within a database). Higher
    /// `priority` runs first.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn enqueue(
        &mut self,
        payload: &str,
        priority: i64,
        not_before: i64,
    ) -> Result<JobId, QueueError> {
        todo!("Queue::enqueue: insert a queued job")
    }

    /// Claims the first claimable job at `now` for `worker`, with a lease
    /// of `lease_secs` seconds (`lease_until = now + lease_secs`), or
    /// `None` if no job is claimable.
    ///
    /// A job is claimable when it is [`JobState::Queued`] with
    /// `not_before <= now`, or [`JobState::Running`] with an expired lease
    /// (`lease_until <= now`: its worker crashed). The first is the one
    /// with the highest priority, then the earliest `not_before`, then the
    /// smallest id. Claiming counts an attempt.
    ///
    /// Another worker may claim at the same instant on its own connection:
    /// choosing the job and taking it must be one atomic step.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn claim(
        &mut self,
        worker: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<Job>, QueueError> {
        todo!("Queue::claim: choose and take the first claimable job in one atomic step")
    }

    /// Completes `job`. Accepted only from the `worker` that holds a live
    /// lease on it at `now` (`now < lease_until`); anything else is
    /// [`QueueError::LeaseLost`] and changes nothing.
    ///
    /// # Errors
    /// [`QueueError::UnknownJob`], [`QueueError::LeaseLost`], or
    /// [`QueueError::Db`].
    pub fn ack(&mut self, job: JobId, worker: &str, now: i64) -> Result<(), QueueError> {
        todo!("Queue::ack: done, only for the holder of a live lease")
    }

    /// Reports that attempt n of `job` failed with `error`. Accepted only
    /// from the `worker` that holds a live lease on it at `now`; anything
    /// else is [`QueueError::LeaseLost`] and changes nothing.
    ///
    /// If n is below `max_attempts`, the job is queued again with
    /// `not_before = now + backoff_base_secs * 2^(n-1)` (the first retry
    /// waits the base, the second twice it, ...; a time past `i64::MAX`
    /// saturates there instead of overflowing); otherwise it moves to
    /// [`JobState::Dead`] for good. Either way `error` becomes its
    /// `last_error`.
    ///
    /// # Errors
    /// [`QueueError::UnknownJob`], [`QueueError::LeaseLost`], or
    /// [`QueueError::Db`].
    pub fn fail(
        &mut self,
        job: JobId,
        worker: &str,
        error: &str,
        now: i64,
    ) -> Result<(), QueueError> {
        todo!("Queue::fail: retry with exponential backoff, or dead after max_attempts")
    }

    /// Everything the queue knows about `job`, or `None` if no job has this
    /// id.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn job(&self, job: JobId) -> Result<Option<JobInfo>, QueueError> {
        todo!("Queue::job: read one job")
    }

    /// The queue's depth per state at `now` (see [`Stats`] for exactly what
    /// each field counts), and the last minute's acks and failures.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn stats(&self, now: i64) -> Result<Stats, QueueError> {
        todo!("Queue::stats: count per state at now, and the events of (now - 60, now]")
    }
}
