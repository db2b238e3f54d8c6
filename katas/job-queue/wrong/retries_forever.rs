//! Wrong: there is no dead-letter state: `fail` always queues a retry, so
//! `max_attempts` is never reached.
//!
//! Why candidates write it: retrying with backoff is the interesting part,
//! and the limit is left for later. A poison job (a payload that can never
//! succeed) then retries forever, taking a worker every time and hiding in
//! the `scheduled` count instead of showing up as `dead` with its error for
//! someone to look at.
//!
//! Caught by: `moves_a_job_to_dead_after_max_attempts_with_its_last_error`,
//! `stats_count_the_last_minutes_acks_and_failures`,
//! `followup_agrees_with_a_model_under_random_operations`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use job_queue_solution::{Config, Job, JobId, JobInfo, JobState, QueueError, Stats};

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
        self.conn.execute(
            "INSERT INTO jobs (payload, priority, not_before) VALUES (?1, ?2, ?3)",
            params![payload, priority, not_before],
        )?;
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
        // holds the write lock from before the choice.
        let job = tx
            .query_row(
                "UPDATE jobs
                    SET state = 'running', worker = ?1, lease_until = ?2 + ?3,
                        attempts = attempts + 1
                  WHERE id = (SELECT id FROM jobs
                               WHERE (state = 'queued' AND not_before <= ?2)
                                  OR (state = 'running' AND lease_until <= ?2)
                               ORDER BY priority DESC, not_before, id
                               LIMIT 1)
              RETURNING id, payload, priority, attempts, lease_until",
                params![worker, now, lease_secs],
                |row| {
                    Ok(Job {
                        id: row.get(0)?,
                        payload: row.get(1)?,
                        priority: row.get(2)?,
                        attempt: row.get(3)?,
                        lease_until: row.get(4)?,
                    })
                },
            )
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
        let changed = tx.execute(
            "UPDATE jobs SET state = 'done', worker = NULL, lease_until = NULL
              WHERE id = ?1 AND state = 'running' AND worker = ?2 AND lease_until > ?3",
            params![job, worker, now],
        )?;
        if changed == 0 {
            return Err(lease_error(&tx, job, worker));
        }
        tx.execute("INSERT INTO events (kind, at) VALUES ('ack', ?1)", [now])?;
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
            .query_row(
                "SELECT attempts FROM jobs
                  WHERE id = ?1 AND state = 'running' AND worker = ?2 AND lease_until > ?3",
                params![job, worker, now],
                |row| row.get(0),
            )
            .optional()?;
        let Some(attempts) = attempts else {
            return Err(lease_error(&tx, job, worker));
        };
        if attempts == 0 {
            tx.execute(
                "UPDATE jobs SET state = 'dead', worker = NULL, lease_until = NULL,
                        last_error = ?2
                  WHERE id = ?1",
                params![job, error],
            )?;
        } else {
            let retry_at = now.saturating_add(backoff(config.backoff_base_secs, attempts));
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
