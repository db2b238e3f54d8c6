//! The shortener on SQLite.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::{
    CODE_LEN, CODE_SPACE, Code, MAX_ATTEMPTS, ResolveError, ShortenError, Strategy, base62, url,
};

/// How long a connection waits for another one's write lock before it
/// reports `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `urls.id` is the counter strategy's counter: `AUTOINCREMENT` never hands
/// out an id twice, even after the last row is deleted. `code` is `NULL`
/// only inside the transaction that inserts a counter row. Clicks are indexed
/// by code then time, which is how they are counted.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS urls (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT UNIQUE,
        url  TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS clicks (
        code TEXT NOT NULL,
        at   INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS clicks_by_code_and_time ON clicks (code, at);
";

/// The shortening service over one SQLite connection.
///
/// Any number of shorteners, each with its own connection, may share one
/// database file: they never issue one code twice, and under the hash
/// strategy they agree on the code of a URL.
#[derive(Debug)]
pub struct Shortener {
    conn: Connection,
    strategy: Strategy,
}

impl Shortener {
    /// Opens (or creates) the database at `path` and its schema.
    pub fn open(path: impl AsRef<Path>, strategy: Strategy) -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open(path)?, strategy)
    }

    /// Uses `conn` (a file, or `Connection::open_in_memory()` for tests),
    /// creating the schema if it is not there.
    pub fn with_connection(conn: Connection, strategy: Strategy) -> rusqlite::Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers do not wait for the writer, and a commit appends to
        // the log instead of rewriting pages. (An in-memory database answers
        // "memory" and stays so.)
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Shortener { conn, strategy })
    }

    /// A code for `url`. Under [`Strategy::Counter`], a new one on every
    /// call; under a hash strategy, the URL's code, the same on every call
    /// and every shortener of the database.
    ///
    /// The whole decision runs in one `IMMEDIATE` transaction: it takes the
    /// write lock before reading, so no other connection can take the same
    /// code between the check and the insert.
    pub fn shorten(&mut self, url: &str) -> Result<Code, ShortenError> {
        url::validate(url)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let code = match self.strategy.hasher() {
            None => next_counter_code(&tx, url)?,
            Some(hash) => hashed_code(&tx, url, hash)?,
        };
        tx.commit()?;
        Ok(Code(code))
    }

    /// The URL `code` stands for.
    pub fn resolve(&self, code: &str) -> Result<String, ResolveError> {
        check_code(code)?;
        self.conn
            .prepare_cached("SELECT url FROM urls WHERE code = ?1")?
            .query_row([code], |row| row.get(0))
            .optional()?
            .ok_or(ResolveError::NotFound)
    }

    /// Records a click on `code` at `at` (unix seconds, at most `i64::MAX`).
    pub fn click(&mut self, code: &str, at: u64) -> Result<(), ResolveError> {
        check_code(code)?;
        let at = i64::try_from(at).map_err(|e| {
            ResolveError::Database(rusqlite::Error::ToSqlConversionFailure(e.into()))
        })?;
        // One statement: the click is recorded only if the code exists.
        let recorded = self
            .conn
            .prepare_cached(
                "INSERT INTO clicks (code, at) SELECT code, ?2 FROM urls WHERE code = ?1",
            )?
            .execute(params![code, at])?;
        if recorded == 0 {
            return Err(ResolveError::NotFound);
        }
        Ok(())
    }

    /// Clicks on `code` from `from` (included) to `to` (excluded), counted
    /// per bucket of `bucket_seconds`: bucket `i` starts at
    /// `from + i × bucket_seconds` and holds the clicks with
    /// `start <= at < start + bucket_seconds` (the last one is cut short at
    /// `to`). Every bucket is listed, in order, empty ones with a count of 0;
    /// none if `to <= from`.
    ///
    /// # Panics
    /// If `bucket_seconds` is zero.
    pub fn clicks(
        &self,
        code: &str,
        from: u64,
        to: u64,
        bucket_seconds: u64,
    ) -> Result<Vec<(u64, u64)>, ResolveError> {
        assert!(bucket_seconds > 0, "a bucket must last at least one second");
        check_code(code)?;
        let known = self
            .conn
            .prepare_cached("SELECT 1 FROM urls WHERE code = ?1")?
            .exists([code])?;
        if !known {
            return Err(ResolveError::NotFound);
        }
        if to <= from {
            return Ok(Vec::new());
        }
        let buckets = (to - from).div_ceil(bucket_seconds);
        let mut counts: Vec<(u64, u64)> = (0..buckets)
            .map(|i| (from + i * bucket_seconds, 0))
            .collect();
        // Times are stored as SQLite integers (i64): past i64::MAX there is
        // nothing to count.
        let Ok(first) = i64::try_from(from) else {
            return Ok(counts);
        };
        let last = i64::try_from(to - 1).unwrap_or(i64::MAX);
        let width = i64::try_from(bucket_seconds).unwrap_or(i64::MAX);
        let mut statement = self.conn.prepare_cached(
            "SELECT (at - ?2) / ?4, COUNT(*) FROM clicks
             WHERE code = ?1 AND at >= ?2 AND at <= ?3
             GROUP BY 1",
        )?;
        let rows = statement.query_map(params![code, first, last, width], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (bucket, count) = row?;
            let slot = usize::try_from(bucket)
                .ok()
                .and_then(|bucket| counts.get_mut(bucket));
            if let (Some(slot), Ok(count)) = (slot, u64::try_from(count)) {
                slot.1 = count;
            }
        }
        Ok(counts)
    }
}

