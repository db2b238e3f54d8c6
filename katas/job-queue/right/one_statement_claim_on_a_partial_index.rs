//! Right: not the README's hinted design of two index walks in an IMMEDIATE transaction and an event row per
//! outcome. The claim is ONE `UPDATE ... WHERE id = (SELECT ...) RETURNING` statement over a generated
//! `due_at` column (the not-before time while queued, the lease's end while running), so "queued and
//! due, or running and expired" is a single predicate walked along a PARTIAL index
//! `(priority DESC, not_before, id) WHERE state IN (0, 1)` in claim order, with no sort. States are
//! integer codes; ack and fail release the lease with a guarded `UPDATE ... RETURNING attempts` inside
//! an IMMEDIATE transaction; the per-minute rates come from a per-second counter table upserted with
//! `ON CONFLICT DO UPDATE` (one row per busy second, not one per event); the backoff saturates with
//! `checked_pow`/`checked_mul`.
//!
//! # Job queue

use std::error::Error;
use std::fmt;
use std::path::Path;

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

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
    conn: Connection,
    config: Config,
}

// States are small integers; `due_at` is when the job next becomes claimable:
// its not-before time while queued, its lease's end while running.
const QUEUED: i64 = 0;
const RUNNING: i64 = 1;
const DONE: i64 = 2;
const DEAD: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payload     TEXT    NOT NULL,
    priority    INTEGER NOT NULL,
    not_before  INTEGER NOT NULL,
    state       INTEGER NOT NULL DEFAULT 0,
    holder      TEXT,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    due_at      INTEGER GENERATED ALWAYS AS
                (CASE state WHEN 0 THEN not_before WHEN 1 THEN lease_until END) VIRTUAL
);
-- Only queued and running jobs are ever claimed: a partial index in claim
-- order, whose walk stops at the first row that is due.
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (priority DESC, not_before, id)
    WHERE state IN (0, 1);
-- Outcomes per second, not per event: the per-minute rates need no more.
CREATE TABLE IF NOT EXISTS outcomes (
    at    INTEGER PRIMARY KEY,
    acks  INTEGER NOT NULL DEFAULT 0,
    fails INTEGER NOT NULL DEFAULT 0
);
";

fn state_of(code: i64) -> JobState {
    match code {
        RUNNING => JobState::Running,
        DONE => JobState::Done,
        DEAD => JobState::Dead,
        _ => JobState::Queued,
    }
}

/// How long attempt `n`'s failure waits: `base * 2^(n-1)`, saturating.
fn retry_delay(base: i64, n: u32) -> i64 {
    2i64.checked_pow(n.saturating_sub(1))
        .and_then(|factor| base.checked_mul(factor))
        .unwrap_or(if base > 0 { i64::MAX } else { 0 })
}

impl Queue {
    /// Opens (creating if needed) the queue in the database file at `path`
    /// with [`Config::default`].
    ///
    /// # Errors
    /// [`QueueError::Db`] if the file cannot be opened or set up.
    pub fn open(path: impl AsRef<Path>) -> Result<Queue, QueueError> {
        Queue::open_with(path, Config::default())
    }

    /// Opens (creating if needed) the queue in the database file at `path`.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the file cannot be opened or set up.
    pub fn open_with(path: impl AsRef<Path>, config: Config) -> Result<Queue, QueueError> {
        Queue::with_connection(Connection::open(path)?, config)
    }

