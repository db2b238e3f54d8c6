//! # URL shortener
//!
//! The link service of a marketing platform, as a library on SQLite: shorten
//! a URL to a 7-character code, resolve the code, count clicks over time.
//! Read `README.md` beside this file for the problem, then make the
//! specification pass:
//!
//! ```text
//! cargo xtask kata url-shortener
//! ```
//!
//! Everything is stored through the [`rusqlite::Connection`] a [`Shortener`]
//! owns; the schema is yours. Several shorteners, each with its own
//! connection, may share one database file (the spec runs them on several
//! threads): they must never hand out one code twice.
//!
//! Time is passed in (`at: u64`, unix seconds): never read the clock here.
//!
//! The types [`Code`], [`ShortenError`] and [`ResolveError`] are written for
//! you; the `todo!()`s are yours.

// The bodies below are `todo!()`, so their arguments go unused until you
// write them. Delete this line when you are done.
#![allow(unused_variables)]

use std::error::Error;
use std::fmt;
use std::path::Path;

use rusqlite::Connection;

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
    /// They are in ASCII order, so codes of one length sort like the numbers
    /// they encode.
    pub const ALPHABET: &[u8; 62] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// `n` in base 62, most significant digit first, **left-padded with `0`
    /// to [`CODE_LEN`](crate::CODE_LEN) (7) characters**: `encode(0)` is
    /// `"0000000"`, `encode(62)` is `"0000010"`. Numbers of 62⁷ and more take
    /// as many digits as they need (11 for `u64::MAX`); nothing is cut off.
    pub fn encode(n: u64) -> String {
        todo!("base62::encode: digits from the least significant, then pad and reverse")
    }

    /// The number `s` encodes: any non-empty string of alphabet digits,
    /// padded or not (`"0000010"` and `"10"` are both 62). `None` for an
    /// empty string, any other character, or a value above `u64::MAX`.
    pub fn decode(s: &str) -> Option<u64> {
        todo!("base62::decode: the inverse of encode, without ever overflowing")
    }
}

/// FNV-1a, 64 bits: start from the offset basis `0xcbf29ce484222325`; for
/// each byte, xor it into the hash, then multiply by the prime
/// `0x100000001b3` (wrapping). A stable hash: the same on every run,
/// platform and node, unlike std's `DefaultHasher`.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    todo!("fnv1a_64: xor, then multiply, for every byte")
}

/// How codes are chosen. One database is used with one strategy.
#[derive(Debug, Clone, Copy)]
pub enum Strategy {
    /// The n-th URL shortened on a database gets `base62::encode(n)`, n from
    /// 1 (`"0000001"`, `"0000002"`, ...), even a URL shortened before: no
    /// deduplication.
    Counter,
    /// `Strategy::HashWith(fnv1a_64)`.
    Hash,
    /// A URL's first choice of code is
    /// `base62::encode(hash(url.as_bytes()) % CODE_SPACE)`. If another URL
    /// already holds it, the URL is hashed again with a salt (for example
    /// the URL, a space and the attempt number: a valid URL has no space),
    /// up to [`MAX_ATTEMPTS`] codes in all, and takes the first free one.
    /// The same URL always gets the same code, from any shortener of the
    /// database. (The spec passes deliberately weak hash functions here, to
    /// force collisions.)
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

/// The shortening service over one SQLite connection.
#[derive(Debug)]
pub struct Shortener {
    // Your fields here: the connection, and what else?
}

impl Shortener {
    /// Opens (or creates) the database at `path` and creates its schema if
    /// it is not there.
    pub fn open(path: impl AsRef<Path>, strategy: Strategy) -> rusqlite::Result<Self> {
        todo!("Shortener::open: a connection to the file, then with_connection")
    }

    /// Uses `conn` (a file, or `Connection::open_in_memory()` in tests),
    /// creating the schema if it is not there.
    pub fn with_connection(conn: Connection, strategy: Strategy) -> rusqlite::Result<Self> {
        todo!(
            "Shortener::with_connection: the schema (CREATE TABLE IF NOT EXISTS ...), and how this connection waits for others"
        )
    }

    /// A code for `url`, after checking the URL: at most [`MAX_URL_LEN`]
    /// bytes, no whitespace or control characters, the scheme `http` or
    /// `https` (in any case) followed by `://`, and a non-empty host (the
    /// part after `://` up to the first `/`, `?` or `#`, without a `user@`
    /// prefix and a `:port` suffix). Anything else is
    /// [`ShortenError::InvalidUrl`], and uses no code.
    ///
    /// Under [`Strategy::Counter`], a new code on every call; under a hash
    /// strategy, the URL's code, the same on every call. No two URLs ever
    /// get the same code, however many shorteners share the database.
    pub fn shorten(&mut self, url: &str) -> Result<Code, ShortenError> {
        todo!(
            "Shortener::shorten: validate, then choose and store a code that no other connection can take at the same moment"
        )
    }

    /// The URL `code` stands for, exactly as it was shortened.
    /// [`ResolveError::Invalid`] if `code` is not [`CODE_LEN`] characters of
    /// the alphabet; [`ResolveError::NotFound`] if no URL has it.
    pub fn resolve(&self, code: &str) -> Result<String, ResolveError> {
        todo!("Shortener::resolve")
    }

    /// Records a click on `code` at `at` (unix seconds, at most
    /// `i64::MAX`). The same errors as [`resolve`](Self::resolve).
    pub fn click(&mut self, code: &str, at: u64) -> Result<(), ResolveError> {
        todo!("Shortener::click: a row per click, with its time")
    }

    /// Clicks on `code` from `from` (included) to `to` (excluded), counted
    /// per bucket of `bucket_seconds`: bucket `i` starts at
    /// `from + i × bucket_seconds` and holds the clicks with
    /// `start <= at < start + bucket_seconds` (the last bucket is cut short
    /// at `to`). Returns `(start, count)` for every bucket, in order, empty
    /// ones with a count of 0; nothing if `to <= from`. The same errors as
    /// [`resolve`](Self::resolve).
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
        todo!(
            "Shortener::clicks: count per bucket (in SQL or in Rust), and list the empty buckets too"
        )
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
