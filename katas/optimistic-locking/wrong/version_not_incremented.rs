//! Wrong: `update` compares the version in the WHERE clause but forgets to
//! increment it: `UPDATE records SET value = ? WHERE id = ? AND version = ?`.
//! It even returns `expected_version + 1`, so the caller believes it moved.
//!
//! Why candidates write it: the focus is on the comparison, and the SET list
//! is written from the new value alone. Every writer that read the old
//! version still matches it, so stale writers overwrite each other exactly
//! as if there were no locking at all.
//!
//! Caught by: `an_update_at_the_current_version_writes_and_bumps_the_version`,
//! `a_stale_writer_gets_a_conflict_and_never_overwrites`,
//! `followup_concurrent_increments_from_several_connections_lose_no_update`,
//! `agrees_with_a_map_of_versioned_values` and others.

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
        // BUG: the version is compared but never bumped.
        let changed = self.conn.execute(
            "UPDATE records SET value = ?1 WHERE id = ?2 AND version = ?3",
            params![new_value, id, expected_version as i64],
        )?;
        if changed == 1 {
            return Ok(expected_version + 1);
        }
        match self.get(id)? {
            Some(current) => Err(UpdateError::Conflict { current_version: current.version }),
            None => Err(UpdateError::NotFound),
        }
    }
}
