//! Right: `update` is one `UPDATE ... WHERE id = ? AND version = ? RETURNING version` (the returned row,
//! not a changed-row count, says it won), through cached statements. A refused update reads the record's
//! value and version together in one SELECT, and `update_with_retry` uses that read as the fresh read of
//! its next attempt instead of issuing another `get`: one read per conflict instead of two, and the value
//! `f` sees always belongs to the version it then names. Versions outside `i64` are mapped without `as`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

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

/// How one compare-and-set went.
enum Attempt {
    Won(u64),
    Lost(Versioned),
    Missing,
}

fn to_version(stored: i64) -> rusqlite::Result<u64> {
    u64::try_from(stored).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, stored))
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
        conn.busy_timeout(Duration::from_secs(8))?;
        let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS records (
                 id      TEXT    PRIMARY KEY,
                 value   INTEGER NOT NULL,
                 version INTEGER NOT NULL
             )",
            [],
        )?;
        Ok(Self { conn })
    }

    /// Creates the record `id` with `value` at version 1.
    ///
    /// # Errors
    /// [`InsertError::AlreadyExists`] if `id` is taken (the record keeps its
    /// value and version).
    pub fn insert(&self, id: &str, value: i64) -> Result<(), InsertError> {
        // ON CONFLICT DO NOTHING: a taken id changes no row, whoever took it
        // and however concurrently.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO records (id, value, version) VALUES (?1, ?2, 1)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![id, value])?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(InsertError::AlreadyExists)
        }
    }

    /// The record `id` with its current version, or `None` if there is none.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
        let read = self
            .conn
            .prepare_cached("SELECT value, version FROM records WHERE id = ?1")?
            .query_row([id], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .optional()?;
        read.map(|(value, version)| Ok(Versioned { value, version: to_version(version)? }))
            .transpose()
    }

    /// One compare-and-set; on a loss, the record as it is now.
    fn attempt(&self, id: &str, expected_version: u64, new_value: i64) -> rusqlite::Result<Attempt> {
        if let Ok(expected) = i64::try_from(expected_version) {
            let won: Option<i64> = self
                .conn
                .prepare_cached(
                    "UPDATE records SET value = ?1, version = version + 1
                     WHERE id = ?2 AND version = ?3 RETURNING version",
                )?
                .query_row(params![new_value, id, expected], |row| row.get(0))
                .optional()?;
            if let Some(version) = won {
                return Ok(Attempt::Won(to_version(version)?));
            }
        }
        Ok(match self.get(id)? {
            Some(now) => Attempt::Lost(now),
            None => Attempt::Missing,
        })
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
        match self.attempt(id, expected_version, new_value)? {
            Attempt::Won(version) => Ok(version),
            Attempt::Lost(now) => Err(UpdateError::Conflict {
                current_version: now.version,
            }),
            Attempt::Missing => Err(UpdateError::NotFound),
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
        if max_attempts == 0 {
            panic!("update_with_retry: max_attempts must be at least 1");
        }
        let mut read = self.get(id)?.ok_or(RetryError::NotFound)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let value = f(read.value);
            match self.attempt(id, read.version, value)? {
                Attempt::Won(version) => return Ok(Versioned { value, version }),
                Attempt::Missing => return Err(RetryError::NotFound),
                Attempt::Lost(_) if attempts == max_attempts => {
                    return Err(RetryError::Conflict { attempts });
                }
                // The record as the conflict found it is the fresh read.
                Attempt::Lost(now) => read = now,
            }
        }
    }
}
