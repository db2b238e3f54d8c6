//! Wrong: check, then act. The key is looked up on its own (autocommit),
//! and only then does the request open a transaction for the effect and the
//! record, which it upserts. Two concurrent duplicates both find no record,
//! and both charge.
//!
//! Why candidates write it: "if the key exists, return the stored response"
//! reads like the first line of the handler, and the transaction looks like
//! it only needs to cover the writes.
//!
//! Caught by: `a_concurrent_duplicate_waits_for_the_first_request_and_replays_its_response`
//! (every time: the duplicate looks the key up while the first request's
//! effect is still running). The stress test
//! `followup_concurrent_duplicates_from_several_connections_run_each_effect_exactly_once`
//! catches it only when the scheduler happens to hit the gap.

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
        // BUG: the lookup is outside the transaction that writes.
        if let Some((stored_fingerprint, response, stored_at)) = lookup(&self.conn, key)? {
            if now - stored_at <= self.retention {
                return answer(stored_fingerprint, fingerprint, response);
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let response = effect(&tx).map_err(IdemError::Effect)?;
        store(&tx, key, fingerprint, &response, now)?;
        tx.commit()?;
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
