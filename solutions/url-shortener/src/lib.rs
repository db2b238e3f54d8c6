//! Reference solution of the url-shortener kata: the link service of a
//! marketing platform, as a library on SQLite.
//!
//! A [`Shortener`] owns one SQLite connection. Several shorteners (threads,
//! processes) may share one database file: every write is a single statement
//! or an `IMMEDIATE` transaction, so SQLite's locking, not the process,
//! decides who goes first, and a busy timeout makes the others wait rather
//! than fail.
//!
//! Codes are [`CODE_LEN`] characters of [`base62`]:
//!
//! - [`Strategy::Counter`]: the row id of the URL, so the n-th URL shortened
//!   gets `base62::encode(n)`. Short, dense, never collides; but guessable.
//! - [`Strategy::Hash`]: FNV-1a 64 of the URL, modulo 62⁷. The same URL gets
//!   the same code (deduplication, stable across nodes); when another URL
//!   already holds the code, the URL is hashed again with a salt until a free
//!   code (or its own) turns up.
//!
//! Clicks are rows of `(code, at)`, counted per time bucket on demand.

pub mod base62;
mod store;
mod url;

use std::error::Error;
use std::fmt;

pub use store::Shortener;

/// The length of every code a shortener issues.
pub const CODE_LEN: usize = 7;

/// How many codes there are: 62⁷, about 3.5 trillion.
pub const CODE_SPACE: u64 = 62u64.pow(CODE_LEN as u32);

/// The longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// How many codes the hash strategy tries for one URL before it gives up
/// with [`ShortenError::Exhausted`].
pub const MAX_ATTEMPTS: u32 = 64;

/// How codes are chosen. One database is used with one strategy.
#[derive(Debug, Clone, Copy)]
pub enum Strategy {
    /// The n-th URL shortened on a database gets `base62::encode(n)`, n from
    /// 1, even if it was shortened before (no deduplication).
    Counter,
    /// `Strategy::HashWith(fnv1a_64)`.
    Hash,
    /// The code of a URL is `base62::encode(hash(url) % CODE_SPACE)`; if
    /// another URL holds it, the URL is hashed again with a salt, up to
    /// [`MAX_ATTEMPTS`] codes. The same URL always gets the same code.
    HashWith(fn(&[u8]) -> u64),
}

impl Strategy {
    /// The hash function of a hash strategy.
    fn hasher(self) -> Option<fn(&[u8]) -> u64> {
        match self {
            Strategy::Counter => None,
            Strategy::Hash => Some(fnv1a_64),
            Strategy::HashWith(hash) => Some(hash),
        }
    }
}

/// FNV-1a, 64 bits: start from the offset basis `0xcbf29ce484222325`; for
/// each byte, xor it in, then multiply by the prime `0x100000001b3`
/// (wrapping).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
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

/// Why a URL was not shortened.
#[derive(Debug)]
pub enum ShortenError {
    /// The URL is not one the service shortens; the text says why.
    InvalidUrl(&'static str),
    /// Every code the strategy may use for this URL is taken.
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
