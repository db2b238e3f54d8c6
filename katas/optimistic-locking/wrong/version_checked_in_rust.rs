//! Wrong: the version check is done in Rust. `update` reads the current
//! version, compares it with the expected one, and then runs
//! `UPDATE records SET value = ?, version = version + 1 WHERE id = ?`
//! without the version in the WHERE clause.
//!
//! Why candidates write it: "check, then write" reads like the definition of
//! optimistic locking, and in a single-threaded test it is indistinguishable
//! from the right answer. But another connection can commit between the
//! SELECT and the UPDATE: the check passed against a version that is gone by
//! the time the write runs, and that connection's write is silently lost.
//!
//! Caught by: `followup_a_writer_whose_read_predates_a_concurrent_commit_gets_a_conflict`
//! (deterministically: the other service's write is in flight while this
//! one reads), and sometimes by
//! `concurrent_single_updates_report_success_exactly_for_the_writes_that_landed`
//! when the scheduler hits the gap.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

pub use optimistic_locking_solution::{InsertError, RetryError, UpdateError, Versioned};

#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (
                 id TEXT PRIMARY KEY, value INTEGER NOT NULL, version INTEGER NOT NULL)",
        )?;
        Ok(Store { conn })
    }

    pub fn insert(&self, id: &str, value: i64) -> Result<(), InsertError> {
        match self.conn.execute(
            "INSERT INTO records (id, value, version) VALUES (?1, ?2, 1)",
            params![id, value],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
                Err(InsertError::AlreadyExists)
            }
            Err(e) => Err(InsertError::Database(e)),
        }
    }

    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
        self.conn
            .query_row("SELECT value, version FROM records WHERE id = ?1", params![id], |row| {
                Ok(Versioned {
                    value: row.get(0)?,
                    version: row.get::<_, i64>(1)? as u64,
                })
            })
            .optional()
    }

    pub fn update_with_retry<F>(&self, id: &str, max_attempts: u32, mut f: F) -> Result<Versioned, RetryError>
    where
        F: FnMut(i64) -> i64,
    {
        assert!(max_attempts > 0, "max_attempts must be at least 1");
        for _ in 0..max_attempts {
            let current = self.get(id)?.ok_or(RetryError::NotFound)?;
            let value = f(current.value);
            match self.update(id, current.version, value) {
                Ok(version) => return Ok(Versioned { value, version }),
                Err(UpdateError::Conflict { .. }) => continue,
                Err(UpdateError::NotFound) => return Err(RetryError::NotFound),
                Err(UpdateError::Database(e)) => return Err(RetryError::Database(e)),
            }
        }
        Err(RetryError::Conflict { attempts: max_attempts })
    }

    pub fn update(&self, id: &str, expected_version: u64, new_value: i64) -> Result<u64, UpdateError> {
        // BUG: check in Rust, then write without the version in the WHERE.
        let current = self.get(id)?.ok_or(UpdateError::NotFound)?;
        if current.version != expected_version {
            return Err(UpdateError::Conflict { current_version: current.version });
        }
        self.conn.execute(
            "UPDATE records SET value = ?1, version = version + 1 WHERE id = ?2",
            params![new_value, id],
        )?;
        Ok(expected_version + 1)
    }
}
