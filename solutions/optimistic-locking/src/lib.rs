//! Reference solution of the optimistic-locking kata: a versioned record
//! store on SQLite.
//!
//! Every record carries a version. An update names the version it was based
//! on and succeeds only if that is still the current one; the comparison is
//! part of the `UPDATE` statement itself (`WHERE id = ? AND version = ?`), so
//! SQLite makes check and write one atomic step, whatever other connections
//! do between our statements. The number of rows changed says who won.
//!
//! The statements of `get` and `update` go through the connection's
//! statement cache (`prepare_cached`): SQLite compiles each one once per
//! connection instead of on every call.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

/// How long a statement waits for another connection's write lock before
/// failing with `SQLITE_BUSY` ("database is locked").
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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

/// SQLite stores versions as `INTEGER` (i64); they start at 1 and only grow.
fn to_version(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the store in the SQLite file at `path`,
    /// with the table `records(id TEXT PRIMARY KEY, value INTEGER NOT NULL,
    /// version INTEGER NOT NULL)`.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        // Wait for another connection's write instead of failing at once.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer nor the writer them, and with
        // synchronous = NORMAL a commit is an append without an fsync.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (
                 id      TEXT    PRIMARY KEY,
                 value   INTEGER NOT NULL,
                 version INTEGER NOT NULL
             )",
        )?;
        Ok(Store { conn })
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
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Err(InsertError::AlreadyExists)
            }
            Err(e) => Err(InsertError::Database(e)),
        }
    }

    /// The record `id` with its current version, or `None` if there is none.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
        self.conn
            .prepare_cached("SELECT value, version FROM records WHERE id = ?1")?
            .query_row(params![id], |row| {
                Ok(Versioned {
                    value: row.get(0)?,
                    version: to_version(row.get(1)?),
                })
            })
            .optional()
    }

    /// Writes `new_value` to `id` if the record is still at
    /// `expected_version`, and returns the new version (`expected_version +
    /// 1`).
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
        // A version SQLite cannot hold cannot be the current one.
        let Ok(expected) = i64::try_from(expected_version) else {
            return Err(self.why_not_updated(id));
        };
        // Compare and write in one statement: no other connection can commit
        // between the check and the write.
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE records SET value = ?1, version = version + 1
                  WHERE id = ?2 AND version = ?3",
            )?
            .execute(params![new_value, id, expected])?;
        if changed == 1 {
            Ok(expected_version + 1)
        } else {
            Err(self.why_not_updated(id))
        }
    }

    /// After an update changed no row: was the record missing or stale?
    fn why_not_updated(&self, id: &str) -> UpdateError {
        match self.get(id) {
            Ok(Some(current)) => UpdateError::Conflict {
                current_version: current.version,
            },
            Ok(None) => UpdateError::NotFound,
            Err(e) => UpdateError::Database(e),
        }
    }

    /// Read-modify-write with optimistic retries: reads `id`, computes
    /// `f(value)`, and updates with the version it read; on a conflict it
    /// reads again and calls `f` again, making at most `max_attempts`
    /// attempts in all. `f` runs once per attempt, on the freshly read value,
    /// and no lock or transaction is held while it runs.
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
        Err(RetryError::Conflict {
            attempts: max_attempts,
        })
    }
}
