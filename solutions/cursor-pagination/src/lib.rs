//! Reference solution of the cursor-pagination kata: keyset pagination over
//! `items` ordered by `(created_at, id)`, with an opaque cursor that carries
//! the position and a keyed checksum of it.
//!
//! The cursor is 64 lowercase hex digits: `created_at` and `id` as
//! big-endian `i64`s, then the first 16 bytes of an HMAC-SHA-256 of those 16
//! bytes keyed by the pager's secret. It names a position between two
//! rows, not a row count, so rows inserted or deleted elsewhere never shift
//! it.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::Sha256;

/// The schema the pager reads. `open` creates it if it is missing.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS items (
        id         INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        body       TEXT    NOT NULL
    );
    CREATE INDEX IF NOT EXISTS items_created_at_id ON items (created_at, id);
";

/// The first page from the start: the oldest rows.
const FIRST: &str = "SELECT id, created_at, body FROM items
     ORDER BY created_at, id LIMIT ?1";
/// The last page: the newest rows, newest first (reversed afterwards).
const LAST: &str = "SELECT id, created_at, body FROM items
     ORDER BY created_at DESC, id DESC LIMIT ?1";
/// The rows strictly after a position, oldest first.
const AFTER: &str = "SELECT id, created_at, body FROM items
     WHERE (created_at, id) > (?1, ?2)
     ORDER BY created_at, id LIMIT ?3";
/// The rows strictly before a position, newest first (reversed afterwards).
const BEFORE: &str = "SELECT id, created_at, body FROM items
     WHERE (created_at, id) < (?1, ?2)
     ORDER BY created_at DESC, id DESC LIMIT ?3";
/// Whether any row lies strictly after a position.
const ANY_AFTER: &str = "SELECT EXISTS (SELECT 1 FROM items WHERE (created_at, id) > (?1, ?2))";
/// Whether any row lies strictly before a position.
const ANY_BEFORE: &str = "SELECT EXISTS (SELECT 1 FROM items WHERE (created_at, id) < (?1, ?2))";

/// Bytes of a cursor's payload: `created_at` and `id`, big-endian.
const PAYLOAD_LEN: usize = 16;
/// Bytes of a cursor's tag: HMAC-SHA-256 truncated to 128 bits, the least
/// RFC 2104 advises keeping, so a cursor stays short enough for a URL.
const TAG_LEN: usize = 16;
/// Bytes of a cursor: the payload and its tag.
const CURSOR_LEN: usize = PAYLOAD_LEN + TAG_LEN;

/// Which way to walk from the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Towards newer rows: the rows after the cursor (from the oldest row
    /// without one).
    Forward,
    /// Towards older rows: the rows before the cursor (the newest rows
    /// without one).
    Backward,
}

/// One row of `items`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Item {
    /// The row's primary key.
    pub id: i64,
    /// When the row was created (any unit; only the order matters).
    pub created_at: i64,
    /// The row's payload.
    pub body: String,
}

/// One page of rows, oldest first, and the cursors around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most `limit` rows in ascending `(created_at, id)` order.
    pub items: Vec<Item>,
    /// A cursor for the rows after the last item; `None` if there were none
    /// when the page was read, or the page is empty.
    pub next: Option<String>,
    /// A cursor for the rows before the first item; `None` if there were
    /// none when the page was read, or the page is empty.
    pub prev: Option<String>,
}

/// Why a page could not be read.
#[derive(Debug)]
pub enum PageError {
    /// The cursor is not something this pager could have issued (wrong
    /// length or characters).
    MalformedCursor,
    /// The cursor is well-formed but its checksum does not match: it was
    /// altered, or signed with another secret.
    TamperedCursor,
    /// SQLite failed.
    Database(rusqlite::Error),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::MalformedCursor => f.write_str("malformed cursor"),
            PageError::TamperedCursor => f.write_str("cursor failed its integrity check"),
            PageError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for PageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PageError::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for PageError {
    fn from(e: rusqlite::Error) -> Self {
        PageError::Database(e)
    }
}

/// Pages through the `items` table of one SQLite database.
#[derive(Debug)]
pub struct Pager {
    conn: Connection,
    /// Keyed once with the secret; each cursor signs or checks a clone.
    signer: Hmac<Sha256>,
}

impl Pager {
    /// Opens the database at `path`, creates `items` and the index on
    /// `(created_at, id)` if they are missing, and keys cursors with
    /// `secret`. Pagers opened with the same secret accept each other's
    /// cursors.
    pub fn open(path: &Path, secret: &[u8]) -> Result<Pager, PageError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let signer =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts a key of any length");
        Ok(Pager { conn, signer })
    }

