//! Right: built differently from the obvious `urls(id AUTOINCREMENT, code UNIQUE, url)` table
//! with "insert, last_insert_rowid, update" and select-then-insert for hashes:
//! - codes live in a `WITHOUT ROWID` table keyed by the code itself (`codes(code PRIMARY KEY,
//!   url)`): resolving is one primary-key lookup in the clustered b-tree;
//! - the counter is its own one-row table bumped with a single atomic
//!   `UPDATE counter SET n = n + 1 RETURNING n`, so the number and the code are issued by the
//!   database, not the process;
//! - the hash strategy is insert-first: each attempt `INSERT ... ON CONFLICT(code) DO NOTHING`,
//!   and only when nothing was inserted does it read who holds the code (this URL: dedup; another:
//!   next attempt); all of it in one `BEGIN IMMEDIATE` transaction;
//! - clicks are counted per bucket by SQLite (`GROUP BY (at - from) / width`) over the
//!   `(code, at)` index, and the empty buckets filled in Rust;
//! - base62 encodes into a fixed 11-byte buffer from the end, and decodes with a 256-entry table;
//! - the URL check is a small hand-written scan of the authority, not string splitting.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The length of every code a shortener issues.
pub const CODE_LEN: usize = 7;

/// How many codes there are: 62⁷, about 3.5 trillion.
pub const CODE_SPACE: u64 = 62u64.pow(CODE_LEN as u32);

/// The longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// How many codes a hash strategy tries for one URL before it gives up
/// with [`ShortenError::Exhausted`].
pub const MAX_ATTEMPTS: u32 = 64;

/// Base62 numbers: the digits `0-9`, then `A-Z`, then `a-z`.
pub mod base62 {
    /// The 62 digits, in order: `0` is 0, `A` is 10, `a` is 36, `z` is 61.
    pub const ALPHABET: &[u8; 62] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// Digit value per byte, 255 for a byte outside the alphabet.
    const VALUES: [u8; 256] = {
        let mut t = [255u8; 256];
        let mut i = 0;
        while i < 62 {
            t[ALPHABET[i] as usize] = i as u8;
            i += 1;
        }
        t
    };

    /// Whether `c` is one of the 62 digits.
    pub(crate) fn is_digit(c: u8) -> bool {
        VALUES[c as usize] != 255
    }

    /// `n` in base 62, left-padded with `0` to 7 characters.
    pub fn encode(mut n: u64) -> String {
        let mut buf = [b'0'; 11];
        let mut start = buf.len();
        while n > 0 {
            start -= 1;
            buf[start] = ALPHABET[(n % 62) as usize];
            n /= 62;
        }
        let start = start.min(buf.len() - crate::CODE_LEN);
        String::from_utf8(buf[start..].to_vec()).expect("ASCII")
    }

    /// The number `s` encodes; `None` for empty, a foreign character, or overflow.
    pub fn decode(s: &str) -> Option<u64> {
        if s.is_empty() {
            return None;
        }
        s.bytes().try_fold(0u64, |n, c| {
            let d = VALUES[c as usize];
            if d == 255 {
                return None;
            }
            n.checked_mul(62)?.checked_add(u64::from(d))
        })
    }
}

/// FNV-1a, 64 bits.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h: u64, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// How codes are chosen. One database is used with one strategy.
#[derive(Debug, Clone, Copy)]
pub enum Strategy {
    /// The n-th URL shortened on a database gets `base62::encode(n)`, from 1.
    Counter,
    /// `Strategy::HashWith(fnv1a_64)`.
    Hash,
    /// First choice `base62::encode(hash(url) % CODE_SPACE)`, then salted retries.
    HashWith(fn(&[u8]) -> u64),
}

/// A short code: [`CODE_LEN`] characters of the [`base62`] alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(String);

