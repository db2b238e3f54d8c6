//! Wrong: `update` runs the right statement
//! (`... WHERE id = ? AND version = ?`) but ignores how many rows it changed:
//! it checks only that the record exists and then reports success with
//! `expected_version + 1`, whether or not the write happened.
//!
//! Why candidates write it: `execute` returned `Ok`, so the update "worked".
//! But an UPDATE whose WHERE matches nothing is not an error in SQL: the
//! row count is the only signal that the version was stale. The stale writer
//! is not overwriting anything, yet it tells its caller (and the user) that
//! their edit was saved, and `update_with_retry` never retries.
//!
//! Caught by: `a_stale_writer_gets_a_conflict_and_never_overwrites`,
//! `an_update_at_any_other_version_is_a_conflict_and_writes_nothing`,
//! `concurrent_single_updates_report_success_exactly_for_the_writes_that_landed`,
//! `followup_concurrent_increments_from_several_connections_lose_no_update`,
//! `update_with_retry_stops_after_exactly_max_attempts_with_a_conflict` and
//! `agrees_with_a_map_of_versioned_values`.

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
        if self.get(id)?.is_none() {
            return Err(UpdateError::NotFound);
        }
        // BUG: the number of rows changed is thrown away.
        self.conn.execute(
            "UPDATE records SET value = ?1, version = version + 1 WHERE id = ?2 AND version = ?3",
            params![new_value, id, expected_version as i64],
        )?;
        Ok(expected_version + 1)
    }
}
