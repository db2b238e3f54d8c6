//! Bug: `update` reads the record first (to tell `NotFound` from `Conflict` without a second
//! query), then runs the correct conditional UPDATE, and on zero rows reports the version from that
//! earlier read. If another connection commits between the read and the UPDATE, the refusal says
//! `Conflict { current_version }` with the version the caller expected (or an older one), not the
//! version that beat it. The decision itself is right: nothing stale is written.
//!
//! Why candidates write it: one read up front "handles both error cases", and the UPDATE still
//! decides.
//!
//! Symptom: the 412 says the product is at version 4, the version the client sent, so the client's re-fetch-and-merge logic loops
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference.
//!
//! Caught by: `a_writer_that_loses_to_a_commit_just_before_its_update_gets_a_conflict_naming_the_new_version`
//! and `followup_a_writer_whose_read_predates_a_concurrent_commit_gets_a_conflict`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

/// A record's value and the version it has had since its last write.
///
/// A new record has version 1; every successful update adds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Versioned {
    /// The stored value.
    pub value: i64,
    /// The version of the record when it was read.
    pub version: u64,
}

/// Why an insert failed.
#[derive(Debug)]
pub enum InsertError {
    /// A record with this id exists already; it is left unchanged.
    AlreadyExists,
    /// SQLite failed.
    Database(rusqlite::Error),
}

/// Why an update failed.
#[derive(Debug)]
pub enum UpdateError {
    /// The record has moved on since the caller read it: `current_version` is
    /// a version other than the expected one, and nothing was written.
    Conflict {
        /// The version the record had when the update was refused.
        current_version: u64,
    },
    /// No record has this id.
    NotFound,
    /// SQLite failed.
    Database(rusqlite::Error),
}

/// Why `update_with_retry` gave up.
#[derive(Debug)]
pub enum RetryError {
    /// Every one of the `attempts` attempts lost to a concurrent writer.
    Conflict {
        /// How many attempts were made: `max_attempts`.
        attempts: u32,
    },
    /// No record has this id.
    NotFound,
    /// SQLite failed.
    Database(rusqlite::Error),
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::AlreadyExists => f.write_str("a record with this id exists already"),
            InsertError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateError::Conflict { current_version } => {
                write!(
                    f,
                    "version conflict: the record is at version {current_version}"
                )
            }
            UpdateError::NotFound => f.write_str("no record with this id"),
            UpdateError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl fmt::Display for RetryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryError::Conflict { attempts } => {
                write!(f, "still conflicting after {attempts} attempts")
            }
            RetryError::NotFound => f.write_str("no record with this id"),
            RetryError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for InsertError {}
impl std::error::Error for UpdateError {}
impl std::error::Error for RetryError {}

impl From<rusqlite::Error> for InsertError {
    fn from(e: rusqlite::Error) -> Self {
        InsertError::Database(e)
    }
}

impl From<rusqlite::Error> for UpdateError {
    fn from(e: rusqlite::Error) -> Self {
        UpdateError::Database(e)
    }
}

impl From<rusqlite::Error> for RetryError {
    fn from(e: rusqlite::Error) -> Self {
        RetryError::Database(e)
    }
}

/// A versioned record store on one SQLite file: one connection, so one per
/// thread; any number of stores may share the file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(err, _) if err.code == ErrorCode::ConstraintViolation)
}

impl Store {
    /// Opens (creating if needed) the store in the SQLite file at `path`,
    /// with the table `records(id TEXT PRIMARY KEY, value INTEGER NOT NULL,
    /// version INTEGER NOT NULL)`.
    ///
    /// Other connections write to the same file at the same time: a write
    /// that finds another in progress must wait for it (a few seconds at
    /// most), not fail with `database is locked`.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS records (
                 id      TEXT    PRIMARY KEY,
                 value   INTEGER NOT NULL,
                 version INTEGER NOT NULL
             );",
        )?;
        Ok(Self { conn })
    }

    /// Creates the record `id` with `value` at version 1.
    ///
    /// # Errors
    /// [`InsertError::AlreadyExists`] if `id` is taken (the record keeps its
    /// value and version).
    pub fn insert(&self, id: &str, value: i64) -> Result<(), InsertError> {
        match self.conn.execute(
            "INSERT INTO records (id, value, version) VALUES (?1, ?2, 1)",
            params![id, value],
        ) {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(InsertError::AlreadyExists),
            Err(e) => Err(InsertError::Database(e)),
        }
    }

    /// The record `id` with its current version, or `None` if there is none.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
        self.conn
            .query_row(
                "SELECT value, version FROM records WHERE id = ?1",
                [id],
                |row| {
                    Ok(Versioned {
                        value: row.get(0)?,
                        version: row.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()
    }

    /// Writes `new_value` to `id` if the record is still at
    /// `expected_version`, and returns the new version (`expected_version +
    /// 1`).
    ///
    /// The check and the write must be one atomic step: another connection
    /// may commit between any two of your statements.
    ///
    /// # Errors
    /// [`UpdateError::Conflict`] if the record is at another version (nothing
    /// is written), [`UpdateError::NotFound`] if there is no such record.
    pub fn update(
        &self,
        id: &str,
        expected_version: u64,
        new_value: i64,
    ) -> Result<u64, UpdateError> {
        let before = self.get(id)?;
        // A version above i64::MAX cannot be stored, so it matches no record.
        if let Ok(expected) = i64::try_from(expected_version) {
            let changed = self.conn.execute(
                "UPDATE records SET value = ?1, version = version + 1 WHERE id = ?2 AND version = ?3",
                params![new_value, id, expected],
            )?;
            if changed == 1 {
                return Ok(expected_version + 1);
            }
        }
        match before {
            None => Err(UpdateError::NotFound),
            Some(current) => Err(UpdateError::Conflict {
                current_version: current.version,
            }),
        }
    }

    /// Read-modify-write with optimistic retries: reads `id`, computes
    /// `f(value)`, and updates with the version it read; on a conflict it
    /// reads again and calls `f` again, making at most `max_attempts`
    /// attempts in all. `f` runs once per attempt, on the freshly read value,
    /// and no lock or transaction is held while it runs (it may be slow: a
    /// user editing a form).
    ///
    /// Returns the record as written.
    ///
    /// # Errors
    /// [`RetryError::Conflict`] with `attempts == max_attempts` if every
    /// attempt lost; [`RetryError::NotFound`] (without calling `f`) if there
    /// is no such record.
    ///
    /// # Panics
    /// If `max_attempts` is zero.
    pub fn update_with_retry<F>(
        &self,
        id: &str,
        max_attempts: u32,
        mut f: F,
    ) -> Result<Versioned, RetryError>
    where
        F: FnMut(i64) -> i64,
    {
        assert!(max_attempts > 0, "update_with_retry needs at least one attempt");
        for _ in 0..max_attempts {
            let Some(read) = self.get(id)? else {
                return Err(RetryError::NotFound);
            };
            let value = f(read.value);
            match self.update(id, read.version, value) {
                Ok(version) => return Ok(Versioned { value, version }),
                Err(UpdateError::Conflict { .. }) => continue,
                Err(UpdateError::NotFound) => return Err(RetryError::NotFound),
                Err(UpdateError::Database(e)) => return Err(RetryError::Database(e)),
            }
        }
        Err(RetryError::Conflict {
            attempts: max_attempts,
        })
    }
}