impl Code {
    /// The code as text, for a link: `https://sho.rt/{code}`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS codes (
        code TEXT PRIMARY KEY NOT NULL,
        url  TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS counter (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        n   INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO counter (one, n) VALUES (1, 0);
    CREATE TABLE IF NOT EXISTS clicks (
        code TEXT NOT NULL,
        at   INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS clicks_code_at ON clicks (code, at);
";

/// Checks a URL by scanning it once.
fn check_url(url: &str) -> Result<(), &'static str> {
    let b = url.as_bytes();
    if b.len() > MAX_URL_LEN {
        return Err("longer than 2048 bytes");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace or control character");
    }
    let after_scheme = if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return Err("the scheme must be http:// or https://");
    };
    // The authority ends at the first '/', '?' or '#'.
    let authority = &b[after_scheme..];
    let end = authority.iter().position(|c| matches!(c, b'/' | b'?' | b'#')).unwrap_or(authority.len());
    let authority = &authority[..end];
    // Without "user@".
    let host_start = authority.iter().rposition(|&c| c == b'@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    // Without ":port" (an IPv6 literal keeps its colons inside brackets).
    let host_len = if host_port.first() == Some(&b'[') {
        host_port.iter().position(|&c| c == b']').map_or(host_port.len(), |i| i + 1)
    } else {
        host_port.iter().position(|&c| c == b':').unwrap_or(host_port.len())
    };
    if host_len == 0 {
        return Err("no host");
    }
    Ok(())
}

fn well_formed(code: &str) -> Result<(), ResolveError> {
    let ok = code.len() == CODE_LEN && code.bytes().all(base62::is_digit);
    if ok { Ok(()) } else { Err(ResolveError::Invalid) }
}

/// The shortening service over one SQLite connection.
#[derive(Debug)]
pub struct Shortener {
    conn: Connection,
    strategy: Strategy,
}

impl Shortener {
    /// Opens (or creates) the database at `path` and creates its schema if
    /// it is not there.
    pub fn open(path: impl AsRef<Path>, strategy: Strategy) -> rusqlite::Result<Self> {
        Self::with_connection(Connection::open(path)?, strategy)
    }

    /// Uses `conn`, creating the schema if it is not there.
    pub fn with_connection(conn: Connection, strategy: Strategy) -> rusqlite::Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"))?;
        Ok(Shortener { conn, strategy })
    }

    /// A code for `url`, after checking the URL.
    pub fn shorten(&mut self, url: &str) -> Result<Code, ShortenError> {
        check_url(url).map_err(ShortenError::InvalidUrl)?;
        let hash = match self.strategy {
            Strategy::Counter => fnv1a_64, // unused
            Strategy::Hash => fnv1a_64,
            Strategy::HashWith(h) => h,
        };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Strategy::Counter = self.strategy {
            let n: i64 = tx.query_row("UPDATE counter SET n = n + 1 WHERE one = 1 RETURNING n", [], |r| r.get(0))?;
            let code = base62::encode(n as u64);
            tx.execute("INSERT INTO codes (code, url) VALUES (?1, ?2)", [&code, url])?;
            tx.commit()?;
            return Ok(Code(code));
        }
        let mut salted = String::with_capacity(url.len() + 4);
        for attempt in 0..MAX_ATTEMPTS {
            let h = if attempt == 0 {
                hash(url.as_bytes())
            } else {
                use std::fmt::Write;
                salted.clear();
                let _ = write!(salted, "{url} {attempt}");
                hash(salted.as_bytes())
            };
            let code = base62::encode(h % CODE_SPACE);
            let inserted = tx.execute(
                "INSERT INTO codes (code, url) VALUES (?1, ?2) ON CONFLICT (code) DO NOTHING",
                [&code, url],
            )?;
            if inserted == 1 {
                tx.commit()?;
                return Ok(Code(code));
            }
            let holder: String = tx.query_row("SELECT url FROM codes WHERE code = ?1", [&code], |r| r.get(0))?;
            if holder == url {
                return Ok(Code(code));
            }
        }
        Err(ShortenError::Exhausted)
    }

    /// The URL `code` stands for, exactly as it was shortened.
    pub fn resolve(&self, code: &str) -> Result<String, ResolveError> {
        well_formed(code)?;
        let mut stmt = self.conn.prepare_cached("SELECT url FROM codes WHERE code = ?1")?;
        stmt.query_row([code], |r| r.get(0)).optional()?.ok_or(ResolveError::NotFound)
    }

    /// Records a click on `code` at `at` (unix seconds).
    pub fn click(&mut self, code: &str, at: u64) -> Result<(), ResolveError> {
        well_formed(code)?;
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO clicks (code, at) SELECT code, ?2 FROM codes WHERE code = ?1")?;
        match stmt.execute(params![code, at])? {
            0 => Err(ResolveError::NotFound),
            _ => Ok(()),
        }
    }

    /// Clicks on `code` in `[from, to)`, per bucket of `bucket_seconds`.
    pub fn clicks(
        &self,
        code: &str,
        from: u64,
        to: u64,
        bucket_seconds: u64,
    ) -> Result<Vec<(u64, u64)>, ResolveError> {
        assert_ne!(bucket_seconds, 0, "bucket_seconds is zero");
        self.resolve(code)?;
        let span = to.saturating_sub(from);
        let count = span.div_ceil(bucket_seconds);
        let mut buckets: Vec<(u64, u64)> = (0..count).map(|i| (from + i * bucket_seconds, 0)).collect();
        // Clicks are stored as i64, at most i64::MAX: nothing lies at or past a larger `from`.
        let Ok(lo) = i64::try_from(from) else {
            return Ok(buckets);
        };
        if span == 0 {
            return Ok(buckets);
        }
        // Past i64::MAX `to` excludes nothing: bound by `at <= i64::MAX` instead.
        let (sql, hi) = match i64::try_from(to) {
            Ok(hi) => ("SELECT (at - ?2) / ?4, COUNT(*) FROM clicks WHERE code = ?1 AND at >= ?2 AND at < ?3 GROUP BY 1", hi),
            Err(_) => ("SELECT (at - ?2) / ?4, COUNT(*) FROM clicks WHERE code = ?1 AND at >= ?2 AND at <= ?3 GROUP BY 1", i64::MAX),
        };
        // A width past i64::MAX puts every stored click (at - from <= i64::MAX) in bucket 0.
        let width = i64::try_from(bucket_seconds).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![code, lo, hi, width])?;
        while let Some(row) = rows.next()? {
            let index: i64 = row.get(0)?;
            let n: i64 = row.get(1)?;
            let index = if bucket_seconds > i64::MAX as u64 { 0 } else { index as usize };
            buckets[index].1 += n as u64;
        }
        Ok(buckets)
    }
}

