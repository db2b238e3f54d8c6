//! Right: the same keyset queries, but a different cursor and a different checksum. The cursor is
//! 33 bytes (a format byte, `created_at` and `id` big-endian, and the first 16 bytes of an
//! HMAC-SHA-256 of the first 17 keyed by the secret, from the `hmac` and `sha2` crates) in unpadded base64url:
//! 44 characters, 33 bytes exactly, so every character carries 6 bits of the input and the decoder can
//! be strict (no padding, no ignored bits, no case folding). `next`/`prev` come from a `limit + 1`
//! look-ahead in the page direction and a `LIMIT 1` probe on the other side, both in one read
//! transaction.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{Connection, params};
use sha2::Sha256;

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
    /// At most `limit` rows in ascending `(created_at, id)` order, whichever
    /// the direction.
    pub items: Vec<Item>,
    /// A cursor for the rows after the last item: `Some` exactly when such
    /// a row existed when the page was read; `None` for an empty page.
    pub next: Option<String>,
    /// A cursor for the rows before the first item: `Some` exactly when such
    /// a row existed when the page was read; `None` for an empty page.
    pub prev: Option<String>,
}

/// Why a page could not be read.
#[derive(Debug)]
pub enum PageError {
    /// The cursor is not something this pager could have issued (wrong
    /// length, wrong characters, not decodable).
    MalformedCursor,
    /// The cursor is well-formed but fails its integrity check: it was
    /// altered, or issued under another secret.
    TamperedCursor,
    /// SQLite failed.
    Database(rusqlite::Error),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::MalformedCursor => f.write_str("the cursor is malformed"),
            PageError::TamperedCursor => f.write_str("the cursor failed its integrity check"),
            PageError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for PageError {}

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

const FORMAT: u8 = 1;
const MAC_LEN: usize = 16;
const RAW_LEN: usize = 1 + 16 + MAC_LEN;
const CURSOR_LEN: usize = RAW_LEN / 3 * 4;

fn page_sql(direction: Direction, with_cursor: bool) -> &'static str {
    match (direction, with_cursor) {
        (Direction::Forward, true) => {
            "SELECT id, created_at, body FROM items WHERE (created_at, id) > (?1, ?2) ORDER BY created_at ASC, id ASC LIMIT ?3"
        }
        (Direction::Backward, true) => {
            "SELECT id, created_at, body FROM items WHERE (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3"
        }
        (Direction::Forward, false) => {
            "SELECT id, created_at, body FROM items ORDER BY created_at ASC, id ASC LIMIT ?3"
        }
        (Direction::Backward, false) => {
            "SELECT id, created_at, body FROM items ORDER BY created_at DESC, id DESC LIMIT ?3"
        }
    }
}

/// A signer keyed with the secret: each cursor signs or checks a clone.
fn signer(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::new_from_slice(secret).expect("HMAC accepts a key of any length")
}

