//! Wrong: the effect commits in its own transaction, and the idempotency
//! record is written afterwards in a second one. A crash between the two
//! commits (here: the connection can no longer write) leaves the charge
//! without its record, and the client's retry charges again.
//!
//! Why candidates write it: "only record the response once the effect has
//! really happened" sounds careful, and on the happy path it is
//! indistinguishable from the right answer.
//!
//! Caught by: `followup_a_crash_between_the_effect_and_its_record_commits_neither`.

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
        if let Some((stored_fingerprint, response, stored_at)) = lookup(&tx, key)? {
            if now - stored_at <= self.retention {
                tx.commit()?;
                return answer(stored_fingerprint, fingerprint, response);
            }
        }
        let response = effect(&tx).map_err(IdemError::Effect)?;
        tx.commit()?;
        // BUG: a second transaction; a crash before it double-applies on retry.
        store(&self.conn, key, fingerprint, &response, now)?;
        Ok(Outcome {
            response,
            replayed: false,
        })
    }

    pub fn purge(&mut self, now: i64) -> rusqlite::Result<usize> {
        self.conn.execute(
            "DELETE FROM idempotency_keys WHERE stored_at < ?1",
            params![now.saturating_sub(self.retention)],
        )
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
