//! # Idempotency keys
//!
//! Retry-safe POST for a payments API, on SQLite. Read `README.md` beside
//! this file for the problem, then make the specification pass:
//!
//! ```text
//! cargo xtask kata idempotency-keys
//! ```
//!
//! Time is always passed in (`now`, unix seconds): never read the clock
//! inside, so that the spec can place a request exactly on the retention
//! boundary.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::path::Path;

use rusqlite::Transaction;

/// The response to a request: what the effect answered the first time, and
/// what every retry with the same key and body gets back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// The HTTP status code, for example `201`.
    pub status: u16,
    /// The response body.
    pub body: Vec<u8>,
}

/// What [`Idempotency::handle`] answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// The response: fresh from the effect, or the stored one.
    pub response: Response,
    /// `true` if the response was replayed from an earlier request with the
    /// same key and body (the effect did not run); `false` if the effect ran.
    pub replayed: bool,
}

/// Why a request was not answered.
#[derive(Debug)]
pub enum IdemError<E> {
    /// The key was already used, within the retention period, with a
    /// different body. Nothing ran; HTTP answers `422` (or `409`).
    Conflict,
    /// The effect failed. Nothing was committed, neither the effect's writes
    /// nor a record of the key, so a retry runs the effect again.
    Effect(E),
    /// The database failed. Nothing was committed.
    Database(rusqlite::Error),
}

impl<E> From<rusqlite::Error> for IdemError<E> {
    fn from(error: rusqlite::Error) -> Self {
        IdemError::Database(error)
    }
}

impl<E: fmt::Display> fmt::Display for IdemError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdemError::Conflict => {
                f.write_str("the idempotency key was already used with a different request body")
            }
            IdemError::Effect(error) => write!(f, "the effect failed: {error}"),
            IdemError::Database(error) => write!(f, "database error: {error}"),
        }
    }
}

impl<E: Error + 'static> Error for IdemError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            IdemError::Conflict => None,
            IdemError::Effect(error) => Some(error),
            IdemError::Database(error) => Some(error),
        }
    }
}

/// The fingerprint of a request body: 64-bit FNV-1a.
///
/// Offset basis `0xcbf29ce484222325`; for each byte, XOR it into the hash,
/// then multiply by the prime `0x100000001b3`, wrapping.
pub fn fingerprint(body: &[u8]) -> u64 {
    todo!("64-bit FNV-1a of `body`")
}

/// The idempotency layer of a service, on one SQLite connection.
///
/// Open one per thread (or per request handler): several may share one
/// database file, and SQLite serialises their requests.
#[derive(Debug)]
pub struct Idempotency {
    // Your fields here (a `rusqlite::Connection`, the retention, ...).
}

impl Idempotency {
    /// Opens (creating if needed) the idempotency records in the SQLite
    /// database at `path`. Records are kept for `retention` seconds: a record
    /// stored at `t` is replayed up to and including `t + retention`.
    ///
    /// Other tables in the same file belong to the effects: leave them alone.
    pub fn open(path: impl AsRef<Path>, retention: i64) -> rusqlite::Result<Self> {
        todo!(
            "open the connection, set it up for several connections on one file, create your table"
        )
    }

    /// Handles one request with idempotency key `key` and body `body` at
    /// `now` (unix seconds).
    ///
    /// - A key not seen within the retention period: `effect` runs inside
    ///   the transaction that then stores the key, the body's fingerprint
    ///   and the response; all commit together. `replayed: false`.
    /// - The same key and the same body: the stored response, and `effect`
    ///   does not run. `replayed: true`.
    /// - The same key and another body: [`IdemError::Conflict`].
    ///
    /// If `effect` fails or panics, or the record cannot be stored, nothing
    /// is committed. A concurrent request with the same key waits for this
    /// one to commit, then replays its response.
    pub fn handle<E>(
        &mut self,
        key: &str,
        body: &[u8],
        now: i64,
        effect: impl FnOnce(&Transaction<'_>) -> Result<Response, E>,
    ) -> Result<Outcome, IdemError<E>> {
        todo!(
            "one transaction: look the key up, replay or conflict, or run the effect and store its response"
        )
    }

    /// Deletes every record that has expired at `now` (stored before
    /// `now - retention`) and returns how many it deleted.
    pub fn purge(&mut self, now: i64) -> rusqlite::Result<usize> {
        todo!("delete the expired records")
    }
}
