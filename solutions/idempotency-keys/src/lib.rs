//! Reference solution of the idempotency-keys kata: retry-safe POST on
//! SQLite.
//!
//! One table, keyed by the idempotency key, holds each request's fingerprint,
//! its response and the time it was stored. Every request runs in one
//! `BEGIN IMMEDIATE` transaction: look the key up, run the effect, store the
//! record, commit. The write lock is taken before the lookup, so a concurrent
//! duplicate waits (busy timeout) until the first commits and then finds the
//! record; and the effect and its record commit together or not at all, so no
//! crash between them can make a retry apply the effect twice.
//!
//! The statements of `handle` go through the connection's statement cache
//! (`prepare_cached`): SQLite compiles each one once per connection instead
//! of on every call.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

/// How long a request waits for another connection's transaction to finish
/// before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    body.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
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

impl Idempotency {
    /// Opens (creating if needed) the idempotency records in the SQLite
    /// database at `path`. Records are kept for `retention` seconds: a record
    /// stored at `t` is replayed up to and including `t + retention`.
    pub fn open(path: impl AsRef<Path>, retention: i64) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer, and a commit is an append
        // (synced at checkpoints with synchronous = NORMAL), so each request
        // costs one cheap commit.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS idempotency_keys (
                 key         TEXT    PRIMARY KEY NOT NULL,
                 fingerprint INTEGER NOT NULL,
                 status      INTEGER NOT NULL,
                 body        BLOB    NOT NULL,
                 stored_at   INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS idempotency_keys_stored_at
                 ON idempotency_keys (stored_at);",
        )?;
        Ok(Idempotency { conn, retention })
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
        // The bits of the u64, stored as SQLite's signed 64-bit integer.
        let fingerprint = fingerprint(body) as i64;
        let oldest_kept = now.saturating_sub(self.retention);
        // IMMEDIATE: take the write lock before looking the key up, so that a
        // concurrent duplicate cannot also find it absent.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM idempotency_keys WHERE key = ?1 AND stored_at < ?2")?
            .execute(params![key, oldest_kept])?;
        let stored = tx
            .prepare_cached(
                "SELECT fingerprint, status, body FROM idempotency_keys WHERE key = ?1",
            )?
            .query_row(params![key], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    Response {
                        status: row.get(1)?,
                        body: row.get(2)?,
                    },
                ))
            })
            .optional()?;
        if let Some((stored_fingerprint, response)) = stored {
            // Nothing of ours changed but a possible delete of an expired
            // record, which is as good as committed or not.
            tx.commit()?;
            return if stored_fingerprint == fingerprint {
                Ok(Outcome {
                    response,
                    replayed: true,
                })
            } else {
                Err(IdemError::Conflict)
            };
        }
        // On an error (or a panic) `tx` is dropped, which rolls back the
        // effect's writes.
        let response = effect(&tx).map_err(IdemError::Effect)?;
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (key, fingerprint, status, body, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            key,
            fingerprint,
            response.status,
            response.body,
            now
        ])?;
        tx.commit()?;
        Ok(Outcome {
            response,
            replayed: false,
        })
    }

    /// Deletes every record that has expired at `now` (stored before
    /// `now - retention`) and returns how many it deleted.
    pub fn purge(&mut self, now: i64) -> rusqlite::Result<usize> {
        self.conn.execute(
            "DELETE FROM idempotency_keys WHERE stored_at < ?1",
            params![now.saturating_sub(self.retention)],
        )
    }
}
