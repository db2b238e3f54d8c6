//! Reference solution of the job-queue kata: a durable job queue on SQLite.
//!
//! One table holds every job. A claim is one `UPDATE ... WHERE id = (SELECT
//! ... LIMIT 1) RETURNING ...` inside an `IMMEDIATE` transaction: the write
//! lock is taken before the job is chosen, so two workers on two connections
//! can never choose the same job. `ack` and `fail` state who they are and
//! are accepted only while that worker's lease holds. Time is passed in
//! (`now`, unix seconds); nothing here reads the clock.
//!
//! The statements a worker runs for every job (enqueue, claim, ack, fail) are
//! prepared once per connection and cached (`prepare_cached`): `execute`
//! parses and plans its SQL on every call, which was two thirds of the time
//! of a claim and its ack.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

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

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS jobs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        payload     TEXT    NOT NULL,
        priority    INTEGER NOT NULL,
        not_before  INTEGER NOT NULL,
        state       TEXT    NOT NULL DEFAULT 'queued',
        worker      TEXT,
        lease_until INTEGER,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT
    );
    CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, priority DESC, not_before, id);
    CREATE TABLE IF NOT EXISTS events (
        kind TEXT    NOT NULL,
        at   INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_at ON events (at);
";

/// A job queue: one connection to the database that holds the jobs.
///
/// Several queues (one per worker thread or process) may share one file.
#[derive(Debug)]
pub struct Queue {
    conn: Connection,
    config: Config,
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

    /// A queue on an open connection (for example an in-memory database);
    /// creates the schema if it is not there.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the schema cannot be created.
    pub fn with_connection(conn: Connection, config: Config) -> Result<Queue, QueueError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer, and with synchronous = NORMAL a
        // commit is an append without fsync. In-memory databases answer
        // "memory"; either way the answer is a row to read.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Queue { conn, config })
    }

    /// Adds a job that may be claimed from `not_before` (unix seconds) on.
    /// Higher `priority` runs first.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn enqueue(
        &mut self,
        payload: &str,
        priority: i64,
        not_before: i64,
    ) -> Result<JobId, QueueError> {
        self.conn
            .prepare_cached("INSERT INTO jobs (payload, priority, not_before) VALUES (?1, ?2, ?3)")?
            .execute(params![payload, priority, not_before])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Claims the first claimable job for `worker` with a lease of
    /// `lease_secs` seconds, or `None` if no job is claimable at `now`.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn claim(
        &mut self,
        worker: &str,
        now: i64,
        lease_secs: i64,
    ) -> Result<Option<Job>, QueueError> {
        let tx = self.immediate()?;
        // One statement chooses and takes the job; the IMMEDIATE transaction
        // holds the write lock from before the choice. The two candidates (the
        // first queued job that is due, the first running job whose lease has
        // expired) are each the first row of a walk along the `jobs_claim`
        // index, so a claim never sorts the whole table.
        let job = tx
            .prepare_cached(
                "UPDATE jobs
                    SET state = 'running', worker = ?1, lease_until = ?2 + ?3,
                        attempts = attempts + 1
                  WHERE id = (SELECT id FROM (
                                  SELECT * FROM (SELECT id, priority, not_before FROM jobs
                                                  WHERE state = 'queued' AND not_before <= ?2
                                                  ORDER BY priority DESC, not_before, id
                                                  LIMIT 1)
                                  UNION ALL
                                  SELECT * FROM (SELECT id, priority, not_before FROM jobs
                                                  WHERE state = 'running' AND lease_until <= ?2
                                                  ORDER BY priority DESC, not_before, id
                                                  LIMIT 1))
                               ORDER BY priority DESC, not_before, id
                               LIMIT 1)
              RETURNING id, payload, priority, attempts, lease_until",
            )?
            .query_row(params![worker, now, lease_secs], |row| {
                Ok(Job {
                    id: row.get(0)?,
                    payload: row.get(1)?,
                    priority: row.get(2)?,
                    attempt: row.get(3)?,
                    lease_until: row.get(4)?,
                })
            })
            .optional()?;
        tx.commit()?;
        Ok(job)
    }

    /// Completes `job`: accepted only from the `worker` that holds a live
    /// lease on it at `now`.
    ///
    /// # Errors
    /// [`QueueError::UnknownJob`], [`QueueError::LeaseLost`], or
    /// [`QueueError::Db`].
    pub fn ack(&mut self, job: JobId, worker: &str, now: i64) -> Result<(), QueueError> {
        let tx = self.immediate()?;
        let changed = tx
            .prepare_cached(
                "UPDATE jobs SET state = 'done', worker = NULL, lease_until = NULL
                  WHERE id = ?1 AND state = 'running' AND worker = ?2 AND lease_until > ?3",
            )?
            .execute(params![job, worker, now])?;
        if changed == 0 {
            return Err(lease_error(&tx, job, worker));
        }
        tx.prepare_cached("INSERT INTO events (kind, at) VALUES ('ack', ?1)")?
            .execute([now])?;
        tx.commit()?;
        Ok(())
    }

    /// Reports that attempt n of `job` failed with `error`: accepted only from
    /// the `worker` that holds a live lease on it at `now`. If n is below
    /// `max_attempts`, the job is queued again for `now + backoff_base_secs *
    /// 2^(n-1)`; otherwise it moves to [`JobState::Dead`]. Either way
    /// `error` becomes its `last_error`.
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
        let config = self.config;
        let tx = self.immediate()?;
        let attempts: Option<u32> = tx
            .prepare_cached(
                "SELECT attempts FROM jobs
                  WHERE id = ?1 AND state = 'running' AND worker = ?2 AND lease_until > ?3",
            )?
            .query_row(params![job, worker, now], |row| row.get(0))
            .optional()?;
        let Some(attempts) = attempts else {
            return Err(lease_error(&tx, job, worker));
        };
        if attempts >= config.max_attempts {
            tx.prepare_cached(
                "UPDATE jobs SET state = 'dead', worker = NULL, lease_until = NULL,
                        last_error = ?2
                  WHERE id = ?1",
            )?
            .execute(params![job, error])?;
        } else {
            let retry_at = now.saturating_add(backoff(config.backoff_base_secs, attempts));
            tx.prepare_cached(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL,
                        not_before = ?2, last_error = ?3
                  WHERE id = ?1",
            )?
            .execute(params![job, retry_at, error])?;
        }
        tx.prepare_cached("INSERT INTO events (kind, at) VALUES ('fail', ?1)")?
            .execute([now])?;
        tx.commit()?;
        Ok(())
    }

    /// Everything the queue knows about `job`, or `None` if no job has this
    /// id.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn job(&self, job: JobId) -> Result<Option<JobInfo>, QueueError> {
        let info = self
            .conn
            .query_row(
                "SELECT id, payload, priority, state, attempts, not_before, last_error
                   FROM jobs WHERE id = ?1",
                [job],
                |row| {
                    let state: String = row.get(3)?;
                    Ok(JobInfo {
                        id: row.get(0)?,
                        payload: row.get(1)?,
                        priority: row.get(2)?,
                        state: match state.as_str() {
                            "running" => JobState::Running,
                            "done" => JobState::Done,
                            "dead" => JobState::Dead,
                            _ => JobState::Queued,
                        },
                        attempts: row.get(4)?,
                        not_before: row.get(5)?,
                        last_error: row.get(6)?,
                    })
                },
            )
            .optional()?;
        Ok(info)
    }

    /// The queue's depth per state at `now`, and the last minute's acks and
    /// failures.
    ///
    /// # Errors
    /// [`QueueError::Db`] if the database fails.
    pub fn stats(&self, now: i64) -> Result<Stats, QueueError> {
        // One count per state: each walks only that state's entries of the
        // `jobs_claim` index, which holds `state` and `not_before`, so only a
        // running job's row is read (for its `lease_until`). One pass of
        // `SUM(state = ...)` over the whole table reads every row, payloads
        // included: it made `stats` twice as slow at 10,000 jobs.
        let mut stats = self.conn.query_row(
            "SELECT
                (SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND not_before <= ?1)
                  + (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_until <= ?1),
                (SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND not_before > ?1),
                (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_until > ?1),
                (SELECT COUNT(*) FROM jobs WHERE state = 'done'),
                (SELECT COUNT(*) FROM jobs WHERE state = 'dead')",
            [now],
            |row| {
                Ok(Stats {
                    ready: count(row, 0)?,
                    scheduled: count(row, 1)?,
                    running: count(row, 2)?,
                    done: count(row, 3)?,
                    dead: count(row, 4)?,
                    ..Stats::default()
                })
            },
        )?;
        let (acked, failed) = self.conn.query_row(
            "SELECT COALESCE(SUM(kind = 'ack'), 0), COALESCE(SUM(kind = 'fail'), 0)
               FROM events WHERE at > ?1 - 60 AND at <= ?1",
            [now],
            |row| Ok((count(row, 0)?, count(row, 1)?)),
        )?;
        stats.acked_last_minute = acked;
        stats.failed_last_minute = failed;
        Ok(stats)
    }

    /// A transaction that holds the write lock from its first statement: a
    /// DEFERRED one that reads and then writes fails with SQLITE_BUSY when
    /// another connection wrote in between.
    fn immediate(&mut self) -> Result<Transaction<'_>, QueueError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// A count read from SQLite (an `INTEGER`, never negative) as a `u64`.
fn count(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(idx)?;
    u64::try_from(n).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

/// The wait before the retry that follows failed attempt `attempt` (>= 1):
/// `base * 2^(attempt-1)`, saturating instead of overflowing.
fn backoff(base: i64, attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1);
    if doublings >= 62 {
        return if base > 0 { i64::MAX } else { 0 };
    }
    base.saturating_mul(1_i64 << doublings)
}

/// The error for an `ack` or `fail` that changed nothing: the job is unknown,
/// or `worker` holds no live lease on it.
fn lease_error(tx: &Transaction<'_>, job: JobId, worker: &str) -> QueueError {
    let exists = tx.query_row("SELECT 1 FROM jobs WHERE id = ?1", [job], |_| Ok(()));
    match exists.optional() {
        Ok(Some(())) => QueueError::LeaseLost {
            job,
            worker: worker.to_owned(),
        },
        Ok(None) => QueueError::UnknownJob(job),
        Err(err) => QueueError::Db(err),
    }
}
