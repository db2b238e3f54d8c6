//! Wrong: records are kept for ever. The retention is stored and ignored:
//! `handle` replays (or refuses) a key however old its record, and `purge`
//! deletes nothing, so the table grows with every request ever made and a
//! client can never reuse a key.
//!
//! Why candidates write it: expiry feels like housekeeping for later, and
//! nothing fails until the disk fills up.
//!
//! Caught by: `a_key_expires_one_second_after_the_retention_period_and_can_be_used_again`,
//! `purge_deletes_exactly_the_records_expired_at_that_time` and
//! `agrees_with_a_model_of_keys_and_stored_responses`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use idempotency_keys_solution::{IdemError, Outcome, Response, fingerprint};

#[derive(Debug)]
pub struct Idempotency {
    conn: Connection,
    retention: i64,
}

impl Idempotency {
    pub fn open(path: impl AsRef<Path>, retention: i64) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS idempotency_keys (
                 key         TEXT    PRIMARY KEY NOT NULL,
                 fingerprint INTEGER NOT NULL,
                 status      INTEGER NOT NULL,
                 body        BLOB    NOT NULL,
                 stored_at   INTEGER NOT NULL
             );",
        )?;
        Ok(Idempotency { conn, retention })
    }

    pub fn handle<E>(
        &mut self,
        key: &str,
        body: &[u8],
        now: i64,
        effect: impl FnOnce(&Transaction<'_>) -> Result<Response, E>,
    ) -> Result<Outcome, IdemError<E>> {
        let fingerprint = fingerprint(body) as i64;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // BUG: a record is replayed however old it is.
        if let Some((stored_fingerprint, response, _stored_at)) = lookup(&tx, key)? {
            tx.commit()?;
            return answer(stored_fingerprint, fingerprint, response);
        }
        let response = effect(&tx).map_err(IdemError::Effect)?;
        store(&tx, key, fingerprint, &response, now)?;
        tx.commit()?;
        Ok(Outcome {
            response,
            replayed: false,
        })
    }

    pub fn purge(&mut self, now: i64) -> rusqlite::Result<usize> {
        // BUG: nothing ever expires.
        let _ = (now, self.retention);
        Ok(0)
    }
}

fn lookup(conn: &Connection, key: &str) -> rusqlite::Result<Option<(i64, Response, i64)>> {
    conn.query_row(
        "SELECT fingerprint, status, body, stored_at FROM idempotency_keys WHERE key = ?1",
        params![key],
        |row| {
            Ok((
                row.get(0)?,
                Response {
                    status: row.get(1)?,
                    body: row.get(2)?,
                },
                row.get(3)?,
            ))
        },
    )
    .optional()
}

fn answer<E>(
    stored_fingerprint: i64,
    fingerprint: i64,
    response: Response,
) -> Result<Outcome, IdemError<E>> {
    if stored_fingerprint == fingerprint {
        Ok(Outcome {
            response,
            replayed: true,
        })
    } else {
        Err(IdemError::Conflict)
    }
}

fn store(
    conn: &Connection,
    key: &str,
    fingerprint: i64,
    response: &Response,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO idempotency_keys (key, fingerprint, status, body, stored_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key, fingerprint, response.status, response.body, now],
    )?;
    Ok(())
}
