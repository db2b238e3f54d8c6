//! Bug: `stats(now)` counts acks and failures with `at > now - 60` but no upper bound `at <= now`,
//! so asked about an instant earlier than some recorded events (a dashboard replaying a past
//! minute, a worker whose clock is behind another's), it counts events that happen after `now`. The
//! README's window is `now - 60 < t <= now`.
//!
//! Why candidates write it: "the last minute" reads as "newer than a minute ago", and with the
//! clock only moving forward in a single-threaded test, nothing is ever later than `now`.
//!
//! Symptom: the failure-rate alert evaluated by a monitor whose clock lags the workers by 20 s fires on failures that, at its `now`, have not happened yet; a backfilled per-minute graph shows each minute's failures in the previous minute too.
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference.
//!
//! Caught by: `stats_count_the_last_minutes_acks_and_failures` (stats at T + 1 must
//! not count the outcomes at T + 2 and T + 30).

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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payload     TEXT    NOT NULL,
    priority    INTEGER NOT NULL,
    not_before  INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    worker      TEXT,
    lease_until INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, priority DESC, not_before, id);
CREATE TABLE IF NOT EXISTS events (kind TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
";

fn parse_state(name: &str) -> JobState {
    match name {
        "running" => JobState::Running,
        "done" => JobState::Done,
        "dead" => JobState::Dead,
        _ => JobState::Queued,
    }
}

/// `base * 2^(attempt - 1)`, saturating instead of overflowing.
fn backoff(base: i64, attempt: u32) -> i64 {
    let exp = attempt.saturating_sub(1);
    if exp >= 63 {
        return if base > 0 { i64::MAX } else { 0 };
    }
    base.saturating_mul(1i64 << exp)
}

/// The lease check, shared by ack and fail: the job is running, held by
/// `worker`, and the lease is live at `now`.
const HOLDER: &str = "state = 'running' AND worker = ?2 AND lease_until > ?3";

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
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
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
        self.conn.execute(
            "INSERT INTO jobs (payload, priority, not_before, state) VALUES (?1, ?2, ?3, 'queued')",
            params![payload, priority, not_before],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Claims the first claimable job at `now` for `worker`.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn claim(
        &mut self,
        worker: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<Job>, QueueError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Each candidate is the first row of its own index walk.
        let first = |sql: &str| -> rusqlite::Result<Option<(i64, i64, i64)>> {
            tx.query_row(sql, [now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        };
        let due = first(
            "SELECT id, priority, not_before FROM jobs
             WHERE state = 'queued' AND not_before <= ?1
             ORDER BY priority DESC, not_before, id LIMIT 1",
        )?;
        let expired = first(
            "SELECT id, priority, not_before FROM jobs
             WHERE state = 'running' AND lease_until <= ?1
             ORDER BY priority DESC, not_before, id LIMIT 1",
        )?;
        let order = |c: &(i64, i64, i64)| (-c.1, c.2, c.0);
        let chosen = match (due, expired) {
            (Some(a), Some(b)) => Some(if order(&a) <= order(&b) { a } else { b }),
            (a, b) => a.or(b),
        };
        let Some((id, _, _)) = chosen else {
            return Ok(None);
        };
        let lease_until = now.saturating_add(lease_secs);
        let job = tx.query_row(
            "UPDATE jobs SET state = 'running', worker = ?2, lease_until = ?3,
                             attempts = attempts + 1
             WHERE id = ?1
             RETURNING id, payload, priority, attempts, lease_until",
            params![id, worker, lease_until],
            |r| {
                Ok(Job {
                    id: r.get(0)?,
                    payload: r.get(1)?,
                    priority: r.get(2)?,
                    attempt: r.get(3)?,
                    lease_until: r.get(4)?,
                })
            },
        )?;
        tx.commit()?;
        Ok(Some(job))
    }

    /// The error for an ack or fail that changed nothing.
    fn refusal(conn: &Connection, job: JobId, worker: &str) -> QueueError {
        match conn
            .query_row("SELECT 1 FROM jobs WHERE id = ?1", [job], |_| Ok(()))
            .optional()
        {
            Ok(Some(())) => QueueError::LeaseLost {
                job,
                worker: worker.to_owned(),
            },
            Ok(None) => QueueError::UnknownJob(job),
            Err(e) => QueueError::Db(e),
        }
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
        let changed = tx.execute(
            &format!(
                "UPDATE jobs SET state = 'done', worker = NULL, lease_until = NULL
                 WHERE id = ?1 AND {HOLDER}"
            ),
            params![job, worker, now],
        )?;
        if changed == 0 {
            return Err(Self::refusal(&tx, job, worker));
        }
        tx.execute("INSERT INTO events (kind, at) VALUES ('ack', ?1)", [now])?;
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
        let attempts: Option<u32> = tx
            .query_row(
                &format!("SELECT attempts FROM jobs WHERE id = ?1 AND {HOLDER}"),
                params![job, worker, now],
                |r| r.get(0),
            )
            .optional()?;
        let Some(attempt) = attempts else {
            return Err(Self::refusal(&tx, job, worker));
        };
        if attempt >= self.config.max_attempts {
            tx.execute(
                "UPDATE jobs SET state = 'dead', worker = NULL, lease_until = NULL,
                                 last_error = ?2
                 WHERE id = ?1",
                params![job, error],
            )?;
        } else {
            let retry_at = now.saturating_add(backoff(self.config.backoff_base_secs, attempt));
            tx.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL,
                                 not_before = ?2, last_error = ?3
                 WHERE id = ?1",
                params![job, retry_at, error],
            )?;
        }
        tx.execute("INSERT INTO events (kind, at) VALUES ('fail', ?1)", [now])?;
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
                        state: parse_state(&r.get::<_, String>(3)?),
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
        let mut stats = self.conn.query_row(
            "SELECT
               COALESCE(SUM((state = 'queued' AND not_before <= ?1)
                         OR (state = 'running' AND lease_until <= ?1)), 0),
               COALESCE(SUM(state = 'queued' AND not_before > ?1), 0),
               COALESCE(SUM(state = 'running' AND lease_until > ?1), 0),
               COALESCE(SUM(state = 'done'), 0),
               COALESCE(SUM(state = 'dead'), 0)
             FROM jobs",
            [now],
            |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
                Ok(Stats {
                    ready: n(0)?,
                    scheduled: n(1)?,
                    running: n(2)?,
                    done: n(3)?,
                    dead: n(4)?,
                    ..Stats::default()
                })
            },
        )?;
        let (acked, failed): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(kind = 'ack'), 0), COALESCE(SUM(kind = 'fail'), 0)
             FROM events WHERE at > ?1 - 60",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        stats.acked_last_minute = acked as u64;
        stats.failed_last_minute = failed as u64;
        Ok(stats)
    }
}
