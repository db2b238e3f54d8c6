//! # Optimistic locking
//!
//! A versioned record store on SQLite: every record carries a version, and
//! an update names the version it read, so that a writer working from a
//! stale read gets a conflict instead of silently overwriting someone
//! else's write. Read `README.md` beside this file for the problem, then make
//! the specification pass:
//!
//! ```text
//! cargo xtask kata optimistic-locking
//! ```
//!
//! The table is part of the API (reports and other services read it, and the
//! spec writes to it directly, as another service would):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS records (
//!     id      TEXT    PRIMARY KEY,
//!     value   INTEGER NOT NULL,
//!     version INTEGER NOT NULL
//! );
//! ```
//!
//! Several `Store`s (connections) open the same file at once, one per
//! thread: another connection may write between any two of your statements.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::fmt;
use std::path::Path;

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
    // Your fields here: what does a store need to talk to SQLite?
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
        todo!("Store::open: open the connection, set up busy handling, create the table")
    }

    /// Creates the record `id` with `value` at version 1.
    ///
    /// # Errors
    /// [`InsertError::AlreadyExists`] if `id` is taken (the record keeps its
    /// value and version).
    pub fn insert(&self, id: &str, value: i64) -> Result<(), InsertError> {
        todo!("Store::insert: a new row at version 1; a taken id is AlreadyExists")
    }

    /// The record `id` with its current version, or `None` if there is none.
    ///
    /// # Errors
    /// Only if SQLite fails.
    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Versioned>> {
        todo!("Store::get: the value and version of one row")
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
        todo!("Store::update: compare the version and write in one statement; rows changed decide")
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
        f: F,
    ) -> Result<Versioned, RetryError>
    where
        F: FnMut(i64) -> i64,
    {
        todo!(
            "Store::update_with_retry: read, apply f, update; go round again on a conflict, a bounded number of times"
        )
    }
}
