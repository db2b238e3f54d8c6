//! Right: the same keyset queries, but a different cursor and a different checksum. The cursor is
//! 33 bytes (a format byte, `created_at` and `id` big-endian, and the first 16 bytes of an
//! HMAC-SHA-256 of the first 17 keyed by the secret, SHA-256 written here by hand) in unpadded base64url:
//! 44 characters, 33 bytes exactly, so every character carries 6 bits of the input and the decoder can
//! be strict (no padding, no ignored bits, no case folding). `next`/`prev` come from a `limit + 1`
//! look-ahead in the page direction and a `LIMIT 1` probe on the other side, both in one read
//! transaction.

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
    /// The HMAC key, already reduced to one SHA-256 block.
    key: [u8; 64],
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

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut msg: Vec<u8> = parts.concat();
    let bits = (msg.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ];
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes(word.try_into().expect("4 bytes"));
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (slot, add) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *slot = slot.wrapping_add(add);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hmac_key(secret: &[u8]) -> [u8; 64] {
    let mut key = [0u8; 64];
    if secret.len() > 64 {
        key[..32].copy_from_slice(&sha256(&[secret]));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    key
}

fn hmac_sha256(key: &[u8; 64], message: &[u8]) -> [u8; 32] {
    let ipad: Vec<u8> = key.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = key.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha256(&[&ipad, message]);
    sha256(&[&opad, &inner])
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

/// Constant-time comparison: a timing oracle should not reveal the MAC.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
            key: hmac_key(secret),
        })
    }

    fn encode(&self, item: &Item) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = FORMAT;
        raw[1..9].copy_from_slice(&item.created_at.to_be_bytes());
        raw[9..17].copy_from_slice(&item.id.to_be_bytes());
        let mac = hmac_sha256(&self.key, &raw[..17]);
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
        let mac = hmac_sha256(&self.key, &raw[..17]);
        if !same(&mac[..MAC_LEN], &raw[17..]) {
            return Err(PageError::TamperedCursor);
        }
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
            return Ok(Page { items, next: None, prev: None });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_and_hmac_match_known_vectors() {
        assert_eq!(
            hex(&sha256(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&hmac_sha256(&hmac_key(b"key"), b"The quick brown fox jumps over the lazy dog")),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert_eq!(
            hex(&hmac_sha256(&hmac_key(&[b'k'; 100]), &[b'x'; 200])),
            "e326f00ce14194bb85e2683fe9b1a78851753f77479303f94c2c3cd1998bdda3"
        );
    }
}
