//! Wrong: each bucket counts its clicks with `at BETWEEN start AND end`,
//! which includes both ends: a click exactly on a boundary is counted in two
//! buckets, and a click exactly at `to` is counted although `to` is
//! excluded.
//!
//! Why candidates write it: `BETWEEN` reads like "in this bucket", and a
//! demo with clicks at random seconds rarely lands on a boundary. Real
//! traffic does (minute buckets and clicks stored in whole seconds), and the
//! dashboard's total is then larger than the number of clicks.
//!
//! Caught by: `counts_clicks_per_bucket`,
//! `a_click_on_a_bucket_boundary_counts_in_the_bucket_it_starts` and
//! `clicks_per_bucket_agree_with_a_list_of_every_click`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use url_shortener_solution::{
    CODE_LEN, CODE_SPACE, MAX_ATTEMPTS, MAX_URL_LEN, ResolveError, ShortenError, Strategy, base62,
    fnv1a_64,
};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS urls (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT UNIQUE,
        url  TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS clicks (code TEXT NOT NULL, at INTEGER NOT NULL);
";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(String);

impl Code {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug)]
pub struct Shortener {
    conn: Connection,
    strategy: Strategy,
}

impl Shortener {
    pub fn open(path: impl AsRef<Path>, strategy: Strategy) -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open(path)?, strategy)
    }

    pub fn with_connection(conn: Connection, strategy: Strategy) -> rusqlite::Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Shortener { conn, strategy })
    }

    pub fn shorten(&mut self, url: &str) -> Result<Code, ShortenError> {
        validate(url)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let code = match self.strategy {
            Strategy::Counter => counter_code(&tx, url)?,
            Strategy::Hash => hashed_code(&tx, url, fnv1a_64)?,
            Strategy::HashWith(hash) => hashed_code(&tx, url, hash)?,
        };
        tx.commit()?;
        Ok(Code(code))
    }

    pub fn resolve(&self, code: &str) -> Result<String, ResolveError> {
        check_code(code)?;
        self.conn
            .query_row("SELECT url FROM urls WHERE code = ?1", [code], |row| {
                row.get(0)
            })
            .optional()?
            .ok_or(ResolveError::NotFound)
    }

    pub fn click(&mut self, code: &str, at: u64) -> Result<(), ResolveError> {
        check_code(code)?;
        let recorded = self.conn.execute(
            "INSERT INTO clicks (code, at) SELECT code, ?2 FROM urls WHERE code = ?1",
            params![code, at as i64],
        )?;
        if recorded == 0 {
            return Err(ResolveError::NotFound);
        }
        Ok(())
    }

    pub fn clicks(
        &self,
        code: &str,
        from: u64,
        to: u64,
        bucket_seconds: u64,
    ) -> Result<Vec<(u64, u64)>, ResolveError> {
        assert!(bucket_seconds > 0, "a bucket must last at least one second");
        self.resolve(code)?;
        let mut buckets = Vec::new();
        let mut start = from;
        while start < to {
            let end = (start + bucket_seconds).min(to);
            // BUG: BETWEEN includes `end`, which is the next bucket's start
            // (or `to`, which is excluded). Use `at >= start AND at < end`.
            let count: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM clicks WHERE code = ?1 AND at BETWEEN ?2 AND ?3",
                params![code, start as i64, end as i64],
                |row| row.get(0),
            )?;
            buckets.push((start, count as u64));
            start += bucket_seconds;
        }
        Ok(buckets)
    }
}

fn counter_code(tx: &Transaction<'_>, url: &str) -> Result<String, ShortenError> {
    tx.execute("INSERT INTO urls (url) VALUES (?1)", [url])?;
    let id = tx.last_insert_rowid();
    let code = base62::encode(id as u64);
    tx.execute("UPDATE urls SET code = ?1 WHERE id = ?2", params![code, id])?;
    Ok(code)
}

fn hashed_code(
    tx: &Transaction<'_>,
    url: &str,
    hash: fn(&[u8]) -> u64,
) -> Result<String, ShortenError> {
    for attempt in 0..MAX_ATTEMPTS {
        let code = candidate(url, attempt, hash);
        let holder: Option<String> = tx
            .query_row("SELECT url FROM urls WHERE code = ?1", [&code], |row| {
                row.get(0)
            })
            .optional()?;
        match holder {
            None => {
                tx.execute(
                    "INSERT INTO urls (code, url) VALUES (?1, ?2)",
                    params![code, url],
                )?;
                return Ok(code);
            }
            Some(holder) if holder == url => return Ok(code),
            Some(_) => {}
        }
    }
    Err(ShortenError::Exhausted)
}

/// The URL's code at `attempt`: the URL, then the URL, a space and the
/// attempt number.
fn candidate(url: &str, attempt: u32, hash: fn(&[u8]) -> u64) -> String {
    let digest = if attempt == 0 {
        hash(url.as_bytes())
    } else {
        hash(format!("{url} {attempt}").as_bytes())
    };
    base62::encode(digest % CODE_SPACE)
}

fn check_code(code: &str) -> Result<(), ResolveError> {
    if code.len() == CODE_LEN && base62::decode(code).is_some() {
        Ok(())
    } else {
        Err(ResolveError::Invalid)
    }
}

fn validate(url: &str) -> Result<(), ShortenError> {
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ShortenError::InvalidUrl("too long, or whitespace"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(ShortenError::InvalidUrl("no scheme"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(ShortenError::InvalidUrl("not http or https"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err(ShortenError::InvalidUrl("no host"));
    }
    Ok(())
}
