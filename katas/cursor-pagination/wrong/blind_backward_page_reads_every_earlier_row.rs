//! Bug: a backward page selects every row before the cursor in ascending order (no LIMIT) and keeps
//! the last `limit + 1` in Rust. Pages are right, and the plan of the page query is still a SEARCH
//! on the index with no temporary B-tree, but a backward page near the end of the table reads and
//! allocates the whole table: O(n) time and memory instead of O(log n + limit). Without a cursor,
//! "the newest rows" reads the whole table.
//!
//! Why candidates write it: it avoids `ORDER BY ... DESC` followed by a reverse, and "items are
//! always oldest first" falls out of the query.
//!
//! Symptom: the 'newer' button on a feed of 20 million items takes seconds and the API server's memory spikes on every click
//!
//! Whole file: written blind from the README and the stub by the red team; a design of its own,
//! not a change to the reference.
//!
//! Caught by: `followup_a_page_costs_the_same_on_a_table_ten_times_larger` (first page backward, and backward
//! from a cursor near the end: the SQLite steps of one page grow with the table).

use std::fmt;
use std::path::Path;

use rusqlite::{Connection, params};

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
    key: (u64, u64),
}

const COLUMNS: &str = "SELECT id, created_at, body FROM items";
const AFTER: &str = "SELECT id, created_at, body FROM items WHERE (created_at, id) > (?1, ?2) ORDER BY created_at, id LIMIT ?3";
const BEFORE: &str = "SELECT id, created_at, body FROM items WHERE (created_at, id) < (?1, ?2) ORDER BY created_at, id";
const ANY_AFTER: &str = "SELECT EXISTS (SELECT 1 FROM items WHERE (created_at, id) > (?1, ?2))";
const ANY_BEFORE: &str = "SELECT EXISTS (SELECT 1 FROM items WHERE (created_at, id) < (?1, ?2))";

fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let m = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = (data.len() as u64) << 56;
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        last |= u64::from(byte) << (8 * i);
    }
    v[3] ^= last;
    round(&mut v);
    round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

/// The last `n` rows of an ascending list, newest first (as a DESC query would give them).
fn last_n(mut rows: Vec<Item>, n: i64) -> Vec<Item> {
    let keep = rows.len().saturating_sub(n as usize);
    rows.drain(..keep);
    rows.reverse();
    rows
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
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS items (
                 id         INTEGER PRIMARY KEY,
                 created_at INTEGER NOT NULL,
                 body       TEXT    NOT NULL
             );
             CREATE INDEX IF NOT EXISTS items_created_at_id ON items (created_at, id);",
        )?;
        let key = (
            siphash24(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, secret),
            siphash24(0x1716_1514_1312_1110, 0x1f1e_1d1c_1b1a_1918, secret),
        );
        Ok(Pager { conn, key })
    }

    fn encode(&self, item: &Item) -> String {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&item.created_at.to_be_bytes());
        bytes.extend_from_slice(&item.id.to_be_bytes());
        let mac = siphash24(self.key.0, self.key.1, &bytes);
        bytes.extend_from_slice(&mac.to_be_bytes());
        hex_encode(&bytes)
    }

    fn decode(&self, cursor: &str) -> Result<(i64, i64), PageError> {
        let bytes = hex_decode(cursor).ok_or(PageError::MalformedCursor)?;
        if bytes.len() != 24 {
            return Err(PageError::MalformedCursor);
        }
        let (payload, mac) = bytes.split_at(16);
        if siphash24(self.key.0, self.key.1, payload).to_be_bytes() != mac {
            return Err(PageError::TamperedCursor);
        }
        let created_at = i64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        let id = i64::from_be_bytes(payload[8..].try_into().expect("8 bytes"));
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
        let limit = u64::from(limit.max(1));
        let fetch = limit as i64 + 1;
        // One read transaction: the page and the look beyond it see one snapshot.
        let tx = self.conn.unchecked_transaction()?;
        let mut items = match (direction, position) {
            (Direction::Forward, Some((c, i))) => tx
                .prepare_cached(AFTER)?
                .query_map(params![c, i, fetch], read_item)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            (Direction::Backward, Some((c, i))) => last_n(
                tx.prepare_cached(BEFORE)?
                    .query_map(params![c, i], read_item)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                fetch,
            ),
            (Direction::Forward, None) => tx
                .prepare_cached(&format!("{COLUMNS} ORDER BY created_at, id LIMIT ?1"))?
                .query_map([fetch], read_item)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            (Direction::Backward, None) => last_n(
                tx.prepare_cached(&format!("{COLUMNS} ORDER BY created_at, id"))?
                    .query_map([], read_item)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                fetch,
            ),
        };
        let more = items.len() as u64 > limit;
        items.truncate(limit as usize);
        if direction == Direction::Backward {
            items.reverse();
        }
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return Ok(Page { items, next: None, prev: None });
        };
        let (has_next, has_prev) = match direction {
            Direction::Forward => {
                let before: bool = tx
                    .prepare_cached(ANY_BEFORE)?
                    .query_row(params![first.created_at, first.id], |r| r.get(0))?;
                (more, before)
            }
            Direction::Backward => {
                let after: bool = tx
                    .prepare_cached(ANY_AFTER)?
                    .query_row(params![last.created_at, last.id], |r| r.get(0))?;
                (after, more)
            }
        };
        let next = has_next.then(|| self.encode(last));
        let prev = has_prev.then(|| self.encode(first));
        Ok(Page { items, next, prev })
    }

    /// The `EXPLAIN QUERY PLAN` lines (the `detail` column) of the query
    /// `page` runs with a cursor in `direction`, for example
    /// `SEARCH items USING COVERING INDEX items_created_at_id ((created_at,id)>(?,?))`.
    pub fn page_query_plan(&self, direction: Direction) -> Result<Vec<String>, PageError> {
        let query = match direction {
            Direction::Forward => AFTER,
            Direction::Backward => BEFORE,
        };
        let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {query}"))?;
        // The parameters stay unbound (NULL): the plan does not depend on them.
        let mut rows = stmt.raw_query();
        let mut lines = Vec::new();
        while let Some(row) = rows.next()? {
            lines.push(row.get::<_, String>(3)?);
        }
        Ok(lines)
    }
}