/// A new row, and the code of its id.
fn next_counter_code(tx: &Transaction<'_>, url: &str) -> Result<String, ShortenError> {
    tx.prepare_cached("INSERT INTO urls (url) VALUES (?1)")?
        .execute([url])?;
    let id = tx.last_insert_rowid();
    let number = u64::try_from(id).unwrap_or(u64::MAX);
    if number >= CODE_SPACE {
        // Dropping the transaction rolls the row back.
        return Err(ShortenError::Exhausted);
    }
    let code = base62::encode(number);
    tx.prepare_cached("UPDATE urls SET code = ?1 WHERE id = ?2")?
        .execute(params![code, id])?;
    Ok(code)
}

/// The first of the URL's candidate codes that is free or already its own.
fn hashed_code(
    tx: &Transaction<'_>,
    url: &str,
    hash: fn(&[u8]) -> u64,
) -> Result<String, ShortenError> {
    for attempt in 0..MAX_ATTEMPTS {
        let code = candidate(url, attempt, hash);
        let holder: Option<String> = tx
            .prepare_cached("SELECT url FROM urls WHERE code = ?1")?
            .query_row([&code], |row| row.get(0))
            .optional()?;
        match holder {
            None => {
                tx.prepare_cached("INSERT INTO urls (code, url) VALUES (?1, ?2)")?
                    .execute(params![code, url])?;
                return Ok(code);
            }
            Some(holder) if holder == url => return Ok(code),
            Some(_) => {}
        }
    }
    Err(ShortenError::Exhausted)
}

/// The URL's code at `attempt`: the hash of the URL itself first, then of
/// the URL followed by a space and the attempt number (a valid URL has no
/// space, so no salted input is another URL).
fn candidate(url: &str, attempt: u32, hash: fn(&[u8]) -> u64) -> String {
    let digest = if attempt == 0 {
        hash(url.as_bytes())
    } else {
        hash(format!("{url} {attempt}").as_bytes())
    };
    base62::encode(digest % CODE_SPACE)
}

/// A code this service could have issued: [`CODE_LEN`] alphabet digits.
fn check_code(code: &str) -> Result<(), ResolveError> {
    if code.len() == CODE_LEN && base62::decode(code).is_some() {
        Ok(())
    } else {
        Err(ResolveError::Invalid)
    }
}