    /// A queue on an open connection; creates the schema if it is not there.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the schema cannot be created.
    pub fn with_connection(conn: Connection, config: Config) -> Result<Queue, QueueError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        // Two fresh connections may race to create the schema: do it under
        // the write lock.
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
        Ok(Queue { conn, config })
    }

    /// Adds a job that may be claimed from `not_before` on, and returns its id.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn enqueue(
        &mut self,
        payload: &str,
        priority: i64,
        not_before: i64,
    ) -> Result<JobId, QueueError> {
        Ok(self.conn.query_row(
            "INSERT INTO jobs (payload, priority, not_before) VALUES (?1, ?2, ?3) RETURNING id",
            params![payload, priority, not_before],
            |r| r.get(0),
        )?)
    }

    /// Claims the first claimable job at `now` for `worker`: one UPDATE
    /// statement, which SQLite runs atomically under its write lock.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn claim(
        &mut self,
        worker: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<Job>, QueueError> {
        let until = now.saturating_add(lease_secs);
        Ok(self
            .conn
            .query_row(
                "UPDATE jobs
                 SET state = 1, holder = ?2, lease_until = ?3, attempts = attempts + 1
                 WHERE id = (SELECT id FROM jobs
                             WHERE state IN (0, 1) AND due_at <= ?1
                             ORDER BY priority DESC, not_before, id
                             LIMIT 1)
                 RETURNING id, payload, priority, attempts, lease_until",
                params![now, worker, until],
                |r| {
                    Ok(Job {
                        id: r.get(0)?,
                        payload: r.get(1)?,
                        priority: r.get(2)?,
                        attempt: r.get(3)?,
                        lease_until: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Releases `job` from `worker`'s live lease inside `tx`, returning its
    /// attempt number; the right error when the worker holds no live lease.
    fn release(
        tx: &rusqlite::Transaction<'_>,
        job: JobId,
        worker: &str,
        now: i64,
    ) -> Result<u32, QueueError> {
        let released: Option<u32> = tx
            .query_row(
                "UPDATE jobs SET holder = NULL, lease_until = NULL
                 WHERE id = ?1 AND state = 1 AND holder = ?2 AND lease_until > ?3
                 RETURNING attempts",
                params![job, worker, now],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(attempt) = released {
            return Ok(attempt);
        }
        let known: Option<i64> = tx
            .query_row("SELECT id FROM jobs WHERE id = ?1", [job], |r| r.get(0))
            .optional()?;
        Err(match known {
            Some(_) => QueueError::LeaseLost {
                job,
                worker: worker.to_owned(),
            },
            None => QueueError::UnknownJob(job),
        })
    }

    /// Completes `job`, only for the holder of a live lease.
    ///
    /// # Errors
    /// [`QueueError::UnknownJob`], [`QueueError::LeaseLost`], or
    /// [`QueueError::Db`].
    pub fn ack(&mut self, job: JobId, worker: &str, now: i64) -> Result<(), QueueError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Self::release(&tx, job, worker, now)?;
        tx.execute("UPDATE jobs SET state = 2 WHERE id = ?1", [job])?;
        tx.execute(
            "INSERT INTO outcomes (at, acks) VALUES (?1, 1)
             ON CONFLICT (at) DO UPDATE SET acks = acks + 1",
            [now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Reports that the current attempt of `job` failed with `error`.
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let attempt = Self::release(&tx, job, worker, now)?;
        if attempt >= self.config.max_attempts {
            tx.execute(
                "UPDATE jobs SET state = 3, last_error = ?2 WHERE id = ?1",
                params![job, error],
            )?;
        } else {
            let retry_at =
                now.saturating_add(retry_delay(self.config.backoff_base_secs, attempt));
            tx.execute(
                "UPDATE jobs SET state = 0, not_before = ?2, last_error = ?3 WHERE id = ?1",
                params![job, retry_at, error],
            )?;
        }
        tx.execute(
            "INSERT INTO outcomes (at, fails) VALUES (?1, 1)
             ON CONFLICT (at) DO UPDATE SET fails = fails + 1",
            [now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Everything the queue knows about `job`.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn job(&self, job: JobId) -> Result<Option<JobInfo>, QueueError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, payload, priority, state, attempts, not_before, last_error
                 FROM jobs WHERE id = ?1",
                [job],
                |r| {
                    Ok(JobInfo {
                        id: r.get(0)?,
                        payload: r.get(1)?,
                        priority: r.get(2)?,
                        state: state_of(r.get(3)?),
                        attempts: r.get(4)?,
                        not_before: r.get(5)?,
                        last_error: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// The queue's depth per state at `now`, and the last minute's acks and
    /// failures.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn stats(&self, now: i64) -> Result<Stats, QueueError> {
        let mut stats = Stats::default();
        let mut per_state = self.conn.prepare(
            "SELECT state, due_at <= ?1 AS due, COUNT(*) FROM jobs GROUP BY state, due",
        )?;
        let mut rows = per_state.query([now])?;
        while let Some(row) = rows.next()? {
            let state: i64 = row.get(0)?;
            let due: Option<bool> = row.get(1)?;
            let count = u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0);
            let due = due.unwrap_or(false);
            match (state, due) {
                (QUEUED | RUNNING, true) => stats.ready += count,
                (QUEUED, false) => stats.scheduled += count,
                (RUNNING, false) => stats.running += count,
                (DONE, _) => stats.done += count,
                _ => stats.dead += count,
            }
        }
        let (acks, fails): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(acks), 0), COALESCE(SUM(fails), 0)
             FROM outcomes WHERE at > ?1 - 60 AND at <= ?1",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        stats.acked_last_minute = u64::try_from(acks).unwrap_or(0);
        stats.failed_last_minute = u64::try_from(fails).unwrap_or(0);
        Ok(stats)
    }
}