fn mac_of(signer: &Hmac<Sha256>, message: &[u8]) -> Hmac<Sha256> {
    let mut mac = signer.clone();
    mac.update(message);
    mac
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode(raw: &[u8]) -> String {
    debug_assert!(raw.len() % 3 == 0);
    let mut out = String::with_capacity(raw.len() / 3 * 4);
    for chunk in raw.chunks_exact(3) {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(B64[(n >> shift & 63) as usize] as char);
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u32> {
    B64.iter().position(|&x| x == c).map(|p| p as u32)
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for quad in bytes.chunks_exact(4) {
        let mut n = 0u32;
        for &c in quad {
            n = n << 6 | b64_value(c)?;
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    Some(out)
}

fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        id: row.get(0)?,
        created_at: row.get(1)?,
        body: row.get(2)?,
    })
}

impl Pager {
    /// Opens the database at `path`, creates `items` and an index on
    /// `(created_at, id)` if they are missing (see the schema above), and
    /// keys cursors with `secret`. Pagers opened with the same secret accept
    /// each other's cursors; a cursor issued under another secret is
    /// `TamperedCursor`.
    pub fn open(path: &Path, secret: &[u8]) -> Result<Pager, PageError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS items (
                 id         INTEGER PRIMARY KEY,
                 created_at INTEGER NOT NULL,
                 body       TEXT    NOT NULL
             );
             CREATE INDEX IF NOT EXISTS items_created_at_id ON items (created_at, id);",
        )?;
        Ok(Pager {
            conn,
            signer: signer(secret),
        })
    }

    fn encode(&self, item: &Item) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = FORMAT;
        raw[1..9].copy_from_slice(&item.created_at.to_be_bytes());
        raw[9..17].copy_from_slice(&item.id.to_be_bytes());
        let mac = mac_of(&self.signer, &raw[..17]).finalize().into_bytes();
        raw[17..].copy_from_slice(&mac[..MAC_LEN]);
        b64_encode(&raw)
    }

    fn decode(&self, cursor: &str) -> Result<(i64, i64), PageError> {
        if cursor.len() != CURSOR_LEN {
            return Err(PageError::MalformedCursor);
        }
        let raw = b64_decode(cursor).ok_or(PageError::MalformedCursor)?;
        if raw[0] != FORMAT {
            return Err(PageError::MalformedCursor);
        }
        // The crate compares in constant time: timing reveals nothing of the tag.
        mac_of(&self.signer, &raw[..17])
            .verify_truncated_left(&raw[17..])
            .map_err(|_| PageError::TamperedCursor)?;
        let created_at = i64::from_be_bytes(raw[1..9].try_into().expect("8 bytes"));
        let id = i64::from_be_bytes(raw[9..17].try_into().expect("8 bytes"));
        Ok((created_at, id))
    }

    /// Reads at most `limit` rows (a `limit` of 0 is treated as 1) strictly
    /// after (`Forward`) or strictly before (`Backward`) the cursor's
    /// position, or from the matching end of the table without a cursor:
    /// the oldest rows forward, the newest rows backward. The items are
    /// always oldest first. `next` continues after the last item, `prev`
    /// before the first, whatever was inserted or deleted in between.
    pub fn page(
        &self,
        cursor: Option<&str>,
        limit: u32,
        direction: Direction,
    ) -> Result<Page, PageError> {
        let position = cursor.map(|c| self.decode(c)).transpose()?;
        let want = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let look_ahead = i64::from(limit.max(1)) + 1;
        let (c, i) = match position {
            Some((c, i)) => (Some(c), Some(i)),
            None => (None, None),
        };
        let tx = self.conn.unchecked_transaction()?;
        let mut items = tx
            .prepare_cached(page_sql(direction, position.is_some()))?
            .query_map(params![c, i, look_ahead], read_item)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let beyond_in_direction = items.len() > want;
        items.truncate(want);
        if direction == Direction::Backward {
            items.reverse();
        }
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return Ok(Page {
                items,
                next: None,
                prev: None,
            });
        };
        // Probe the other side of the page for one row.
        let (probe_dir, from) = match direction {
            Direction::Forward => (Direction::Backward, first),
            Direction::Backward => (Direction::Forward, last),
        };
        let beyond_other_side = tx
            .prepare_cached(page_sql(probe_dir, true))?
            .query_map(params![from.created_at, from.id, 1], |_| Ok(()))?
            .next()
            .transpose()?
            .is_some();
        let (has_next, has_prev) = match direction {
            Direction::Forward => (beyond_in_direction, beyond_other_side),
            Direction::Backward => (beyond_other_side, beyond_in_direction),
        };
        let next = has_next.then(|| self.encode(last));
        let prev = has_prev.then(|| self.encode(first));
        drop(tx);
        Ok(Page { items, next, prev })
    }

    /// The `EXPLAIN QUERY PLAN` lines (the `detail` column) of the query
    /// `page` runs with a cursor in `direction`, for example
    /// `SEARCH items USING COVERING INDEX items_created_at_id ((created_at,id)>(?,?))`.
    pub fn page_query_plan(&self, direction: Direction) -> Result<Vec<String>, PageError> {
        let mut stmt = self
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", page_sql(direction, true)))?;
        let mut rows = stmt.query(params![0, 0, 1])?;
        let mut lines = Vec::new();
        while let Some(row) = rows.next()? {
            lines.push(row.get::<_, String>(3)?);
        }
        Ok(lines)
    }
}