/// Why a URL was not shortened.
#[derive(Debug)]
pub enum ShortenError {
    /// The URL is not one the service shortens; the text says why.
    InvalidUrl(&'static str),
    /// Every code the strategy may use for this URL ([`MAX_ATTEMPTS`] of
    /// them) is taken by other URLs.
    Exhausted,
    /// The database failed.
    Database(rusqlite::Error),
}

impl fmt::Display for ShortenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShortenError::InvalidUrl(reason) => write!(f, "invalid URL: {reason}"),
            ShortenError::Exhausted => f.write_str("no free code for this URL"),
            ShortenError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl Error for ShortenError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ShortenError::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for ShortenError {
    fn from(e: rusqlite::Error) -> Self {
        ShortenError::Database(e)
    }
}

/// Why a code did not resolve (or a click was not recorded).
#[derive(Debug)]
pub enum ResolveError {
    /// A well-formed code that no URL holds: `404 Not Found`.
    NotFound,
    /// Not a code this service could have issued (not [`CODE_LEN`]
    /// characters of the alphabet): `400 Bad Request`, without asking the
    /// database.
    Invalid,
    /// The database failed.
    Database(rusqlite::Error),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound => f.write_str("no URL has this code"),
            ResolveError::Invalid => f.write_str("not a valid code"),
            ResolveError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl Error for ResolveError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ResolveError::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for ResolveError {
    fn from(e: rusqlite::Error) -> Self {
        ResolveError::Database(e)
    }
}
