//! Right: claim first, then act, inside one `BEGIN IMMEDIATE` transaction. The request deletes its own
//! key's record if it has expired, then *claims* the key with
//! `INSERT ... ON CONFLICT (key) DO NOTHING` (a row with the fingerprint and no response yet). One row
//! inserted: the key is new, the effect runs and the response is filled in by an UPDATE before the single
//! commit. No row inserted: the record is read back and replayed or refused. The fingerprint is stored as
//! 16 hex digits (TEXT) instead of a reinterpreted i64, expiry is computed as a cutoff in i128 (no
//! overflow at any `now` or retention), and every statement is a cached prepared statement.

use std::error::Error;
use std::fmt;
use std::path::Path;

use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

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

/// Which records have expired at some `now`: those stored before a cutoff.
enum Expired {
    None,
    StoredBefore(i64),
    All,
}

fn expired_at(now: i64, retention: i64) -> Expired {
    // Expired means now - stored_at > retention, i.e. stored_at < now - retention.
    let cutoff = i128::from(now) - i128::from(retention);
    if cutoff <= i128::from(i64::MIN) {
        Expired::None
    } else if cutoff > i128::from(i64::MAX) {
        Expired::All
    } else {
        Expired::StoredBefore(cutoff as i64)
    }
}

impl Expired {
    /// A SQL condition on `stored_at` and the bound value for `?n`.
    fn condition(&self, n: usize) -> (String, i64) {
        match self {
            Expired::None => ("0".to_owned(), 0),
            Expired::All => ("1".to_owned(), 0),
            Expired::StoredBefore(cutoff) => (format!("stored_at < ?{n}"), *cutoff),
        }
    }
}

impl Idempotency {
    /// Opens (creating if needed) the idempotency records in the SQLite
    /// database at `path`. Records are kept for `retention` seconds: a record
    /// stored at `t` is replayed up to and including `t + retention`.
    ///
    /// Other tables in the same file belong to the effects: leave them alone.
    pub fn open(path: impl AsRef<Path>, retention: i64) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(15))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS idem_requests (
                 key         TEXT    NOT NULL PRIMARY KEY,
                 fingerprint TEXT    NOT NULL,
                 stored_at   INTEGER NOT NULL,
                 status      INTEGER,
                 response    BLOB
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS idem_requests_by_time ON idem_requests (stored_at);",
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
        let fp = format!("{:016x}", fingerprint(body));
        let (expired, cutoff) = expired_at(now, self.retention).condition(2);
        // Any early return (error, panic, replay, conflict) drops the
        // transaction uncommitted: rolled back.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(&format!(
            "DELETE FROM idem_requests WHERE key = ?1 AND ({expired}) AND ?2 = ?2"
        ))?
        .execute(params![key, cutoff])?;
        let claimed = tx
            .prepare_cached(
                "INSERT INTO idem_requests (key, fingerprint, stored_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO NOTHING",
            )?
            .execute(params![key, fp, now])?;
        if claimed == 0 {
            let (stored_fp, status, response): (String, i64, Vec<u8>) = tx
                .prepare_cached(
                    "SELECT fingerprint, status, response FROM idem_requests WHERE key = ?1",
                )?
                .query_row([key], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            if stored_fp != fp {
                return Err(IdemError::Conflict);
            }
            let status = u16::try_from(status)
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, status))?;
            return Ok(Outcome {
                response: Response {
                    status,
                    body: response,
                },
                replayed: true,
            });
        }
        let response = effect(&tx).map_err(IdemError::Effect)?;
        tx.prepare_cached("UPDATE idem_requests SET status = ?2, response = ?3 WHERE key = ?1")?
            .execute(params![key, response.status, response.body])?;
        tx.commit()?;
        Ok(Outcome {
            response,
            replayed: false,
        })
    }

    /// Deletes every record that has expired at `now` (stored before
    /// `now - retention`) and returns how many it deleted.
    pub fn purge(&mut self, now: i64) -> rusqlite::Result<usize> {
        let (expired, cutoff) = expired_at(now, self.retention).condition(1);
        self.conn
            .prepare_cached(&format!(
                "DELETE FROM idem_requests WHERE ({expired}) AND ?1 = ?1"
            ))?
            .execute([cutoff])
    }
}
