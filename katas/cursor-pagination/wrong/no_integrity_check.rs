//! Wrong: the cursor is the hex of `(created_at, id)` and nothing else: it is
//! opaque to a casual reader but carries no keyed checksum.
//!
//! Why candidates write it: "opaque" gets read as "encoded". A client that
//! decodes the hex (or base64) can forge any position, walk past a filter the
//! cursor was meant to pin, or probe the key space; nothing tells the server.
//!
//! Caught by: `a_cursor_with_any_character_changed_is_rejected` and
//! `a_cursor_issued_under_another_secret_is_tampered`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub use cursor_pagination_solution::{Direction, Item, Page, PageError};

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
/// Bytes of a cursor: the payload and an 8-byte tag.
#[allow(dead_code)]
const CURSOR_LEN: usize = PAYLOAD_LEN + 8;


/// Pages through the `items` table of one SQLite database.
#[derive(Debug)]
pub struct Pager {
    conn: Connection,
    key: (u64, u64),
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
        Ok(Pager {
            conn,
            key: derive_key(secret),
        })
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
            .query_row(params![item.created_at, item.id], |row| row.get::<_, bool>(0))
            .optional()?;
        Ok(found.unwrap_or(false))
    }

    fn encode(&self, created_at: i64, id: i64) -> String {
        let _ = self.key;
        let mut bytes = [0_u8; PAYLOAD_LEN];
        bytes[..8].copy_from_slice(&created_at.to_be_bytes());
        bytes[8..].copy_from_slice(&id.to_be_bytes());
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // The bug: the cursor is only encoded, not signed, so any well-formed
    // cursor a client makes up is accepted.
    fn decode(&self, cursor: &str) -> Result<(i64, i64), PageError> {
        let text = cursor.as_bytes();
        if text.len() != PAYLOAD_LEN * 2 {
            return Err(PageError::MalformedCursor);
        }
        let mut bytes = [0_u8; PAYLOAD_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        let (at, id) = bytes.split_at(8);
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

/// A 128-bit SipHash key from a secret of any length: two FNV-1a-64 passes
/// with different offsets. (Production code would use HMAC-SHA-256 and a
/// secret of at least 32 random bytes.)
fn derive_key(secret: &[u8]) -> (u64, u64) {
    let fnv = |offset: u64| {
        secret.iter().fold(offset, |hash, &b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    (fnv(0xcbf2_9ce4_8422_2325), fnv(0x6c62_272e_07bb_0142))
}

/// SipHash-2-4 of `data` under `key`: a keyed hash, so a client that does not
/// know the key cannot compute the tag of a payload it made up.
#[allow(dead_code)]
fn siphash24((k0, k1): (u64, u64), data: &[u8]) -> u64 {
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
    fn compress(m: u64, v: &mut [u64; 4]) {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    }
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        compress(u64::from_le_bytes(word), &mut v);
    }
    let mut last = [0_u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    // The length byte: only its low 8 bits are mixed in, as the spec says.
    last[7] = (data.len() & 0xff) as u8;
    compress(u64::from_le_bytes(last), &mut v);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