    /// Reads at most `limit` rows (a `limit` of 0 is treated as 1) after
    /// (`Forward`) or before (`Backward`) the cursor, or from the matching
    /// end of the table without one. The items are always oldest first.
    pub fn page(
        &self,
        cursor: Option<&str>,
        limit: u32,
        direction: Direction,
    ) -> Result<Page, PageError> {
        let limit = limit.max(1);
        let position = cursor.map(|c| self.decode(c)).transpose()?;
        let fetch = i64::from(limit) + 1;
        let mut rows = match (position, direction) {
            (None, Direction::Forward) => self.query(FIRST, params![fetch])?,
            (None, Direction::Backward) => self.query(LAST, params![fetch])?,
            (Some((at, id)), Direction::Forward) => self.query(AFTER, params![at, id, fetch])?,
            (Some((at, id)), Direction::Backward) => self.query(BEFORE, params![at, id, fetch])?,
        };
        // The extra row says whether there is more in the walking direction.
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if direction == Direction::Backward {
            rows.reverse();
        }
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Ok(Page {
                items: rows,
                next: None,
                prev: None,
            });
        };
        let (more_after, more_before) = match direction {
            Direction::Forward => (more, self.exists(ANY_BEFORE, first)?),
            Direction::Backward => (self.exists(ANY_AFTER, last)?, more),
        };
        let next = more_after.then(|| self.encode(last.created_at, last.id));
        let prev = more_before.then(|| self.encode(first.created_at, first.id));
        Ok(Page {
            items: rows,
            next,
            prev,
        })
    }

    /// The `EXPLAIN QUERY PLAN` lines of the query `page` runs with a cursor
    /// in `direction`, e.g. `SEARCH items USING COVERING INDEX ...`.
    pub fn page_query_plan(&self, direction: Direction) -> Result<Vec<String>, PageError> {
        let sql = match direction {
            Direction::Forward => AFTER,
            Direction::Backward => BEFORE,
        };
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let lines = stmt
            .query_map(params![0_i64, 0_i64, 1_i64], |row| row.get::<_, String>(3))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines)
    }

    fn query(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<Item>, PageError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(params, |row| {
                Ok(Item {
                    id: row.get(0)?,
                    created_at: row.get(1)?,
                    body: row.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn exists(&self, sql: &str, item: &Item) -> Result<bool, PageError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let found = stmt
            .query_row(params![item.created_at, item.id], |row| {
                row.get::<_, bool>(0)
            })
            .optional()?;
        Ok(found.unwrap_or(false))
    }

    fn encode(&self, created_at: i64, id: i64) -> String {
        let mut bytes = [0_u8; CURSOR_LEN];
        bytes[..8].copy_from_slice(&created_at.to_be_bytes());
        bytes[8..PAYLOAD_LEN].copy_from_slice(&id.to_be_bytes());
        let mut mac = self.signer.clone();
        mac.update(&bytes[..PAYLOAD_LEN]);
        bytes[PAYLOAD_LEN..].copy_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(&self, cursor: &str) -> Result<(i64, i64), PageError> {
        let text = cursor.as_bytes();
        if text.len() != CURSOR_LEN * 2 {
            return Err(PageError::MalformedCursor);
        }
        let mut bytes = [0_u8; CURSOR_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let mut mac = self.signer.clone();
        mac.update(payload);
        // The crate compares in constant time: timing reveals nothing of the tag.
        mac.verify_truncated_left(tag)
            .map_err(|_| PageError::TamperedCursor)?;
        let (at, id) = payload.split_at(8);
        let word = |b: &[u8]| b.try_into().map(i64::from_be_bytes);
        match (word(at), word(id)) {
            (Ok(at), Ok(id)) => Ok((at, id)),
            _ => Err(PageError::MalformedCursor),
        }
    }
}

/// The value of one lowercase hex digit.
fn hex_digit(c: u8) -> Result<u8, PageError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(PageError::MalformedCursor),
    }
}
