//! Bug: `handle` compares the fingerprint before it looks at the record's age: a key whose record
//! has expired, reused with a different body, is refused with `Conflict` instead of being treated
//! as a new key (the record is only ignored when the body matches).
//!
//! Why candidates write it: "same key, different body" is checked first because it is the error
//! case, and the expiry branch is added later for the replay path.
//!
//! Symptom: a client reusing a key from last week for a new charge gets 422 'key already used' although the key expired days ago
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference.
//!
//! Caught by: `a_key_expires_one_second_after_the_retention_period_and_can_be_used_again` and
//! `agrees_with_a_model_of_keys_and_stored_responses`.

use std::error::Error;
use std::fmt;
use std::path::Path;

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

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
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in body {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The idempotency layer of a service, on one SQLite connection.
///
/// Open one per thread (or per request handler): several may share one
/// database file, and SQLite serialises their requests.
#[derive(Debug)]
pub struct Idempotency {
    conn: Connection,
    retention: i64,
}

/// A stored record: fingerprint, response status, response body, stored at.
type Record = (i64, i64, Vec<u8>, i64);

impl Idempotency {
    /// Opens (creating if needed) the idempotency records in the SQLite
    /// database at `path`. Records are kept for `retention` seconds: a record
    /// stored at `t` is replayed up to and including `t + retention`.
    ///
    /// Other tables in the same file belong to the effects: leave them alone.
    pub fn open(path: impl AsRef<Path>, retention: i64) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS idempotency_keys (
                 key         TEXT    PRIMARY KEY,
                 fingerprint INTEGER NOT NULL,
                 status      INTEGER NOT NULL,
                 body        BLOB    NOT NULL,
                 stored_at   INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS idempotency_keys_stored_at
                 ON idempotency_keys (stored_at);",
        )?;
        Ok(Self { conn, retention })
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
        let fp = fingerprint(body) as i64;
        let retention = self.retention;
        let expired = |stored_at: i64| i128::from(now) - i128::from(stored_at) > i128::from(retention);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let record: Option<Record> = tx
            .query_row(
                "SELECT fingerprint, status, body, stored_at FROM idempotency_keys WHERE key = ?1",
                [key],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        if let Some((stored_fp, status, stored_body, stored_at)) = record {
            if stored_fp != fp {
                return Err(IdemError::Conflict);
            }
            if !expired(stored_at) {
                let status = u16::try_from(status)
                    .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, status))?;
                return Ok(Outcome {
                    response: Response {
                        status,
                        body: stored_body,
                    },
                    replayed: true,
                });
            }
            tx.execute("DELETE FROM idempotency_keys WHERE key = ?1", [key])?;
        }
        // Dropped without commit on an error or a panic: rolled back, effect and all.
        let response = effect(&tx).map_err(IdemError::Effect)?;
        tx.execute(
            "INSERT INTO idempotency_keys (key, fingerprint, status, body, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key, fp, response.status, response.body, now],
        )?;
        tx.commit()?;
        Ok(Outcome {
            response,
            replayed: false,
        })
    }

    /// Deletes every record that has expired at `now` (stored before
    /// `now - retention`) and returns how many it deleted.
    pub fn purge(&mut self, now: i64) -> rusqlite::Result<usize> {
        let cutoff = i128::from(now) - i128::from(self.retention);
        if cutoff <= i128::from(i64::MIN) {
            return Ok(0);
        }
        if cutoff > i128::from(i64::MAX) {
            return self.conn.execute("DELETE FROM idempotency_keys", []);
        }
        self.conn.execute(
            "DELETE FROM idempotency_keys WHERE stored_at < ?1",
            [cutoff as i64],
        )
    }
}
